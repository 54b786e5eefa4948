"""Splits that stay fair when data grows: a row's side never moves as rows are appended,
rows sharing a key stay together, time-ordered data is cut by time, and a spec that asks
for a split it cannot have gets one line naming the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import BadInput
from pipelines.spec import load_spec
from pipelines.tasks import get_task
from pipelines.tasks.splitting import SplitRule, _newest_per_user

SPLIT_LINE = {
    "item-recs": "  split: {strategy: random, test_fraction: 0.2, seed: 7}\n",
    "breast-cancer": "  split: {strategy: stratified, test_fraction: 0.3, seed: 7}\n",
}


def _spec(repo: Path, model: str, split: str, extra_columns: str = "") -> Path:
    """The example spec `model` with its split line replaced (and columns added)."""
    source = (repo / "model_specs" / f"{model}.yaml").read_text(encoding="utf-8")
    assert SPLIT_LINE[model] in source, "the example spec's split line moved"
    text = source.replace(SPLIT_LINE[model], f"  split: {split}\n")
    if extra_columns:
        text = text.replace("  columns:\n", f"  columns:\n{extra_columns}", 1)
    path = repo / "model_specs" / "variant" / f"{model}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _interactions(rows: int, seed: int, start: int = 0) -> pd.DataFrame:
    """Ratings shaped like a service's log: users, items, a rating and a unix time."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": rng.integers(1, 300, rows),
            "item_id": rng.integers(1, 500, rows),
            "rating": rng.choice([1.0, 2.5, 4.0, 5.0], rows),
            "timestamp": start + np.sort(rng.integers(0, 10**6, rows)),
        }
    )


TIME_COLUMN = "    timestamp: {dtype: int64, min: 0}\n"


def _held(split: object, frame: pd.DataFrame) -> set[tuple[object, ...]]:
    return set(map(tuple, frame.iloc[split.test].itertuples(index=False)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("strategy", ["random", "stratified"])
def test_appended_rows_never_move_an_old_row(scratch_repo: Path, strategy: str) -> None:
    """A refresh appends rows: every old row keeps its side, for either task family."""
    model = "item-recs" if strategy == "random" else "breast-cancer"
    split_text = f"{{strategy: {strategy}, test_fraction: 0.25, seed: 3}}"
    loaded = load_spec(_spec(scratch_repo, model, split_text))
    task = get_task(loaded.spec.task)
    from pipelines.data.sources import load_data

    frame = load_data(loaded).frame
    old = frame.iloc[: len(frame) * 4 // 5].reset_index(drop=True)
    before = task.split(loaded, old)
    after = task.split(loaded, frame)
    assert np.array_equal(np.intersect1d(after.test, np.arange(len(old))), before.test)
    assert 0.2 < len(after.test) / len(frame) < 0.3
    assert after.rule is not None and after.rule["strategy"] == strategy
    assert after.rule["seed"] == 3 and after.rule["hash_version"] == 1


def test_rows_sharing_a_key_stay_together(scratch_repo: Path) -> None:
    """The default retrieval key is the (user, item) pair; a `key` of one column is a
    group split."""
    frame = _interactions(4000, 1)
    frame = pd.concat([frame, frame.iloc[:500]], ignore_index=True)  # repeated interactions
    loaded = load_spec(_spec(scratch_repo, "item-recs", "{strategy: random, seed: 1}"))
    split = get_task("retrieval").split(loaded, frame)
    side = np.zeros(len(frame), dtype=bool)
    side[split.test] = True
    pairs = frame.assign(side=side).groupby(["user_id", "item_id"])["side"].nunique()
    assert (pairs == 1).all()
    grouped = load_spec(
        _spec(scratch_repo, "item-recs", "{strategy: random, key: [user_id], seed: 1}")
    )
    split = get_task("retrieval").split(grouped, frame)
    side[:] = False
    side[split.test] = True
    assert (frame.assign(side=side).groupby("user_id")["side"].nunique() == 1).all()


def test_temporal_split_holds_out_the_newest_rows_and_records_the_cut(scratch_repo: Path) -> None:
    loaded = load_spec(
        _spec(
            scratch_repo,
            "item-recs",
            "{strategy: temporal, column: timestamp, test_fraction: 0.1}",
            TIME_COLUMN,
        )
    )
    frame = _interactions(5000, 2)
    split = get_task("retrieval").split(loaded, frame)
    times = frame["timestamp"].to_numpy()
    assert times[split.train].max() < times[split.test].min()
    assert 0.08 < len(split.test) / len(frame) < 0.12
    assert split.rule is not None
    assert split.rule["cut"] == str(times[split.train].max())
    assert "rows after" in SplitRule.of(split.rule).describe()
    # the next period appended: the cut moves forward, so every row of the new holdout is
    # newer than anything the earlier model was fitted on
    grown = pd.concat([frame, _interactions(800, 3, start=2 * 10**6)], ignore_index=True)
    again = get_task("retrieval").split(loaded, grown)
    assert grown["timestamp"].to_numpy()[again.test].min() > times[split.train].max()
    assert int(again.rule["cut"]) > int(split.rule["cut"])  # type: ignore[index]


def test_temporal_split_reads_dates_written_as_text(scratch_repo: Path) -> None:
    column = "    day: {dtype: string}\n"
    loaded = load_spec(
        _spec(scratch_repo, "item-recs", "{strategy: temporal, column: day}", column)
    )
    frame = _interactions(3000, 4)
    days = pd.to_datetime(frame["timestamp"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
    frame = frame.assign(day=days.to_numpy())
    split = get_task("retrieval").split(loaded, frame)
    assert frame["day"].iloc[split.test].min() > frame["day"].iloc[split.train].max()
    bad = frame.assign(day=["not a day"] * len(frame))
    with pytest.raises(BadInput) as caught:
        get_task("retrieval").split(loaded, bad)
    assert "column 'day' is not a time" in str(caught.value)
    assert caught.value.field == "data.split.column"


def test_leave_last_holds_out_each_users_newest(scratch_repo: Path) -> None:
    # user 1: its two newest (9, 7); user 2 has only 2 rows and user 3 one: all training
    users = np.array([1, 1, 1, 1, 2, 2, 3])
    times = np.array([5, 1, 9, 7, 3, 4, 8])
    assert np.flatnonzero(_newest_per_user(users, times, 2)).tolist() == [2, 3]
    loaded = load_spec(
        _spec(
            scratch_repo,
            "item-recs",
            "{strategy: leave-last, column: timestamp, last: 2}",
            TIME_COLUMN,
        )
    )
    frame = _interactions(4000, 5)
    split = get_task("retrieval").split(loaded, frame)
    held = frame.iloc[split.test]
    assert (held.groupby("user_id").size() == 2).all()
    newest = frame.groupby("user_id")["timestamp"].max()
    held_newest = held.groupby("user_id")["timestamp"].max()
    assert (held_newest == newest.loc[held_newest.index]).all()
    assert split.rule == {
        "strategy": "leave-last",
        "test_fraction": 0.2,
        "column": "timestamp",
        "last": 2,
    }


def test_a_holdout_too_small_for_a_verdict_is_refused(scratch_repo: Path) -> None:
    """Fewer than MIN_HOLDOUT_UNITS holdout users (or rows), or a class missing from the
    holdout: no verdict, one line naming the fraction."""
    loaded = load_spec(_spec(scratch_repo, "item-recs", "{strategy: random, test_fraction: 0.01}"))
    with pytest.raises(BadInput) as caught:
        get_task("retrieval").split(loaded, _interactions(300, 6))
    assert "fewer than the 20 a verdict needs" in str(caught.value)
    assert caught.value.field == "data.split.test_fraction"
    tabular = load_spec(
        _spec(scratch_repo, "breast-cancer", "{strategy: random, test_fraction: 0.004, seed: 1}")
    )
    from pipelines.data.sources import load_data

    with pytest.raises(BadInput) as caught:
        get_task("classification").split(tabular, load_data(tabular).frame)
    assert "rows, fewer than the 20 a verdict needs" in str(caught.value)


@pytest.mark.parametrize(
    ("split_text", "field", "message"),
    [
        ("{strategy: temporal}", "data.split.column", "needs the time column"),
        ("{strategy: random, column: rating}", "data.split.column", "only temporal and leave-last"),
        ("{strategy: random, key: [nope]}", "data.split.key.0", "column 'nope' is not in"),
        ("{strategy: temporal, column: nope}", "data.split.column", "column 'nope' is not in"),
        ("{strategy: stratified}", "data.split.strategy", "retrieval takes random, temporal"),
        ("{strategy: random, last: 2}", "data.split.last", "only a leave-last split"),
    ],
)
def test_a_split_the_spec_cannot_have_is_one_line(
    scratch_repo: Path, split_text: str, field: str, message: str
) -> None:
    path = _spec(scratch_repo, "item-recs", split_text)
    with pytest.raises(BadInput) as caught:
        loaded = load_spec(path)
        from pipelines.data.sources import load_data

        get_task(loaded.spec.task).split(loaded, load_data(loaded).frame)
    assert message in str(caught.value)
    assert caught.value.field == field
    assert caught.value.line is not None


def test_a_class_missing_from_one_side_is_refused(scratch_repo: Path) -> None:
    loaded = load_spec(_spec(scratch_repo, "breast-cancer", "{strategy: stratified, seed: 2}"))
    from pipelines.data.sources import load_data

    frame = load_data(loaded).frame
    rare = frame.copy()
    target = loaded.spec.data.target
    assert target is not None
    rare.loc[rare.index[0], target] = 7  # a class of one row cannot be on both sides
    with pytest.raises(BadInput) as caught:
        get_task("classification").split(loaded, rare)
    assert "class 7 (1 rows) has no row in the" in str(caught.value)
