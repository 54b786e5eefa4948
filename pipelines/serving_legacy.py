"""The pyfunc of models logged before the serving payload (artifacts bundle, index, meta).

Their logged entry point imports `NeighboursModel` from `pipelines.serving`, which hands
out this class, so `evaluate` can still score such a champion and `smoke` query it. New
models never use it. It imports nothing of the package (not even serving, which imports
it on demand): unpickling a model's bundle imports the bundle's class
(`pipelines.tasks.base.Bundle`) by itself, and loading imports usearch.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

DEFAULT_K = 10


def search_index(index: Any, queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(keys, distances) as 2-D arrays, one query at a time; key -1 where fewer than
    `count` were found (what `serving.search_index` answers, for these old models)."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    count = min(count, len(index))
    keys = np.full((len(queries), count), -1, dtype=np.int64)
    distances = np.zeros((len(queries), count), dtype=np.float32)
    for row, query in enumerate(queries):
        if count == 0:
            break
        found = index.search(np.ascontiguousarray(query), count)
        keys[row, : len(found.keys)] = found.keys
        distances[row, : len(found.keys)] = found.distances
    return keys, distances


class NeighboursModel(PythonModel):
    """A fitted bundle plus its usearch index."""

    bundle: Any  # a pipelines.tasks.base.Bundle
    index: Any
    meta: dict[str, Any]

    def load_context(self, context: Any) -> None:
        """Load the bundle, metadata and index from the model's artifacts."""
        self.load_files(
            Path(context.artifacts["bundle"]),
            Path(context.artifacts["index"]),
            Path(context.artifacts["meta"]),
        )

    def load_files(self, bundle: Path, index: Path, meta: Path) -> None:
        """Load from plain paths (also used by evaluation to score a champion)."""
        from usearch.index import Index

        with bundle.open("rb") as handle:
            self.bundle = pickle.load(handle)  # imports its class, pipelines.tasks.base
        kind = type(self.bundle)
        if (kind.__module__, kind.__qualname__) != ("pipelines.tasks.base", "Bundle"):
            raise TypeError(f"{bundle} does not hold a model bundle")
        self.index = Index.restore(str(index))
        if self.index is None:
            raise ValueError(f"{index} is not a usearch index")
        self.meta = json.loads(meta.read_text(encoding="utf-8"))

    def sample_input(self) -> pd.DataFrame:
        """A small valid query, for smoke tests."""
        extras = self.bundle.extras
        if self.bundle.task == "retrieval":
            return pd.DataFrame({"item_id": extras["item_ids"][:2]})
        sample = self.meta.get("sample_rows")
        if sample:
            return pd.DataFrame(sample)
        return pd.DataFrame(np.zeros((1, len(extras["features"]))), columns=extras["features"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Top-k neighbours per input row."""
        k = int((params or {}).get("k", DEFAULT_K))
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        if self.bundle.task == "retrieval":
            return self._similar_items(model_input, k)
        return self._similar_cases(model_input, k)

    def _similar_items(self, frame: pd.DataFrame, k: int) -> pd.DataFrame:
        if "item_id" not in frame.columns:
            raise ValueError("retrieval input needs an `item_id` column")
        items = self.bundle.extras["item_ids"]
        vectors = self.bundle.extras["item_vectors"]
        wanted = frame["item_id"].to_numpy()
        pos = np.clip(np.searchsorted(items, wanted), 0, len(items) - 1)
        known = items[pos] == wanted
        if not known.all():
            raise ValueError(f"unknown item_id(s): {wanted[~known][:5].tolist()}")
        keys, distances = search_index(self.index, vectors[pos], k + 1)
        rows = []
        for query, (key_row, dist_row, own) in enumerate(zip(keys, distances, pos, strict=True)):
            kept = [
                (key, d)
                for key, d in zip(key_row, dist_row, strict=True)
                if key >= 0 and key != own
            ]
            for rank, (key, distance) in enumerate(kept[:k], start=1):
                rows.append((query, int(wanted[query]), rank, int(items[key]), float(distance)))
        return pd.DataFrame(rows, columns=["query", "item_id", "rank", "neighbour", "distance"])

    def _similar_cases(self, frame: pd.DataFrame, k: int) -> pd.DataFrame:
        extras = self.bundle.extras
        missing = [c for c in extras["features"] if c not in frame.columns]
        if missing:
            raise ValueError(f"missing feature columns: {', '.join(missing[:5])}")
        features = frame[extras["features"]].to_numpy(dtype=np.float64)
        model = self.bundle.estimator
        vectors = model[:-1].transform(features) if len(model.steps) > 1 else features
        keys, distances = search_index(
            self.index, np.ascontiguousarray(vectors, dtype=np.float32), k
        )
        labels = dict(
            zip(extras["train_rows"].tolist(), extras["train_labels"].tolist(), strict=True)
        )
        predictions = model.predict(features)
        rows = []
        for query, (key_row, dist_row) in enumerate(zip(keys, distances, strict=True)):
            for rank, (key, distance) in enumerate(zip(key_row, dist_row, strict=True), start=1):
                if key < 0:
                    continue
                rows.append(
                    (
                        query,
                        _plain(predictions[query]),
                        rank,
                        int(key),
                        float(distance),
                        labels.get(int(key)),
                    )
                )
        return pd.DataFrame(
            rows, columns=["query", "prediction", "rank", "neighbour", "distance", "label"]
        )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
