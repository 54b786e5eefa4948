"""How to read a metric (which way is better, per unit or not) and the built-in kinds'
metrics. Pure data: cheap to import. `pipelines.kinds.METRICS` maps every registered kind
to its metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric."""

    name: str
    greater_is_better: bool
    per_unit: bool  # the metric is a mean over units (users, rows): bootstrap-able per unit
    description: str


RETRIEVAL_METRICS = (
    MetricInfo("ndcg_at_10", True, True, "NDCG@10 of index recommendations, per user"),
    MetricInfo("recall_at_10", True, True, "recall@10 of index recommendations, per user"),
    MetricInfo("precision_at_10", True, True, "precision@10 of index recommendations"),
    MetricInfo("hit_rate_at_10", True, True, "share of users with a hit in the top 10"),
    MetricInfo("exact_ndcg_at_10", True, True, "NDCG@10 with exact search (no index loss)"),
    MetricInfo("exact_recall_at_10", True, True, "recall@10 with exact search"),
    MetricInfo("catalog_coverage", True, False, "share of items recommended to anyone"),
)

CLASSIFICATION_METRICS = (
    MetricInfo("accuracy", True, True, "share of rows classified correctly"),
    MetricInfo("log_loss", False, True, "mean negative log-likelihood of the true class"),
    MetricInfo("brier", False, True, "mean squared error of the class probabilities"),
    MetricInfo("f1_macro", True, False, "macro-averaged F1"),
    MetricInfo("roc_auc", True, False, "ROC AUC (one-vs-rest for many classes)"),
    MetricInfo("neighbour_agreement", True, False, "nearest similar case has the same label"),
)

REGRESSION_METRICS = (
    MetricInfo("rmse", False, False, "root mean squared error"),
    MetricInfo("mse", False, True, "mean squared error"),
    MetricInfo("mae", False, True, "mean absolute error"),
    MetricInfo("r2", True, False, "coefficient of determination"),
)
