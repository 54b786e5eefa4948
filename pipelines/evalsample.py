"""A fixed, seeded, stratified sample of holdout units, so evaluation scales with the data.

Scoring every holdout user exactly grows faster than the catalogue (users grow with items,
and each exact search is over every item). Above `evaluation.max_units` holdout units the
candidate, the champion and the baseline are all scored on the same sample, and the
bootstrap intervals are computed on it; at or below it nothing changes (the split is
returned as it is, and evaluation.json carries no `sample` key).

Units are what the paired bootstrap resamples: holdout users for retrieval (only those
with training history can be scored), holdout rows for classification and regression.
Strata: retrieval users by training activity (deciles of their training interactions: a
sample keeps the heavy and the cold users in their proportions), classification rows by
label, regression rows by deciles of the target. Allocation is proportional (largest
remainder), and within a stratum the draw comes from `numpy.random.default_rng(seed)` over
the sorted unit ids, so the sample depends only on the data, the split and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.tasks.base import Split

STRATA = 10


@dataclass(frozen=True)
class Sample:
    """Which holdout units were kept, and how they were chosen."""

    split: Split  # the split restricted to the sampled units' holdout rows
    units: int  # holdout units before sampling
    size: int  # units kept
    seed: int
    strata: int
    stratified_by: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (evaluation.json's `sample`)."""
        return {
            "units": self.units,
            "size": self.size,
            "fraction": round(self.size / self.units, 6) if self.units else 1.0,
            "seed": self.seed,
            "strata": self.strata,
            "stratified_by": self.stratified_by,
        }


def sample_holdout(spec: Any, frame: pd.DataFrame, split: Split) -> Sample | None:
    """The sampled split when the holdout has more than `evaluation.max_units` units."""
    limit = int(spec.evaluation.max_units)
    seed = int(spec.data.split.seed)
    if spec.task == "retrieval":
        user = spec.data.user
        test_users = frame[user].to_numpy()[split.test]
        train_users = frame[user].to_numpy()[split.train]
        units = np.intersect1d(np.unique(test_users), np.unique(train_users))
        if len(units) <= limit:
            return None
        activity = _counts(train_users, units)
        strata = _quantile_bins(activity.astype(np.float64))
        kept = units[_draw(strata, limit, seed)]
        rows = split.test[np.isin(test_users, kept)]
        by = "training interactions per user (deciles)"
    else:
        if len(split.test) <= limit:
            return None
        target = frame[spec.data.target].to_numpy()[split.test]
        if spec.task == "classification":
            _, strata = np.unique(target, return_inverse=True)
            by = "label"
        else:
            strata = _quantile_bins(np.asarray(target, dtype=np.float64))
            by = "target (deciles)"
        order = np.argsort(split.test, kind="stable")  # units are row ids: draw over sorted ids
        chosen = _draw(strata[order], limit, seed)
        rows = np.sort(split.test[order][chosen])
        units, kept = split.test, rows
    return Sample(
        split=Split(train=split.train, test=np.sort(rows)),
        units=len(units),
        size=len(kept),
        seed=seed,
        strata=len(np.unique(strata)),
        stratified_by=by,
    )


def _counts(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """How often each of the sorted `units` occurs in `values`."""
    uniq, counts = np.unique(values, return_counts=True)
    return counts[np.searchsorted(uniq, units)]


def _quantile_bins(values: np.ndarray) -> np.ndarray:
    """Decile bin of each value (ties share a bin; fewer bins when values repeat)."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, STRATA + 1)[1:-1]))
    return np.searchsorted(edges, values, side="right")


def _draw(strata: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted positions of `size` units, allocated to strata in proportion (largest
    remainder, ties to the lower stratum), drawn without replacement within each."""
    labels, counts = np.unique(strata, return_counts=True)
    exact = counts * size / counts.sum()
    take = np.floor(exact).astype(np.int64)
    short = size - int(take.sum())
    if short > 0:
        order = np.lexsort((labels, -(exact - take)))
        take[order[:short]] += 1
    rng = np.random.default_rng(seed)
    chosen = []
    for label, n in zip(labels, take, strict=True):
        members = np.flatnonzero(strata == label)
        chosen.append(rng.choice(members, size=int(n), replace=False))
    return np.sort(np.concatenate(chosen))
