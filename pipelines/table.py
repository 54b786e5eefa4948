"""The step table: each step's name, help, run-directory inputs and outputs, and function.

Everything that lists steps derives from `STEPS`: the CLI's step commands, the order
`pipelines run` follows (`PULL_REQUEST`), the run-directory map (`OUTPUTS`, `INPUTS`,
`PRODUCER`) and the composite actions a test checks. Functions are named as
"module:attribute" and imported only when a step runs, so the table (and `--help`) stays
cheap to import and the run directory can read the map without importing the steps.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from pipelines.contracts import (
    DATA_REPORT,
    EVALUATION,
    EXACT_FILE,
    INDEX_FILE,
    INDEX_REPORT,
    MODEL_DIR,
    PROMOTE,
    PUBLISH,
    REPORT_MD,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from pipelines.state import ModelState

    StepFn = Callable[[ModelState, argparse.Namespace], int]
    AddArguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Step:
    """One step: a CLI command that reads and writes the run directory."""

    name: str
    help: str
    function: str  # "module:attribute" of a StepFn
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    arguments: str | None = None  # "module:attribute" adding the step's own options
    pull_request: bool = False  # one of the steps `pipelines run` runs, in table order

    def resolve(self) -> StepFn:
        """The step's function (imports its module)."""
        return cast("StepFn", _attribute(self.function))

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the step's own options to its sub-command parser."""
        if self.arguments is not None:
            cast("AddArguments", _attribute(self.arguments))(parser)


def _attribute(path: str) -> object:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


_S = "pipelines.steps."
STEPS: tuple[Step, ...] = (
    Step("validate", "Validate model spec files.", f"{_S}validate:validate", pull_request=True),
    Step(
        "check-data",
        "Run the spec's data checks.",
        f"{_S}check_data:check_data",
        outputs=(DATA_REPORT,),
        pull_request=True,
    ),
    Step(
        "train",
        "Split the data and fit the model.",
        f"{_S}train:train",
        inputs=(DATA_REPORT,),
        outputs=(MODEL_DIR,),
        pull_request=True,
    ),
    Step(
        "build-index",
        "Build and gate the usearch index.",
        f"{_S}build_index:build",
        inputs=(MODEL_DIR,),
        outputs=(INDEX_FILE, INDEX_REPORT, EXACT_FILE),
        pull_request=True,
    ),
    Step(
        "evaluate",
        "Evaluate the candidate against the champion.",
        f"{_S}evaluate:evaluate",
        inputs=(MODEL_DIR, INDEX_FILE, INDEX_REPORT),
        outputs=(EVALUATION,),
        pull_request=True,
    ),
    Step(
        "publish",
        "Log the run and model to MLflow.",
        f"{_S}publish:publish",
        inputs=(DATA_REPORT, MODEL_DIR, INDEX_FILE, INDEX_REPORT, EVALUATION),
        outputs=(PUBLISH,),
        arguments=f"{_S}publish:add_arguments",
        pull_request=True,
    ),
    Step(
        "report",
        "Render the PR comment and job summary.",
        f"{_S}report:report",
        inputs=(DATA_REPORT, INDEX_REPORT, EVALUATION),
        outputs=(REPORT_MD,),
        pull_request=True,
    ),
    Step(
        "promote",
        "Register the candidate and move an alias.",
        f"{_S}promote:promote",
        outputs=(PROMOTE,),
        arguments=f"{_S}promote:add_arguments",
    ),
    Step(
        "smoke",
        "Smoke-test the model behind an alias.",
        f"{_S}smoke:smoke",
        arguments=f"{_S}smoke:add_arguments",
    ),
    Step(
        "rollback",
        "Point champion at the previous champion.",
        f"{_S}rollback:rollback",
        arguments=f"{_S}rollback:add_arguments",
    ),
)

BY_NAME: dict[str, Step] = {step.name: step for step in STEPS}
PULL_REQUEST: tuple[Step, ...] = tuple(step for step in STEPS if step.pull_request)
# The run-directory map, in pipeline order: a step that starts removes its own outputs, so a
# crash never leaves a result a later step could take; the manifest records what each step
# read, so a later step's outputs that follow from older inputs are refused (RunDir.stale).
OUTPUTS: dict[str, tuple[str, ...]] = {s.name: s.outputs for s in STEPS if s.outputs}
# What each step reads: written, for the same content hash, by the step that produced it.
INPUTS: dict[str, tuple[str, ...]] = {s.name: s.inputs for s in STEPS if s.inputs}
PRODUCER: dict[str, str] = {name: step for step, names in OUTPUTS.items() for name in names}
