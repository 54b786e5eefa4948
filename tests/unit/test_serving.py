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
