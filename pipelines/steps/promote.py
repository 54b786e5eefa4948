"""`promote`: register the gated candidate (once per content hash) and move an alias."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pipelines.errors import BadInput, GateFailed
from pipelines.github_output import write_github_output
from pipelines.registry import (
    CHAMPION,
    STAGING,
    TAG_GATE,
    TAG_MODEL_URI,
    TAG_PREFIX,
    TAG_PREVIOUS_CHAMPION,
)
from pipelines.rundir import PROMOTE
from pipelines.state import ModelState
from pipelines.steps.common import add_step_parser

log = logging.getLogger("pipelines")


def promote(state: ModelState, args: argparse.Namespace) -> int:
    """Point `args.alias` at the version of this spec's content; refuse failed gates.

    The whole check-register-move runs under the model's promotion lease, so two racing
    promotions never interleave: the loser changes nothing and exits 3 with the holder's
    name. The alias is read back after the move and must still point at a passing version.
    """
    alias: str = args.alias
    name = state.spec.name
    registry = state.registry()
    check_candidate(state)  # a failed gate is refused before taking the lease
    with registry.promotion_lease(name, f"promote {alias}"):
        version = find_or_register(state)
        current = registry.version_by_alias(name, alias)
        moved = current is None or str(current.version) != str(version.version)
        if moved:
            if alias == CHAMPION and current is not None:
                registry.set_version_tag(
                    name, version.version, TAG_PREVIOUS_CHAMPION, str(current.version)
                )
            registry.set_alias(name, alias, version.version)
            log.info(
                "%s: alias %s -> version %s (was %s)",
                name,
                alias,
                version.version,
                current.version if current else "unset",
            )
        else:
            log.info("%s: alias %s already points at version %s", name, alias, version.version)
        registry.confirm_alias(name, alias, version.version)
    state.run.write_json(
        PROMOTE,
        {
            "model": name,
            "alias": alias,
            "version": str(version.version),
            "previous": str(current.version) if current else None,
            "moved": moved,
        },
    )
    write_github_output({"version": str(version.version), "moved": str(moved).lower()})
    return 0


def check_candidate(state: ModelState) -> None:
    """Refuse early when this content's version or published run did not pass its gate."""
    name = state.spec.name
    registry = state.registry()
    version = registry.version_by_content_hash(name, state.content_hash)
    if version is not None:
        gate = version.tags.get(TAG_GATE)
        what = f"version {version.version}"
    else:
        run = registry.find_published_run(name, state.content_hash)
        if run is None:
            return  # find_or_register names the missing candidate
        gate = run.data.tags.get(TAG_GATE)
        what = f"run {run.info.run_id}"
    if gate != "passed":
        raise GateFailed(f"refusing to promote {name} {what}: its gate failed")


def find_or_register(state: ModelState) -> Any:
    """The model version of this content hash, registered from its published run if needed."""
    name = state.spec.name
    registry = state.registry()
    content_hash = state.content_hash
    version = registry.version_by_content_hash(name, content_hash)
    if version is not None:
        if version.tags.get(TAG_GATE) != "passed":
            raise GateFailed(
                f"refusing to promote {name} version {version.version}: its gate failed"
            )
        return version
    run = registry.find_published_run(name, content_hash)
    if run is None:
        raise BadInput(
            f"no published candidate of {name} with content {content_hash[:12]}: "
            f"run `python -m pipelines run {state.loaded.display}` first",
            file=state.loaded.display,
        )
    if run.data.tags.get(TAG_GATE) != "passed":
        raise GateFailed(f"refusing to promote {name}: the gate failed for run {run.info.run_id}")
    tags = {k: v for k, v in run.data.tags.items() if k.startswith(TAG_PREFIX)}
    version = registry.register(name, run.data.tags[TAG_MODEL_URI], run.info.run_id, tags)
    log.info("%s: registered version %s from run %s", name, version.version, run.info.run_id)
    return version


def register(subparsers: Any) -> None:
    """Add the `promote` command."""
    parser = add_step_parser(
        subparsers, "promote", "Register the candidate and move an alias.", promote
    )
    parser.add_argument("--alias", choices=[STAGING, CHAMPION], required=True, help="alias to move")
