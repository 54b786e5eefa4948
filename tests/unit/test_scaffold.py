"""`new-spec`: inferred columns, proposed checks, pinned data, and refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.cli import main
from pipelines.data.sources import sha256_file
from pipelines.errors import BadInput
from pipelines.scaffold import infer_dtype, new_spec, propose_range
from pipelines.scaffold.infer import round_out
from pipelines.scaffold.render import fmt
from pipelines.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _houses(root: Path, rows: int = 300) -> Path:
    rng = np.random.default_rng(1)
    size = rng.normal(100, 20, rows)
    frame = pd.DataFrame(
        {
            "house_id": np.arange(1, rows + 1),
            "size": size,
            "rooms": rng.integers(1, 6, rows),
            "share": rng.uniform(0, 1, rows),
            "city": rng.choice(["north", "south"], rows),
            "garden": rng.normal(0, 1, rows),
            "price": 3 * size + rng.normal(0, 5, rows),
        }
    )
    frame.loc[5, "garden"] = np.nan
    path = root / "data" / "houses.csv"
    frame.to_csv(path, index=False)
    return path


def test_regression_spec_is_valid_pinned_and_leaves_out_unusable_columns(repo: Path) -> None:
    csv = _houses(repo)
    path = new_spec("prices", "regression", csv, target="price", root=repo)
    assert path == repo / "model_specs" / "prices.yaml"
    spec = load_spec(path).spec
    assert spec.data.source == "data/houses.csv"
    assert spec.data.sha256 == sha256_file(csv)
    assert list(spec.data.columns) == ["size", "rooms", "share", "price"]  # id, text, nulls out
    assert spec.data.columns["rooms"].dtype == "int64"
    assert (spec.data.columns["rooms"].min, spec.data.columns["rooms"].max) == (0, 6)
    assert (spec.data.columns["share"].min, spec.data.columns["share"].max) == (0, 1)
    assert spec.data.checks.min_rows == 150
    assert spec.model.estimator == "sklearn.linear_model.Ridge"
    # the threshold is the far end of the first fit's bootstrap interval of MAE (noise ~ 4)
    bound = spec.evaluation.thresholds["mae"].max
    assert bound is not None and 3.5 < bound < 6
    assert spec.champion_metric == "mae"
    # the margin: min(that interval's width, 5% of the MAE), rounded up; never 0 here
    margin = spec.evaluation.champion.margin
    assert margin is not None and 0 < margin <= round_out(0.05 * bound, down=False)
    text = path.read_text(encoding="utf-8")
    assert "# margin: min(interval width, 5% of the value), rounded up: here" in text
    assert "# split: no time column found: random split" in text
    assert "# thresholds: the far end of each metric's 95% bootstrap interval" in text
    assert "house_id: a unique row id" in text and "garden: 1 missing values" in text


def test_classification_guesses_the_target_and_stratifies(repo: Path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (200, 2))
    # a label that is a threshold of one column alone would fail the target-leakage check
    label = np.where(x[:, 0] + 0.4 * x[:, 1] > 0, "yes", "no")
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": label})
    frame.to_csv(repo / "data" / "t.csv", index=False)
    spec = load_spec(new_spec("churn", "classification", repo / "data" / "t.csv", root=repo)).spec
    assert spec.data.target == "label"
    assert spec.data.columns["label"].dtype == "category"
    assert spec.data.split.strategy == "stratified"
    assert spec.champion_metric == "log_loss"
    assert spec.evaluation.thresholds["accuracy"].min is not None
    assert spec.evaluation.thresholds["accuracy"].min > 0.8  # separable data, good baseline


def test_retrieval_infers_user_item_and_weight(repo: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "customer": rng.integers(1, 60, 1500),
            "product_id": rng.integers(1, 80, 1500),
            "rating": rng.integers(1, 6, 1500).astype(float),
            "note": "x",
        }
    ).drop_duplicates(["customer", "product_id"])
    frame.to_csv(repo / "data" / "clicks.csv", index=False)
    spec = load_spec(new_spec("recs", "retrieval", repo / "data" / "clicks.csv", root=repo)).spec
    assert (spec.data.user, spec.data.item, spec.data.weight) == (
        "customer",
        "product_id",
        "rating",
    )
    assert "note" not in spec.data.columns
    assert spec.model.estimator == "sklearn.decomposition.TruncatedSVD"
    assert spec.model.params["n_components"] == 32


def test_retrieval_without_recognisable_columns_asks_for_flags(repo: Path) -> None:
    pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]}).to_csv(repo / "data" / "x.csv", index=False)
    with pytest.raises(BadInput, match="--user"):
        new_spec("recs", "retrieval", repo / "data" / "x.csv", root=repo)


def test_refuses_to_overwrite_and_to_pin_files_outside_the_repo(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = _houses(repo)
    monkeypatch.chdir(repo)
    assert main(["-q", "new-spec", "prices", "--task", "regression", "--data", str(csv)]) == 0
    before = (repo / "model_specs" / "prices.yaml").read_bytes()
    code = main(["new-spec", "prices", "--task", "regression", "--data", str(csv)])
    assert code == 2
    assert (repo / "model_specs" / "prices.yaml").read_bytes() == before
    outside = tmp_path / "outside.csv"
    shutil.copy(csv, outside)
    with pytest.raises(BadInput, match="outside the repository"):
        new_spec("other", "regression", outside, root=repo)
    with pytest.raises(BadInput, match="lowercase"):
        new_spec("Bad_Name", "regression", csv, root=repo)


def test_bad_targets_are_refused(repo: Path) -> None:
    csv = _houses(repo)
    with pytest.raises(BadInput, match="regression needs numbers"):
        new_spec("p", "regression", csv, target="city", root=repo)
    with pytest.raises(BadInput, match="fractional"):
        new_spec("p", "classification", csv, target="size", root=repo)
    with pytest.raises(BadInput, match="missing values"):
        new_spec("p", "regression", csv, target="garden", root=repo)
    assert not (repo / "model_specs" / "p.yaml").exists()


def test_dtype_and_range_proposals() -> None:
    assert infer_dtype(pd.Series([1, 2, 3])) == "int64"
    assert infer_dtype(pd.Series([1.5, 2.0])) == "float64"
    assert infer_dtype(pd.Series([True, False])) == "bool"
    assert infer_dtype(pd.Series(["a", "b"] * 50)) == "category"
    assert infer_dtype(pd.Series([f"u{i}" for i in range(100)])) == "string"
    assert propose_range(pd.Series([0.2, 0.9]), "float64") == (0.0, 1.0)
    low, high = propose_range(pd.Series([-5.0, 95.0]), "float64")
    assert low is not None and high is not None and low <= -15 and high >= 105
    assert propose_range(pd.Series(["a"]), "string") == (None, None)


@pytest.mark.parametrize("value", [0.0, 1.0, 22.0, 0.123456789, 1e-7, -3.5e20, 7, True])
def test_numbers_read_back_as_the_same_type(value: object) -> None:
    parsed = yaml.safe_load(f"x: {fmt(value)}")["x"]
    assert type(parsed) is type(value)
    assert parsed == pytest.approx(value, rel=1e-5)


def test_new_spec_from_a_scikit_learn_dataset(repo: Path) -> None:
    from pipelines.data.sources import load_data

    path = new_spec("wine", "classification", Path("sklearn:load_wine"), root=repo)
    loaded = load_spec(path)
    spec = loaded.spec
    assert spec.data.source == "sklearn:load_wine"
    assert spec.data.sha256 is None
    assert "od280/od315_of_diluted_wines" in spec.data.columns  # scikit-learn's own name
    assert spec.data.target == "target"
    assert list(load_data(loaded).frame.columns) == list(spec.data.columns)


def test_new_spec_refuses_a_downloading_loader(repo: Path) -> None:
    with pytest.raises(BadInput, match=r"unknown dataset 'sklearn:fetch_openml'.*load_wine"):
        new_spec("x", "classification", Path("sklearn:fetch_openml"), root=repo)
