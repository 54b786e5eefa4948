"""The served side of the test suite's toy task kind (`tests/unit/test_task_plugin.py`).

A single-file module with no import of the `pipelines` package: `publish` logs it as model
code beside `serving.py`, and the logged model imports it by this name wherever it loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FEATURES = ["x1", "x2"]


class ToyServer:
    """The prediction of the fitted estimator and the k nearest training rows."""

    def __init__(self, bundle: Any, index: Any, meta: dict[str, Any]) -> None:
        self.bundle = bundle
        self.index = index
        self.meta = meta

    def sample_input(self) -> pd.DataFrame:
        """Two rows of features."""
        return pd.DataFrame({"x1": [0.0, 1.0], "x2": [0.5, -1.0]})

    def predict(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One row per (query, rank): query, prediction, rank, neighbour, distance."""
        missing = [c for c in FEATURES if c not in frame.columns]
        if missing:
            raise ValueError(f"the toy model needs the columns {FEATURES}, missing {missing}")
        k = int((params or {}).get("k", 10))
        x = frame[FEATURES].to_numpy(dtype=np.float64)
        predictions = self.bundle.estimator.predict(x)
        rows = []
        for query, vector in enumerate(np.ascontiguousarray(x, dtype=np.float32)):
            matches = self.index.search(vector, k)
            for rank, (key, distance) in enumerate(
                zip(matches.keys, matches.distances, strict=True), start=1
            ):
                rows.append((query, float(predictions[query]), rank, int(key), float(distance)))
        return pd.DataFrame(rows, columns=["query", "prediction", "rank", "neighbour", "distance"])

    def answer(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """`predict` (the interface the logged entry point calls)."""
        return self.predict(frame, params)
