"""`rollback`: point `champion` back at the previous champion (or a given version), audited."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any

from pipelines.errors import BadInput, GateFailed
from pipelines.github_output import write_github_output
from pipelines.registry import CHAMPION, TAG_GATE, TAG_LAST_ROLLBACK, TAG_PREVIOUS_CHAMPION
from pipelines.state import ModelState
from pipelines.steps.common import add_step_parser

log = logging.getLogger("pipelines")


def rollback(state: ModelState, args: argparse.Namespace) -> int:
    """Move `champion` to the recorded previous champion or to `--to-version`."""
    name = state.spec.name
    registry = state.registry()
    current = registry.version_by_alias(name, CHAMPION)
    if current is None:
        raise BadInput(f"{name} has no champion to roll back", file=state.loaded.display)
    target_version = args.to_version or current.tags.get(TAG_PREVIOUS_CHAMPION)
    if not target_version:
        raise BadInput(
            f"{name} version {current.version} records no previous champion; pass --to-version",
            file=state.loaded.display,
        )
    target = registry.get_version(name, target_version)
    if target is None:
        raise BadInput(f"{name} has no version {target_version}", file=state.loaded.display)
    if target.tags.get(TAG_GATE) != "passed":
        raise GateFailed(
            f"refusing to roll back {name} to version {target_version}: its gate failed"
        )
    if str(target.version) == str(current.version):
        log.info("%s: champion already at version %s", name, current.version)
        return 0
    audit = {
        "from": str(current.version),
        "to": str(target.version),
        "by": os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run": os.environ.get("GITHUB_RUN_ID", "local"),
    }
    # Under the promotion lease: a rollback never interleaves with a promotion.
    with registry.promotion_lease(name, "rollback"):
        registry.set_alias(name, CHAMPION, target.version)
        registry.confirm_alias(name, CHAMPION, target.version)
        registry.set_model_tag(name, TAG_LAST_ROLLBACK, json.dumps(audit, sort_keys=True))
    log.info(
        "%s: champion rolled back from version %s to %s", name, current.version, target.version
    )
    write_github_output({"version": str(target.version), "previous": str(current.version)})
    return 0


def register(subparsers: Any) -> None:
    """Add the `rollback` command."""
    parser = add_step_parser(
        subparsers, "rollback", "Point champion at the previous champion.", rollback
    )
    parser.add_argument("--to-version", default=None, help="roll back to this version instead")
