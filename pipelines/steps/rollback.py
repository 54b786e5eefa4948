"""`rollback`: point `champion` back at the previous champion (or a given version), audited."""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
import time
from pathlib import Path

from pipelines.errors import BadInput, GateFailed, PromotionConflict
from pipelines.github_output import write_github_output
from pipelines.registry import (
    CHAMPION,
    TAG_LAST_ROLLBACK,
    TAG_PREVIOUS_CHAMPION,
    TAG_ROLLBACK_PREFIX,
    TAG_ROLLED_BACK,
)
from pipelines.settings import settings
from pipelines.state import ModelState

log = logging.getLogger("pipelines")


def rollback(state: ModelState, args: argparse.Namespace) -> int:
    """Move `champion` to the recorded previous champion or to `--to-version`, once that
    version's files match the digests the release recorded for it."""
    name = state.spec.name
    wanted = to_version(args.to_version, state.loaded.display)  # before the registry
    registry = state.registry()
    current = registry.version_by_alias(name, CHAMPION)
    if current is None:
        raise BadInput(f"{name} has no champion to roll back", file=state.loaded.display)
    target_version = wanted or current.tags.get(TAG_PREVIOUS_CHAMPION)
    if not target_version:
        raise BadInput(
            f"{name} version {current.version} records no previous champion; pass --to-version",
            file=state.loaded.display,
        )
    target = registry.get_version(name, target_version)
    if target is None:
        raise BadInput(f"{name} has no version {target_version}", file=state.loaded.display)
    if not target.gate_passed:
        raise GateFailed(
            f"refusing to roll back {name} to version {target_version}: its gate failed"
        )
    if target.version == current.version:
        log.info("%s: champion already at version %s", name, current.version)
        return 0
    # What it rolls back to is served next: its files must be what the release recorded.
    with tempfile.TemporaryDirectory(prefix="rollback-") as tmp:
        registry.fetch_version(name, target, Path(tmp))
    audit = {
        "from": str(current.version),
        "to": str(target.version),
        "by": settings().actor,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run": settings().text("GITHUB_RUN_ID") or "local",
    }
    # Under the promotion lock: a rollback never interleaves with a promotion.
    with registry.promotion_lock(name, "rollback") as lock:
        now = registry.version_by_alias(name, CHAMPION)
        if now is None or now.version != current.version:
            raise PromotionConflict(
                f"{name}@{CHAMPION} moved to {now.version if now else 'nothing'} while "
                f"preparing the rollback from {current.version}; nothing was changed: re-run it"
            )
        lock.check_held()
        record = json.dumps(audit, sort_keys=True)
        registry.set_version_tag(name, current.version, TAG_ROLLED_BACK, record)
        registry.set_alias(name, CHAMPION, target.version)
        registry.confirm_alias(name, CHAMPION, target.version)
        registry.set_model_tag(name, f"{TAG_ROLLBACK_PREFIX}{time.time_ns() // 1000}", record)
        registry.set_model_tag(name, TAG_LAST_ROLLBACK, record)
    log.info(
        "%s: champion rolled back from version %s to %s", name, current.version, target.version
    )
    write_github_output({"version": str(target.version), "previous": str(current.version)})
    return 0


def to_version(value: str | None, where: str) -> str | None:
    """`--to-version` as a version number (`1`, `12`); anything else is BadInput (exit 2)."""
    if value is None:
        return None
    text = value.strip()
    if not re.fullmatch(r"[1-9][0-9]{0,17}", text):
        raise BadInput(
            f"--to-version must be a model version number (1, 2, ...), not {value!r}",
            file=where,
            field="--to-version",
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `rollback` command's own options."""
    parser.add_argument("--to-version", default=None, help="roll back to this version instead")
