"""Serving: answer the queries `evaluate` scores, from a payload written at publish time.

This module is what the logged model ships (MLflow `code_paths`), so it imports numpy and
pandas only; scipy, usearch and the estimator's own library are imported when a model is
loaded. Nothing of training (spec, data, pydantic, yaml, jinja2) is needed to serve.

Queries, one kind per request (columns named as in the spec):
- retrieval, a known user: column `<user>` → top-k items, everything the user is known to
  have (training and holdout rows of the data) folded into the query and excluded (param
  `exclude_seen`, default true): the list `evaluate` scores for a user with that history;
  a user the model does not know gets the most popular training items, `fallback` true;
- retrieval, an anonymous history: column `history` (a list of `<item>` values, with an
  optional list `<weight>` of the same length) → top-k, folded as a user's history is;
- retrieval, similar items: column `<item>` → the k nearest other items;
- classification / regression: the feature columns → prediction, its probability (when
  the estimator has `predict_proba`), and the k most similar training cases.
Answer: one row per (query, rank): `query` (the input row), the query's key column when it
has one, `rank` (1..k), `neighbour` (the item, or the training row's position), `distance`
(usearch's, smaller is closer; a popularity answer's is 1 - the item's users over the most
popular item's), for retrieval `fallback` (the user was unknown: popularity answered) and,
for tabular tasks, `prediction`, `probability`, `label`.
"""

from __future__ import annotations

import json
import logging
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_K = 10
MAX_K = 1000
HISTORY = "history"
FORMAT = 1
_META = "serving.json"
_ESTIMATOR = "estimator.pkl"
_OBJECTS = "objects.pkl"
# The model's own answer to its example, recorded when it is logged; `smoke` expects it.
EXPECTED_ANSWER = "expected_answer.json"
EXPECTED_K = 5
# Error messages quote an input value in at most MAX_ECHO characters and are one line of
# at most MAX_MESSAGE characters, whatever the request holds.
MAX_ECHO = 200
MAX_MESSAGE = 1000
# usearch keeps vectors and distances as float32: a larger magnitude is not finite there.
FLOAT32_MAX = float(np.finfo(np.float32).max)

# A searcher answers (queries, count) -> (keys, distances), like a usearch index does.
Searcher = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


@dataclass
class ServedBundle:
    """What a loaded model holds; the attributes `evaluate` reads of a champion."""

    task: str
    estimator: Any
    index_metric: str
    extras: dict[str, Any] = field(default_factory=dict)


def search_index(index: Any, queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Batch search returning (keys, distances) as 2-D arrays; missing hits have key -1."""
    count = min(count, len(index))
    if count == 0 or len(queries) == 0:
        return np.empty((len(queries), 0), np.int64), np.empty((len(queries), 0), np.float32)
    matches = index.search(queries, count)
    if not hasattr(matches, "counts"):  # usearch answers a one-row batch with plain Matches
        keys = np.full((1, count), -1, dtype=np.int64)
        distances = np.zeros((1, count), dtype=np.float32)
        found = len(matches.keys)
        keys[0, :found] = matches.keys
        distances[0, :found] = matches.distances
        return keys, distances
    keys = np.asarray(matches.keys, dtype=np.int64).reshape(len(queries), -1)
    distances = np.asarray(matches.distances, dtype=np.float32).reshape(len(queries), -1)
    counts = np.asarray(matches.counts).reshape(-1)
    mask = np.arange(keys.shape[1])[None, :] >= counts[:, None]
    keys[mask] = -1
    return keys, distances


def top_unseen(
    search: Searcher, queries: np.ndarray, seen: Sequence[np.ndarray], k: int, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first k results per query that are not in its `seen` positions (-1 pads).

    Each query is searched `k + len(seen)` deep, so a query's answer does not depend on
    the other queries of its batch: `evaluate` and serving get the same list.
    """
    keys = np.full((len(queries), k), -1, dtype=np.int64)
    distances = np.zeros((len(queries), k), dtype=np.float32)
    depths = np.minimum(n_items, k + np.fromiter((len(s) for s in seen), np.int64, len(seen)))
    for depth in np.unique(depths):
        rows = np.flatnonzero(depths == depth)
        found, dist = search(np.ascontiguousarray(queries[rows]), int(depth))
        for row, cand, cand_dist in zip(rows.tolist(), found, dist, strict=True):
            keep = cand >= 0
            if len(seen[row]):
                keep &= ~np.isin(cand, seen[row])
            fresh = np.flatnonzero(keep)[:k]
            keys[row, : len(fresh)] = cand[fresh]
            distances[row, : len(fresh)] = cand_dist[fresh]
    return keys, distances


# -- the payload: written at publish time, read by the served model -----------------------


def write_payload(
    folder: Path,
    task: str,
    estimator: Any,
    index_metric: str,
    extras: dict[str, Any],
    sample_rows: list[dict[str, Any]] | None = None,
    server: str | None = None,
) -> None:
    """Write what serving needs: numeric arrays as .npy (memory-mapped when served),
    the estimator and any other objects pickled, the rest as JSON; `server` is the
    "module:Class" of a kind that brings its own server (logged as model code)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays: list[str] = []
    plain: dict[str, Any] = {}
    objects: dict[str, Any] = {}
    for key, value in extras.items():
        if hasattr(value, "indptr"):  # a scipy CSR matrix: its three arrays and shape
            for part in ("indptr", "indices", "data"):
                np.save(folder / f"{key}.{part}.npy", np.ascontiguousarray(getattr(value, part)))
                arrays.append(f"{key}.{part}")
            plain[f"{key}.shape"] = list(value.shape)
        elif isinstance(value, np.ndarray) and value.dtype != object:
            np.save(folder / f"{key}.npy", np.ascontiguousarray(value))
            arrays.append(key)
        elif isinstance(value, str | int | float | bool | dict | list) or value is None:
            plain[key] = value
        else:
            objects[key] = value
    with (folder / _ESTIMATOR).open("wb") as handle:
        pickle.dump(estimator, handle, protocol=pickle.HIGHEST_PROTOCOL)
    with (folder / _OBJECTS).open("wb") as handle:
        pickle.dump(objects, handle, protocol=pickle.HIGHEST_PROTOCOL)
    meta = {
        "format": FORMAT,
        "task": task,
        "index_metric": index_metric,
        "arrays": arrays,
        "plain": plain,
        "sample_rows": sample_rows,
    }
    if server is not None:
        meta["server"] = server
    (folder / _META).write_text(json.dumps(meta, indent=1, default=_json_default), "utf-8")


def write_expected_answer(folder: Path, server: Server, example: pd.DataFrame) -> None:
    """Record `server`'s answer to `example` (top `EXPECTED_K`) in the payload folder."""
    answer = server.predict(example, {"k": EXPECTED_K})
    record = {
        "params": {"k": EXPECTED_K},
        "input": json.loads(example.to_json(orient="split", index=False)),
        "answer": json.loads(answer.to_json(orient="split", index=False, double_precision=15)),
    }
    (folder / EXPECTED_ANSWER).write_text(json.dumps(record), encoding="utf-8")


def load(folder: Path, index_path: Path) -> Server:
    """A server for the payload in `folder` and the usearch index at `index_path`."""
    meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder}: serving payload format {meta.get('format')}, need {FORMAT}")
    extras: dict[str, Any] = dict(meta["plain"])
    for name in meta["arrays"]:
        extras[name] = np.load(folder / f"{name}.npy", mmap_mode="r")
    with (folder / _OBJECTS).open("rb") as handle:
        extras.update(pickle.load(handle))
    with (folder / _ESTIMATOR).open("rb") as handle:
        estimator = pickle.load(handle)
    from usearch.index import Index

    index = Index.restore(str(index_path), view=True)  # memory-mapped: may exceed RAM
    if index is None:
        raise ValueError(f"{index_path} is not a usearch index")
    bundle = ServedBundle(meta["task"], estimator, meta["index_metric"], extras)
    return server_class(meta)(bundle, index, meta)


def server_class(meta: dict[str, Any]) -> type[Server]:
    """The payload's server: its kind's own ("module:Class", shipped as model code), else
    the one `SERVERS` lists for its kind, else the feature-table server."""
    named = meta.get("server")
    if named:
        import importlib

        module, _, attribute = str(named).partition(":")
        server: type[Server] = getattr(importlib.import_module(module), attribute)
        return server
    return SERVERS.get(meta["task"], TabularServer)


# A query or an answer as columns: name -> one value per row (a numpy array or a list).
Columns = Mapping[str, Any]


def frame_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A query frame as columns (name -> numpy array)."""
    return {str(name): frame[name].to_numpy() for name in frame.columns}


class Server(ABC):
    """A loaded model: answers queries given as columns (one subclass per task family).

    `columns` is the hot path, numpy only: the pyfunc's `predict` and the lean HTTP server
    both call it, so what is served over either is what `evaluate` scores. A subclass
    implements `columns` (or, as before, `predict` on a frame: the other is derived).
    """

    def __init__(self, bundle: ServedBundle, index: Any, meta: dict[str, Any]) -> None:
        self.bundle = bundle
        self.index = index
        self.meta = meta

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.columns is Server.columns and cls.predict is Server.predict:
            raise TypeError(f"{cls.__name__} must implement `columns` or `predict`")

    def columns(self, query: Columns, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Answer every row of `query` (columns in, columns out)."""
        frame = pd.DataFrame({name: list(values) for name, values in query.items()})
        return frame_columns(self.predict(frame, params))

    def predict(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Answer every row of `frame`: `columns` as one frame."""
        return pd.DataFrame(self.columns(frame_columns(frame), params))

    def answer_columns(
        self, query: Columns, params: dict[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """`columns`, refused (ValueError naming row and column) if any number of the
        answer is not finite: an answer is always valid JSON, never NaN or Infinity."""
        return check_finite_columns(self.columns(query, params))

    def answer(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`answer_columns` of a query frame, as one frame."""
        return pd.DataFrame(self.answer_columns(frame_columns(frame), params))

    @abstractmethod
    def sample_input(self) -> pd.DataFrame:
        """A small valid query."""


class RetrievalServer(Server):
    """Recommendations for a known user or a history, and similar items."""

    def __init__(self, bundle: ServedBundle, index: Any, meta: dict[str, Any]) -> None:
        super().__init__(bundle, index, meta)
        columns = bundle.extras["columns"]
        self.user: str = columns["user"]
        self.item: str = columns["item"]
        self.weight: str | None = columns.get("weight")
        self.items: np.ndarray = bundle.extras["item_ids"]
        self.vectors: np.ndarray = bundle.extras["item_vectors"]
        self.users: np.ndarray = bundle.extras["user_ids"]
        self.indptr: np.ndarray = bundle.extras["history.indptr"]
        self.indices: np.ndarray = bundle.extras["history.indices"]
        self.weights: np.ndarray = bundle.extras["history.data"]
        # Models logged before the fallback answer unknown users with nothing.
        self.popular: np.ndarray = np.asarray(
            bundle.extras.get("popular", np.empty(0, np.int64)), dtype=np.int64
        )
        self.popular_distance = _popularity_distance(bundle.extras, len(self.popular))
        # TruncatedSVD's transform is `X @ components_.T`; scipy copies that transposed view
        # on every call (O(items)), so keep a C-ordered copy: the same product, bit for bit.
        estimator = bundle.estimator
        self.projection: np.ndarray | None = None
        if type(estimator).__name__ == "TruncatedSVD" and hasattr(estimator, "components_"):
            self.projection = np.ascontiguousarray(estimator.components_.T)

    def query_columns(self) -> list[str]:
        """The input columns, one of which a request carries."""
        return [self.user, HISTORY, self.item]

    def sample_input(self) -> pd.DataFrame:
        """Two known users."""
        return pd.DataFrame({self.user: self.users[:2]})

    def seen(self, user: Any) -> np.ndarray:
        """The item ids a known user has in the data the model was built from (training and
        holdout rows): what an answer to that user excludes."""
        row = self._positions(self.users, np.asarray([user]), self.user)[0]
        return np.asarray(self.items[self.indices[self.indptr[row] : self.indptr[row + 1]]])

    def columns(self, query: Columns, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Top-k per row of the one query column present."""
        k, exclude_seen = _params(params)
        present = [c for c in self.query_columns() if c in query]
        if len(present) != 1:
            sent = list(map(str, query))
            got = (
                short(sent)
                if sent
                else "no column it names (MLflow drops the columns its signature does not name)"
            )
            raise ValueError(
                f"retrieval input needs exactly one of the columns {self.query_columns()} "
                f"({self.user!r}: a known user, {HISTORY!r}: a list of {self.item!r} values, "
                f"{self.item!r}: similar items); got {got}"
            )
        column = present[0]
        if column == self.item:
            wanted = np.asarray(query[column])
            pos = self._positions(self.items, wanted, self.item)
            queries = np.asarray(self.vectors[pos], dtype=np.float32)
            seen: list[np.ndarray] = [pos[i : i + 1] for i in range(len(pos))]
        elif column == self.user:
            wanted = np.asarray(query[column])
            return self._answer(column, wanted, *self._for_users(wanted, k, exclude_seen))
        else:
            wanted = np.asarray([None] * len(query[column]), dtype=object)
            cols, values = self._histories(query)
            queries = self._fold(cols, values)
            empty = np.empty(0, np.int64)
            seen = cols if exclude_seen else [empty] * len(cols)
        keys, distances = top_unseen(
            lambda q, n: search_index(self.index, q, n), queries, seen, k, len(self.items)
        )
        return self._answer(column, wanted, keys, distances, np.zeros(len(wanted), dtype=bool))

    def _for_users(
        self, wanted: np.ndarray, k: int, exclude_seen: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, distances, fallback) for user ids: a known user's whole history folded
        and excluded; a user the model does not know gets the most popular items."""
        rows = np.full(len(wanted), -1, dtype=np.int64)
        if len(self.users):
            pos = _search_sorted(self.users, wanted, self.user)
            rows = np.where(np.asarray(self.users[pos] == wanted), pos, -1)
        known = np.flatnonzero(rows >= 0)
        keys = np.full((len(wanted), k), -1, dtype=np.int64)
        distances = np.zeros((len(wanted), k), dtype=np.float32)
        if len(known):
            starts, stops = self.indptr[rows[known]], self.indptr[rows[known] + 1]
            cols = [np.asarray(self.indices[a:b]) for a, b in zip(starts, stops, strict=True)]
            values = [np.asarray(self.weights[a:b]) for a, b in zip(starts, stops, strict=True)]
            empty = np.empty(0, np.int64)
            seen = cols if exclude_seen else [empty] * len(cols)
            keys[known], distances[known] = top_unseen(
                lambda q, n: search_index(self.index, q, n),
                self._fold(cols, values),
                seen,
                k,
                len(self.items),
            )
        fallback = rows < 0
        if fallback.any():
            depth = min(k, len(self.popular))
            keys[fallback, :depth] = self.popular[:depth]
            distances[fallback, :depth] = self.popular_distance[:depth]
        return keys, distances, fallback

    def _answer(
        self,
        column: str,
        wanted: np.ndarray,
        keys: np.ndarray,
        distances: np.ndarray,
        fallback: np.ndarray,
    ) -> dict[str, Any]:
        """One row per (query, rank), as the module docstring says (as columns)."""
        out = _rows(keys, distances)
        query = out["query"]
        answer = {"query": query}
        if column != HISTORY:
            answer[column] = wanted[query]
        answer["rank"] = out["rank"]
        answer["neighbour"] = self.items[out["key"]]
        answer["distance"] = out["distance"]
        answer["fallback"] = fallback[query]
        return answer

    def _histories(self, query: Columns) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Item positions and weights of each anonymous history; unknown items dropped."""
        weight = self.weight if self.weight is not None and self.weight in query else None
        weight_rows = query[weight] if weight is not None else None
        cols, values = [], []
        for row, history in enumerate(query[HISTORY]):
            ids = np.asarray(_as_list(history, HISTORY, row))
            if weight is not None and weight_rows is not None:
                weights = _weights(_as_list(weight_rows[row], weight, row), weight, row)
                if len(weights) != len(ids):
                    raise ValueError(
                        f"row {row}: {weight!r} has {len(weights)} values, "
                        f"{HISTORY!r} has {len(ids)}"
                    )
            else:
                weights = np.ones(len(ids))
            pos = _search_sorted(self.items, ids, HISTORY)
            known = self.items[pos] == ids if len(ids) else np.zeros(0, bool)
            if not known.any():
                raise ValueError(f"row {row}: no known {self.item!r} in {HISTORY!r}")
            cols.append(pos[known])
            values.append(weights[known].astype(np.float32))
        return cols, values

    def _fold(self, cols: list[np.ndarray], values: list[np.ndarray]) -> np.ndarray:
        """Query vectors of histories: the estimator's `transform` of their item rows, as
        training built them (float32 weights, duplicates summed, indices sorted)."""
        from scipy import sparse

        lengths = [len(c) for c in cols]
        matrix = sparse.csr_matrix(
            (
                np.concatenate(values).astype(np.float32) if cols else np.empty(0, np.float32),
                (np.repeat(np.arange(len(cols)), lengths), np.concatenate(cols) if cols else []),
            ),
            shape=(len(cols), len(self.items)),
            dtype=np.float32,
        )
        with np.errstate(over="ignore", invalid="ignore"):
            matrix.sum_duplicates()
            matrix.sort_indices()
            if self.projection is not None:
                folded = np.asarray(matrix @ self.projection, dtype=np.float64)
            else:
                folded = np.asarray(self.bundle.estimator.transform(matrix), dtype=np.float64)
        bad = ~np.isfinite(folded) | (np.abs(folded) > FLOAT32_MAX)
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ValueError(
                f"row {row}: the weights are too large: the query vector they fold into "
                "is not finite in float32"
            )
        return np.ascontiguousarray(folded, dtype=np.float32)

    @staticmethod
    def _positions(known: np.ndarray, wanted: np.ndarray, column: str) -> np.ndarray:
        """Positions of `wanted` in the sorted `known`; unknown values are an error."""
        if len(known) == 0:
            raise ValueError(f"the model knows no {column!r} values")
        pos = _search_sorted(known, wanted, column)
        missing = np.asarray(known[pos] != wanted)
        if missing.any():
            raise ValueError(f"unknown {column!r}: {short(wanted[missing][:5].tolist())}")
        return pos


# What a missing level of a categorical feature is encoded as.
MISSING_LEVEL = "<missing>"


def feature_input(frame: pd.DataFrame, features: list[str], categorical: Sequence[str] = ()) -> Any:
    """The feature columns as the fitted pipeline takes them: a float64 array, or, when some
    columns are categorical, a frame of float64 and text columns (missing levels named)."""
    if not categorical:
        return frame[features].to_numpy(dtype=np.float64)
    columns: dict[str, Any] = {}
    for name in features:
        if name in categorical:
            text = frame[name].astype("string").fillna(MISSING_LEVEL)
            columns[name] = text.to_numpy(dtype=object)
        else:
            columns[name] = frame[name].to_numpy(dtype=np.float64)
    return pd.DataFrame(columns, index=frame.index)


class TabularServer(Server):
    """Prediction, its probability, and similar training cases."""

    def __init__(self, bundle: ServedBundle, index: Any, meta: dict[str, Any]) -> None:
        super().__init__(bundle, index, meta)
        self.features: list[str] = list(bundle.extras["features"])
        self.categorical: list[str] = list(bundle.extras.get("categorical", []))
        self.rows: np.ndarray = bundle.extras["train_rows"]
        self.labels: np.ndarray = np.asarray(bundle.extras["train_labels"])

    def sample_input(self) -> pd.DataFrame:
        """The training sample rows, else one row of zeros."""
        sample = self.meta.get("sample_rows")
        if sample:
            return pd.DataFrame(sample)[self.features]
        return pd.DataFrame(np.zeros((1, len(self.features))), columns=self.features)

    def columns(self, query: Columns, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Prediction and top-k similar cases per row."""
        k, _ = _params(params)
        missing = [c for c in self.features if c not in query]
        if missing:
            raise ValueError(
                f"missing feature column(s) {missing}; the model expects {self.features}"
            )
        features = self._features(query)
        model = self.bundle.estimator
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            vectors = model[:-1].transform(features) if len(model.steps) > 1 else features
        # checked before predicting: the estimator would refuse the same values, unnamed
        vectors = np.asarray(vectors, dtype=np.float64)
        bad = ~np.isfinite(vectors) | (np.abs(vectors) > FLOAT32_MAX)
        if bad.any():
            row, col = (int(i[0]) for i in np.nonzero(bad))
            named = f" {self.features[col]!r}" if vectors.shape[1] == len(self.features) else ""
            raise ValueError(
                f"row {row}: feature{named} too far outside the training data: its "
                "similar-case vector is not finite in float32"
            )
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            predictions = np.asarray(model.predict(features))
            probability = None
            if hasattr(model, "predict_proba"):
                proba = np.asarray(model.predict_proba(features))
                column = np.searchsorted(np.asarray(model.classes_), predictions)
                probability = proba[np.arange(len(proba)), column]
        keys, distances = search_index(
            self.index, np.ascontiguousarray(vectors, dtype=np.float32), k
        )
        out = _rows(keys, distances)
        rows = out["query"]
        answer: dict[str, Any] = {"query": rows, "prediction": predictions[rows]}
        if probability is not None:
            answer["probability"] = probability[rows]
        answer["rank"] = out["rank"]
        answer["neighbour"] = out["key"]
        answer["distance"] = out["distance"]
        pos = np.clip(np.searchsorted(self.rows, out["key"]), 0, max(len(self.rows) - 1, 0))
        answer["label"] = self.labels[pos] if len(self.rows) else np.empty(0)
        return answer

    def _features(self, query: Columns) -> Any:
        """The feature columns as the pipeline takes them (`feature_input`: a float64 array
        unless some are categorical); a numeric value that is not a finite number is an
        error naming its row and column."""
        columns: dict[str, Any] = {}
        for name in self.features:
            raw = query[name]
            if name in self.categorical:  # text: a missing level is named, unseen ones shared
                columns[name] = pd.Series(raw)
                continue
            values = _numbers(raw, name)
            bad = np.flatnonzero(~np.isfinite(values))
            if len(bad):
                row = int(bad[0])
                raise ValueError(
                    f"row {row}: {name!r} is {short(raw[row])}: features must be finite numbers"
                )
            columns[name] = values
        if not self.categorical:
            return np.column_stack([columns[name] for name in self.features])
        return feature_input(pd.DataFrame(columns), self.features, self.categorical)


# The server of each task kind; a kind not listed is served as a feature table (tabular).
# A kind that answers other queries adds its Server subclass with `register_server`.
SERVERS: dict[str, type[Server]] = {"retrieval": RetrievalServer}


def register_server(kind: str, server: type[Server]) -> None:
    """Serve models of task kind `kind` with `server`."""
    SERVERS[kind] = server


def _params(params: dict[str, Any] | None) -> tuple[int, bool]:
    """`k` (1..MAX_K) and `exclude_seen` from the request's params."""
    params = params or {}
    k = params.get("k", DEFAULT_K)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise ValueError(f"param 'k' must be an integer from 1 to {MAX_K}, got {short(k)}")
    exclude = params.get("exclude_seen", True)
    if not isinstance(exclude, bool | np.bool_):
        raise ValueError(f"param 'exclude_seen' must be true or false, got {short(exclude)}")
    return int(k), bool(exclude)


def _rows(keys: np.ndarray, distances: np.ndarray) -> dict[str, np.ndarray]:
    """(query, rank, key, distance) of every found result, row-major."""
    query, rank = np.nonzero(keys >= 0)
    return {
        "query": query,
        "rank": rank + 1,
        "key": keys[query, rank],
        "distance": distances[query, rank],
    }


def _popularity_distance(extras: dict[str, Any], depth: int) -> np.ndarray:
    """A popularity answer's `distance`: 1 - the item's users over the top item's (0 is the
    most popular), from `popular_users` when recorded, else the rank over the depth."""
    counts = extras.get("popular_users")
    if counts is not None and len(counts) == depth and depth and counts[0] > 0:
        return np.asarray(1.0 - np.asarray(counts, np.float64) / float(counts[0]), np.float32)
    return np.asarray(np.arange(depth) / max(depth, 1), np.float32)


def short(value: Any, limit: int = MAX_ECHO) -> str:
    """`repr(value)` (of a numpy scalar, its Python value's), cut to `limit` characters with
    an ellipsis and the full length."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} chars)"


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` on one line (line breaks become spaces), cut to `limit` characters."""
    flat = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]}... ({len(flat):,} chars)"


def _numbers(raw: Any, name: str) -> np.ndarray:
    """A numeric column as float64: numbers as they are, anything else as `pd.to_numeric`
    reads it (what it cannot read is NaN)."""
    values = raw if isinstance(raw, np.ndarray) else np.asarray(raw)
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    try:
        return pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name!r} must hold one number per row, got {short(list(raw))}") from None


def check_finite_columns(answer: dict[str, Any]) -> dict[str, np.ndarray]:
    """`answer` with every column a numpy array, or a ValueError naming the first query row
    and column whose number is NaN or infinite (JSON has no such numbers)."""
    arrays = {name: np.asarray(values) for name, values in answer.items()}
    for name, values in arrays.items():
        if values.dtype.kind != "f":
            continue
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            rows = arrays["query"] if "query" in arrays else np.arange(len(values))
            where = int(rows[bad[0]])
            raise ValueError(
                f"row {where}: the answer's {name!r} is {values[bad[0]]}, not a finite number: "
                "an input too large for the model"
            )
    return arrays


def check_finite(answer: pd.DataFrame) -> pd.DataFrame:
    """`answer` itself, or a ValueError naming the first query row and column whose number
    is NaN or infinite (JSON has no such numbers)."""
    for name in answer.columns:
        values = answer[name].to_numpy()
        if values.dtype.kind != "f":
            continue
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            rows = (
                answer["query"].to_numpy() if "query" in answer.columns else np.arange(len(answer))
            )
            where = int(rows[bad[0]])
            raise ValueError(
                f"row {where}: the answer's {name!r} is {values[bad[0]]}, not a finite number: "
                "an input too large for the model"
            )
    return answer


def _search_sorted(known: np.ndarray, wanted: np.ndarray, column: str) -> np.ndarray:
    """Positions of `wanted` in the sorted `known` (clipped to its range); values of another
    type than the model's ids are an error naming the column."""
    try:
        return np.clip(np.searchsorted(known, wanted), 0, len(known) - 1)
    except TypeError:
        raise ValueError(
            f"{column!r} values must be {known.dtype} ids like the model's, "
            f"got {short(np.asarray(wanted)[:5].tolist())}"
        ) from None


def _weights(values: list[Any], column: str, row: int) -> np.ndarray:
    """A history's weights as float64: each a finite number within float32's range (the
    precision the model folds them in), else an error naming the row, column and value."""
    try:
        weights = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"row {row}: {column!r} must hold numbers, got {short(values)}") from None
    if len(weights) != len(values):
        raise ValueError(f"row {row}: {column!r} must be a flat list of numbers")
    bad = np.flatnonzero(~np.isfinite(weights) | (np.abs(weights) > FLOAT32_MAX))
    if len(bad):
        raise ValueError(
            f"row {row}: {column!r}[{int(bad[0])}] is {short(values[int(bad[0])])}: weights "
            f"must be finite numbers of magnitude at most {FLOAT32_MAX:.4g}"
        )
    return weights


def _as_list(value: Any, column: str, row: int) -> list[Any]:
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    raise ValueError(f"row {row}: {column!r} must be a list, got {type(value).__name__}")


def __getattr__(name: str) -> Any:
    """`NeighboursModel`, for models logged before the payload format (their entry point
    imports it from here); imported on demand, so serving itself stays free of training."""
    if name == "NeighboursModel":
        from pipelines.serving_legacy import NeighboursModel

        return NeighboursModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
