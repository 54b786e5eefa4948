"""Retrieval: implicit-feedback recommendations served from a usearch index of item vectors.

The estimator (e.g. TruncatedSVD) is fitted on the user × item matrix; item vectors are
its components, a user's query vector is `transform` of their history. Metrics are
computed through the index (what users get) and by exact search (so the index's loss shows).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from pipelines.index import exact_topk
from pipelines.serving import top_unseen
from pipelines.spec import LoadedSpec
from pipelines.tasks.base import Bundle, Scores, Searcher, Split
from pipelines.tasks.baselines import MostPopular

TOP_K = 10  # list length; the metric names say @10


class RetrievalTask:
    """Top-k item recommendation from interactions."""

    kind = "retrieval"

    def check_estimator(self, loaded: LoadedSpec, instance: Any) -> None:
        """A transformer (a decomposition over items)."""
        if not hasattr(instance, "transform"):
            raise loaded.error(
                f"'{type(instance).__name__}' has no transform; retrieval needs a "
                "decomposition over items (e.g. sklearn.decomposition.TruncatedSVD, NMF)",
                "model",
                "estimator",
            )

    def baseline_estimator(self) -> Any:
        """The most popular training items."""
        return MostPopular()

    def sample_rows(
        self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split
    ) -> list[dict[str, Any]] | None:
        """None: the served model's example is two known users (see `serving`)."""
        return None

    def split(self, loaded: LoadedSpec, frame: pd.DataFrame) -> Split:
        """Random holdout of interactions with the spec's seed."""
        split = loaded.spec.data.split
        if split.strategy != "random":
            raise loaded.error(
                "retrieval supports only the random strategy", "data", "split", "strategy"
            )
        rng = np.random.default_rng(split.seed)
        order = rng.permutation(len(frame))
        n_test = round(len(frame) * split.test_fraction)
        return Split(train=np.sort(order[n_test:]), test=np.sort(order[:n_test]))

    def fit(self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split, estimator: Any) -> Bundle:
        """Fit on the training interactions' user × item matrix."""
        data = loaded.spec.data
        assert data.user is not None and data.item is not None  # the spec model requires them
        train = frame.iloc[split.train]
        users = np.unique(train[data.user].to_numpy())
        items = np.unique(train[data.item].to_numpy())
        matrix = _matrix(train, data.user, data.item, data.weight, users, items)
        try:
            estimator.fit(matrix)
        except (ValueError, TypeError) as exc:
            raise loaded.error(f"fit failed: {exc}", "model", "params") from exc
        components = getattr(estimator, "components_", None)
        if components is None or components.shape[1] != len(items):
            raise loaded.error(
                "retrieval needs an estimator with components_ over items (e.g. TruncatedSVD, NMF)",
                "model",
                "estimator",
            )
        return Bundle(
            task=self.kind,
            estimator=estimator,
            index_metric=loaded.spec.index.metric,
            extras={
                "item_ids": items,
                "item_vectors": np.ascontiguousarray(components.T, dtype=np.float32),
                "columns": {"user": data.user, "item": data.item, "weight": data.weight},
                # Serving folds a known user's training history exactly as `score` does.
                "user_ids": users,
                "history": matrix,
            },
        )

    def index_vectors(self, bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
        """Item vectors keyed by position in the item catalogue."""
        vectors = bundle.extras["item_vectors"]
        return np.arange(len(vectors), dtype=np.int64), vectors

    def queries(self, bundle: Bundle, frame: pd.DataFrame, split: Split) -> np.ndarray:
        """Query vectors of holdout users, as they are asked in production."""
        _, vectors, _ = self._holdout_queries(bundle, frame, split)
        return vectors

    def exact_queries(
        self, bundle: Bundle, frame: pd.DataFrame, split: Split
    ) -> tuple[np.ndarray, int]:
        """The queries `score` searches exactly for this split, and how deep: k plus the most
        items one of those users has seen (build-index searches them once for both)."""
        _, queries, seen = self._holdout_queries(bundle, frame, split)
        return queries, self._exact_depth(bundle, seen)

    def _exact_depth(self, bundle: Bundle, seen: list[np.ndarray]) -> int:
        max_seen = max((len(s) for s in seen), default=0)
        return min(len(bundle.extras["item_ids"]), TOP_K + max_seen)

    def score(
        self,
        loaded: LoadedSpec,
        bundle: Bundle,
        frame: pd.DataFrame,
        split: Split,
        searcher: Searcher,
    ) -> Scores:
        """Per-user NDCG/recall/precision@k through the index and exactly, and coverage."""
        k = TOP_K
        users, via_index, queries, seen = self.recommend(bundle, frame, split, searcher, k)
        relevant = self._relevant(bundle, frame, split, users)
        n_items = len(bundle.extras["item_ids"])
        exact_pos, _ = exact_topk(
            bundle.extras["item_vectors"],
            queries,
            self._exact_depth(bundle, seen),
            bundle.index_metric,
        )
        via_exact = _drop_seen(exact_pos, seen, k)
        per_unit: dict[str, np.ndarray] = {}
        per_unit.update(_list_metrics(via_index, relevant, k, prefix=""))
        per_unit.update(_list_metrics(via_exact, relevant, k, prefix="exact_"))
        metrics = {
            name: float(values.mean()) if len(values) else 0.0 for name, values in per_unit.items()
        }
        recommended = np.unique(via_index[via_index >= 0])
        metrics["catalog_coverage"] = float(len(recommended) / n_items) if n_items else 0.0
        metrics["holdout_users"] = float(len(users))
        return Scores(metrics=metrics, per_unit=per_unit, units=users)

    def recommend(
        self, bundle: Bundle, frame: pd.DataFrame, split: Split, searcher: Searcher, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """Holdout users and their top-k item positions through `searcher`, seen items
        excluded, with the same function serving uses; also their queries and seen items."""
        users, queries, seen = self._holdout_queries(bundle, frame, split)
        n_items = len(bundle.extras["item_ids"])
        found, _ = top_unseen(searcher, queries, seen, k, n_items)
        return users, found, queries, seen

    def _holdout_queries(
        self, bundle: Bundle, frame: pd.DataFrame, split: Split
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Users with both history and holdout items, their query vectors and seen items."""
        columns = bundle.extras["columns"]
        items = bundle.extras["item_ids"]
        train = frame.iloc[split.train]
        test = frame.iloc[split.test]
        users = np.intersect1d(np.unique(test[columns["user"]]), np.unique(train[columns["user"]]))
        if len(users) == 0:
            return users, np.empty((0, len(bundle.extras["item_vectors"][0])), np.float32), []
        history = train[train[columns["user"]].isin(users)]
        history = history[history[columns["item"]].isin(items)]
        matrix = _matrix(history, columns["user"], columns["item"], columns["weight"], users, items)
        queries = np.ascontiguousarray(bundle.estimator.transform(matrix), dtype=np.float32)
        seen = np.split(matrix.indices, matrix.indptr[1:-1])
        return users, queries, seen

    def _relevant(
        self, bundle: Bundle, frame: pd.DataFrame, split: Split, users: np.ndarray
    ) -> list[np.ndarray]:
        """Holdout item positions per user (items unknown to the model count as misses: -1)."""
        columns = bundle.extras["columns"]
        items = bundle.extras["item_ids"]
        test = frame.iloc[split.test]
        test = test[test[columns["user"]].isin(users)]
        pos = np.searchsorted(items, test[columns["item"]].to_numpy())
        pos = np.clip(pos, 0, len(items) - 1)
        known = items[pos] == test[columns["item"]].to_numpy()
        positions = np.where(known, pos, -1)
        user_pos = np.searchsorted(users, test[columns["user"]].to_numpy())
        order = np.argsort(user_pos, kind="stable")
        bounds = np.searchsorted(user_pos[order], np.arange(len(users) + 1))
        return [np.unique(positions[order[a:b]]) for a, b in itertools.pairwise(bounds)]


def _matrix(
    frame: pd.DataFrame,
    user: str,
    item: str,
    weight: str | None,
    users: np.ndarray,
    items: np.ndarray,
) -> sparse.csr_matrix:
    rows = np.searchsorted(users, frame[user].to_numpy())
    cols = np.searchsorted(items, frame[item].to_numpy())
    values = frame[weight].to_numpy(dtype=np.float32) if weight else np.ones(len(frame), np.float32)
    matrix = sparse.csr_matrix(
        (values, (rows, cols)), shape=(len(users), len(items)), dtype=np.float32
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def _in_rows(values: np.ndarray, sets: list[np.ndarray]) -> np.ndarray:
    """member[r, j]: whether values[r, j] is in sets[r]; one sorted search for every row
    (a per-row `np.isin` costs ~25 µs a row, 1-2 s per model at 100k-1M items)."""
    member = np.zeros(values.shape, dtype=bool)
    lengths = np.fromiter((len(s) for s in sets), np.int64, len(sets))
    if values.size == 0 or lengths.sum() == 0:
        return member
    items = np.concatenate(sets).astype(np.int64)
    low = min(int(items.min()), int(values.min()))
    width = max(int(items.max()), int(values.max())) - low + 1
    rows = np.repeat(np.arange(len(sets), dtype=np.int64), lengths)
    codes = np.sort(rows * width + (items - low))
    probe = np.arange(len(values), dtype=np.int64)[:, None] * width + (values - low)
    found = np.minimum(np.searchsorted(codes, probe), len(codes) - 1)
    return codes[found] == probe


def _drop_seen(found: np.ndarray, seen: list[np.ndarray], k: int) -> np.ndarray:
    """The first k results per row that the user has not interacted with (-1 pads)."""
    out = np.full((len(found), k), -1, dtype=np.int64)
    keep = (found >= 0) & ~_in_rows(found, seen)
    rank = np.cumsum(keep, axis=1) - 1
    rows, cols = np.nonzero(keep & (rank < k))
    out[rows, rank[rows, cols]] = found[rows, cols]
    return out


def _list_metrics(
    lists: np.ndarray, relevant: list[np.ndarray], k: int, prefix: str
) -> dict[str, np.ndarray]:
    """Per-row NDCG, recall (and precision, hit rate without a prefix) of top-k `lists`;
    holdout items unknown to the model (-1 in `relevant`) count in the ideal, never as hits."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    hits = _in_rows(lists, [truth[truth >= 0] for truth in relevant]) & (lists >= 0)
    found = hits.sum(axis=1)
    ideal_n = np.minimum(np.fromiter((len(t) for t in relevant), np.int64, len(relevant)), k)
    ideal = np.concatenate(([0.0], np.cumsum(discounts)))[ideal_n]
    gain = (hits * discounts[: lists.shape[1]]).sum(axis=1)
    ndcg = np.divide(gain, ideal, out=np.zeros(len(lists)), where=ideal > 0)
    recall = np.divide(found, ideal_n, out=np.zeros(len(lists)), where=ideal_n > 0)
    name = f"_at_{k}"
    out = {
        f"{prefix}ndcg{name}": ndcg,
        f"{prefix}recall{name}": recall,
    }
    if not prefix:
        out[f"precision{name}"] = found / k
        out[f"hit_rate{name}"] = (recall > 0).astype(np.float64)
    return out
