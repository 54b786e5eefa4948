"""`run`: the pull-request steps of the step table in order, in one process, for one or
more specs. The steps share one `ModelState`, so the data is loaded once."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pipelines.contracts import REPORT_MD
from pipelines.errors import EXIT_GATE_FAILED, EXIT_OK, GateFailed
from pipelines.registry import CHAMPION, STAGING
from pipelines.state import ModelState
from pipelines.steps.common import add_spec_parser, timed
from pipelines.steps.promote import check_verdict_holds
from pipelines.steps.publish import publish_record
from pipelines.table import BY_NAME, PULL_REQUEST

log = logging.getLogger("pipelines")


def run(state: ModelState, args: argparse.Namespace) -> int:
    """validate → check-data → train → build-index → evaluate → publish → report [→ promote];
    the worst exit code of the steps (1 when a gate failed).

    `--reuse` and `--promote` publish into the release experiment (`--release`): a
    promotion takes its run from there only, by the id this run hands it."""
    if args.reuse or args.promote:
        args.release = True
    if args.reuse and _reuse(state):
        code = EXIT_OK
    else:
        code = max(timed(state, step.name, step.resolve(), args) for step in PULL_REQUEST)
    if code == EXIT_OK and args.promote:
        promote = BY_NAME["promote"]
        promote_args = argparse.Namespace(
            **{**vars(args), "alias": args.promote, "run_id": None, "digest": None}
        )
        timed(state, promote.name, promote.resolve(), promote_args)
    if code == EXIT_GATE_FAILED:
        log.error("%s: gate failed; see %s", state.spec.name, state.run.file(REPORT_MD))
    return code


def _reuse(state: ModelState) -> bool:
    """The newest verdict of this content in the release experiment passed against
    today's champion: record it and skip the work. Otherwise (no verdict, a failed one, or
    the champion moved) run again. Pull-request runs are never reused: the release builds
    its own candidate from the same content, where the pull-request credential cannot
    write.
    """
    registry = state.registry()
    verdict = registry.latest_verdict(state.spec.name, state.content_hash, release=True)
    if verdict is None or not verdict.gate_passed or verdict.digest is None:
        return False
    try:
        check_verdict_holds(state, verdict, registry.version_by_alias(state.spec.name, CHAMPION))
    except GateFailed as stale:
        log.info("%s: not reusing run %s: %s", state.spec.name, verdict.run_id, stale)
        return False
    log.info(
        "%s: reusing published run %s (content %s)",
        state.spec.name,
        verdict.run_id,
        state.content_hash[:12],
    )
    state.run.write(publish_record(state, verdict, reused=True, release=True))
    return True


def register(subparsers: Any) -> None:
    """Add the `run` command."""
    parser = add_spec_parser(subparsers, "run", "Run the pull-request pipeline.", run)
    parser.add_argument(
        "--promote",
        choices=[STAGING, CHAMPION],
        default=None,
        help="move this alias when every gate passed",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="skip the work when the release already published a passing verdict of this "
        "content (implies --release)",
    )
    parser.add_argument(
        "--release",
        action="store_true",
        help="publish into the release experiment (the release credential's); implied by "
        "--reuse and --promote",
    )
