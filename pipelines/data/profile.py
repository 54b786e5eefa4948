"""Column profiles of the training data, the population stability index (PSI), and
unseen-value rates of id columns.

An id column (user, item, or one the spec marks `id: true`) is profiled as the set of its
values, kept as a hashed bitset of 32 bits per distinct value (between 4 Ki and 16 Mi
bits): the share of rows whose value the reference never had is then exact up to hash
collisions, which make it read low by at most about 1/32 of the unseen values.

Hand-written, not Evidently: its drift tests need the raw reference rows (a model keeps
only this profile) and it would add many dependencies to every install.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import pandas as pd

BINS = 10
TOP_VALUES = 20
_EPS = 1e-4
_BITS_PER_VALUE = 32
_MIN_BITS, _MAX_BITS = 1 << 12, 1 << 24


def profile_frame(
    frame: pd.DataFrame, id_columns: tuple[str, ...] | list[str] = ()
) -> dict[str, dict[str, Any]]:
    """Per column: the value set (ids), quantile bins (numeric) or top value shares."""
    out: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        series = frame[name].dropna()
        if name in id_columns:
            out[str(name)] = id_profile(series)
            continue
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            edges = (
                np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)))
                if len(values)
                else np.empty(0)
            )
            out[str(name)] = {
                "kind": "numeric",
                "edges": [float(e) for e in edges],
                "fractions": _numeric_fractions(values, edges),
            }
        else:
            shares = series.astype(str).value_counts(normalize=True).head(TOP_VALUES)
            out[str(name)] = {
                "kind": "categorical",
                "shares": {str(k): float(v) for k, v in shares.items()},
            }
    return out


def _numeric_fractions(values: np.ndarray, edges: np.ndarray) -> list[float]:
    if len(values) == 0 or len(edges) < 2:
        return [1.0]
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(edges) - 1)
    return [float(c) for c in counts / counts.sum()]


def psi(reference: dict[str, Any], current: pd.Series) -> float | None:
    """PSI of `current` against a reference column profile; None when not comparable."""
    series = current.dropna()
    if len(series) == 0:
        return None
    if reference["kind"] == "numeric":
        if not pd.api.types.is_numeric_dtype(series):
            return None
        expected = np.asarray(reference["fractions"], dtype=np.float64)
        values = series.to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        actual = np.asarray(_numeric_fractions(values, np.asarray(reference["edges"])))
        if actual.shape != expected.shape:
            return None
    else:
        shares: dict[str, float] = reference["shares"]
        counts = series.astype(str).value_counts(normalize=True)
        keys = list(shares)
        expected = np.asarray([shares[k] for k in keys] + [max(0.0, 1 - sum(shares.values()))])
        seen = [float(counts.get(k, 0.0)) for k in keys]
        actual = np.asarray([*seen, max(0.0, 1 - sum(seen))])
    expected = np.clip(expected, _EPS, None)
    actual = np.clip(actual, _EPS, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _hashes(series: pd.Series) -> np.ndarray:
    """Stable 64-bit hashes of the values' text (the same in every process)."""
    return np.asarray(pd.util.hash_array(series.astype(str).to_numpy(dtype=object)), np.uint64)


def id_profile(series: pd.Series) -> dict[str, Any]:
    """The distinct values of an id column as a hashed bitset."""
    values = pd.Series(series.dropna().unique())
    bits = _MIN_BITS
    while bits < _BITS_PER_VALUE * len(values) and bits < _MAX_BITS:
        bits <<= 1
    bitset = np.zeros(bits // 8, np.uint8)
    positions = _hashes(values) % np.uint64(bits) if len(values) else np.empty(0, np.uint64)
    np.bitwise_or.at(bitset, (positions >> np.uint64(3)).astype(np.int64), 1 << (positions & 7))
    # level 6 (zlib's default): on the 2 MB bitset of 885k item ids level 9 took 2.07 s
    # against 0.21 s, for 5% fewer bytes
    packed = base64.b64encode(zlib.compress(bitset.tobytes(), 6)).decode("ascii")
    return {"kind": "id", "distinct": len(values), "bits": bits, "bitset": packed}


def unseen_fraction(reference: dict[str, Any], current: pd.Series) -> float | None:
    """Share of `current`'s rows whose value is not in the reference id profile."""
    series = current.dropna()
    if reference.get("kind") != "id" or len(series) == 0:
        return None
    bitset = np.frombuffer(zlib.decompress(base64.b64decode(reference["bitset"])), np.uint8)
    positions = _hashes(series) % np.uint64(reference["bits"])
    seen = (bitset[(positions >> np.uint64(3)).astype(np.int64)] >> (positions & 7)) & 1
    return float(1.0 - seen.mean())
