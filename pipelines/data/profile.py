"""Column profiles of the training data and the population stability index (PSI)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BINS = 10
TOP_VALUES = 20
_EPS = 1e-4


def profile_frame(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per column: quantile bin edges and fractions (numeric) or top value shares."""
    out: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        series = frame[name].dropna()
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
