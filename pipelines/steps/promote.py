"""`promote`: register the gated candidate (once per content hash) and move an alias."""

from __future__ import annotations

import argparse
import logging

from pipelines.contracts import Promote
from pipelines.errors import BadInput, GateFailed
from pipelines.github_output import write_github_output
from pipelines.registry import (
    CHAMPION,
    NO_CHAMPION,
    STAGING,
    TAG_PREFIX,
    TAG_PREVIOUS_CHAMPION,
    ModelVersion,
    PublishedRun,
    Registry,
)
from pipelines.state import ModelState

log = logging.getLogger("pipelines")


def promote(state: ModelState, args: argparse.Namespace) -> int:
    """Point `args.alias` at the version of this spec's content, if everything it relies
    on still holds.

    Under the model's promotion lock, re-read and check: the newest verdict of this
    content passed, against the champion that is champion now; the version was never
    rolled back; `champion` never moves to a version older than the current one. Then
    register (once per content hash), move, and read the alias back.
    """
    alias: str = args.alias
    name = state.spec.name
    registry = state.registry()
    verdict = _newest_verdict(state)  # refuse a failed or missing candidate before locking
    with registry.promotion_lock(name, f"promote {alias}") as lock:
        verdict = _newest_verdict(state)
        champion = registry.version_by_alias(name, CHAMPION)
        existing = registry.version_by_content_hash(name, state.content_hash)
        check_verdict_holds(state, verdict, champion)
        if existing is not None:
            check_not_rolled_back(state, existing)
        if alias == CHAMPION and champion is not None and existing is not None:
            check_not_older(state, existing, champion)
        current = registry.version_by_alias(name, alias)
        lock.check_held()
        version = existing or _register(registry, name, verdict, state.spec.description or "")
        moved = current is None or current.version != version.version
        if moved:
            lock.check_held()
            if alias == CHAMPION and current is not None:
                registry.set_version_tag(
                    name, version.version, TAG_PREVIOUS_CHAMPION, current.version
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
    state.run.write(
        Promote(
            model=name,
            alias=alias,
            version=version.version,
            previous=current.version if current else None,
            moved=moved,
        )
    )
    write_github_output({"version": version.version, "moved": str(moved).lower()})
    return 0


def _newest_verdict(state: ModelState) -> PublishedRun:
    """The newest published verdict of this content; it must have passed."""
    name = state.spec.name
    verdict = state.registry().latest_verdict(name, state.content_hash)
    if verdict is None:
        raise BadInput(
            f"no published candidate of {name} with content {state.content_hash[:12]}: "
            f"run `python -m pipelines run {state.loaded.display}` first",
            file=state.loaded.display,
        )
    if not verdict.gate_passed:
        raise GateFailed(
            f"refusing to promote {name}: its gate failed (newest verdict: run {verdict.run_id}, "
            f"'{verdict.gate}')"
        )
    return verdict


def check_verdict_holds(
    state: ModelState, verdict: PublishedRun, champion: ModelVersion | None
) -> None:
    """The verdict was reached against the champion of now (or this content is champion)."""
    now = champion.version if champion is not None else NO_CHAMPION
    if verdict.compared_with == now:
        return
    if champion is not None and champion.content_hash == state.content_hash:
        return
    raise GateFailed(
        f"refusing to promote {state.spec.name}: its verdict was reached against champion "
        f"{verdict.compared_with}, but the champion is now {now}; re-evaluate with "
        f"`python -m pipelines run {state.loaded.display}` (or re-run the release)"
    )


def check_not_rolled_back(state: ModelState, version: ModelVersion) -> None:
    """A version taken down by `rollback` is not promoted again until new content comes."""
    rollback = version.rolled_back
    if rollback is None:
        return
    raise GateFailed(
        f"refusing to promote {state.spec.name} version {version.version}: it was rolled back "
        f"at {rollback.get('at', '?')} by {rollback.get('by', '?')}; change the spec or its "
        "data to release new content"
    )


def check_not_older(state: ModelState, version: ModelVersion, champion: ModelVersion) -> None:
    """`champion` never moves back to an older version, except through `rollback`."""
    if version.number < champion.number:
        raise GateFailed(
            f"refusing to move {state.spec.name}@{CHAMPION} back from version "
            f"{champion.version} to the older version {version.version}; only `rollback` "
            "moves the champion back"
        )


def _register(
    registry: Registry, name: str, verdict: PublishedRun, description: str
) -> ModelVersion:
    """A new version from the verdict's logged model, carrying the run's tags and the spec's
    description (also kept on the registered model)."""
    if verdict.model_uri is None:
        raise BadInput(f"run {verdict.run_id} of {name} has no logged model")
    tags = {k: v for k, v in verdict.tags.items() if k.startswith(TAG_PREFIX)}
    version = registry.register(name, verdict.model_uri, verdict.run_id, tags, description)
    log.info("%s: registered version %s from run %s", name, version.version, verdict.run_id)
    return version


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `promote` command's own options."""
    parser.add_argument("--alias", choices=[STAGING, CHAMPION], required=True, help="alias to move")
