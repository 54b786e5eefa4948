"""`new-spec` on data shaped like users' tables: a time column gives a temporal split (the
newest 20% of rows held out), kept out of a tabular model's features; without one, a hash
split says its key. The proposed margin is bounded by 5% of the metric's value."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.data.checks import run_checks
from pipelines.data.profile import profile_frame
from pipelines.data.sources import load_data
from pipelines.gate import compare_with_champion
from pipelines.scaffold import new_spec
from pipelines.scaffold.baseline import propose_margin
from pipelines.scaffold.infer import find_time_column, name_says_time, time_column
from pipelines.signature import input_columns, signature
from pipelines.spec import load_spec
from pipelines.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
# MovieLens 100k's span: 1997-09-20 .. 1998-04-22, in unix seconds
ML100K = (874_724_710, 893_286_638)


def _text(path: Path) -> str:
    """The spec's text with its comment lines joined (the renderer wraps them)."""
    return " ".join(line.strip().lstrip("# ") for line in path.read_text("utf-8").splitlines())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _ratings(root: Path, rows: int = 3000) -> Path:
    """user_id, movie_id, rating, timestamp (unix seconds), as MovieLens writes them."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(1, 120, rows),
            "movie_id": rng.integers(1, 150, rows),
            "rating": rng.integers(1, 6, rows),
            "timestamp": rng.integers(*ML100K, rows),
        }
    ).drop_duplicates(["user_id", "movie_id"])
    path = root / "data" / "ratings.csv"
    frame.to_csv(path, index=False)
    return path


def _orders(root: Path, rows: int = 400) -> Path:
    """An orders table: a unique id, an ISO order date, a city (text), numbers, a total."""
    rng = np.random.default_rng(12)
    offsets = rng.integers(0, 365, rows)
    offsets[:2] = (0, 364)  # the whole of 2023
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(offsets, unit="D")
    quantity = rng.integers(1, 10, rows)
    price = rng.uniform(2, 50, rows)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "order_date": days.strftime("%Y-%m-%d"),
            "city": rng.choice(["lyon", "oslo", "porto"], rows),
            "quantity": quantity,
            "price": price,
            "total": quantity * price + rng.normal(0, 3, rows),
        }
    )
    path = root / "data" / "orders.csv"
    frame.to_csv(path, index=False)
    return path


def test_ratings_with_a_unix_timestamp_get_a_temporal_split(repo: Path) -> None:
    path = new_spec("ratings", "retrieval", _ratings(repo), root=repo)
    loaded = load_spec(path)
    spec = loaded.spec
    split = spec.data.split
    assert (split.strategy, split.column, split.test_fraction) == ("temporal", "timestamp", 0.2)
    column = spec.data.columns["timestamp"]
    assert (column.dtype, column.min, column.max) == ("int64", 0.0, None)  # times grow
    text = _text(path)
    assert (
        "split: time column 'timestamp' found (unix seconds, 1997-09-20 .. 1998-04-22): "
        "the newest 20% of rows are held out, as production sees them" in text
    )
    # the margin is at most 5% of the first fit's NDCG, and says so
    margin = spec.evaluation.champion.margin
    assert margin is not None and margin > 0
    assert "margin: min(interval width, 5% of the value), rounded up" in text
    frame = load_data(loaded).frame
    rows = get_task("retrieval").split(loaded, frame)
    times = frame["timestamp"].to_numpy()
    assert times[rows.test].min() > times[rows.train].max()  # the newest rows held out
    assert len(rows.test) == pytest.approx(0.2 * len(frame), rel=0.05)


def test_orders_with_an_iso_date_split_by_it_and_do_not_learn_from_it(repo: Path) -> None:
    path = new_spec("orders", "regression", _orders(repo), target="total", root=repo)
    loaded = load_spec(path)
    spec = loaded.spec
    assert (spec.data.split.strategy, spec.data.split.column) == ("temporal", "order_date")
    assert spec.data.columns["order_date"].dtype == "string"
    assert list(spec.data.columns) == ["quantity", "price", "order_date", "total"]
    text = _text(path)
    assert "time column 'order_date' found (dates as text, 2023-01-01 .. 2023-12-31)" in text
    assert "order_date: {dtype: string}  # the split's time, not a feature" in text
    # the tabular task, the logged signature and the leakage check leave the time column out
    assert get_task("regression").features(loaded) == ["quantity", "price"]
    inputs = signature(input_columns(get_task(spec.task), spec)).inputs.inputs
    assert [c.name for c in inputs] == ["quantity", "price"]
    data = load_data(loaded)
    older = data.frame[data.frame["order_date"] < "2023-07-01"]
    results, _ = run_checks(loaded, data, profile_frame(older))
    by_name = {r.name: r for r in results}
    assert "order_date.leakage" not in by_name
    drift = by_name["order_date.drift"]  # newer dates are what refreshed data is
    assert drift.passed and not drift.blocking and "not compared" in drift.detail


def test_without_a_time_column_the_hash_split_says_its_key(repo: Path) -> None:
    rng = np.random.default_rng(13)
    frame = pd.DataFrame(
        {
            "customer": rng.integers(1, 60, 1500),
            "product": rng.integers(1, 80, 1500),
            "day_count": rng.integers(1, 30, 1500),  # a number, but not a time
        }
    ).drop_duplicates(["customer", "product"])
    frame.to_csv(repo / "data" / "baskets.csv", index=False)
    path = new_spec("baskets", "retrieval", repo / "data" / "baskets.csv", root=repo)
    spec = load_spec(path).spec
    assert (spec.data.split.strategy, spec.data.split.column) == ("random", None)
    assert spec.data.split.seed == 7
    text = _text(path)
    assert "split: no time column found: random split" in text
    assert "key: (customer, product): a pair's rows stay on one side" in text


@pytest.mark.parametrize(
    ("name", "values", "unit"),
    [
        ("timestamp", [874_724_710, 893_286_638], "unix seconds"),
        ("created_at", [1.7e12, 1.71e12], "unix milliseconds"),
        ("eventTime", [1_600_000_000, 1_600_086_400], "unix seconds"),
        ("order_ts", [1_600_000_000.5, 1_600_000_100.0], "unix seconds"),
        ("placed", ["2024-01-05", "2024-02-01T10:00:00Z"], "dates as text"),
        ("when", pd.to_datetime(["2024-01-05", "2024-01-06"]), "datetimes"),
        ("score_time", [3, 7], None),  # a time name, not unix values
        ("lifetime", [1_600_000_000, 1_600_000_100], None),  # 'time' inside a word
        ("count", [1_600_000_000, 1_600_000_100], None),  # unix-sized, not named a time
        ("month", ["May", "June"], None),  # no digits: not dates
        ("user", ["u1", "u2"], None),
        ("timestamp", [874_724_710, None], None),  # a missing time cannot order its row
        ("timestamp", [874_724_710, 874_724_710], None),  # one value orders nothing
    ],
)
def test_time_column_detection(name: str, values: object, unit: str | None) -> None:
    found = time_column(pd.Series(values, name=name))
    assert (found.unit if found else None) == unit


def test_the_first_time_column_not_a_role_is_chosen() -> None:
    frame = pd.DataFrame(
        {"user": [1, 2], "ts": [1_600_000_000, 1_600_000_001], "updated_at": ["2024-01-01"] * 2}
    )
    found = find_time_column(frame, skip=("user",))
    assert found is not None and found.name == "ts"
    assert find_time_column(frame, skip=("ts",)) is None  # one value only
    assert name_says_time("createdAt") and not name_says_time("at")


def test_the_proposed_margin_no_longer_passes_a_candidate_3x_worse() -> None:
    # the first fit's log loss 0.09, its 95% interval on a small holdout 0.17 wide
    margin, why = propose_margin("log_loss", (0.03, 0.20), 0.09)
    assert margin == pytest.approx(0.0045)  # 5% of 0.09, rather than 0.17
    assert why.startswith("min(interval width, 5% of the value), rounded up: here 5% of the")
    champion = np.random.default_rng(14).exponential(0.09, 300)
    candidate = champion + 0.165  # a log loss ~2.8x the champion's on every row

    def passes(allowed: float) -> bool:
        result = compare_with_champion(
            "classification",
            "log_loss",
            candidate,
            champion,
            margin=allowed,
            confidence=0.95,
            resamples=1000,
            seed=7,
        )
        return result.passed

    assert passes(0.17)  # the width as the margin: the much worse candidate passed
    assert not passes(margin)
    wide, _ = propose_margin("ndcg_at_10", (0.305, 0.347), 0.326)
    assert wide == pytest.approx(0.017)  # min(0.042, 0.0163), rounded up
    narrow, why = propose_margin("ndcg_at_10", (0.32, 0.33), 0.326)
    assert narrow == pytest.approx(0.01) and "here the width" in why
