"""Shared parts of the tabular kinds: features, split, fit, and the similar-cases index.

The index holds the training rows in the model's feature space (after scaling), so a
query returns the most similar known cases with their labels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.kinds import InputColumn
from pipelines.serving import feature_input
from pipelines.spec import LoadedSpec, Spec
from pipelines.tasks.base import Bundle, HoldoutUnits, Split
from pipelines.tasks.splitting import row_hashes, split_rows

# The salt of the row keys a fitted model records (not the split's: the same for every spec).
ROW_KEY_SEED = 0


class TabularTask(ABC):
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
        train = frame.iloc[split.train]
        categorical = categorical_features(loaded, features)
        _check_levels(loaded, train, categorical)
        steps: list[tuple[str, Any]] = []
        if categorical:
            steps.append(("encode", _encoder(loaded, categorical)))
        if loaded.spec.model.standardize:
            steps.append(("scale", StandardScaler()))
        model = Pipeline([*steps, ("model", estimator)])
        key_columns = [c for c in loaded.spec.data.columns if c in frame.columns]
        _check_neighbours(loaded, len(train))
        features_train = feature_input(train, features, categorical)
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
        embedded = _embed(model, features_train)
        return Bundle(
            task=self.kind,
            estimator=model,
            index_metric=loaded.spec.index.metric,
            extras={
                "features": features,
                "categorical": categorical,
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

    def copies_of_training(
        self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split
    ) -> np.ndarray:
        """Whether each holdout row has the features and target of a training row (the
        split's time column, when it has one, left out)."""
        target = loaded.spec.data.target
        time_column = loaded.spec.data.split.column
        wanted = [*self.features(loaded), *([target] if target else [])]
        columns = [c for c in wanted if c != time_column]
        train = row_hashes(frame.iloc[split.train], columns, ROW_KEY_SEED)
        return np.isin(row_hashes(frame.iloc[split.test], columns, ROW_KEY_SEED), train)

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
        return _embed(bundle.estimator, model_input(bundle, test))

    def sample_rows(
        self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split
    ) -> list[dict[str, Any]] | None:
        """The first two holdout rows' features."""
        rows = frame.iloc[split.test[:2]][self.features(loaded)].to_dict(orient="records")
        return cast("list[dict[str, Any]]", rows)  # spec column names are strings

    def input_columns(self, spec: Spec) -> list[InputColumn]:
        """The feature columns, each required."""
        return [InputColumn(c, spec.data.columns[c].dtype) for c in spec.feature_columns()]

    @abstractmethod
    def target_strata(self, target: np.ndarray) -> tuple[np.ndarray, str]:
        """(stratum of each holdout row's target, how) for `holdout_units`: each kind says."""

    def holdout_units(self, spec: Spec, frame: pd.DataFrame, split: Split) -> HoldoutUnits:
        """Holdout rows (by row id), stratified by their target (`target_strata`)."""
        assert spec.data.target is not None  # the spec model requires it
        order = np.argsort(split.test, kind="stable")  # units are row ids: sorted
        target = frame[spec.data.target].to_numpy()[split.test][order]
        strata, by = self.target_strata(target)
        return HoldoutUnits(split.test[order], strata, by, np.sort)

    def holdout(
        self, bundle: Bundle, frame: pd.DataFrame, split: Split
    ) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of the holdout rows, in the bundle's feature order."""
        test = frame.iloc[split.test]
        missing = [c for c in bundle.extras["features"] if c not in test.columns]
        if missing:
            raise KeyError(f"features not in the data: {', '.join(missing)}")
        return (
            model_input(bundle, test),
            test[bundle.extras["target"]].to_numpy(),
        )


def categorical_features(loaded: LoadedSpec, features: list[str]) -> list[str]:
    """The features the spec types `category` or `string`."""
    columns = loaded.spec.data.columns
    return [c for c in features if columns[c].dtype in ("category", "string")]


def model_input(bundle: Bundle, frame: pd.DataFrame) -> Any:
    """`frame`'s feature columns as the bundle's fitted pipeline takes them."""
    extras = bundle.extras
    return feature_input(frame, list(extras["features"]), extras.get("categorical", ()))


def _encoder(loaded: LoadedSpec, categorical: list[str]) -> Any:
    """Categorical columns to numbers, as the spec says; the other columns pass through.
    Levels beyond `max_levels`, and levels first seen when serving, share one level."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    settings = loaded.spec.model.categorical
    encoder: Any
    if settings.encoding == "onehot":
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=settings.max_levels,
            sparse_output=False,
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            max_categories=settings.max_levels,
        )
    return ColumnTransformer(
        [("categories", encoder, categorical)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )


def _check_levels(loaded: LoadedSpec, train: pd.DataFrame, categorical: list[str]) -> None:
    """A text column with a distinct value on most rows is an identifier or free text, not
    a category: refused, naming the column."""
    cap = loaded.spec.model.categorical.max_levels
    for column in categorical:
        levels = int(train[column].nunique(dropna=True))
        if levels > cap and levels > len(train) // 2:
            raise loaded.error(
                f"column '{column}' has {levels} distinct values in {len(train)} training rows: "
                "an identifier or free text, not a category; drop it from data.columns or "
                "derive a category from it",
                "data",
                "columns",
                column,
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
