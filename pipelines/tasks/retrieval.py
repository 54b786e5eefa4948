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
from pipelines.kinds import InputColumn
from pipelines.serving import HISTORY, top_unseen
from pipelines.spec import LoadedSpec, Spec
from pipelines.tasks.base import Bundle, HoldoutUnits, Scores, Searcher, Split, quantile_strata
from pipelines.tasks.baselines import MostPopular
from pipelines.tasks.splitting import row_hashes, split_rows

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

    def input_columns(self, spec: Spec) -> list[InputColumn]:
        """A known user, an anonymous history (with its weights) or an item, each optional:
        a request carries the one it asks with."""
        data = spec.data
        assert data.user is not None and data.item is not None  # the spec model requires them
        columns = [
            InputColumn(data.user, data.columns[data.user].dtype, required=False),
            InputColumn(HISTORY, data.columns[data.item].dtype, array=True, required=False),
            InputColumn(data.item, data.columns[data.item].dtype, required=False),
        ]
        if data.weight:
            columns.insert(2, InputColumn(data.weight, "float64", array=True, required=False))
        return columns

    def holdout_units(self, spec: Spec, frame: pd.DataFrame, split: Split) -> HoldoutUnits:
        """Holdout users with training history (only they can be scored), stratified by
        their training activity (deciles of their training interactions)."""
        user = spec.data.user
        test_users = frame[user].to_numpy()[split.test]
        train_users = frame[user].to_numpy()[split.train]
        units = np.intersect1d(np.unique(test_users), np.unique(train_users))
        uniq, counts = np.unique(train_users, return_counts=True)
        activity = counts[np.searchsorted(uniq, units)]
        return HoldoutUnits(
            units,
            quantile_strata(activity.astype(np.float64)),
            "training interactions per user (deciles)",
            lambda kept: split.test[np.isin(test_users, kept)],
        )

    def split(self, loaded: LoadedSpec, frame: pd.DataFrame) -> Split:
        """The spec's split (`splitting`); the default key is the (user, item) pair, so
        every interaction of a pair is on one side."""
        data = loaded.spec.data
        assert data.user is not None and data.item is not None  # the spec model requires them
        if data.split.strategy == "stratified":
            raise loaded.error(
                "retrieval takes random, temporal or leave-last splits", "data", "split", "strategy"
            )
        return split_rows(loaded, frame, [data.user, data.item], user=data.user)

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
        known_users, history, trained = _served_history(frame, split, data, items)
        return Bundle(
            task=self.kind,
            estimator=estimator,
            index_metric=loaded.spec.index.metric,
            extras={
                "item_ids": items,
                "item_vectors": np.ascontiguousarray(components.T, dtype=np.float32),
                "columns": {"user": data.user, "item": data.item, "weight": data.weight},
                # Serving folds a known user's whole history (training and holdout rows)
                # as `score` folds the training rows, and excludes all of it.
                "user_ids": known_users,
                "history": history,
                # Per stored interaction: whether the estimator was fitted on it.
                "history_trained": trained,
                # Users the model does not know get these items (most distinct users first).
                **popularity(matrix),
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
        known, via_index, queries, seen = self.recommend(bundle, frame, split, searcher, k)
        n_items = len(bundle.extras["item_ids"])
        exact_pos, _ = exact_topk(
            bundle.extras["item_vectors"],
            queries,
            self._exact_depth(bundle, seen),
            bundle.index_metric,
        )
        via_exact = _drop_seen(exact_pos, seen, k)
        # Holdout users with no training history get the fallback serving gives them.
        new = self._new_users(bundle, frame, split)
        fallback = np.tile(fallback_items(bundle, k), (len(new), 1))
        users = np.concatenate([known, new])
        order = np.argsort(users, kind="stable")
        users = users[order]
        via_index = np.concatenate([via_index, fallback])[order]
        via_exact = np.concatenate([via_exact, fallback])[order]
        relevant = self._relevant(bundle, frame, split, users)
        per_unit: dict[str, np.ndarray] = {}
        per_unit.update(_list_metrics(via_index, relevant, k, prefix=""))
        per_unit.update(_list_metrics(via_exact, relevant, k, prefix="exact_"))
        metrics = {
            name: float(values.mean()) if len(values) else 0.0 for name, values in per_unit.items()
        }
        recommended = np.unique(via_index[via_index >= 0])
        metrics["catalog_coverage"] = float(len(recommended) / n_items) if n_items else 0.0
        metrics["holdout_users"] = float(len(users))
        metrics["new_users"] = float(len(new))
        return Scores(metrics=metrics, per_unit=per_unit, units=users)

    def _new_users(self, bundle: Bundle, frame: pd.DataFrame, split: Split) -> np.ndarray:
        """Holdout users without a training row (sorted)."""
        user = bundle.extras["columns"]["user"]
        test_users = np.unique(frame[user].to_numpy()[split.test])
        return np.setdiff1d(test_users, np.unique(frame[user].to_numpy()[split.train]))

    def copies_of_training(
        self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split
    ) -> np.ndarray:
        """Whether each holdout interaction's (user, item) pair is also a training row's."""
        data = loaded.spec.data
        assert data.user is not None and data.item is not None
        pairs = [data.user, data.item]
        train = row_hashes(frame.iloc[split.train], pairs, 0)
        return np.isin(row_hashes(frame.iloc[split.test], pairs, 0), train)

    def trained_on(self, bundle: Bundle, frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """Whether `bundle`'s estimator was fitted on each of `rows` (its (user, item)
        interaction); models logged before `history_trained` were fitted on every stored
        interaction."""
        extras = bundle.extras
        columns = extras["columns"]
        users, items = np.asarray(extras["user_ids"]), np.asarray(extras["item_ids"])
        indptr = np.asarray(extras["history.indptr"])
        indices = np.asarray(extras["history.indices"])
        trained = extras.get("history_trained")
        stored_rows = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(indptr))
        if trained is not None:
            keep = np.asarray(trained, dtype=bool)
            stored_rows, indices = stored_rows[keep], indices[keep]
        codes = np.sort(stored_rows * len(items) + indices)
        chosen = frame.iloc[rows]
        user_pos = _lookup(users, chosen[columns["user"]].to_numpy())
        item_pos = _lookup(items, chosen[columns["item"]].to_numpy())
        probe = np.where((user_pos >= 0) & (item_pos >= 0), user_pos * len(items) + item_pos, -1)
        if len(codes) == 0:
            return np.zeros(len(rows), dtype=bool)
        found = np.minimum(np.searchsorted(codes, probe), len(codes) - 1)
        return np.asarray((probe >= 0) & (codes[found] == probe))

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


def popularity(matrix: sparse.csr_matrix, depth: int = 1000) -> dict[str, np.ndarray]:
    """`popular`: item positions by distinct training users, most first (ties: catalogue
    order), at most `depth`; `popular_users`: those counts."""
    users_per_item = np.asarray((matrix > 0).sum(axis=0)).ravel()
    order = np.argsort(-users_per_item, kind="stable")[:depth].astype(np.int64)
    return {"popular": order, "popular_users": users_per_item[order].astype(np.int64)}


def fallback_items(bundle: Bundle, k: int) -> np.ndarray:
    """The first k items a user unknown to the model is answered with (-1 pads)."""
    popular = np.asarray(bundle.extras.get("popular", np.empty(0, np.int64)), dtype=np.int64)
    out = np.full(k, -1, dtype=np.int64)
    out[: min(k, len(popular))] = popular[:k]
    return out


def _served_history(
    frame: pd.DataFrame, split: Split, data: Any, items: np.ndarray
) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray]:
    """Every user of the data, their interactions with catalogue items (training and
    holdout rows), and per stored interaction whether it was a training row."""
    rows = frame[frame[data.item].isin(items)]
    users = np.unique(frame[data.user].to_numpy())
    history = _matrix(rows, data.user, data.item, data.weight, users, items)
    train = frame.iloc[split.train]
    train = train[train[data.item].isin(items)]
    trained_matrix = _matrix(train, data.user, data.item, None, users, items)
    stored = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(history.indptr))
    codes = stored * len(items) + history.indices
    train_rows = np.repeat(np.arange(len(users), dtype=np.int64), np.diff(trained_matrix.indptr))
    train_codes = train_rows * len(items) + trained_matrix.indices  # sorted: CSR order
    trained = np.isin(codes, train_codes, assume_unique=False)
    return users, history, trained


def _lookup(known: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of `wanted` in the sorted `known`, -1 where absent."""
    if len(known) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(known, wanted), 0, len(known) - 1)
    return np.where(known[pos] == wanted, pos, -1).astype(np.int64)


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
