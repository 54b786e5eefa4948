"""Step outputs for GitHub Actions: `key=value` lines appended to `$GITHUB_OUTPUT`."""

from __future__ import annotations

from pathlib import Path

from pipelines.settings import settings


def write_github_output(values: dict[str, str]) -> None:
    """Append `key=value` lines to `$GITHUB_OUTPUT`; a no-op outside Actions."""
    target = settings().text("GITHUB_OUTPUT")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as handle:
        for key, value in values.items():
            handle.write(f"{key}={value}\n")
