"""Shared plumbing of step commands: arguments, spec loading, timing, exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.errors import EXIT_OK, PipelineError
from pipelines.spec import load_spec
from pipelines.state import ModelState
from pipelines.table import Step

log = logging.getLogger("pipelines")

StepFn = Callable[[ModelState, argparse.Namespace], int]


def add_table_step(subparsers: Any, step: Step) -> argparse.ArgumentParser:
    """The sub-command of one step of the table, with the step's own options."""
    parser = add_spec_parser(
        subparsers, step.name, step.help, lambda state, args: step.resolve()(state, args)
    )
    step.add_arguments(parser)
    return parser


def add_spec_parser(
    subparsers: Any, name: str, help_text: str, step: StepFn
) -> argparse.ArgumentParser:
    """A subcommand taking one or more spec paths and an optional run directory."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text
    )
    parser.add_argument(
        "specs", nargs="+", type=Path, metavar="SPEC", help="model spec YAML file(s)"
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="run directory (default .runs/<model>; one spec only)",
    )
    parser.set_defaults(handler=lambda args: run_for_each(args, name, step))
    return parser


def run_for_each(args: argparse.Namespace, name: str, step: StepFn) -> int:
    """Run `step` for every spec; report each failure as one line; exit with the worst code."""
    if args.run_dir is not None and len(args.specs) > 1:
        sys.stderr.write("error: --run-dir takes one spec only\n")
        return 2
    worst = EXIT_OK
    for spec_path in args.specs:
        try:
            state = ModelState(load_spec(spec_path), args.run_dir)
            code = timed(state, name, step, args)
        except PipelineError as exc:
            sys.stderr.write(f"error: {exc}\n")
            code = exc.exit_code
        worst = max(worst, code)
    return worst


def timed(state: ModelState, name: str, step: StepFn, args: argparse.Namespace) -> int:
    """Run one step on checked inputs, log its duration and record it in the manifest."""
    state.run.ensure()
    state.run.begin_step(name, state.content_hash)
    started = time.perf_counter()
    code = step(state, args)
    seconds = time.perf_counter() - started
    log.info("%s: %s done in %.2fs (exit %d)", state.spec.name, name, seconds, code)
    state.run.record_step(name, seconds, state.content_hash)
    return code
