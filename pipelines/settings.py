"""The environment variables the package reads, in one place (listed in docs/configuration.md).

`settings()` is a frozen view of the current environment, made once per distinct set of
values and read lazily: a variable is parsed when its property is read, so a bad value
fails the command that needs it, with one line naming the variable (`BadInput`, exit 2).
Nothing here changes `os.environ` on import; `apply_library_defaults()` sets MLflow's and
GitPython's quiet defaults when a command starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipelines.errors import BadInput


@dataclass(frozen=True)
class Variable:
    """One environment variable: its default ('' when unset means none) and meaning."""

    name: str
    default: str
    meaning: str


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("MLFLOW_TRACKING_URI", "", "MLflow store; empty: sqlite in `.mlflow/`"),
        Variable("PIPELINES_RUNS_DIR", "", "root of the run directories; empty: `.runs/`"),
        Variable("PIPELINES_CACHE_DIR", "", "cache folder; empty: `~/.cache/pipelines`"),
        Variable("PIPELINES_MLFLOW_RETRIES", "4", "attempts to reach MLflow (1..100)"),
        Variable("PIPELINES_MLFLOW_RETRY_DELAY", "0.5", "first retry delay, seconds (0..60)"),
        Variable("PIPELINES_PROMOTION_LOCK_SECONDS", "300", "promotion lease, s (1..86400)"),
        Variable("PIPELINES_PROMOTION_LOCK_GRACE_SECONDS", "30", "clock-skew grace (0..3600)"),
        Variable("PIPELINES_CHAMPION_UNAVAILABLE", "", "reason to skip the champion"),
        Variable("PIPELINES_PR_NUMBER", "", "pull request a run is tagged with"),
        Variable("PIPELINES_RETRAIN_TOKEN", "", "token for the retrain pull request"),
        Variable("PR_NUMBER", "", "pull request `comment` writes to"),
        Variable("GITHUB_TOKEN", "", "GitHub API token (comments, issues)"),
        Variable("GITHUB_REPOSITORY", "", "owner/name of the repository"),
        Variable("GITHUB_API_URL", "https://api.github.com", "GitHub REST API root"),
        Variable("GITHUB_EVENT_NAME", "", "event that started the workflow"),
        Variable("GITHUB_EVENT_PATH", "", "the event's JSON payload"),
        Variable("GITHUB_REF", "", "ref of the run (`refs/pull/N/merge`)"),
        Variable("GITHUB_REF_NAME", "", "branch of the run"),
        Variable("GITHUB_SHA", "", "commit of the run; empty: `git rev-parse HEAD`"),
        Variable("GITHUB_ACTOR", "", "who started the run; empty: `USER`"),
        Variable("USER", "", "local user, when there is no GITHUB_ACTOR"),
        Variable("GITHUB_RUN_ID", "", "workflow run id, recorded in audits"),
        Variable("GITHUB_OUTPUT", "", "step outputs file"),
        Variable("GITHUB_STEP_SUMMARY", "", "job summary file"),
    )
}

# Quiet defaults for the libraries, unless the job sets them: MLflow's own HTTP retries
# stay short (`pipelines.http` retries instead), stdout carries results only.
LIBRARY_DEFAULTS: dict[str, str] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


def apply_library_defaults() -> None:
    """Set `LIBRARY_DEFAULTS` in `os.environ` where the job did not set them."""
    for name, value in LIBRARY_DEFAULTS.items():
        os.environ.setdefault(name, value)


@dataclass(frozen=True)
class Settings:
    """Typed, validated values of `VARIABLES` from one environment."""

    env: Mapping[str, str]

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> Settings:
        """Settings of a given environment (only `VARIABLES` are kept)."""
        return _cached(tuple((name, environ.get(name)) for name in VARIABLES))

    def text(self, name: str) -> str:
        """The variable's value, stripped; its default when unset or empty."""
        return (self.env.get(name) or "").strip() or VARIABLES[name].default

    def number(self, name: str, low: float, high: float) -> float:
        """The variable as a number within [low, high]."""
        raw = self.text(name)
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise BadInput(f"{name}: expected a number from {low:g} to {high:g}, got {raw!r}")
        return value

    @property
    def tracking_uri(self) -> str:
        return self.text("MLFLOW_TRACKING_URI")

    @property
    def runs_dir(self) -> Path | None:
        raw = self.text("PIPELINES_RUNS_DIR")
        return Path(raw) if raw else None

    @property
    def cache_dir(self) -> Path:
        raw = self.text("PIPELINES_CACHE_DIR")
        return Path(raw) if raw else Path.home() / ".cache" / "pipelines"

    @property
    def mlflow_retries(self) -> int:
        value = self.number("PIPELINES_MLFLOW_RETRIES", 1, 100)
        if value != int(value):
            raise BadInput(f"PIPELINES_MLFLOW_RETRIES: expected a whole number, got {value:g}")
        return int(value)

    @property
    def mlflow_retry_delay(self) -> float:
        return self.number("PIPELINES_MLFLOW_RETRY_DELAY", 0, 60)

    @property
    def lock_seconds(self) -> float:
        return self.number("PIPELINES_PROMOTION_LOCK_SECONDS", 1, 86_400)

    @property
    def lock_grace_seconds(self) -> float:
        return self.number("PIPELINES_PROMOTION_LOCK_GRACE_SECONDS", 0, 3_600)

    @property
    def actor(self) -> str:
        """Who acts: GITHUB_ACTOR, else USER, else `unknown`."""
        return self.text("GITHUB_ACTOR") or self.text("USER") or "unknown"


@lru_cache(maxsize=8)
def _cached(values: tuple[tuple[str, str | None], ...]) -> Settings:
    return Settings({name: value for name, value in values if value is not None})


def settings() -> Settings:
    """The settings of the current environment (`os.environ`)."""
    return Settings.of(os.environ)
