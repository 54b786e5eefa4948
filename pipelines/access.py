"""What a job may reach, read from the GitHub event it runs for.

A pull request from a fork gets no secrets (GitHub passes none to `pull_request` runs from
forks, and the workflows pass none either), so it logs to a throwaway MLflow inside its job
and cannot read the champion. Its report must say so, never "no champion yet".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.settings import Settings, settings

log = logging.getLogger("pipelines")

FORK_NO_REGISTRY = (
    "fork pull request without registry access; the release compares the model with the "
    "champion after merge"
)


def _repo(side: Any) -> str | None:
    if not isinstance(side, dict):
        return None
    repo = side.get("repo")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return name if isinstance(name, str) and name else None


def champion_unavailable(environ: Mapping[str, str] | None = None) -> str | None:
    """Why this job cannot compare with the champion, or None when it can try.

    `PIPELINES_CHAMPION_UNAVAILABLE` (a reason) wins; otherwise a `pull_request` or
    `pull_request_target` event whose head repository differs from its base repository is
    a fork's, which holds no registry credentials, unless a tracking server was given
    anyway (`MLFLOW_TRACKING_URI`: then it is asked). Anything unreadable means "can try":
    the registry's own errors then speak.
    """
    env = settings() if environ is None else Settings.of(environ)
    reason = env.text("PIPELINES_CHAMPION_UNAVAILABLE")
    if reason:
        return reason
    if env.tracking_uri:
        return None
    if env.text("GITHUB_EVENT_NAME") not in {"pull_request", "pull_request_target"}:
        return None
    path = env.text("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("cannot read the event payload %s: %s", path, exc)
        return None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pull, dict):
        return None
    head, base = _repo(pull.get("head")), _repo(pull.get("base"))
    if head is None or base is None or head == base:
        return None
    return FORK_NO_REGISTRY
