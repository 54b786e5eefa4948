"""Shared parts of the tabular kinds: features, split, fit, and the similar-cases index.

The index holds the training rows in the model's feature space (after scaling), so a
query returns the most similar known cases with their labels.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.spec import LoadedSpec
from pipelines.tasks.base import Bundle, Split
from pipelines.tasks.splitting import row_hashes, split_rows

# The salt of the row keys a fitted model records (not the split's: the same for every spec).
ROW_KEY_SEED = 0


class TabularTask:
    """Base for classification and regression on a feature table."""

    kind: str
    stratify = False

    def estimator_family(self, instance: Any) -> str:
        """'a regressor', 'a classifier' or 'neither ...', for error messages."""
        from sklearn.base import is_classifier, is_regressor

        if not (is_classifier(instance) or is_regressor(instance)):
            return "neither a classifier nor a regressor"
        return "a regressor" if is_regressor(instance) else "a classifier"

    def features(self, loaded: LoadedSpec) -> list[str]:
        """Feature columns: every spec column but the target and the split's time column
        (`Spec.feature_columns`)."""
        return loaded.spec.feature_columns()

    def split(self, loaded: LoadedSpec, frame: pd.DataFrame) -> Split:
        """The spec's split (`splitting`); the default key is the row's content."""
        data = loaded.spec.data
        if data.split.strategy == "leave-last":
            raise loaded.error(
                "a leave-last split is for retrieval; tabular tasks take random, stratified "
                "or temporal",
                "data",
                "split",
                "strategy",
            )
        return split_rows(
            loaded,
            frame,
            list(data.columns),
            labels=data.target if self.stratify else None,
        )

    def fit(self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split, estimator: Any) -> Bundle:
        """Fit (scaler +) estimator on the training rows."""
        features = self.features(loaded)
        target = loaded.spec.data.target
        model = (
            Pipeline([("scale", StandardScaler()), ("model", estimator)])
            if loaded.spec.model.standardize
            else Pipeline([("model", estimator)])
        )
        train = frame.iloc[split.train]
        key_columns = [c for c in loaded.spec.data.columns if c in frame.columns]
        _check_neighbours(loaded, len(train))
        features_train = train[features].to_numpy(dtype=np.float64)
        try:
            model.fit(features_train, train[target].to_numpy())
        except (ValueError, TypeError) as exc:
            raise loaded.error(f"fit failed: {exc}", "model", "params") from exc
        try:  # a model that fits but cannot answer fails here, not in evaluate
            model.predict(features_train[:5])
            if hasattr(model, "predict_proba") and self.stratify:
                model.predict_proba(features_train[:5])
        except (ValueError, TypeError, AttributeError) as exc:
            raise loaded.error(f"fitted model cannot predict: {exc}", "model", "params") from exc
        embedded = _embed(model, train[features].to_numpy(dtype=np.float64))
        return Bundle(
            task=self.kind,
            estimator=model,
            index_metric=loaded.spec.index.metric,
            extras={
                "features": features,
                "target": target,
                "train_rows": split.train.astype(np.int64),
                # Which rows it was fitted on, by content (`trained_on`).
                "train_keys": row_hashes(train, key_columns, ROW_KEY_SEED),
                "row_key": {
                    "columns": key_columns,
                    "dtypes": {c: str(train[c].dtype) for c in key_columns},
                },
                "train_labels": train[target].to_numpy(),
                "train_vectors": embedded,
            },
        )

    def trained_on(self, bundle: Bundle, frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """Whether `bundle`'s model was fitted on a row with the same content as each of
        `rows`; ValueError when the model does not say which rows it was fitted on, or on
        columns this data lacks."""
        stored, key = bundle.extras.get("train_keys"), bundle.extras.get("row_key")
        if stored is None or key is None:
            raise ValueError(
                "it does not record which rows it was fitted on (logged before row keys)"
            )
        columns = list(key["columns"])
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"its training rows are keyed by columns this data lacks: {', '.join(missing)}"
            )
        chosen = frame.iloc[rows][columns]
        try:
            chosen = chosen.astype(dict(key["dtypes"]))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"this data's columns do not convert to its dtypes: {exc}") from exc
        return np.isin(row_hashes(chosen, columns, ROW_KEY_SEED), np.asarray(stored))

    def index_vectors(self, bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
        """Training rows in feature space, keyed by their row position in the data."""
        return bundle.extras["train_rows"], bundle.extras["train_vectors"]

    def queries(self, bundle: Bundle, frame: pd.DataFrame, split: Split) -> np.ndarray:
        """Holdout rows in feature space."""
        test = frame.iloc[split.test]
        return _embed(bundle.estimator, test[bundle.extras["features"]].to_numpy(dtype=np.float64))

    def sample_rows(
        self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split
    ) -> list[dict[str, Any]] | None:
        """The first two holdout rows' features."""
        rows = frame.iloc[split.test[:2]][self.features(loaded)].to_dict(orient="records")
        return cast("list[dict[str, Any]]", rows)  # spec column names are strings

    def holdout(
        self, bundle: Bundle, frame: pd.DataFrame, split: Split
    ) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of the holdout rows, in the bundle's feature order."""
        test = frame.iloc[split.test]
        missing = [c for c in bundle.extras["features"] if c not in test.columns]
        if missing:
            raise KeyError(f"features not in the data: {', '.join(missing)}")
        return (
            test[bundle.extras["features"]].to_numpy(dtype=np.float64),
            test[bundle.extras["target"]].to_numpy(),
        )


def _check_neighbours(loaded: LoadedSpec, rows: int) -> None:
    """A neighbours estimator cannot ask for more neighbours than there are training rows."""
    wanted = loaded.spec.model.params.get("n_neighbors")
    if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > rows:
        raise loaded.error(
            f"n_neighbors is {wanted} but the training split has {rows} rows",
            "model",
            "params",
            "n_neighbors",
        )


def _embed(model: Pipeline, features: np.ndarray) -> np.ndarray:
    """Features as the final estimator sees them (the scaler's output, if any)."""
    if len(model.steps) > 1:
        features = model[:-1].transform(features)
    return np.ascontiguousarray(features, dtype=np.float32)
