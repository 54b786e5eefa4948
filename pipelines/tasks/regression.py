"""Regression: a numeric target, with a similar-cases index over the training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.spec import LoadedSpec
from pipelines.tasks.base import Bundle, Scores, Searcher, Split
from pipelines.tasks.tabular import TabularTask


class RegressionTask(TabularTask):
    """Predict a number; squared and absolute errors per row."""

    kind = "regression"

    def score(
        self,
        loaded: LoadedSpec,
        bundle: Bundle,
        frame: pd.DataFrame,
        split: Split,
        searcher: Searcher,
    ) -> Scores:
        """MSE and MAE (per row), RMSE and R² on the holdout."""
        features, target = self.holdout(bundle, frame, split)
        predicted = bundle.estimator.predict(features)
        target = target.astype(np.float64)
        squared = (predicted - target) ** 2
        absolute = np.abs(predicted - target)
        variance = float(((target - target.mean()) ** 2).sum())
        metrics = {
            "mse": float(squared.mean()),
            "mae": float(absolute.mean()),
            "rmse": float(np.sqrt(squared.mean())),
            "r2": float(1 - squared.sum() / variance) if variance > 0 else 0.0,
        }
        return Scores(metrics=metrics, per_unit={"mse": squared, "mae": absolute}, units=split.test)
