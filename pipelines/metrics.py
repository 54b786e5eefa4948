"""How to read a metric (which way is better, per unit or not); the built-in kinds' metrics;
and `METRICS`, the metrics of every registered kind. Pure data: cheap to import."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


class _KindMetrics(Mapping[str, dict[str, MetricInfo]]):
    """{kind: {metric name: info}} of every registered task kind. The registry is imported
    on use: it imports this module for the built-in kinds' metrics."""

    def __getitem__(self, kind: str) -> dict[str, MetricInfo]:
        from pipelines.tasks.registry import KINDS

        return {m.name: m for m in KINDS[kind].metrics}

    def __iter__(self) -> Iterator[str]:
        from pipelines.tasks.registry import KINDS

        return iter(KINDS)

    def __len__(self) -> int:
        from pipelines.tasks.registry import KINDS

        return len(KINDS)


METRICS: Mapping[str, dict[str, MetricInfo]] = _KindMetrics()


def metric_info(task: str, name: str) -> MetricInfo:
    """The metric `name` of task kind `task`; KeyError when unknown."""
    return METRICS[task][name]
