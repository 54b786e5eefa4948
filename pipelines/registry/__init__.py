"""MLflow registry boundary: the only package that imports MLflow for tracking and registry
work (serving aside). Aliases only, never the deprecated stages.

- `names`: every tag and alias this project writes.
- `store`: tracking URI, artifact root, server health.
- `failures`: which MLflow errors mean "absent" (only the exact not-found codes).
- `records`: typed model versions and published runs.
- `datasets`: the datasets a run read (`DatasetInput`, logged as MLflow dataset inputs).
- `lock`: the promotion lock (a registered model created and deleted by its holder).
- `models`: what is logged as a model (`PyfuncPackage`) and what loads back (`LoadedModel`).
- `client`: `Registry`, the connected client.
"""

from __future__ import annotations

from pipelines.registry import digests
from pipelines.registry.client import Registry
from pipelines.registry.datasets import DatasetInput
from pipelines.registry.lock import LockSettings, PromotionLock
from pipelines.registry.models import LoadedModel, PyfuncPackage
from pipelines.registry.names import *  # noqa: F403
from pipelines.registry.names import CHAMPION, STAGING
from pipelines.registry.records import ModelVersion, PublishedRun
from pipelines.registry.store import (
    artifact_root,
    display_uri,
    is_remote,
    no_store_yet,
    ping,
    quiet_mlflow,
    retry_settings,
    seed_sqlite_store,
    tracking_uri,
)

__all__ = [
    "CHAMPION",
    "STAGING",
    "DatasetInput",
    "LoadedModel",
    "LockSettings",
    "ModelVersion",
    "PromotionLock",
    "PublishedRun",
    "PyfuncPackage",
    "Registry",
    "artifact_root",
    "digests",
    "display_uri",
    "is_remote",
    "no_store_yet",
    "ping",
    "quiet_mlflow",
    "retry_settings",
    "seed_sqlite_store",
    "tracking_uri",
]
