"""report.json of a monitoring pass: one typed shape, written by `monitor`, read by
`monitor-alert` (a file of another shape is refused naming it).

A report holds the keys it was given: a pass that found no champion writes model, status
and checks only; `run_id`, `run_url`, `history_points` and `plot` come once the pass is
logged to MLflow.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FreshRecord(_Record):
    """The fresh batch that was scored."""

    origin: str
    sha256: str
    rows: int
    path: str | None  # inside the repository, when it is a file there


class CheckRecord(_Record):
    """One monitored quantity and its verdict (`detectors.Check`)."""

    name: str
    kind: str
    value: float | None
    limit: str
    alert: bool
    detail: str = ""


class QualityRecord(_Record):
    """Live quality on the fresh batch, against the champion's holdout value."""

    metric: str
    measured: bool = True
    value: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    units: int
    holdout: float | None
    max_drop: float
    degraded: bool


class MonitorReport(_Record):
    """One monitoring pass of one model."""

    model: str
    status: Literal["healthy", "alert", "no-champion"]
    spec: str | None = None
    version: str | None = None
    fresh: FreshRecord | None = None
    checks: list[CheckRecord] = []
    alerts: list[str] = []
    drifted_columns: list[str] = []
    quality: QualityRecord | None = None
    facts: dict[str, Any] = {}
    on_alert: list[str] = []
    run_id: str | None = None
    run_url: str | None = None
    history_points: int | None = None
    plot: str | None = None

    @model_serializer(mode="wrap")
    def _given_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}
