"""`python -m pipelines.action STEP`: the one body of every step's composite action.

Each `actions/<step>/action.yml` hands its inputs over as JSON in `INPUTS`
(`${{ toJSON(inputs) }}`) and runs this module with its step name. The inputs map onto
the step's command line: `spec` is the spec path; `tracking-uri` and `runs-dir`, when not
empty, set `MLFLOW_TRACKING_URI` and `PIPELINES_RUNS_DIR` for the command; every other
input is the option of the same name (`run-id` is `--run-id`): a flag is passed when the
input is `true`, a value when it is not empty. An input the command has no option for is
refused, naming it (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence

from pipelines.cli import build_parser, entry, main
from pipelines.errors import EXIT_BAD_INPUT

# Inputs every step action has; they are not options of the command.
COMMON: dict[str, str | None] = {
    "spec": None,  # the positional spec path
    "tracking-uri": "MLFLOW_TRACKING_URI",
    "runs-dir": "PIPELINES_RUNS_DIR",
    "working-directory": None,  # the step's working directory (GitHub applies it)
}


class ActionInputError(ValueError):
    """An input the step's command does not take, or a flag that is neither true nor false."""


def options(command: str) -> dict[str, argparse.Action]:
    """The command's long options by input name (`--run-id` is `run-id`)."""
    parser = build_parser(only=command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found: dict[str, argparse.Action] = {}
    for action in sub.choices[command]._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                found[flag.removeprefix("--")] = action
    return found


def command_line(command: str, inputs: Mapping[str, str]) -> list[str]:
    """The argv of `python -m pipelines` for a step action's inputs."""
    known = options(command)
    argv = [command, inputs.get("spec", "")]
    for name, value in inputs.items():
        if name in COMMON:
            continue
        if name not in known:
            raise ActionInputError(f"input {name}: `pipelines {command}` has no option --{name}")
        if known[name].nargs == 0:  # a flag
            if value not in ("true", "false", ""):
                raise ActionInputError(f"input {name}: expected true or false, got {value!r}")
            argv += [f"--{name}"] if value == "true" else []
        elif value != "":
            argv += [f"--{name}", value]
    return argv


def environment(inputs: Mapping[str, str]) -> dict[str, str]:
    """The variables the common inputs set (only those given, not empty)."""
    return {var: inputs[name] for name, var in COMMON.items() if var and inputs.get(name)}


def run(argv: Sequence[str] | None = None) -> int:
    """Run the step named in argv with the inputs of `INPUTS`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m pipelines.action STEP (inputs as JSON in INPUTS)\n")
        return EXIT_BAD_INPUT
    try:
        raw = json.loads(os.environ.get("INPUTS") or "{}")
        if not isinstance(raw, dict):
            raise ActionInputError("INPUTS: expected a JSON object of the action's inputs")
        inputs = {str(k): "" if v is None else str(v) for k, v in raw.items()}
        command = command_line(args[0], inputs)
    except (json.JSONDecodeError, ActionInputError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    os.environ.update(environment(inputs))
    return main(command)


if __name__ == "__main__":
    entry(run)
