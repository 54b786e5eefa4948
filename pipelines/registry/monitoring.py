"""Monitoring runs in MLflow: the champion's holdout figures, one run per monitoring pass
linked to the champion version, and the series of past passes.

Functions taking a `Registry`: every call goes through `Registry.call`, so any failure
is an InfraError (exit 3) naming the operation and the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.registry.client import Registry
from pipelines.registry.names import TAG_PREFIX
from pipelines.registry.records import ModelVersion

TAG_KIND = f"{TAG_PREFIX}kind"
KIND_MONITOR = "monitor"
TAG_MONITORED_MODEL = f"{TAG_PREFIX}monitor.model"
TAG_MONITORED_VERSION = f"{TAG_PREFIX}monitor.version"
TAG_MONITOR_STATUS = f"{TAG_PREFIX}monitor.status"
TAG_FRESH_SHA = f"{TAG_PREFIX}monitor.fresh_sha256"
HOLDOUT_PREFIX = "candidate."


@dataclass(frozen=True)
class MonitorPoint:
    """One past monitoring pass: when, which version, its status and metrics."""

    run_id: str
    start_time: int  # ms since the epoch
    version: str
    status: str
    metrics: Mapping[str, float] = field(default_factory=dict)


def holdout_metrics(registry: Registry, run_id: str) -> dict[str, float]:
    """The champion's metrics on its own holdout, as its publish run logged them."""
    run = registry.call(f"lookup of run {run_id}", lambda: registry._client.get_run(run_id))
    metrics: dict[str, float] = dict(run.data.metrics or {})
    return {
        k.removeprefix(HOLDOUT_PREFIX): float(v)
        for k, v in metrics.items()
        if k.startswith(HOLDOUT_PREFIX)
    }


def log_monitoring_run(
    registry: Registry,
    version: ModelVersion,
    *,
    status: str,
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
    artifacts: list[Path],
) -> str:
    """One run in the model's pull-request experiment (the schedule holds the repository's
    credential), tagged with the version it watched; the metrics
    are linked to the version's logged model, so they show on it in the MLflow UI."""
    mlflow = registry._mlflow
    experiment_id = registry.experiment_id(version.name, release=False)
    model_id = (
        version.source.removeprefix("models:/") if version.source.startswith("models:/") else None
    )
    all_tags = {
        **tags,
        TAG_KIND: KIND_MONITOR,
        TAG_MONITORED_MODEL: version.name,
        TAG_MONITORED_VERSION: version.version,
        TAG_MONITOR_STATUS: status,
    }

    def log() -> str:
        name = f"monitor-{version.name}-v{version.version}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=all_tags) as run:
            for path in artifacts:
                mlflow.log_artifact(str(path), artifact_path="monitor")
            mlflow.log_metrics(dict(metrics), model_id=model_id)
            return str(run.info.run_id)

    return registry.call(f"monitoring run of {version.name}", log)


def monitoring_history(registry: Registry, model_name: str, limit: int = 200) -> list[MonitorPoint]:
    """Past monitoring passes of a model, oldest first (at most `limit`, the newest)."""
    experiment_id = registry.experiment_id(model_name, release=False)
    runs = registry.call(
        f"monitoring history of {model_name}",
        lambda: registry._client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{TAG_KIND}` = '{KIND_MONITOR}' and attributes.status = 'FINISHED'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        ),
    )
    points = [_point(run) for run in runs]
    return sorted(points, key=lambda p: p.start_time)


def _point(run: Any) -> MonitorPoint:
    tags = dict(run.data.tags or {})
    return MonitorPoint(
        run_id=str(run.info.run_id),
        start_time=int(run.info.start_time or 0),
        version=tags.get(TAG_MONITORED_VERSION, "?"),
        status=tags.get(TAG_MONITOR_STATUS, "?"),
        metrics={k: float(v) for k, v in (run.data.metrics or {}).items()},
    )


def attach_artifact(registry: Registry, run_id: str, path: Path) -> None:
    """Add a file to a finished monitoring run (the history plot, drawn after logging)."""
    registry.call(
        f"artifact upload to run {run_id}",
        lambda: registry._client.log_artifact(run_id, str(path), artifact_path="monitor"),
    )
