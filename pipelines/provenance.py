"""Where a run comes from: the commit being built and the pull request number."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipelines.settings import settings


def git_sha(root: Path) -> str:
    """The commit being built: GITHUB_SHA in Actions, else git, else 'unknown'."""
    if sha := settings().text("GITHUB_SHA"):
        return sha
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def pr_number() -> str:
    """The pull request number, from PIPELINES_PR_NUMBER or GITHUB_REF (refs/pull/N/...)."""
    explicit = settings().text("PIPELINES_PR_NUMBER")
    if explicit:
        return explicit
    ref = settings().text("GITHUB_REF")
    parts = ref.split("/")
    if len(parts) >= 3 and parts[1] == "pull":
        return parts[2]
    return "none"
