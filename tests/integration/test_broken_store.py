"""A broken store is infrastructure, never a traceback or "no champion": a garbage sqlite
file, a store whose artifacts are gone, an experiment that was deleted. Each exits 3 with
one line naming the operation and the store, and changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.conftest import ROOT

SPEC = str(ROOT / "model_specs" / "breast-cancer.yaml")


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01garbage" * 500, b"SQLite format 3\x00" + b"\xff" * 4000, b"not a database\n"],
    ids=["random-bytes", "corrupt-header", "text"],
)
def test_a_garbage_sqlite_file_exits_3(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
) -> None:
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    db.write_bytes(content)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.setenv("PIPELINES_RUNS_DIR", str(tmp_path / "runs"))
    capsys.readouterr()
    assert main(["run", SPEC]) == 3
    line = _one_error(capsys)
    assert "opening of the store" in line and str(db) in line
    assert db.read_bytes() == content


@pytest.mark.slow
def test_artifacts_gone_or_experiment_deleted_exit_3(
    mlflow_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", SPEC, "--promote", "champion"]) == 0
    artifacts = Path(mlflow_store.removeprefix("sqlite:///")).parent / "artifacts"
    moved = tmp_path / "artifacts-moved"
    shutil.move(artifacts, moved)
    capsys.readouterr()
    assert main(["run", SPEC]) == 3  # the champion's logged data profile cannot be read
    line = _one_error(capsys)
    assert "data_profile.json" in line and mlflow_store in line
    shutil.move(moved, artifacts)

    from mlflow.tracking import MlflowClient

    from pipelines.config import load_config
    from pipelines.registry.names import experiment_name

    client = MlflowClient(tracking_uri=mlflow_store, registry_uri=mlflow_store)
    # The release experiment, which `run --promote` published into.
    name = experiment_name(load_config(ROOT).experiment_prefix, "breast-cancer", release=True)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None, name
    client.delete_experiment(experiment.experiment_id)
    from pipelines import state

    state._registries.clear()  # a new process would not remember the experiment
    capsys.readouterr()
    assert main(["run", SPEC, "--release"]) == 3
    assert "is deleted: restore it" in _one_error(capsys)
