"""Duplicated rows, with duplicates allowed by the data checks: a hash split never puts two
copies of a row on different sides; a split that does (by time) leaves a holdout that
copies the training rows, which the report counts and the gate refuses.

Specs are written from the breast-cancer example's (`tests/hostile/support.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from pipelines.cli import main
from tests.hostile.support import csv_spec

pytestmark = pytest.mark.slow

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst area"]


def _doubled(with_time: bool) -> tuple[bytes, dict[str, dict[str, object]]]:
    """Every row of a real table twice (the second copy a year later when timed)."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame[FEATURES].assign(label=data.target.to_numpy())
    columns: dict[str, dict[str, object]] = {c: {"dtype": "float64"} for c in FEATURES}
    columns["label"] = {"dtype": "int64"}
    doubled = pd.concat([frame, frame], ignore_index=True)
    if with_time:
        day = np.arange(len(frame)) % 300
        doubled["day"] = np.concatenate([day, day + 365]).astype(np.int64)
        columns["day"] = {"dtype": "int64", "min": 0}
    return doubled.to_csv(index=False).encode(), columns


def _run(repo: Path, runs: Path, with_time: bool) -> tuple[int, dict[str, object], str]:
    raw, columns = _doubled(with_time)
    split = (
        {"strategy": "temporal", "column": "day", "test_fraction": 0.3}
        if with_time
        else {"strategy": "stratified", "test_fraction": 0.3, "seed": 1}
    )
    checks = {"min_rows": 1, "max_duplicate_fraction": 1, "max_drift_psi": None}
    spec = csv_spec(repo, raw, columns, name="doubled", split=split, checks=checks)
    code = main(["-q", "run", str(spec), "--run-dir", str(runs)])
    evaluation = json.loads((runs / "evaluation.json").read_text(encoding="utf-8"))
    return code, evaluation, (runs / "report.md").read_text(encoding="utf-8")


def test_a_hash_split_keeps_copies_of_a_row_together(
    mlflow_store: str, scratch_repo: Path, tmp_path: Path
) -> None:
    code, evaluation, report = _run(scratch_repo, tmp_path / "hashed", with_time=False)
    assert evaluation["holdout_copies"] == {"rows": 0, "of": evaluation["holdout_copies"]["of"]}
    assert "copy a training row" not in report
    assert code == 0, evaluation["gate"]["summary"]


def test_a_holdout_that_copies_training_rows_fails_the_gate(
    mlflow_store: str, scratch_repo: Path, tmp_path: Path
) -> None:
    code, evaluation, report = _run(scratch_repo, tmp_path / "timed", with_time=True)
    copies = evaluation["holdout_copies"]
    assert copies["rows"] > 0.5 * copies["of"]
    assert code == 1
    summary = evaluation["gate"]["summary"]
    assert summary.startswith("no fair holdout: ") and "copy a training row" in summary
    assert f"{copies['rows']:,} of {copies['of']:,} holdout rows copy a training row" in report
