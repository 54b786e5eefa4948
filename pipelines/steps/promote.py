"""`promote`: register the gated candidate (once per content hash) and move an alias."""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
from pathlib import Path

from pipelines.contracts import PUBLISH, Promote, Publish
from pipelines.errors import BadInput, GateFailed, InfraError
from pipelines.github_output import write_github_output
from pipelines.registry import (
    CHAMPION,
    NO_CHAMPION,
    STAGING,
    TAG_CONTENT,
    TAG_DIGESTS,
    TAG_PREFIX,
    TAG_PREVIOUS_CHAMPION,
    ModelVersion,
    PublishedRun,
    Registry,
    digests,
)
from pipelines.state import ModelState

log = logging.getLogger("pipelines")


def promote(state: ModelState, args: argparse.Namespace) -> int:
    """Point `args.alias` at the version of this spec's content, if everything it relies
    on still holds.

    The verdict is the run handed over by id (`--run-id`, or this run directory's
    publish.json), never one searched for. It must be a finished, passing publish of this
    content in the release experiment, where the pull-request credential cannot write.
    Under the model's promotion lock, re-read and check: the verdict was reached against
    the champion of now; the version was never rolled back; `champion` never moves to an
    older version; the version's files match the digests the release recorded (and the
    digest handed over with `--digest`). Then register (once per content hash), move, and
    read the alias back.
    """
    alias: str = args.alias
    name = state.spec.name
    registry = state.registry()
    run_id = handed_run_id(state, getattr(args, "run_id", None))
    expected_digest: str | None = getattr(args, "digest", None)
    _identified_verdict(state, run_id)  # refuse a failed or foreign candidate before locking
    with registry.promotion_lock(name, f"promote {alias}") as lock:
        verdict = _identified_verdict(state, run_id)
        champion = registry.version_by_alias(name, CHAMPION)
        existing = registry.version_by_content_hash(name, state.content_hash)
        check_verdict_holds(state, verdict, champion)
        if existing is not None:
            check_not_rolled_back(state, existing)
            check_files(state, existing, expected_digest)
        if alias == CHAMPION and champion is not None and existing is not None:
            check_not_older(state, existing, champion)
        current = registry.version_by_alias(name, alias)
        lock.check_held()
        if existing is None:
            if expected_digest is not None and verdict.digest != expected_digest:
                raise InfraError(
                    f"run {verdict.run_id} of {name} holds model digest "
                    f"{(verdict.digest or 'none')[:16]}..., not the {expected_digest[:16]}... "
                    "handed to this promotion; nothing was changed"
                )
            _check_logged_files(state, verdict)
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
            run_id=verdict.run_id,
            digest=version.digest,
        )
    )
    write_github_output(
        {
            "version": version.version,
            "moved": str(moved).lower(),
            "run-id": verdict.run_id,
            "digest": version.digest or "",
        }
    )
    return 0


def handed_run_id(state: ModelState, given: str | None) -> str:
    """The verdict's run id: given on the command line, else the one this run directory's
    publish (run by this same job) recorded for this content in the release experiment."""
    if given:
        if not re.fullmatch(r"[0-9a-f]{32}", given):
            raise BadInput(f"--run-id {given!r} is not an MLflow run id", field="--run-id")
        return given
    if not state.run.file(PUBLISH).exists():
        raise BadInput(
            f"no verdict handed to the promotion of {state.spec.name}: pass --run-id, or run "
            f"`python -m pipelines run --release {state.loaded.display}` first",
            file=state.loaded.display,
        )
    published = state.run.read(Publish)
    if published.content_hash != state.content_hash:
        raise BadInput(
            f"{state.run.file(PUBLISH)} is of another content: run "
            f"`python -m pipelines run --release {state.loaded.display}` again, or pass --run-id",
            file=state.loaded.display,
        )
    # A reused record names a release verdict of this content found in the registry (checked
    # again by `_identified_verdict`), not a result of this directory's steps.
    if not published.reused and not state.run.as_written(PUBLISH, state.content_hash):
        raise BadInput(
            f"{state.run.file(PUBLISH)} is not what `publish` wrote from this run directory's "
            f"current results: run `python -m pipelines run --release {state.loaded.display}` "
            "again, or pass --run-id",
            file=state.loaded.display,
        )
    if not published.release:
        raise BadInput(
            f"{state.run.file(PUBLISH)} records a pull-request run ({published.run_id}); a "
            "promotion takes only a release run: publish with --release",
            file=state.loaded.display,
        )
    return published.run_id


def _identified_verdict(state: ModelState, run_id: str) -> PublishedRun:
    """Run `run_id`: a finished, passing publish of this content, in the release
    experiment, with a logged model and its file digests; anything else is refused."""
    name = state.spec.name
    registry = state.registry()
    verdict = registry.published_run(run_id)
    release = registry.experiment_id(name, release=True)
    if verdict.experiment_id != release:
        raise GateFailed(
            f"refusing to promote {name}: run {run_id} is not in its release experiment "
            f"({release}); only what the release published can be promoted"
        )
    if verdict.status != "FINISHED" or verdict.model_uri is None or verdict.digest is None:
        raise GateFailed(
            f"refusing to promote {name}: run {run_id} is not a complete publish "
            f"(status {verdict.status or 'unknown'}, model and digests recorded: "
            f"{verdict.model_uri is not None and verdict.digest is not None})"
        )
    if verdict.tags.get(TAG_CONTENT) != state.content_hash:
        raise GateFailed(
            f"refusing to promote {name}: run {run_id} is of content "
            f"{str(verdict.tags.get(TAG_CONTENT))[:12]}, not this spec's "
            f"{state.content_hash[:12]}"
        )
    if not verdict.gate_passed:
        raise GateFailed(
            f"refusing to promote {name}: its gate failed (run {verdict.run_id}, '{verdict.gate}')"
        )
    return verdict


def check_files(state: ModelState, version: ModelVersion, expected_digest: str | None) -> None:
    """The version's stored files match its recorded digests (and the digest handed over)."""
    name = state.spec.name
    if expected_digest is not None and version.digest != expected_digest:
        raise InfraError(
            f"{name} version {version.version} records model digest "
            f"{(version.digest or 'none')[:16]}..., not the {expected_digest[:16]}... handed "
            "to this promotion; nothing was changed"
        )
    with tempfile.TemporaryDirectory(prefix="promote-") as tmp:
        state.registry().fetch_version(name, version, Path(tmp))


def _check_logged_files(state: ModelState, verdict: PublishedRun) -> None:
    """The verdict's logged model, as stored now, matches the digests its run recorded."""
    where = f"the logged model of run {verdict.run_id}"
    expected = digests.decode(verdict.tags.get(TAG_DIGESTS), where)
    if digests.tree_digest(expected) != verdict.digest:
        raise InfraError(f"{where}: its digests tag and tree digest disagree")
    with tempfile.TemporaryDirectory(prefix="promote-") as tmp:
        state.registry().fetch_verified(str(verdict.model_uri), expected, where, Path(tmp))


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
    parser.add_argument(
        "--run-id",
        default=None,
        help="the release run whose verdict to promote (default: this run directory's "
        "publish.json, written by `run --release`)",
    )
    parser.add_argument(
        "--digest",
        default=None,
        help="the model digest handed over by the job that registered or published it; "
        "the version's recorded digest must equal it",
    )
