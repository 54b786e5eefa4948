"""Lineage: a published run names the rows its model was fitted and scored on as MLflow
dataset inputs, and the candidate's metrics on the logged model name the holdout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.registry import DatasetInput

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "model_specs" / "breast-cancer.yaml"


@pytest.mark.slow
def test_publish_logs_training_and_holdout_datasets_linked_to_the_model(
    mlflow_store: str,
) -> None:
    from mlflow.tracking import MlflowClient

    assert main(["-q", "run", str(SPEC)]) == 0
    runs = Path(os.environ["PIPELINES_RUNS_DIR"]) / "breast-cancer"
    published = json.loads((runs / "publish.json").read_text())
    evaluation = json.loads((runs / "evaluation.json").read_text())
    data_sha = json.loads((runs / "data_report.json").read_text())["sha256"]
    client = MlflowClient(tracking_uri=mlflow_store)
    run = client.get_run(published["run_id"])
    inputs = {
        {t.key: t.value for t in i.tags}["mlflow.data.context"]: i
        for i in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"training", "holdout"}
    training, holdout = inputs["training"], inputs["holdout"]
    assert training.dataset.digest == data_sha[:36]
    assert holdout.dataset.digest == evaluation["holdout_fingerprint"][:36]
    for item in (training, holdout):
        tags = {t.key: t.value for t in item.tags}
        assert tags["pipelines.data_sha256"] == data_sha
        assert json.loads(item.dataset.source) == {"tags": {"loader": "sklearn:load_breast_cancer"}}
        assert item.dataset.source_type == "code"
    rows = {k: json.loads(i.dataset.profile)["num_rows"] for k, i in inputs.items()}
    assert rows["training"] + rows["holdout"] == 569
    model_id = published["model_uri"].removeprefix("models:/")
    model = client.get_logged_model(model_id)
    linked = {m.key: (m.dataset_name, m.dataset_digest) for m in model.metrics}
    primary = f"candidate.{evaluation['primary']}"
    assert linked[primary] == ("breast-cancer-holdout", holdout.dataset.digest)
    assert all(v == (None, None) for k, v in linked.items() if not k.startswith("candidate."))


def test_a_repository_path_is_a_local_source_and_a_url_an_http_one() -> None:
    """The source is built, never guessed (MLflow warns when it guesses a local path)."""
    frame = pd.DataFrame({"x": [1, 2]})
    local = DatasetInput(frame, "m-training", "data/x.csv", "a" * 64, "training").to_mlflow()
    assert local.source._get_source_type() == "local"
    assert json.loads(local.source.to_json()) == {"uri": "data/x.csv"}
    assert local.digest == "a" * 36
    url = DatasetInput(frame, "m", "https://example.com/x.csv", "b" * 64, "holdout").to_mlflow()
    assert url.source._get_source_type() == "http"
