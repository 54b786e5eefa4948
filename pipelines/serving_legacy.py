"""The pyfunc of models logged before the serving payload (artifacts bundle, index, meta).

Their logged entry point imports `NeighboursModel` from `pipelines.serving`, which hands
out this class, so `evaluate` can still score such a champion and `smoke` query it. New
models never use it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from pipelines.index import restore_index, search_index
from pipelines.state import load_bundle
from pipelines.tasks.base import Bundle

DEFAULT_K = 10


class NeighboursModel(PythonModel):
    """A fitted bundle plus its usearch index."""

    bundle: Bundle
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
        self.bundle = load_bundle(bundle)
        self.index = restore_index(index)
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
