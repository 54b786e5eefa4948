"""Typed views of what the registry returns: model versions and published runs.

Steps see these, never MLflow's own entity classes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.registry.names import (
    GATE_PASSED,
    NO_CHAMPION,
    TAG_COMPARED_WITH,
    TAG_CONTENT,
    TAG_DIGEST,
    TAG_GATE,
    TAG_MODEL_URI,
    TAG_ROLLED_BACK,
)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: str
    run_id: str | None
    source: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def number(self) -> int:
        """The version as a number (MLflow numbers versions 1, 2, ... per model)."""
        return int(self.version)

    @property
    def content_hash(self) -> str | None:
        """The content hash it was registered from."""
        return self.tags.get(TAG_CONTENT)

    @property
    def digest(self) -> str | None:
        """The tree digest of its files, recorded when it was registered."""
        return self.tags.get(TAG_DIGEST)

    @property
    def gate_passed(self) -> bool:
        """Whether the verdict it was registered with passed."""
        return self.tags.get(TAG_GATE) == GATE_PASSED

    @property
    def rolled_back(self) -> dict[str, Any] | None:
        """The rollback that took this version down as champion, if any."""
        text = self.tags.get(TAG_ROLLED_BACK)
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return {"raw": text}
        return value if isinstance(value, dict) else {"raw": text}

    @classmethod
    def from_mlflow(cls, entity: Any) -> ModelVersion:
        """From MLflow's ModelVersion entity."""
        return cls(
            name=str(entity.name),
            version=str(entity.version),
            run_id=str(entity.run_id) if entity.run_id else None,
            source=str(entity.source or ""),
            tags=dict(entity.tags or {}),
        )


@dataclass(frozen=True)
class PublishedRun:
    """One `publish`: the verdict of one evaluation of one content hash, and its model."""

    run_id: str
    experiment_id: str
    start_time: int
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str = ""  # MLflow's run status: FINISHED for a complete publish

    @property
    def model_uri(self) -> str | None:
        """`models:/<model_id>` of the logged model this run published or reused."""
        return self.tags.get(TAG_MODEL_URI)

    @property
    def gate(self) -> str:
        """'passed', 'failed', or 'unknown' for a run that never finished tagging."""
        return self.tags.get(TAG_GATE, "unknown")

    @property
    def gate_passed(self) -> bool:
        """Whether this verdict passed."""
        return self.gate == GATE_PASSED

    @property
    def digest(self) -> str | None:
        """The tree digest of its logged model's files as stored (None before digests)."""
        return self.tags.get(TAG_DIGEST)

    @property
    def compared_with(self) -> str:
        """The champion version the verdict was reached against ('none' when there was none)."""
        return self.tags.get(TAG_COMPARED_WITH, NO_CHAMPION)

    @classmethod
    def from_mlflow(cls, run: Any) -> PublishedRun:
        """From MLflow's Run entity."""
        return cls(
            run_id=str(run.info.run_id),
            experiment_id=str(run.info.experiment_id),
            start_time=int(run.info.start_time or 0),
            tags=dict(run.data.tags or {}),
            status=str(run.info.status or ""),
        )
