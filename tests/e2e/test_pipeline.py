"""The whole pull-request pipeline on the examples, against an embedded MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.conftest import registry_snapshot

ROOT = Path(__file__).resolve().parents[2]
ITEM_RECS = ROOT / "model_specs" / "item-recs.yaml"
BREAST_CANCER = ROOT / "model_specs" / "breast-cancer.yaml"

pytestmark = pytest.mark.slow


def _champion_version(uri: str, name: str) -> str | None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        return str(client.get_model_version_by_alias(name, "champion").version)
    except Exception:  # no model, or no alias yet
        return None


def _runs_dir() -> Path:
    return Path(os.environ["PIPELINES_RUNS_DIR"])


def test_first_run_becomes_champion_and_a_worse_spec_is_refused(
    mlflow_store: str, scratch_repo: Path
) -> None:
    spec = scratch_repo / "model_specs" / "item-recs.yaml"
    assert main(["run", str(spec), "--promote", "champion"]) == 0
    assert _champion_version(mlflow_store, "item-recs") == "1"
    report = (_runs_dir() / "item-recs" / "report.md").read_text(encoding="utf-8")
    assert report.startswith("<!-- pipelines-report:item-recs -->")
    assert "no champion yet" in report

    first = json.loads((_runs_dir() / "item-recs" / "publish.json").read_text())

    # Same spec again: a new verdict (against champion 1), the same model, no new version.
    assert main(["run", str(spec), "--promote", "champion"]) == 0
    evaluation = json.loads((_runs_dir() / "item-recs" / "evaluation.json").read_text())
    assert evaluation["gate"]["champion"]["verdict"] == "no significant change"
    again = json.loads((_runs_dir() / "item-recs" / "publish.json").read_text())
    assert again["compared_with"] == "1" and again["model_uri"] == first["model_uri"]
    assert _champion_version(mlflow_store, "item-recs") == "1"
    before = registry_snapshot(mlflow_store)
    # The same verdict once more, into the release experiment it was published in: nothing new.
    assert main(["publish", str(spec), "--release"]) == 0
    assert json.loads((_runs_dir() / "item-recs" / "publish.json").read_text())["reused"] is True
    assert registry_snapshot(mlflow_store) == before

    # A deliberately worse model: the gate fails, exit 1, champion untouched.
    worse = spec.read_text(encoding="utf-8").replace("n_components: 8", "n_components: 2")
    spec.write_text(worse, encoding="utf-8")
    assert main(["run", str(spec), "--promote", "champion"]) == 1
    assert _champion_version(mlflow_store, "item-recs") == "1"
    evaluation = json.loads((_runs_dir() / "item-recs" / "evaluation.json").read_text())
    assert evaluation["gate"]["champion"]["verdict"] == "worse"
    report = (_runs_dir() / "item-recs" / "report.md").read_text(encoding="utf-8")
    assert "gate failed" in report
    after = registry_snapshot(mlflow_store)
    assert after["item-recs"] == before["item-recs"], "no version registered, no alias moved"

    # Promoting the failed candidate explicitly is refused too.
    assert main(["promote", str(spec), "--alias", "staging"]) == 1
    assert registry_snapshot(mlflow_store)["item-recs"] == before["item-recs"]


def test_classification_example_runs_and_serves_similar_cases(mlflow_store: str) -> None:
    assert main(["run", str(BREAST_CANCER), "--promote", "champion"]) == 0
    assert main(["smoke", str(BREAST_CANCER), "--alias", "champion"]) == 0
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model("models:/breast-cancer@champion")
    sample = model.unwrap_python_model().sample_input()
    answer = model.predict(sample, params={"k": 3})
    assert list(answer["rank"][:3]) == [1, 2, 3]
    assert set(answer["label"]) <= {0, 1}


def test_rollback_returns_champion_to_the_previous_version(
    mlflow_store: str, scratch_repo: Path
) -> None:
    spec = scratch_repo / "model_specs" / "breast-cancer.yaml"
    assert main(["run", str(spec), "--promote", "champion"]) == 0
    spec.write_text(spec.read_text().replace("max_iter: 1000", "max_iter: 2000"), encoding="utf-8")
    assert main(["run", str(spec), "--promote", "champion"]) == 0
    assert _champion_version(mlflow_store, "breast-cancer") == "2"
    assert main(["rollback", str(spec)]) == 0
    assert _champion_version(mlflow_store, "breast-cancer") == "1"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store, registry_uri=mlflow_store)
    model = client.get_registered_model("breast-cancer")
    audit = json.loads(model.tags["pipelines.last_rollback"])
    assert (audit["from"], audit["to"]) == ("2", "1")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  source: data", "  sorce: data", "data.sorce"),
        ("sklearn.decomposition.TruncatedSVD", "os.system", "model.estimator"),
        ("sha256: 9eb609e8", "sha256: 0eb609e8", "data.sha256"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_leaves_the_registry(
    mlflow_store: str, scratch_repo: Path, old: str, new: str, field: str
) -> None:
    spec = scratch_repo / "model_specs" / "item-recs.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    before = registry_snapshot(mlflow_store)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "-q", "run", str(spec), "--promote", "champion"],
        capture_output=True,
        text=True,
        env=env,
        cwd=scratch_repo,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: model_specs/item-recs.yaml:")
    assert f": {field}: " in lines[0]
    assert registry_snapshot(mlflow_store) == before
