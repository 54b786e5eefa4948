"""The monitoring checks as pure functions with known answers.

Feature drift is PSI against the champion's training profile (`pipelines.data.profile`);
id columns (user, item, and columns the spec marks as ids) get the share of rows whose id
the champion never saw instead, because a PSI over id numbers measures nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data import profile as profiles

_MAX_INDEX_CELLS = 1 << 24  # resample index matrix budget per chunk (as in pipelines.gate)
_MAX_LOOKUP = 1 << 26  # widest integer id range looked up in a table (64 MB of bools)


@dataclass(frozen=True)
class Check:
    """One monitored quantity and its verdict."""

    name: str  # e.g. "drift.rating", "unseen.item_id", "quality.ndcg_at_10"
    kind: str  # psi | unseen | prediction_psi | quality | index_recall
    value: float | None  # None: could not be measured (see detail)
    limit: str  # "<= 0.2", or "" when the check only reports
    alert: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def column_psi(name: str, reference: dict[str, Any], current: pd.Series, max_psi: float) -> Check:
    """PSI of one feature column; alert above `max_psi`."""
    value = profiles.psi(reference, current)
    if value is None:
        return Check(f"drift.{name}", "psi", None, f"<= {max_psi:g}", False, "not comparable")
    return Check(f"drift.{name}", "psi", value, f"<= {max_psi:g}", value > max_psi)


def unseen_share(known: np.ndarray | Iterable[Any], current: pd.Series) -> float | None:
    """Share of `current`'s non-null rows whose value is not in `known` (None when empty)."""
    values = current.dropna()
    if len(values) == 0:
        return None
    known_arr = np.asarray(list(known) if not isinstance(known, np.ndarray) else known)
    current_arr = values.to_numpy()
    numeric = {"i", "u", "f"}
    kinds = {known_arr.dtype.kind, current_arr.dtype.kind}
    if kinds <= numeric and len(kinds) > 1:
        known_arr, current_arr = known_arr.astype(np.float64), current_arr.astype(np.float64)
    elif len(kinds) > 1:  # compare as text when types differ
        known_arr, current_arr = known_arr.astype(str), current_arr.astype(str)
    if len(known_arr) == 0:
        return 1.0
    if kinds <= {"i", "u"}:
        low, high = int(known_arr.min()), int(known_arr.max())
        if high - low < _MAX_LOOKUP:  # integer ids: one table lookup per row
            table = np.zeros(high - low + 1, dtype=bool)
            table[known_arr.astype(np.int64) - low] = True
            shifted = current_arr.astype(np.int64) - low
            inside = (shifted >= 0) & (shifted <= high - low)
            seen = np.zeros(len(shifted), dtype=bool)
            seen[inside] = table[shifted[inside]]
            return float(1.0 - seen.mean())
    # a binary search in the sorted known ids: O(n log k), several times isin's speed here
    known_arr = np.sort(known_arr)
    pos = np.minimum(np.searchsorted(known_arr, current_arr), len(known_arr) - 1)
    return float(1.0 - (known_arr[pos] == current_arr).mean())


def column_unseen(name: str, value: float | None, max_unseen: float) -> Check:
    """The unseen-id verdict of one id column."""
    limit = f"<= {max_unseen:g}"
    if value is None:
        return Check(f"unseen.{name}", "unseen", None, limit, False, "no reference id set")
    return Check(f"unseen.{name}", "unseen", value, limit, value > max_unseen)


def categorical_psi(reference: pd.Series, current: pd.Series) -> float | None:
    """PSI of two samples read as categories (top values of the reference, plus the rest)."""
    ref = reference.astype(str)
    profile = profiles.profile_frame(pd.DataFrame({"v": ref}))["v"]
    return profiles.psi(profile, current.astype(str))


def numeric_psi(reference: pd.Series, current: pd.Series) -> float | None:
    """PSI of two numeric samples over the reference's quantile bins."""
    profile = profiles.profile_frame(pd.DataFrame({"v": reference.astype(np.float64)}))["v"]
    return profiles.psi(profile, current.astype(np.float64))


def prediction_drift(value: float | None, max_psi: float | None, detail: str = "") -> Check:
    """The verdict on the predictions' PSI; `max_psi` None only reports."""
    limit = f"<= {max_psi:g}" if max_psi is not None else ""
    alert = value is not None and max_psi is not None and value > max_psi
    return Check("prediction_drift", "prediction_psi", value, limit, alert, detail)


def bootstrap_interval(
    values: np.ndarray, *, confidence: float, resamples: int, seed: int
) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval of per-unit values (as `pipelines.gate`)."""
    values = np.asarray(values, np.float64)
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, _MAX_INDEX_CELLS // n)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        means[start : start + rows] = values[rng.integers(0, n, size=(rows, n))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(values.mean()), float(low), float(high)


@dataclass(frozen=True)
class Quality:
    """Live quality: the metric on fresh data with its interval, vs the holdout value."""

    metric: str
    value: float
    ci_low: float
    ci_high: float
    confidence: float
    units: int
    holdout: float | None
    max_drop: float
    greater_is_better: bool

    @property
    def measured(self) -> bool:
        """At least one unit was scored and the value and its interval are finite numbers."""
        return self.units > 0 and all(
            math.isfinite(v) for v in (self.value, self.ci_low, self.ci_high)
        )

    @property
    def floor(self) -> float | None:
        """The worst value still healthy (holdout minus the allowed drop, oriented)."""
        if self.holdout is None:
            return None
        return (
            self.holdout - self.max_drop if self.greater_is_better else self.holdout + self.max_drop
        )

    @property
    def degraded(self) -> bool:
        """The whole interval is worse than the floor: degraded with confidence."""
        floor = self.floor
        if floor is None or not self.measured:
            return False
        return self.ci_high < floor if self.greater_is_better else self.ci_low > floor

    def check(self) -> Check:
        """As a check: alert when degraded."""
        floor = self.floor
        op = ">=" if self.greater_is_better else "<="
        sign = "-" if self.greater_is_better else "+"
        limit = (
            f"{op} {floor:.4g} (holdout {self.holdout:.4g} {sign} max_drop {self.max_drop:g})"
            if floor is not None
            else ""
        )
        if not self.measured:
            detail = f"not measured: no unit could be scored ({self.units} units)"
            return Check(f"quality.{self.metric}", "quality", None, limit, False, detail)
        detail = (
            f"{self.value:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}] "
            f"({self.confidence:.0%} interval, {self.units} units)"
        )
        return Check(f"quality.{self.metric}", "quality", self.value, limit, self.degraded, detail)


def quality(
    metric: str,
    per_unit: np.ndarray,
    *,
    holdout: float | None,
    max_drop: float,
    greater_is_better: bool,
    confidence: float,
    resamples: int,
    seed: int,
) -> Quality:
    """Live quality from per-unit values with a bootstrap interval."""
    value, low, high = bootstrap_interval(
        per_unit, confidence=confidence, resamples=resamples, seed=seed
    )
    return Quality(
        metric, value, low, high, confidence, len(per_unit), holdout, max_drop, greater_is_better
    )


def index_recall(found: np.ndarray, exact: np.ndarray, minimum: float) -> Check:
    """recall@k of the index against exact search on fresh queries."""
    from pipelines.index import recall_at_k

    if exact.size == 0:
        return Check(
            "index.recall_at_10", "index_recall", None, f">= {minimum:g}", False, "no queries"
        )
    value = recall_at_k(found, exact)
    return Check(
        "index.recall_at_10",
        "index_recall",
        value,
        f">= {minimum:g}",
        value < minimum,
        f"{len(exact)} fresh queries",
    )
