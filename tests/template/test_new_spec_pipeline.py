"""Acceptance: in a fresh project, `new-spec` on a CSV no example uses runs to a champion."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from init_project import init
from templating import Answers

ROOT = Path(__file__).resolve().parents[2]


def _cli(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_new_spec_from_a_fresh_csv_runs_to_a_champion(tmp_path: Path) -> None:
    project = tmp_path / "project"
    init(ROOT, Answers(name="wine-quality", owner="acme", examples=False), project)
    rng = np.random.default_rng(11)
    rows = 800
    acidity, sugar, alcohol = rng.normal(7, 1, rows), rng.gamma(2, 2, rows), rng.normal(11, 1, rows)
    quality = 0.8 * alcohol - 0.5 * acidity + 0.1 * sugar + rng.normal(0, 0.4, rows)
    (project / "data").mkdir(exist_ok=True)
    pd.DataFrame(
        {
            "acidity": acidity,
            "sugar": sugar,
            "alcohol": alcohol,
            "region": rng.choice(["n", "s", "e"], rows),
            "quality": quality,
        }
    ).to_csv(project / "data" / "wine.csv", index=False)
    env = {
        **os.environ,
        "PYTHONPATH": str(project),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PIPELINES_RUNS_DIR": str(tmp_path / "runs"),
    }
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_SHA", "GITHUB_REF"):
        env.pop(name, None)
    made = _cli(
        project, env, "new-spec", "wine", "--task", "regression", "--data", "data/wine.csv",
        "--target", "quality",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    spec = project / "model_specs" / "wine.yaml"
    assert "region: text" in spec.read_text(encoding="utf-8")
    again = _cli(
        project, env, "new-spec", "wine", "--task", "regression", "--data", "data/wine.csv"
    )
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr

    run = _cli(project, env, "run", "--promote", "champion", "model_specs/wine.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    uri = env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias("wine", "champion").version) == "1"
    experiment = client.get_experiment_by_name("wine-quality/wine")
    assert experiment is not None  # the fork's experiment prefix is in use
