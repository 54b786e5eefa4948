"""Command line: `python -m pipelines <command> ...`.

The step commands come from the step table (`pipelines.table`); every other command is a
module with a `register(subparsers)` function. Imports are lazy: only the chosen
command's module is imported.
Errors become one line on stderr and an exit code (see `pipelines.errors`).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from pipelines import __version__, console
from pipelines.errors import EXIT_BAD_INPUT, EXIT_INFRA, EXIT_INTERNAL, PipelineError
from pipelines.settings import apply_library_defaults, settings
from pipelines.table import BY_NAME, PULL_REQUEST, STEPS

log = logging.getLogger("pipelines")

# Commands outside the step table: name -> module that defines `register(subparsers)`.
OTHER_COMMANDS: dict[str, str] = {
    "run": "pipelines.steps.run",
    "schema": "pipelines.steps.schema",
    "plan": "pipelines.plan",
    "comment": "pipelines.comment",
    "new-spec": "pipelines.scaffold",
    "monitor": "pipelines.steps.monitor",
    "monitor-alert": "pipelines.monitor.alert",
    "serve": "pipelines.steps.serve",
}
# Every command in help order: the pull-request steps, `run`, the release steps, the rest.
COMMANDS: tuple[str, ...] = (
    *(step.name for step in PULL_REQUEST),
    "run",
    *(step.name for step in STEPS if not step.pull_request),
    *(name for name in OTHER_COMMANDS if name != "run"),
)

Handler = Callable[[argparse.Namespace], int]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with `only`, just that command's module is imported."""
    parser = argparse.ArgumentParser(
        prog="pipelines", description="GitOps model pipeline (see README.md)."
    )
    parser.add_argument("--version", action="version", version=f"pipelines {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, add_help=False)
        elif name in BY_NAME:
            from pipelines.steps.common import add_table_step

            add_table_step(sub, BY_NAME[name])
        else:
            importlib.import_module(OTHER_COMMANDS[name]).register(sub)
    return parser


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("mlflow", "alembic", "urllib3", "git", "matplotlib", "numexpr"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # MLflow prints tips and emojis to stdout; keep stdout for results.
    apply_library_defaults()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    console.guard_standard_streams()
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if a in COMMANDS), None)
    parser = build_parser(only=command)
    args = parser.parse_args(args_list)
    _setup_logging(args.verbose, args.quiet)
    handler: Handler = args.handler
    try:
        return handler(args)
    except PipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except MemoryError:
        sys.stderr.write("error: out of memory\n")
        return EXIT_INFRA
    except BrokenPipeError as exc:
        if console.stdout_lost():  # stdout's reader went away, not a network peer
            sys.stderr.write("error: stdout is closed: the output could not be written\n")
            return EXIT_INFRA
        sys.stderr.write(f"error: network failure: {exc}\n")
        return EXIT_INFRA
    except (ConnectionError, TimeoutError) as exc:
        sys.stderr.write(f"error: network failure: {exc}\n")
        return EXIT_INFRA
    except OSError as exc:
        if exc.filename is None:  # a socket, not a file: infrastructure
            sys.stderr.write(f"error: system failure: {exc.strerror or exc}\n")
            return EXIT_INFRA
        sys.stderr.write(f"error: {exc.filename}: {exc.strerror or exc}\n")
        return EXIT_BAD_INPUT
    except Exception as exc:
        saved = save_traceback(exc)
        where = f"; traceback in {saved}" if saved else ""
        text = " ".join(str(exc).split())[:300]
        sys.stderr.write(f"error: internal error: {type(exc).__name__}: {text}{where}\n")
        return EXIT_INTERNAL


def save_traceback(exc: BaseException) -> Path | None:
    """Write the traceback under the run directory root (PIPELINES_RUNS_DIR or ./.runs)."""
    folder = settings().runs_dir or Path.cwd() / ".runs"
    path = folder / f"crash-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.txt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    except OSError:
        return None
    return path


def entry(command: Callable[[], int] | None = None) -> None:
    """Console entry: run `main` (or `command`), then exit without a final garbage collection.

    `gc.freeze()` moves every object to the permanent generation, so the interpreter's
    exit does not walk the ~300k objects MLflow, pandas and scikit-learn leave behind
    (about 1 s of a short step on 2 cores). Output is flushed first; a closed or broken
    stdout keeps the command's exit code (a result that could not be written is exit 3,
    raised by `console.emit`) and never a traceback.
    """
    try:
        code = (command or main)()
    finally:  # also after argparse's SystemExit (--help, --version, a usage error)
        console.finish()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
