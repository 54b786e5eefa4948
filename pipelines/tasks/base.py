"""The data every task kind passes around: a split, a fitted bundle, scores, a searcher.

Kept in this module because run directories and models logged before the serving payload
pickle `Bundle` under this module's name.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# A searcher answers (queries, count) -> (keys, distances), like a usearch index does.
Searcher = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class Split:
    """Row positions of the training and holdout parts of the data."""

    train: np.ndarray
    test: np.ndarray
    # How it was drawn (`splitting.SplitRule.as_dict()`); None for splits made in code.
    rule: dict[str, Any] | None = None

    def fingerprint(self, data_sha256: str) -> str:
        """Identity of the holdout: the data and which rows are held out."""
        digest = hashlib.sha256(data_sha256.encode())
        digest.update(np.sort(self.test).astype(np.int64).tobytes())
        return digest.hexdigest()


@dataclass
class Bundle:
    """A fitted model and what serving and scoring need beside it (pickled as one file)."""

    task: str
    estimator: Any
    index_metric: str
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class HoldoutUnits:
    """What the paired bootstrap resamples on a holdout (users, rows...) and the stratum
    of each, for `evalsample` to draw a fixed sample from (`Task.holdout_units`)."""

    ids: np.ndarray  # sorted unit ids that can be scored
    strata: np.ndarray  # the stratum of each unit, aligned with `ids`
    stratified_by: str  # how the strata were made, for evaluation.json
    rows: Callable[[np.ndarray], np.ndarray]  # the holdout rows of the kept unit ids


STRATA = 10


def quantile_strata(values: np.ndarray) -> np.ndarray:
    """Decile bin of each value (ties share a bin; fewer bins when values repeat)."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, STRATA + 1)[1:-1]))
    return np.searchsorted(edges, values, side="right")


@dataclass
class Scores:
    """Metrics of one model on one holdout; `per_unit` feeds the paired bootstrap."""

    metrics: dict[str, float]
    per_unit: dict[str, np.ndarray]
    units: np.ndarray  # unit ids (users, rows) aligning per_unit arrays between models


def load_bundle(path: Path) -> Bundle:
    """Unpickle a bundle this project wrote (run directory or a model logged before the
    serving payload); TypeError when the file holds something else."""
    with path.open("rb") as handle:
        bundle = pickle.load(handle)
    if not isinstance(bundle, Bundle):
        raise TypeError(f"{path} does not hold a model bundle")
    return bundle
