"""Regression: a numeric target, with a similar-cases index over the training rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor

from pipelines.spec import LoadedSpec
from pipelines.tasks.base import Bundle, Scores, Searcher, Split, quantile_strata
from pipelines.tasks.tabular import TabularTask


class RegressionTask(TabularTask):
    """Predict a number; squared and absolute errors per row."""

    kind = "regression"

    def target_strata(self, target: np.ndarray) -> tuple[np.ndarray, str]:
        """Holdout rows by deciles of the target."""
        return quantile_strata(np.asarray(target, dtype=np.float64)), "target (deciles)"

    def check_estimator(self, loaded: LoadedSpec, instance: Any) -> None:
        """A regressor."""
        from sklearn.base import is_regressor

        if not is_regressor(instance):
            raise loaded.error(
                f"'{type(instance).__name__}' is {self.estimator_family(instance)}; a "
                "regression spec needs a regressor (e.g. sklearn.linear_model.Ridge)",
                "model",
                "estimator",
            )

    def baseline_estimator(self) -> Any:
        """The training mean."""
        return DummyRegressor(strategy="mean")

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
