"""`run`: the pull-request steps in order, in one process, for one or more specs."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pipelines.errors import EXIT_GATE_FAILED, EXIT_OK, GateFailed
from pipelines.registry import CHAMPION, STAGING
from pipelines.rundir import PUBLISH
from pipelines.state import ModelState
from pipelines.steps import build_index, check_data, evaluate, publish, report, train, validate
from pipelines.steps.common import add_step_parser, timed
from pipelines.steps.promote import check_verdict_holds, promote

log = logging.getLogger("pipelines")


def run(state: ModelState, args: argparse.Namespace) -> int:
    """validate → check-data → train → build-index → evaluate → publish → report [→ promote]."""
    if getattr(args, "reuse", False) and _reuse(state):
        code = EXIT_OK
    else:
        timed(state, "validate", validate.validate, args)
        timed(state, "check-data", check_data.check_data, args)
        timed(state, "train", train.train, args)
        index_code = timed(state, "build-index", build_index.build, args)
        eval_code = timed(state, "evaluate", evaluate.evaluate, args)
        timed(state, "publish", publish.publish, args)
        timed(state, "report", report.report, args)
        code = max(index_code, eval_code)
    if code == EXIT_OK and args.promote:
        promote_args = argparse.Namespace(**{**vars(args), "alias": args.promote})
        timed(state, "promote", promote, promote_args)
    if code == EXIT_GATE_FAILED:
        log.error("%s: gate failed; see %s", state.spec.name, state.run.file("report.md"))
    return code


def _reuse(state: ModelState) -> bool:
    """The newest verdict of this content passed against today's champion: record it and
    skip the work. Otherwise (no verdict, a failed one, or the champion moved) run again.
    """
    registry = state.registry()
    verdict = registry.latest_verdict(state.spec.name, state.content_hash)
    if verdict is None or not verdict.gate_passed:
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
    state.run.write_json(
        PUBLISH,
        {
            "model": state.spec.name,
            "run_id": verdict.run_id,
            "model_uri": verdict.model_uri,
            "content_hash": state.content_hash,
            "gate": verdict.gate,
            "compared_with": verdict.compared_with,
            "reused": True,
        },
    )
    return True


def register(subparsers: Any) -> None:
    """Add the `run` command."""
    parser = add_step_parser(subparsers, "run", "Run the pull-request pipeline.", run)
    parser.add_argument(
        "--promote",
        choices=[STAGING, CHAMPION],
        default=None,
        help="move this alias when every gate passed",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="skip the work when this content already passed and was published",
    )
