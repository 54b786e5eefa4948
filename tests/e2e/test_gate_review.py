"""The review a reviewer reads: baseline beside candidate and champion, a model that loses
to the baseline failing in one line, and MLflow carrying the same review."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.scaffold import new_spec

pytestmark = pytest.mark.slow


def _runs_dir() -> Path:
    return Path(os.environ["PIPELINES_RUNS_DIR"])


def test_wine_report_shows_candidate_champion_and_baseline_and_mlflow_has_the_review(
    mlflow_store: str, scratch_repo: Path
) -> None:
    spec = new_spec("wine", "classification", Path("sklearn:load_wine"), root=scratch_repo)
    assert main(["run", str(spec), "--promote", "champion"]) == 0
    # the second run compares with the first as champion; change the content so it publishes
    # (less regularised: better on log loss, so it passes new-spec's margin of 5% of it)
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("C: 1.0", "C: 1.2"), encoding="utf-8")
    assert main(["run", str(spec)]) == 0
    report = (_runs_dir() / "wine" / "report.md").read_text(encoding="utf-8")
    assert "| metric | candidate | champion (v1) | delta | baseline |" in report
    assert "Baseline: **class prior**" in report
    assert "| beats baseline `log_loss` |" in report
    assert "cannot tell apart differences smaller than ±" in report
    assert "```mermaid\nxychart-beta" in report
    assert '"v1 logged", "champion v1", "baseline", "candidate low"' in report
    evaluation = json.loads((_runs_dir() / "wine" / "evaluation.json").read_text())
    assert evaluation["baseline_metrics"]["accuracy"] < 0.5 < evaluation["candidate"]["accuracy"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_store)
    run_id = json.loads((_runs_dir() / "wine" / "publish.json").read_text())["run_id"]
    run = client.get_run(run_id)
    assert run.data.tags["mlflow.note.content"] == "Classification on sklearn:load_wine."
    for name in ("gate.baseline.delta", "gate.baseline.ci_low", "gate.champion.ci_high"):
        assert name in run.data.metrics
    assert run.data.metrics["baseline.accuracy"] == pytest.approx(
        evaluation["baseline_metrics"]["accuracy"]
    )
    logged = Path(client.download_artifacts(run_id, "reports/report.md"))
    review = logged.read_text(encoding="utf-8")
    assert "| metric | candidate | champion (v1) | delta | baseline |" in review


def test_a_model_that_loses_to_the_baseline_fails_with_verdict_and_interval(
    mlflow_store: str, scratch_repo: Path
) -> None:
    spec = scratch_repo / "model_specs" / "breast-cancer.yaml"
    text = spec.read_text(encoding="utf-8")
    text = text.replace(
        "sklearn.linear_model.LogisticRegression", "sklearn.neighbors.KNeighborsClassifier"
    )
    text = text.replace("params: {C: 0.5, max_iter: 1000}", "params: {n_neighbors: 1}")
    spec.write_text(text, encoding="utf-8")
    assert main(["run", str(spec)]) == 1
    evaluation = json.loads((_runs_dir() / "breast-cancer" / "evaluation.json").read_text())
    baseline = evaluation["gate"]["baseline"]
    assert baseline["verdict"] == "does not beat baseline" and not baseline["passed"]
    line = next(p for p in evaluation["gate"]["summary"].split("; ") if "baseline" in p)
    assert line == (
        f"vs baseline: does not beat baseline (log_loss delta {baseline['delta']:+.4f}, "
        f"95% interval [{baseline['ci_low']:+.4f}, {baseline['ci_high']:+.4f}])"
    )
    report = (_runs_dir() / "breast-cancer" / "report.md").read_text(encoding="utf-8")
    assert line in report and "gate failed" in report
