"""Classification: class probabilities, with a similar-cases index over the training rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.metrics import f1_score, roc_auc_score

from pipelines.spec import LoadedSpec
from pipelines.tasks.base import Bundle, Scores, Searcher, Split
from pipelines.tasks.tabular import TabularTask

_EPS = 1e-15
# Metrics computed from class probabilities.
PROBA_METRICS = frozenset({"log_loss", "brier", "roc_auc"})


class ClassificationTask(TabularTask):
    """Predict a label; metrics on probabilities and hard predictions."""

    kind = "classification"
    stratify = True

    def target_strata(self, target: np.ndarray) -> tuple[np.ndarray, str]:
        """Holdout rows by label."""
        _, strata = np.unique(target, return_inverse=True)
        return strata, "label"

    def check_estimator(self, loaded: LoadedSpec, instance: Any) -> None:
        """A classifier, with `predict_proba` when a gated metric needs probabilities."""
        from sklearn.base import is_classifier

        name = type(instance).__name__
        if not is_classifier(instance):
            raise loaded.error(
                f"'{name}' is {self.estimator_family(instance)}; a classification spec needs "
                "a classifier (e.g. sklearn.linear_model.LogisticRegression)",
                "model",
                "estimator",
            )
        if hasattr(instance, "predict_proba"):
            return
        evaluation = loaded.spec.evaluation
        needed: list[tuple[str, tuple[str, ...]]] = [
            (evaluation.primary, ("evaluation", "primary")),
            *((m, ("evaluation", "thresholds", m)) for m in evaluation.thresholds),
            (loaded.spec.champion_metric, ("evaluation", "champion", "metric")),
        ]
        for metric, where in needed:
            if metric in PROBA_METRICS:
                raise loaded.error(
                    f"'{metric}' needs class probabilities and {name} with these parameters "
                    "has no predict_proba: pick another metric or an estimator that has it",
                    *where,
                )

    def baseline_estimator(self) -> Any:
        """The training class prior."""
        return DummyClassifier(strategy="prior")

    def score(
        self,
        loaded: LoadedSpec,
        bundle: Bundle,
        frame: pd.DataFrame,
        split: Split,
        searcher: Searcher,
    ) -> Scores:
        """Accuracy, log loss, Brier (per row), macro F1 and ROC AUC on the holdout."""
        features, labels = self.holdout(bundle, frame, split)
        model = bundle.estimator
        classes = np.asarray(model.classes_)
        proba = model.predict_proba(features) if hasattr(model, "predict_proba") else None
        predicted = model.predict(features)
        correct = (predicted == labels).astype(np.float64)
        per_unit = {"accuracy": correct}
        metrics = {"accuracy": float(correct.mean())}
        metrics["f1_macro"] = float(f1_score(labels, predicted, average="macro"))
        if proba is not None:
            onehot = (labels[:, None] == classes[None, :]).astype(np.float64)
            p_true = np.clip((proba * onehot).sum(axis=1), _EPS, 1.0)
            per_unit["log_loss"] = -np.log(p_true)
            per_unit["brier"] = ((proba - onehot) ** 2).sum(axis=1)
            metrics["log_loss"] = float(per_unit["log_loss"].mean())
            metrics["brier"] = float(per_unit["brier"].mean())
            metrics["roc_auc"] = _auc(labels, proba, classes)
        neighbours, _ = searcher(self.queries(bundle, frame, split), 1)
        train_labels = dict(
            zip(bundle.extras["train_rows"].tolist(), bundle.extras["train_labels"], strict=True)
        )
        nearest = np.asarray([train_labels.get(int(k)) for k in neighbours[:, 0]], dtype=object)
        metrics["neighbour_agreement"] = float(np.mean(nearest == labels)) if len(labels) else 0.0
        return Scores(metrics=metrics, per_unit=per_unit, units=split.test)


def _auc(labels: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    try:
        if len(classes) == 2:
            return float(roc_auc_score(labels, proba[:, 1]))
        return float(roc_auc_score(labels, proba, multi_class="ovr", labels=classes))
    except ValueError:
        return float("nan")
