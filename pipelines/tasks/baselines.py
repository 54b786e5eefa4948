"""Baselines a candidate must beat, fitted and scored through the task's own path.

Each kind names its baseline (`Task.baseline_estimator`). Retrieval: the most popular
training items (by distinct users, `MostPopular` here), the user's seen items excluded as
for any model. Classification: the training class prior. Regression: the training mean.
Each is fitted on the candidate's training rows and scored on its holdout
with the same metrics; searches are exact (a baseline has no index).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from pipelines.index import exact_topk
from pipelines.spec import LoadedSpec
from pipelines.tasks.base import Bundle, Scores, Searcher, Split
from pipelines.tasks.protocol import Task


class MostPopular:
    """Scores every item by how many training users interacted with it.

    Shaped like a one-component decomposition, so the retrieval task fits and scores it
    as it does TruncatedSVD: one item "vector" (its popularity) and the same query vector
    for every user, compared by inner product.
    """

    components_: np.ndarray
    index_metric = "ip"  # popularity is a magnitude: cosine would tie every item

    def fit(self, matrix: sparse.csr_matrix, y: Any = None) -> MostPopular:
        """Count distinct users per item."""
        users_per_item = np.asarray((matrix > 0).sum(axis=0), dtype=np.float64)
        self.components_ = users_per_item.reshape(1, -1)
        return self

    def transform(self, matrix: sparse.csr_matrix) -> np.ndarray:
        """The same query for every user."""
        return np.ones((matrix.shape[0], 1), dtype=np.float32)


def fit_baseline(task: Task, loaded: LoadedSpec, frame: pd.DataFrame, split: Split) -> Bundle:
    """The task's baseline fitted on the training rows of `split`; a baseline that names
    its own `index_metric` (most popular: inner product) is searched with it."""
    estimator = task.baseline_estimator()
    bundle = task.fit(loaded, frame, split, estimator)
    bundle.index_metric = getattr(estimator, "index_metric", bundle.index_metric)
    return bundle


def exact_searcher(task: Task, bundle: Bundle) -> Searcher:
    """Exact search over the bundle's index vectors, answering with index keys."""
    keys, vectors = task.index_vectors(bundle)

    def search(queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        positions, similarity = exact_topk(vectors, queries, count, bundle.index_metric)
        return keys[positions], similarity

    return search


def score_baseline(task: Task, loaded: LoadedSpec, frame: pd.DataFrame, split: Split) -> Scores:
    """The baseline's metrics on the holdout of `split`."""
    bundle = fit_baseline(task, loaded, frame, split)
    return task.score(loaded, bundle, frame, split, exact_searcher(task, bundle))
