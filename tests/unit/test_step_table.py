"""The step table is the one list of steps: the CLI, `run`, the run-directory map, the
composite actions and the reusable pipeline workflow all follow it; every JSON file of
the run directory has one contract, written by one step."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from pipelines import contracts
from pipelines.action import ActionInputError, command_line, environment, options
from pipelines.cli import COMMANDS
from pipelines.errors import StepOrderError
from pipelines.rundir import RunDir
from pipelines.table import BY_NAME, INPUTS, OUTPUTS, PRODUCER, PULL_REQUEST, STEPS, Step

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = [
    contracts.DataReport,
    contracts.TrainMeta,
    contracts.IndexReport,
    contracts.Evaluation,
    contracts.Publish,
    contracts.Promote,
]


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_each_step_resolves_and_is_a_command(step: Step) -> None:
    assert BY_NAME[step.name] is step and callable(step.resolve())
    assert step.name in COMMANDS


def test_inputs_are_outputs_of_earlier_steps() -> None:
    order = [s.name for s in STEPS]
    for step, names in INPUTS.items():
        for name in names:
            assert order.index(PRODUCER[name]) < order.index(step), (step, name)


def test_each_contract_file_is_written_by_one_step() -> None:
    for contract in CONTRACTS:
        top = contract.FILE.split("/")[0]
        assert top in PRODUCER, contract.__name__
        assert contract.model_fields["schema_version"].default == 1
    written = [name for names in OUTPUTS.values() for name in names]
    assert len(written) == len(set(written)), "a file written by two steps"


# Every step action is the same composite: its inputs as JSON, `pipelines.action <step>`.
ACTION_STEPS = (*(s.name for s in STEPS), "run")
COMMON_INPUTS = {
    "spec": {
        "description": "Path of the model spec file (`model_specs/<name>.yaml`).",
        "required": True,
    },
    "tracking-uri": {
        "description": "MLflow tracking URI. Empty: the job's `MLFLOW_TRACKING_URI`, else an "
        "embedded sqlite store in `.mlflow/`.",
        "default": "",
    },
    "runs-dir": {
        "description": "Root of the run directories. Empty: the job's `PIPELINES_RUNS_DIR`, "
        "else `.runs/`.",
        "default": "",
    },
    "working-directory": {"description": "Repository root to run in.", "default": "."},
}


def _action(name: str) -> dict[str, Any]:
    path = ROOT / "actions" / name / "action.yml"
    return cast("dict[str, Any]", yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", ACTION_STEPS)
def test_every_step_action_is_the_one_thin_composite(name: str) -> None:
    action = _action(name)
    (step,) = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    assert {k: v for k, v in step.items() if k != "name"} == {
        "id": "cli",
        "shell": "bash",
        "working-directory": "${{ inputs.working-directory }}",
        "env": {
            "PIPELINES_HOME": "${{ github.action_path }}/../..",
            "INPUTS": "${{ toJSON(inputs) }}",
        },
        "run": f'PYTHONPATH="$PIPELINES_HOME" python -P -m pipelines.action {name}',
    }
    inputs = action["inputs"]
    assert {k: inputs[k] for k in COMMON_INPUTS} == COMMON_INPUTS
    # every other input is an option of the step's command, with its default when it has one
    known = options(name)
    for input_name in set(inputs) - set(COMMON_INPUTS):
        assert input_name in known, f"{name}: input {input_name} is no option"
        option, default = known[input_name], inputs[input_name].get("default")
        if option.nargs == 0:
            assert default == "false", f"{name}: flag {input_name} defaults to false"
        elif option.default is not None:
            assert default == option.default, f"{name}: {input_name} default as the CLI's"
    for output in action.get("outputs", {}).values():
        assert output["value"].startswith("${{ steps.cli.outputs.")
    assert len((ROOT / "actions" / name / "action.yml").read_text().splitlines()) <= 50


def test_the_step_actions_are_the_step_table() -> None:
    shared = {"plan", "pr-comment", "setup"}  # actions that are not one step of the table
    folders = {p.parent.name for p in (ROOT / "actions").glob("*/action.yml")}
    assert folders - shared == set(ACTION_STEPS)


def test_action_inputs_become_the_command_line() -> None:
    inputs = {
        "spec": "model_specs/m.yaml",
        "alias": "champion",
        "run-id": "",
        "digest": "abc",
        "tracking-uri": "http://mlflow:5000",
        "runs-dir": "",
        "working-directory": ".",
    }
    assert command_line("promote", inputs) == [
        "promote",
        "model_specs/m.yaml",
        "--alias",
        "champion",
        "--digest",
        "abc",
    ]
    assert environment(inputs) == {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}
    flags = {"spec": "s.yaml", "release": "false", "reuse": "true", "promote": ""}
    assert command_line("run", flags) == ["run", "s.yaml", "--reuse"]
    with pytest.raises(ActionInputError, match="input reuse: expected true or false"):
        command_line("run", {**flags, "reuse": "yes"})
    with pytest.raises(ActionInputError, match="input alias: `pipelines train` has no option"):
        command_line("train", {"spec": "s.yaml", "alias": "staging"})


def test_the_pipeline_workflow_runs_the_pull_request_steps_in_table_order() -> None:
    text = (ROOT / ".github" / "workflows" / "pipeline.yml").read_text(encoding="utf-8")
    used = re.findall(r"uses: \./\.pipelines-template/actions/([\w-]+)", text)
    names = {s.name for s in PULL_REQUEST}
    assert [u for u in used if u in names] == [s.name for s in PULL_REQUEST]


def test_a_contract_refuses_an_unknown_key_and_another_version() -> None:
    promote = {"model": "m", "alias": "staging", "version": "1", "previous": None, "moved": True}
    assert contracts.Promote.model_validate(promote).schema_version == 1
    with pytest.raises(ValueError, match="extra"):
        contracts.Promote.model_validate({**promote, "surprise": 1})
    with pytest.raises(ValueError, match="schema_version"):
        contracts.Promote.model_validate({**promote, "schema_version": 2})


def test_the_architecture_doc_shows_the_table() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    row = r"^\| `([\w-]+)` \|\s*(yes)?\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\| `(.*?)` \|$"
    rows = re.findall(row, text, re.M)
    shown = [
        (name, bool(pr), re.findall(r"`(.*?)/?`", reads), re.findall(r"`(.*?)/?`", writes), fn)
        for name, pr, reads, writes, fn in rows
    ]
    expected = [
        (
            s.name,
            s.pull_request,
            list(s.inputs),
            list(s.outputs),
            s.function.removeprefix("pipelines."),
        )
        for s in STEPS
    ]
    assert shown == expected


def test_a_run_directory_file_of_another_shape_names_the_step_to_run_again(
    tmp_path: Path,
) -> None:
    run = RunDir(tmp_path)
    record = contracts.Promote(model="m", alias="staging", version="2", previous="1", moved=True)
    run.write(record)
    assert run.read(contracts.Promote) == record
    (tmp_path / contracts.PROMOTE).write_text('{"model": "m"}', encoding="utf-8")
    with pytest.raises(StepOrderError, match="run `promote` again"):
        run.read(contracts.Promote)
