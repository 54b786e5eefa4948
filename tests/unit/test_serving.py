"""The serving module: answers equal the evaluated path, bad requests fail clearly, and it
imports nothing of training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines import serving
from pipelines.data.sources import load_data
from pipelines.index import IndexSettings, build_index, search_index
from pipelines.spec import load_spec
from pipelines.spec.estimators import build_estimator
from pipelines.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ("pipelines.spec", "pipelines.data", "pipelines.tasks", "pydantic", "yaml", "jinja2")


def _served(spec_name: str, folder: Path) -> dict[str, Any]:
    """Fit a spec's model, write its serving payload and index, and load them back."""
    loaded = load_spec(ROOT / "model_specs" / f"{spec_name}.yaml")
    task = get_task(loaded.spec.task)
    frame = load_data(loaded).frame
    split = task.split(loaded, frame)
    bundle = task.fit(loaded, frame, split, build_estimator(loaded))
    keys, vectors = task.index_vectors(bundle)
    index = build_index(keys, vectors, IndexSettings(metric=loaded.spec.index.metric), threads=1)
    index.save(str(folder / "index.usearch"))
    serving.write_payload(
        folder / "payload", bundle.task, bundle.estimator, bundle.index_metric, bundle.extras
    )
    server = serving.load(folder / "payload", folder / "index.usearch")
    return {"task": task, "bundle": bundle, "frame": frame, "split": split, "server": server}


@pytest.fixture(scope="module")
def recs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _served("item-recs", tmp_path_factory.mktemp("item-recs"))


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _served("breast-cancer", tmp_path_factory.mktemp("breast-cancer"))


def test_serving_module_imports_nothing_of_training() -> None:
    code = (
        "import sys, pipelines.serving\n"
        f"print(','.join(m for m in {(*TRAINING, 'mlflow', 'tqdm')!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


def test_entry_point_imports_no_training_code() -> None:
    code = (
        "import sys, pipelines.serving_entry\n"
        "print(','.join(m for m in sys.modules if m.startswith('pipelines.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert set(out.stdout.strip().split(",")) <= {"pipelines.serving", "pipelines.serving_entry"}


def _everything(frame: pd.DataFrame) -> Any:
    """The split whose training part is every row: what the served model knows of a user."""
    from pipelines.tasks import Split

    rows = np.arange(len(frame))
    return Split(train=rows, test=rows)


def test_known_user_answer_is_the_evaluated_list(recs: dict[str, Any]) -> None:
    """The served answer to a known user is the list `evaluate`'s code gives a user whose
    history is everything the data holds of them: training and holdout rows folded in, and
    none of them recommended."""
    server, bundle, frame = recs["server"], recs["bundle"], recs["frame"]
    index = server.index
    users, lists, _, seen = recs["task"].recommend(
        bundle, frame, _everything(frame), lambda q, k: search_index(index, q, k), 10
    )
    sample = users[:: max(1, len(users) // 40)]
    answer = server.predict(pd.DataFrame({"user_id": sample}), {"k": 10})
    items = bundle.extras["item_ids"]
    holdout = frame.iloc[recs["split"].test]
    for query, user in enumerate(sample):
        row = int(np.searchsorted(users, user))
        mine = answer[answer["query"] == query]
        assert mine["rank"].tolist() == list(range(1, 11))
        assert (mine["user_id"] == user).all()
        assert mine["neighbour"].tolist() == items[lists[row]].tolist()
        assert not np.isin(mine["neighbour"], items[seen[row]]).any()
        # nothing the user already has, holdout rows included
        rated = frame.loc[frame["user_id"] == user, "item_id"]
        assert not np.isin(mine["neighbour"], rated).any()
        assert not mine["fallback"].any()
        assert mine["distance"].is_monotonic_increasing
    held = holdout["user_id"].isin(sample).sum()
    assert held > 0, "the sample should hold some holdout interactions"


def test_an_unknown_user_gets_the_popular_items_flagged(recs: dict[str, Any]) -> None:
    """A user who arrived after training: the most popular training items, `fallback` true,
    beside a known user's own answer in the same request."""
    server, bundle = recs["server"], recs["bundle"]
    known = server.users[0]
    answer = server.predict(pd.DataFrame({"user_id": [10**9, known]}), {"k": 5})
    new = answer[answer["query"] == 0]
    items = bundle.extras["item_ids"]
    assert new["fallback"].all() and not answer[answer["query"] == 1]["fallback"].any()
    assert new["neighbour"].tolist() == items[bundle.extras["popular"][:5]].tolist()
    assert new["distance"].iloc[0] == 0.0 and new["distance"].is_monotonic_increasing
    assert np.isfinite(answer["distance"]).all()


def test_history_with_the_users_items_and_weights_answers_as_the_user(
    recs: dict[str, Any],
) -> None:
    server = recs["server"]
    user = server.users[5]
    frame = recs["frame"]
    mine = frame[frame["user_id"] == user]  # all the user's rows: what the model serves from
    as_user = server.predict(pd.DataFrame({"user_id": [user]}), {"k": 10})
    as_history = server.predict(
        pd.DataFrame({"history": [mine["item_id"].tolist()], "rating": [mine["rating"].tolist()]}),
        {"k": 10},
    )
    assert "user_id" not in as_history.columns
    assert as_history["neighbour"].tolist() == as_user["neighbour"].tolist()
    assert not np.isin(as_history["neighbour"], mine["item_id"]).any()
    unweighted = server.predict(pd.DataFrame({"history": [mine["item_id"].tolist()[:3]]}), {"k": 4})
    assert unweighted["rank"].tolist() == [1, 2, 3, 4]


def test_exclude_seen_false_may_return_history(recs: dict[str, Any]) -> None:
    server = recs["server"]
    user = server.users[0]
    answer = server.predict(pd.DataFrame({"user_id": [user]}), {"k": 30, "exclude_seen": False})
    assert len(answer) == 30
    assert np.isin(answer["neighbour"], server.seen(user)).any()


def test_similar_items_exclude_the_item_itself(recs: dict[str, Any]) -> None:
    server = recs["server"]
    items = server.items[:3].tolist()
    answer = server.predict(pd.DataFrame({"item_id": items}), {"k": 5})
    assert len(answer) == 15
    assert (answer["neighbour"] != answer["item_id"]).all()


@pytest.mark.parametrize(
    ("frame", "params", "message"),
    [
        (pd.DataFrame({"movieId": [1]}), {}, "exactly one of the columns ['user_id', 'history'"),
        (pd.DataFrame({"user_id": [1], "item_id": [1]}), {}, "exactly one of the columns"),
        (pd.DataFrame({"item_id": [-5]}), {}, "unknown 'item_id': [-5]"),
        (pd.DataFrame({"user_id": [1]}), {"k": 0}, "param 'k' must be an integer from 1"),
        (pd.DataFrame({"user_id": [1]}), {"exclude_seen": "no"}, "'exclude_seen' must be"),
        (pd.DataFrame({"history": [[-1, -2]]}), {}, "row 0: no known 'item_id' in 'history'"),
        (pd.DataFrame({"history": [7]}), {}, "row 0: 'history' must be a list"),
        (
            pd.DataFrame({"history": [[1, 2]], "rating": [[1.0]]}),
            {},
            "row 0: 'rating' has 1 values, 'history' has 2",
        ),
    ],
)
def test_bad_retrieval_requests_fail_with_a_clear_message(
    recs: dict[str, Any], frame: pd.DataFrame, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        recs["server"].predict(frame, params)
    assert message in str(raised.value)


def test_tabular_answer_is_the_evaluated_prediction(cancer: dict[str, Any]) -> None:
    server, bundle = cancer["server"], cancer["bundle"]
    features, labels = cancer["task"].holdout(bundle, cancer["frame"], cancer["split"])
    frame = pd.DataFrame(features, columns=bundle.extras["features"])
    answer = server.predict(frame, {"k": 3})
    assert len(answer) == 3 * len(frame)
    first = answer[answer["rank"] == 1].reset_index(drop=True)
    predicted = bundle.estimator.predict(features)
    proba = bundle.estimator.predict_proba(features)
    assert first["prediction"].tolist() == predicted.tolist()
    assert np.allclose(first["probability"], proba.max(axis=1))
    assert set(answer["label"]) <= set(np.unique(labels))
    neighbours, _ = search_index(
        server.index, cancer["task"].queries(bundle, cancer["frame"], cancer["split"]), 3
    )
    assert answer["neighbour"].tolist() == neighbours.ravel().tolist()


def test_tabular_missing_column_is_named_with_the_expected_ones(cancer: dict[str, Any]) -> None:
    server = cancer["server"]
    sample = server.sample_input()
    first, second = list(sample.columns[:2])
    with pytest.raises(ValueError) as raised:
        server.predict(sample.drop(columns=[first]))
    text = str(raised.value)
    assert f"missing feature column(s) [{first!r}]" in text
    assert f"the model expects [{first!r}, {second!r}" in text


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -float("inf"), 1e39, -1e300])
def test_non_finite_or_float32_overflowing_weights_are_refused_by_column_and_row(
    recs: dict[str, Any], weight: float
) -> None:
    server = recs["server"]
    items = server.items[:2].tolist()
    frame = pd.DataFrame({"history": [items, items], "rating": [[1.0, 2.0], [1.0, weight]]})
    with pytest.raises(ValueError) as raised:
        server.answer(frame, {"k": 3})
    assert f"row 1: 'rating'[1] is {weight!r}: weights must be finite" in str(raised.value)


def test_weights_whose_sum_overflows_float32_are_refused(recs: dict[str, Any]) -> None:
    server = recs["server"]
    item = int(server.items[0])
    frame = pd.DataFrame({"history": [[item, item]], "rating": [[3e38, 3e38]]})
    with pytest.raises(ValueError, match="row 0: the weights are too large"):
        server.answer(frame, {"k": 3})


def test_an_answer_with_a_non_finite_number_is_refused_naming_row_and_column() -> None:
    answer = pd.DataFrame({"query": [0, 0, 1], "distance": [0.5, 0.7, np.inf]})
    with pytest.raises(ValueError, match=r"row 1: the answer's 'distance' is inf"):
        serving.check_finite(answer)
    finite = answer.iloc[:2]
    assert serving.check_finite(finite) is finite


@pytest.mark.parametrize("value", [np.nan, np.inf, "x" * 100_000, None])
def test_a_feature_that_is_not_a_finite_number_is_named(cancer: dict[str, Any], value: Any) -> None:
    server = cancer["server"]
    frame = server.sample_input().astype(object)
    column = frame.columns[3]
    frame.iloc[-1, 3] = value
    with pytest.raises(ValueError) as raised:
        server.answer(frame)
    text = str(raised.value)
    assert text.startswith(f"row {len(frame) - 1}: {column!r} is ") and len(text) < 400, text


def test_a_feature_too_large_for_the_float32_index_is_named(cancer: dict[str, Any]) -> None:
    server = cancer["server"]
    frame = server.sample_input().copy()
    frame.iloc[0, 2] = 1e300
    with pytest.raises(ValueError, match=f"row 0: feature {frame.columns[2]!r} too far outside"):
        server.answer(frame)


def test_echoed_inputs_are_bounded_in_every_message(recs: dict[str, Any]) -> None:
    server = recs["server"]
    long = "y" * 1_000_000
    cases = [
        (pd.DataFrame({long: [1]}), {}),
        (pd.DataFrame({"user_id": [1]}), {"k": long}),
        (pd.DataFrame({"user_id": [1]}), {"exclude_seen": [1] * 100_000}),
        (pd.DataFrame({"item_id": [long, long]}), {}),
        (pd.DataFrame({"history": [[int(server.items[0])]], "rating": [[long]]}), {}),
    ]
    for frame, params in cases:
        with pytest.raises(ValueError) as raised:
            server.answer(frame, params)
        assert len(str(raised.value)) < 2 * serving.MAX_ECHO + 300, str(raised.value)[:400]


def test_short_and_one_line() -> None:
    assert serving.short("abc") == "'abc'"
    assert serving.short(np.float64(1.5)) == "1.5"
    cut = serving.short("z" * 10_000)
    assert cut.startswith("'zzz") and cut.endswith("... (10,002 chars)")
    assert len(cut) <= serving.MAX_ECHO + 30
    assert serving.one_line("a\n  b\n\nc") == "a b c"
    assert len(serving.one_line("w" * 5000)) <= serving.MAX_MESSAGE + 30
