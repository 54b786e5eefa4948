"""`new-spec`'s YAML is written by PyYAML: the rendered specs mean what the hand-written
renderer's did (the files in data/ are its output for these drafts, before the swap), and
every comment is where it was. Only quoting and the spelling of numbers changed (e.g.
`"mean radius"` → `mean radius`, `-1.20000e-05` → `-1.2e-05`, `max: 30` → `max: 30.0` for
a float column). Since, on purpose: the comments on the split and the margin say why each
was chosen (the texts `new-spec` writes), and the retrieval draft splits by its time column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.scaffold import Column, Draft, render
from pipelines.scaffold.baseline import propose_margin
from pipelines.scaffold.draft import _split
from pipelines.scaffold.infer import time_column

DATA = Path(__file__).parent / "data"


def _drafts() -> dict[str, Draft]:
    tabular_split, tabular_why = _split(None, "stratified", "every column above")
    margin, margin_why = propose_margin("log_loss", (0.21, 0.43333333), 0.3)
    times = time_column(pd.Series([874724710, 893286638], name="ts"))
    assert times is not None
    retrieval_split, retrieval_why = _split(times, "random", "(user id, item)")
    tabular = Draft(
        name="tricky-names",
        task="classification",
        source="data/odd file: yes.csv",
        sha256="ab" * 32,
        rows=1234,
        columns=[
            Column("mean radius", "float64", 0, 0.0, 30.000000000000004, "seen 6.981 .. 28.11"),
            Column("yes", "int64", 0, 0.0, 12.0, "seen 0 .. 11"),
            Column("1e3", "float64", 0, -1.2e-05, 3.5e20, ""),
            Column("naïve: ü", "bool", 0, None, None, "2 distinct"),
            Column("target", "int64", 0, 0.0, 2.0, "3 classes"),
        ],
        roles={"target": "target"},
        checks={
            "min_rows": 617,
            "max_null_fraction": 0,
            "max_duplicate_fraction": 0.0036,
            "max_drift_psi": 0.2,
        },
        split=tabular_split,
        split_why=tabular_why,
        estimator="sklearn.linear_model.LogisticRegression",
        params={"C": 1.0, "max_iter": 1000},
        primary="accuracy",
        champion={"metric": "log_loss", "margin": margin},
        margin_why=margin_why,
        index={"metric": "l2sq", "dtype": "f32", "connectivity": 16},
        thresholds={"accuracy": ("min", 0.83), "log_loss": ("max", 0.47)},
        excluded={"city": "text: encode it first", "id": "a unique row id, not a feature"},
        baseline={"accuracy": 0.912345678, "log_loss": 0.3, "f1_macro": 1e-05},
        intervals={"accuracy": (0.87, 0.95), "log_loss": (0.21, 0.43333333)},
    )
    retrieval = Draft(
        name="recs",
        task="retrieval",
        source="sklearn:load_something",
        sha256=None,
        rows=50,
        columns=[
            Column("user id", "int64", 0, 1.0, None, "10 distinct"),
            Column("item", "string", 0, None, None, "7 distinct"),
            Column("rating", "float64", 0, 0.0, 5.5, "seen 0.5 .. 5"),
            Column("ts", "int64", 0, 0.0, None, f"the split's time: {times.describe()}"),
        ],
        roles={"user": "user id", "item": "item", "weight": "rating"},
        checks={
            "min_rows": 25,
            "max_null_fraction": 0,
            "max_duplicate_fraction": 0,
            "max_drift_psi": 0.2,
        },
        split=retrieval_split,
        split_why=retrieval_why,
        estimator="sklearn.decomposition.TruncatedSVD",
        params={"n_components": 6, "algorithm": "randomized", "n_iter": 7, "random_state": 7},
        primary="ndcg_at_10",
        champion={"metric": "ndcg_at_10", "margin": 0.0},
        index={
            "metric": "ip",
            "dtype": "f32",
            "connectivity": 16,
            "expansion_add": 128,
            "expansion_search": 64,
        },
    )
    return {"tabular": tabular, "retrieval": retrieval}


def _comments(text: str) -> list[str]:
    """Every comment, whole-line or trailing, in order."""
    return [line[line.index("#") :] for line in text.splitlines() if "#" in line]


def _sections(text: str) -> list[str]:
    """The top-level keys, in order."""
    return [line.split(":")[0] for line in text.splitlines() if not line.startswith((" ", "#"))]


@pytest.mark.parametrize("name", ["tabular", "retrieval"])
def test_rendered_spec_means_what_the_hand_written_one_did(name: str) -> None:
    before = (DATA / f"scaffold_{name}.yaml").read_text(encoding="utf-8")
    after = render(_drafts()[name])
    assert yaml.safe_load(after) == yaml.safe_load(before)
    assert _comments(after) == _comments(before)
    assert _sections(after) == _sections(before)
