"""A fixed, seeded, stratified sample of holdout units, so evaluation scales with the data.

Scoring every holdout user exactly grows faster than the catalogue (users grow with items,
and each exact search is over every item). Above `evaluation.max_units` holdout units the
candidate, the champion and the baseline are all scored on the same sample, and the
bootstrap intervals are computed on it; at or below it nothing changes (the split is
returned as it is, and evaluation.json carries no `sample` key).

Units are what the paired bootstrap resamples, and their strata, as the kind says
(`Task.holdout_units`): holdout users for retrieval (only those with training history can
be scored) by training activity (deciles of their training interactions: a sample keeps
the heavy and the cold users in their proportions), holdout rows for classification by
label and for regression by deciles of the target. Allocation is proportional (largest
remainder), and within a stratum the draw comes from `numpy.random.default_rng(seed)` over
the sorted unit ids, so the sample depends only on the data, the split and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.kinds import get_task
from pipelines.tasks.base import HoldoutUnits, Split


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
    """The sampled split when the holdout has more than `evaluation.max_units` units (the
    units and strata are the kind's: `Task.holdout_units`; a kind without it is never
    sampled)."""
    holdout_units = getattr(get_task(spec.task), "holdout_units", None)
    if holdout_units is None:
        return None
    limit = int(spec.evaluation.max_units)
    seed = int(spec.data.split.seed)
    units: HoldoutUnits = holdout_units(spec, frame, split)
    if len(units.ids) <= limit:
        return None
    kept = units.ids[_draw(units.strata, limit, seed)]
    return Sample(
        split=Split(train=split.train, test=np.sort(units.rows(kept))),
        units=len(units.ids),
        size=len(kept),
        seed=seed,
        strata=len(np.unique(units.strata)),
        stratified_by=units.stratified_by,
    )


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
