"""Shared fixtures: an isolated MLflow store and run directory per test, and a scratch repo."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "model_specs"


@pytest.fixture(autouse=True)
def _not_a_fork_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's own CI may run for a fork's pull request: its event must not make every
    evaluation here skip the champion (pipelines/access.py). Tests that want it set it."""
    for name in ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "PIPELINES_CHAMPION_UNAVAILABLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def _migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite store, made once (migrations cost ~2 s)."""
    folder = tmp_path_factory.mktemp("mlflow-template")
    db = folder / "mlflow.db"
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def mlflow_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _migrated_db: Path
) -> Iterator[str]:
    """A fresh embedded MLflow store and run directory root for one test."""
    folder = tmp_path / "mlflow"
    folder.mkdir()
    shutil.copy(_migrated_db, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("PIPELINES_RUNS_DIR", str(tmp_path / "runs"))
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_SHA", "GITHUB_REF"):
        monkeypatch.delenv(name, raising=False)
    yield uri


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A minimal repository (pyproject, data, specs) to write bad specs into."""
    repo = tmp_path / "repo"
    (repo / "model_specs").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    shutil.copytree(ROOT / "data", repo / "data")
    for spec in SPECS.glob("*.yaml"):
        shutil.copy(spec, repo / "model_specs" / spec.name)
    return repo


def registry_snapshot(uri: str) -> dict[str, object]:
    """Registered models with their versions, aliases and tags: to prove nothing changed."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    snapshot: dict[str, object] = {}
    for model in client.search_registered_models():
        versions = sorted(
            (v.version, v.run_id, tuple(sorted(v.tags.items())))
            for v in client.search_model_versions(f"name = '{model.name}'")
        )
        snapshot[model.name] = {"aliases": dict(model.aliases), "versions": versions}
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    snapshot["__runs__"] = sorted(r.info.run_id for r in runs)
    return snapshot
