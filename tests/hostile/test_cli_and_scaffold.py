"""Hostile command lines, configuration and `nox -s init` answers, by class.

- stdout closed (`>&-`) or a pipe nobody reads: every command ends with its own exit code
  (a result that could not be written is 3) and at most one line on stderr, never a
  traceback.
- `[tool.pipelines]` prefixes: whatever the config check accepts, MLflow accepts as a
  registered model or experiment name; what it refuses is one line naming pyproject.toml
  and the key.
- `rollback --to-version` that is not a version number: exit 2 before the registry.
- init answers with control characters: refused naming the answer (exit 2); any text a
  TOML string is rendered from parses back to itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from pipelines.config import load_config
from pipelines.errors import BadInput
from pipelines.registry.names import (
    experiment_name,
    lock_model_name,
    registered_model_name,
    takeover_model_name,
)
from tests.conftest import ROOT
from tests.hostile.support import one_error_line

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


# -- class: stdout closed or broken ----------------------------------------------------------
SPEC = "model_specs/breast-cancer.yaml"
COMMANDS = {  # argv -> the command's own exit code when stdout is gone
    "validate": (["validate", SPEC], 0),
    "validate-bad": (["validate", "model_specs/missing.yaml"], 2),
    "plan": (["plan", "--all"], 3),
    "monitor-plan": (["monitor", "--plan"], 3),
    "help": (["--help"], 0),
    "version": (["--version"], 0),
    "usage-error": (["rollback"], 2),
}


def _run_without_stdout(argv: list[str], how: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIPELINES_RUNS_DIR": str(cwd / ".runs")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{cwd / 'mlflow.db'}"
    command = [sys.executable, "-m", "pipelines", "-q", *argv]
    if how == "closed":
        return subprocess.run(
            command, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True, check=False,
            preexec_fn=lambda: os.close(1),
        )  # fmt: skip
    read, write = os.pipe()
    os.close(read)  # a reader that went away: every write is EPIPE
    try:
        return subprocess.run(
            command, cwd=cwd, env=env, stdout=write, stderr=subprocess.PIPE, text=True,
            check=False,
        )  # fmt: skip
    finally:
        os.close(write)


@pytest.mark.parametrize("how", ["closed", "broken-pipe"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_without_stdout_ends_with_its_own_code(
    scratch_repo: Path, name: str, how: str
) -> None:
    argv, expected = COMMANDS[name]
    result = _run_without_stdout(argv, how, scratch_repo)
    err = result.stderr
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert result.returncode == expected, (result.returncode, err)
    lines = [line for line in err.splitlines() if line.strip()]
    if expected == 3:
        assert lines == ["error: stdout is closed: the result could not be written"], err
    elif expected == 0:
        assert not [line for line in lines if line.startswith("error:")], err
    elif name == "validate-bad":
        one_error_line(result.returncode, err)


# -- class: prefixes MLflow refuses in registered model and experiment names ----------------
def _mlflow_accepts(prefix: str, experiment_prefix: str = "team/") -> bool:
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_experiment_name, _validate_model_name

    model = "item-recs"
    try:
        for name in (model, lock_model_name(model), takeover_model_name(model, "ab12")):
            _validate_model_name(registered_model_name(name, prefix))
        for release in (True, False):
            _validate_experiment_name(experiment_name(experiment_prefix, model, release=release))
    except MlflowException:
        return False
    return True


def _config(tmp_path: Path, table: str) -> Path:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(f"[tool.pipelines]\n{table}\n", encoding="utf-8")
    load_config.cache_clear()
    return root


@pytest.mark.parametrize(
    "prefix", ["team/", "a/b-", "acme:", "x/", "/", "acme-/", "team//", "a:b."]
)
def test_a_model_prefix_mlflow_refuses_is_refused_first(tmp_path: Path, prefix: str) -> None:
    assert not _mlflow_accepts(prefix)
    with pytest.raises(BadInput) as info:
        load_config(_config(tmp_path, f"model_prefix = {_toml(prefix)}"))
    assert info.value.field == "tool.pipelines.model_prefix"
    assert str(info.value).startswith(str(tmp_path / "repo" / "pyproject.toml"))


@FAST
@given(st.text(st.characters(codec="utf-8"), max_size=45))
def test_any_model_prefix_the_config_accepts_mlflow_accepts(tmp_path: Path, prefix: str) -> None:
    try:
        config = load_config(_config(tmp_path, f"model_prefix = {_toml(prefix)}"))
    except BadInput as exc:
        assert exc.field == "tool.pipelines.model_prefix" and "\n" not in str(exc)
        return
    assert _mlflow_accepts(config.model_prefix), repr(prefix)


@FAST
@given(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=40),
        st.text(max_size=3).map(lambda t: "a" * 300 + t),
    )
)
def test_any_experiment_prefix_the_config_accepts_mlflow_accepts(
    tmp_path: Path, prefix: str
) -> None:
    try:
        config = load_config(_config(tmp_path, f"experiment_prefix = {_toml(prefix)}"))
    except BadInput as exc:
        assert exc.field == "tool.pipelines.experiment_prefix" and "\n" not in str(exc)
        return
    assert _mlflow_accepts("", config.experiment_prefix), repr(prefix)
    assert not any(ord(c) < 32 or ord(c) == 127 for c in config.experiment_prefix)


@pytest.mark.parametrize("value", ["\r", "\x1b[31m", "\x00", "\x7f", "\x85", "\u2028", "\n"])
def test_a_control_character_in_the_experiment_prefix_is_refused(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(BadInput) as info:
        load_config(_config(tmp_path, f"experiment_prefix = {_toml('team' + value + '/')}"))
    assert info.value.field == "tool.pipelines.experiment_prefix"
    assert "control" in info.value.message


def _toml(text: str) -> str:
    from templating import toml_string

    return toml_string(text)


# -- class: rollback --to-version that is not a version number ------------------------------
@pytest.mark.parametrize(
    "value", ["abc", "1.5", "-1", "0", "", " ", "1e3", "v2", "\u0663", "1; rm -rf /", "1" * 40]
)
def test_a_non_numeric_rollback_version_is_bad_input_before_the_registry(
    scratch_repo: Path,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a registry nobody answers: contacting it would be exit 3
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("PIPELINES_MLFLOW_RETRIES", "0")
    monkeypatch.setenv("PIPELINES_RUNS_DIR", str(scratch_repo / ".runs"))
    spec = scratch_repo / "model_specs" / "item-recs.yaml"
    capsys.readouterr()
    code = main(["-q", "rollback", str(spec), "--to-version", value])
    match = one_error_line(code, capsys.readouterr().err)
    assert match["field"] == "--to-version", match.group(0)


# -- class: init answers with control characters ---------------------------------------------
CONTROLS = ["\r", "\x1b[2J", "\x1b]0;x\x07", "\x00", "\t", "\x7f", "\x9b", "\u2028", "\u202e"]
OPTIONS = ["--name", "--owner", "--title", "--reviewers", "--experiment-prefix"]
VALID = {
    "--name": "churn",
    "--owner": "acme",
    "--title": "Churn models",
    "--reviewers": "@acme/ml",
    "--experiment-prefix": "churn/",
}


@pytest.mark.parametrize("control", CONTROLS, ids=repr)
@pytest.mark.parametrize("option", OPTIONS)
def test_an_init_answer_with_a_control_character_is_refused(
    tmp_path: Path, option: str, control: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from init_project import main as init_main

    answers = {**VALID, option: VALID[option][:2] + control + VALID[option][2:]}
    argv = [item for pair in answers.items() for item in pair]
    dest = tmp_path / "project"
    code = init_main([*argv, "--dest", str(dest)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"error: {option} "), err
    assert control not in err and not dest.exists()


@FAST
@given(st.text(st.characters(codec="utf-8"), max_size=60))
def test_any_text_renders_as_a_toml_string_that_reads_back(text: str) -> None:
    from templating import toml_string

    assert tomllib.loads(f"key = {toml_string(text)}\n")["key"] == text
