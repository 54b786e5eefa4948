"""What every task kind provides: split, fit, vectors for the index, and scoring."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.spec import LoadedSpec

# A searcher answers (queries, count) -> (keys, distances), like a usearch index does.
Searcher = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class Split:
    """Row positions of the training and holdout parts of the data."""

    train: np.ndarray
    test: np.ndarray

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
class Scores:
    """Metrics of one model on one holdout; `per_unit` feeds the paired bootstrap."""

    metrics: dict[str, float]
    per_unit: dict[str, np.ndarray]
    units: np.ndarray  # unit ids (users, rows) aligning per_unit arrays between models


class Task(ABC):
    """One task kind. Subclasses live one per module in `pipelines.tasks`."""

    kind: str

    @abstractmethod
    def split(self, loaded: LoadedSpec, frame: pd.DataFrame) -> Split:
        """A deterministic holdout split."""

    @abstractmethod
    def fit(self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split, estimator: Any) -> Bundle:
        """Fit the estimator on the training rows."""

    @abstractmethod
    def index_vectors(self, bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
        """(keys, float32 vectors) to put in the usearch index."""

    @abstractmethod
    def queries(self, bundle: Bundle, frame: pd.DataFrame, split: Split) -> np.ndarray:
        """Realistic float32 query vectors for recall and latency measurement."""

    @abstractmethod
    def score(
        self,
        loaded: LoadedSpec,
        bundle: Bundle,
        frame: pd.DataFrame,
        split: Split,
        searcher: Searcher,
    ) -> Scores:
        """Score `bundle` on the holdout of `split` (the candidate's holdout, for both)."""


def get_task(kind: str) -> Task:
    """The task object for a spec's `task:`."""
    if kind == "retrieval":
        from pipelines.tasks.retrieval import RetrievalTask

        return RetrievalTask()
    if kind == "classification":
        from pipelines.tasks.classification import ClassificationTask

        return ClassificationTask()
    if kind == "regression":
        from pipelines.tasks.regression import RegressionTask

        return RegressionTask()
    raise ValueError(f"unknown task kind {kind!r}")
