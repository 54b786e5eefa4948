"""`plan`: changed paths -> the specs a CI matrix runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipelines import plan as plan_mod
from pipelines.cli import main


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    specs = tmp_path / "model_specs"
    specs.mkdir()
    (specs / "recs.yaml").write_text("name: recs\ndata:\n  source: data/interactions.csv\n")
    (specs / "recs2.yaml").write_text("name: recs2\ndata:\n  source: ./data/interactions.csv\n")
    (specs / "wine.yaml").write_text("name: wine\ndata:\n  source: sklearn:load_wine\n")
    (specs / "spec.schema.json").write_text("{}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "interactions.csv").write_text("a\n1\n")
    return tmp_path


def test_one_spec_changed(repo: Path) -> None:
    assert plan_mod.plan(repo, ["model_specs/wine.yaml", "README.md"]) == ["model_specs/wine.yaml"]


def test_shared_code_runs_everything(repo: Path) -> None:
    everything = ["model_specs/recs.yaml", "model_specs/recs2.yaml", "model_specs/wine.yaml"]
    assert plan_mod.plan(repo, ["pipelines/gate.py"]) == everything
    assert plan_mod.plan(repo, ["pyproject.toml"]) == everything
    assert plan_mod.plan(repo, ["model_specs/spec.schema.json"]) == everything


def test_data_change_runs_its_readers(repo: Path) -> None:
    assert plan_mod.plan(repo, ["data/interactions.csv"]) == [
        "model_specs/recs.yaml",
        "model_specs/recs2.yaml",
    ]
    assert plan_mod.plan(repo, ["data/other.csv"]) == []


def test_deleted_spec_and_docs_run_nothing(repo: Path) -> None:
    assert plan_mod.plan(repo, ["model_specs/gone.yaml", "docs/x.md"]) == []


def test_unreadable_spec_runs_on_data_change(repo: Path) -> None:
    (repo / "model_specs" / "broken.yaml").write_text("name: [unclosed\n")
    assert "model_specs/broken.yaml" in plan_mod.plan(repo, ["data/interactions.csv"])


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_cli_git_diff_and_github_output(
    repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    (repo / "model_specs" / "wine.yaml").write_text(
        "name: wine\ndata:\n  source: sklearn:load_iris\n"
    )
    _git(repo, "commit", "-qam", "change")
    output = tmp_path_factory.mktemp("gh") / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["plan", "--base", base, "--root", str(repo)]) == 0
    assert json.loads(capsys.readouterr().out) == ["model_specs/wine.yaml"]
    assert 'specs=["model_specs/wine.yaml"]' in output.read_text()
    assert "count=1" in output.read_text()


def test_cli_new_branch_runs_everything(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert main(["plan", "--base", "0" * 40, "--root", str(repo)]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["plan", "--all", "--root", str(repo)]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_cli_needs_a_source(repo: Path) -> None:
    assert main(["plan", "--root", str(repo)]) == 2


def test_matrix_names_each_model_and_its_runner(repo: Path) -> None:
    (repo / "model_specs" / "heavy.yml").write_text(
        "name: heavy\nresources:\n  max_fit_seconds: 60\n  runs_on: [self-hosted, gpu]\n"
    )
    (repo / "model_specs" / "odd.yaml").write_text("name: odd\nresources:\n  runs_on: 'a b'\n")
    matrix = plan_mod.job_matrix(
        repo,
        ["model_specs/heavy.yml", "model_specs/wine.yaml", "model_specs/odd.yaml"],
        ["ubuntu-latest"],
    )
    assert matrix == {
        "include": [
            {"spec": "model_specs/heavy.yml", "model": "heavy", "runs_on": ["self-hosted", "gpu"]},
            {"spec": "model_specs/wine.yaml", "model": "wine", "runs_on": ["ubuntu-latest"]},
            # malformed: the default, and its own validate step fails with the reason
            {"spec": "model_specs/odd.yaml", "model": "odd", "runs_on": ["ubuntu-latest"]},
        ]
    }


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("ubuntu-latest", ["ubuntu-latest"]),
        ("self-hosted, gpu", ["self-hosted", "gpu"]),
        ('["self-hosted","linux"]', ["self-hosted", "linux"]),
    ],
)
def test_runner_labels(text: str, labels: list[str]) -> None:
    assert plan_mod.runner_labels(text) == labels


@pytest.mark.parametrize("text", ["", " , ", "[]", '["a b"]', "[1]", "[oops"])
def test_bad_runner_labels(text: str) -> None:
    from pipelines.errors import BadInput

    with pytest.raises(BadInput):
        plan_mod.runner_labels(text)


def test_cli_writes_the_matrix_to_the_github_output(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    code = main(
        [
            "plan",
            "--root",
            str(repo),
            "--files",
            "model_specs/wine.yaml",
            "--default-runs-on",
            "self-hosted,linux",
        ]
    )
    assert code == 0
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert json.loads(lines["specs"]) == ["model_specs/wine.yaml"]
    assert json.loads(lines["matrix"]) == {
        "include": [
            {"spec": "model_specs/wine.yaml", "model": "wine", "runs_on": ["self-hosted", "linux"]}
        ]
    }


@pytest.mark.parametrize(
    ("labels", "valid"),
    [("[self-hosted, gpu]", True), ("['a b']", False), ("[]", False), ("gpu", False)],
)
def test_the_spec_validates_its_runner_labels(scratch_repo: Path, labels: str, valid: bool) -> None:
    from pipelines.errors import BadInput
    from pipelines.spec import load_spec

    source = (scratch_repo / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8")
    path = scratch_repo / "model_specs" / "runners" / "item-recs.yaml"
    path.parent.mkdir()
    path.write_text(f"{source.rstrip()}\nresources:\n  runs_on: {labels}\n", encoding="utf-8")
    if valid:
        assert load_spec(path).spec.resources.runs_on == ["self-hosted", "gpu"]
    else:
        with pytest.raises(BadInput, match="runs_on"):
            load_spec(path)
