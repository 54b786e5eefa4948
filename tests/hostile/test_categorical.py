"""Categorical and text-like feature columns, by class: any dtype (`category`, `string`),
any number of levels, either encoding, missing and unseen levels when served; a column
that is an identifier or free text is refused in one line naming it.

Specs are written from the breast-cancer example's (`tests/hostile/support.py`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from tests.hostile.support import csv_spec, one_error_line

pytestmark = pytest.mark.slow


def _customers(rows: int, levels: int, seed: int = 0) -> pd.DataFrame:
    """A churn table as a subscription business keeps it: plan, region, tenure, spend."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice([f"region-{i:03d}" for i in range(levels)], rows)
    tenure = rng.integers(1, 72, rows).astype(float)
    spend = np.round(rng.gamma(2.0, 30.0, rows), 2)
    churn = (plan == "basic") & (tenure < 24) | (rng.random(rows) < 0.05)
    frame = pd.DataFrame(
        {"plan": plan, "region": region, "tenure": tenure, "spend": spend, "label": churn}
    )
    frame["label"] = frame["label"].astype(int)
    frame.loc[frame.sample(frac=0.03, random_state=seed).index, "region"] = None  # gaps
    return frame


def _columns(dtype: str) -> dict[str, dict[str, object]]:
    return {
        "plan": {"dtype": dtype},
        "region": {"dtype": dtype, "nullable": True},
        "tenure": {"dtype": "float64", "min": 0},
        "spend": {"dtype": "float64", "min": 0},
        "label": {"dtype": "int64"},
    }


@pytest.mark.parametrize("dtype", ["category", "string"])
@pytest.mark.parametrize("levels", [2, 25, 300])
@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_categorical_features_train_evaluate_and_serve(
    mlflow_store: str, scratch_repo: Path, dtype: str, levels: int, encoding: str
) -> None:
    """Every member trains, passes through the gate's path and is served: a level never
    seen in training and a missing level answer like any other row."""
    frame = _customers(900, levels)
    spec = csv_spec(
        scratch_repo,
        frame.to_csv(index=False).encode(),
        _columns(dtype),
        name=f"churn-{dtype}-{levels}-{encoding}",
        checks={"min_rows": 1, "max_null_fraction": 0.05, "max_drift_psi": None},
    )
    text = spec.read_text(encoding="utf-8")
    text = text.replace("model:\n", f"model:\n  categorical: {{encoding: {encoding}}}\n", 1)
    spec.write_text(text, encoding="utf-8")
    assert main(["-q", "run", str(spec), "--promote", "champion"]) in (0, 1)
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{spec.stem}@champion")
    query = pd.DataFrame(
        {
            "plan": ["basic", "enterprise"],
            "region": [None, "region-999"],
            "tenure": [3.0, 60.0],
            "spend": [10.0, 500.0],
        }
    )
    answer = model.predict(query, params={"k": 3})
    assert sorted(answer["query"].unique().tolist()) == [0, 1]
    assert answer["prediction"].isin([0, 1]).all()
    assert np.isfinite(answer["distance"]).all()


@pytest.mark.parametrize("dtype", ["category", "string"])
def test_an_identifier_column_is_refused_in_one_line(
    mlflow_store: str, scratch_repo: Path, dtype: str, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _customers(600, 5)
    frame["region"] = [f"customer-{i}" for i in range(len(frame))]  # one value per row
    spec = csv_spec(scratch_repo, frame.to_csv(index=False).encode(), _columns(dtype))
    code = main(["-q", "run", str(spec)])
    match = one_error_line(code, capsys.readouterr().err)
    assert match["field"] == "data.columns.region"
    assert "an identifier or free text, not a category" in match["msg"]
