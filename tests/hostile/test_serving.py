"""Hostile requests to a served model, by class: both example champions, logged and loaded
as `mlflow models serve` loads them, answer through MLflow's own scoring app (in-process,
the ASGI app uvicorn runs). Every member is a 400 with a bounded message, or a 200 whose
numbers are all finite; the answer is always strict JSON (no NaN, no Infinity).

What MLflow does before the body reaches the model is pinned separately
(`test_mlflow_parser_limits_are_as_documented`): README "Serving" and docs/threat-model.md
describe those limits of `mlflow models serve`."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import serving
from pipelines.cli import main
from tests.conftest import ROOT
from tests.hostile.support import asgi_post

# A whole error message: MLflow's prefix (the request frame as pandas prints it: at most 60
# rows, 20 columns, 50 characters a cell) and our one line.
MAX_WHOLE_MESSAGE = 4000
OUR_PART = ". \nError: "  # MLflow's `Failed to predict data '<frame>'. \nError: <ours>`
# Messages of MLflow's own checks, which may quote an input whole.
MLFLOW_QUOTES = ("Invalid parameters found", "Failed to enforce schema", "Invalid input.")

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class App:
    """One champion's scoring app, with the values a valid request needs."""

    def __init__(self, name: str) -> None:
        import mlflow
        from mlflow.pyfunc import scoring_server

        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
        self.server = model.unwrap_python_model().server
        self.app = scoring_server.init(model)

    def post(self, body: bytes | str) -> tuple[int, Any]:
        """Status and the strictly parsed answer (a 500's plain text as a string)."""
        raw = body.encode() if isinstance(body, str) else body
        status, answer = asgi_post(self.app, raw)
        if status == 500:
            return status, answer.decode(errors="replace")
        return status, strict_json(answer)


def strict_json(raw: bytes) -> Any:
    """`raw` parsed as JSON proper: NaN, Infinity or an overflowing number fail the test."""

    def reject(token: str) -> Any:
        raise AssertionError(f"not JSON: the answer holds {token}")

    def finite(text: str) -> float:
        value = float(text)
        assert math.isfinite(value), f"not finite: {text}"
        return value

    return json.loads(raw, parse_constant=reject, parse_float=finite)


def check(status: int, answer: Any, body: str | bytes = "") -> str | None:
    """A 200 with predictions or a 400 with a bounded message; the message (or None).

    Our part of a message is one line of at most `serving.MAX_MESSAGE` characters. MLflow's
    own validation of params and of the signature's types may quote the value whole (a
    documented limit): such a message is bounded by the request's size instead."""
    assert status in (200, 400), (status, str(answer)[:500])
    if status == 200:
        assert isinstance(answer["predictions"], list)
        return None
    message = answer["message"]
    assert isinstance(message, str)
    limit = MAX_WHOLE_MESSAGE
    if any(quote in message for quote in MLFLOW_QUOTES):
        limit += 4 * len(body)
    assert len(message) <= limit, (len(message), message[:300])
    if OUR_PART in message and not message.split(OUR_PART, 1)[1].startswith(MLFLOW_QUOTES):
        ours = message.split(OUR_PART, 1)[1]  # our predict refused it
        assert "\n" not in ours and len(ours) <= serving.MAX_MESSAGE + 30, ours[:300]
        assert "unexpected error" not in ours
    return str(message)


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, App]]:
    """Both examples run to champion in a store of their own, loaded once per module."""
    folder = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        patch.setenv("PIPELINES_RUNS_DIR", str(folder / "runs"))
        # `scoring_server.init` sets it for the process: restored when the module is done
        patch.setenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "true")
        specs = [ROOT / "model_specs" / f"{n}.yaml" for n in ("item-recs", "breast-cancer")]
        assert main(["-q", "run", *map(str, specs), "--promote", "champion"]) == 0
        yield {name: App(name) for name in ("item-recs", "breast-cancer")}


# -- where a hostile value goes: every numeric input of both models --------------------------
def _retrieval_slots(app: App) -> dict[str, Callable[[str], str]]:
    user, item, other = int(app.server.users[0]), int(app.server.items[0]), int(app.server.items[1])
    records = '{"dataframe_records": [%s]%s}'
    return {
        "user": lambda v: records % (f'{{"user_id": {v}}}', ""),
        "item": lambda v: records % (f'{{"item_id": {v}}}', ""),
        "history-id": lambda v: (
            records % (f'{{"history": [{item}, {v}], "rating": [1.5, 2.5]}}', "")
        ),
        "weight": lambda v: (
            records % (f'{{"history": [{item}, {other}], "rating": [1.5, {v}]}}', "")
        ),
        "weight-alone": lambda v: records % (f'{{"history": [{item}], "rating": [{v}]}}', ""),
        "k": lambda v: records % (f'{{"user_id": {user}}}', f', "params": {{"k": {v}}}'),
        "exclude_seen": lambda v: (
            records % (f'{{"user_id": {user}}}', f', "params": {{"exclude_seen": {v}}}')
        ),
    }


def _feature_slots(app: App) -> dict[str, Callable[[str], str]]:
    sample = app.server.sample_input().iloc[0].to_dict()

    def slot(name: str) -> Callable[[str], str]:
        def body(value: str) -> str:
            row = json.dumps({**sample, name: "__V__"}).replace('"__V__"', value)
            return '{"dataframe_records": [' + row + '], "params": {"k": 3}}'

        return body

    return {f"feature:{name}": slot(name) for name in app.server.features}


NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e39", "-1e39", "3.5e38", "3.4e38", "1e308", "-1e308",
    "1e300", "1e30", "1e20", "5e-324", "1e-45", "-0.0", "0", "-1", str(2**63 - 1), str(2**63),
    str(2**64), str(-(2**63) - 1), "1" + "0" * 400, "9" * 4300, "null", "true",
]  # fmt: skip


@pytest.mark.parametrize("value", NUMBERS)
def test_hostile_numbers_in_every_retrieval_input(apps: dict[str, App], value: str) -> None:
    app = apps["item-recs"]
    for slot, body in _retrieval_slots(app).items():
        status, answer = app.post(body(value))
        message = check(status, answer, body(value))
        if slot.startswith("weight") and value in ("NaN", "Infinity", "-Infinity", "1e39", "1e300"):
            assert status == 400 and message is not None, (slot, value, answer)
            index = 1 if slot == "weight" else 0
            assert f"row 0: 'rating'[{index}] is " in message, message


@pytest.mark.parametrize("value", NUMBERS)
def test_hostile_numbers_in_every_feature_column(apps: dict[str, App], value: str) -> None:
    app = apps["breast-cancer"]
    for slot, body in _feature_slots(app).items():
        status, answer = app.post(body(value))
        message = check(status, answer, body(value))
        if value in ("NaN", "Infinity", "-Infinity", "null", "1e308", "-1e308", "1e39"):
            assert status == 400 and message is not None, (slot, value)
            assert "row 0: " in message, message


def test_weights_that_overflow_only_when_summed_are_refused(apps: dict[str, App]) -> None:
    """Each weight fits float32, their sum on one item does not: refused, not NaN."""
    app = apps["item-recs"]
    item = int(app.server.items[0])
    status, answer = app.post(
        f'{{"dataframe_records": [{{"history": [{item}, {item}], "rating": [3e38, 3e38]}}]}}'
    )
    assert "row 0: the weights are too large" in str(check(status, answer))


def test_unknown_users_get_finite_popularity_rows(apps: dict[str, App]) -> None:
    app = apps["item-recs"]
    known = int(app.server.users[0])
    status, answer = app.post(
        json.dumps({"dataframe_split": {"columns": ["user_id"], "data": [[10**12], [known]]}})
    )
    assert check(status, answer) is None
    fallback = [p for p in answer["predictions"] if p["fallback"]]
    assert len(fallback) == 10 and {p["query"] for p in fallback} == {0}
    assert all(math.isfinite(p["distance"]) for p in answer["predictions"])


# -- nesting the parser survives, at every input ---------------------------------------------
@pytest.mark.parametrize("depth", [2, 10, 100, 400])
def test_nesting_within_the_parsers_reach(apps: dict[str, App], depth: int) -> None:
    nested = "[" * depth + "1" + "]" * depth
    for app, slots in (
        (apps["item-recs"], _retrieval_slots(apps["item-recs"])),
        (apps["breast-cancer"], _feature_slots(apps["breast-cancer"])),
    ):
        for body in slots.values():
            check(*app.post(body(nested)), body(nested))
        check(*app.post('{"dataframe_records": ' + "[" * depth + "]" * depth + "}"))


# -- huge strings and bodies -----------------------------------------------------------------
BIG = "x" * 1_000_000


@pytest.mark.parametrize("slot", ["user", "item", "history-id", "weight", "weight-alone"])
def test_a_megabyte_string_in_a_retrieval_input_gets_a_bounded_400(
    apps: dict[str, App], slot: str
) -> None:
    app = apps["item-recs"]
    status, answer = app.post(_retrieval_slots(app)[slot](json.dumps(BIG)))
    message = check(status, answer)
    assert status == 400 and message is not None and len(message) <= MAX_WHOLE_MESSAGE


def test_long_histories_and_many_rows_answer_finitely(apps: dict[str, App]) -> None:
    app = apps["item-recs"]
    items = app.server.items[:50].tolist()
    history = items * 2000  # 100,000 ids, duplicates summed
    status, answer = app.post(
        json.dumps({"dataframe_records": [{"history": history, "rating": [0.5] * len(history)}]})
    )
    assert check(status, answer) is None and len(answer["predictions"]) == 10
    users = app.server.users[:2000].tolist() + [10**12 + i for i in range(2000)]
    status, answer = app.post(
        json.dumps({"dataframe_split": {"columns": ["user_id"], "data": [[u] for u in users]}})
    )
    assert check(status, answer) is None and len(answer["predictions"]) == 10 * len(users)


# -- any JSON value anywhere -----------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@FAST
@given(
    which=st.sampled_from(["item-recs", "breast-cancer"]),
    pick=st.integers(0, 10**6),
    value=JSON_VALUES,
)
def test_any_json_value_in_any_input(
    apps: dict[str, App], which: str, pick: int, value: Any
) -> None:
    app = apps[which]
    slots = _retrieval_slots(app) if which == "item-recs" else _feature_slots(app)
    body = list(slots.values())[pick % len(slots)](json.dumps(value))
    check(*app.post(body), body)


# -- MLflow's own limits: what happens before the model sees the body -----------------------
def _deep(depth: int) -> str:
    return '{"dataframe_records": ' + "[" * depth + "]" * depth + "}"


MLFLOW_LIMITS: dict[str, tuple[str, Callable[[dict[str, App]], str]]] = {
    # json.loads raises RecursionError, which the scoring server does not catch
    "deep-data": ("500", lambda a: _deep(100_000)),
    "deep-params": ("500", lambda a: '{"dataframe_records": [{"user_id": 1}], "params": {"k": '
                    + "[" * 100_000 + "]" * 100_000 + "}}"),
    # json.loads raises ValueError past Python's 4,300-digit int limit: not caught either
    "giant-integer-id": ("500", lambda a: '{"dataframe_records": [{"user_id": '
                         + "9" * 100_000 + "}]}"),
    "giant-integer-k": ("500", lambda a: '{"dataframe_records": [{"user_id": 1}], "params": {"k": '
                        + "9" * 4301 + "}}"),
    # MLflow quotes the whole body when it is not JSON
    "junk-body": ("echo", lambda a: "\x01" + BIG),
    # MLflow quotes a param value that fails the param schema
    "long-param": ("echo", lambda a: '{"dataframe_records": [{"user_id": 1}], "params": {"k": '
                   + json.dumps(BIG) + "}}"),
    # MLflow quotes a string that fails a double column of the signature
    "long-feature": ("echo", lambda a: _feature_slots(a["breast-cancer"])[
        f"feature:{a['breast-cancer'].server.features[0]}"](json.dumps(BIG))),
    # MLflow prefixes our message with the request frame, whose column names it prints whole
    "long-column-name": ("echo", lambda a: json.dumps(
        {"dataframe_split": {"columns": [BIG], "data": [[1]]}})),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MLFLOW_LIMITS))
def test_mlflow_parser_limits_are_as_documented(apps: dict[str, App], case: str) -> None:
    """The limits README and the threat model describe: a body MLflow's parser fails on is
    a 500 "Internal Server Error" before the model sees it, and MLflow quotes some inputs
    whole. If MLflow fixes one, this fails: update the documents (and the family above)."""
    kind, body = MLFLOW_LIMITS[case]
    app = apps["breast-cancer"] if case == "long-feature" else apps["item-recs"]
    status, answer = app.post(body(apps))
    if kind == "500":
        assert (status, answer) == (500, "Internal Server Error")
        return
    assert status == 400
    message = answer["message"]
    assert len(message) > len(BIG), len(message)
    ours = message.split(OUR_PART, 1)[1] if OUR_PART in message else ""
    if ours and not ours.startswith(MLFLOW_QUOTES):  # ours, after MLflow's prefix, is bounded
        assert len(ours) <= serving.MAX_MESSAGE + 30 and "\n" not in ours


def test_our_refusals_are_400_bad_request(apps: dict[str, App]) -> None:
    app = apps["item-recs"]
    status, answer = app.post('{"dataframe_records": [{"user_id": 1}], "params": {"k": 0}}')
    assert status == 400 and answer["error_code"] == "BAD_REQUEST"
    assert answer["message"].endswith("Error: param 'k' must be an integer from 1 to 1000, got 0")


def test_the_apps_serve_this_trees_serving_module(apps: dict[str, App]) -> None:
    """The apps answer with the logged `code/serving.py`, byte for byte this tree's (its
    module is named by the logged file's sha256), not the installed package."""
    digest = hashlib.sha256((ROOT / "pipelines" / "serving.py").read_bytes()).hexdigest()
    for app in apps.values():
        assert type(app.server).__module__ == f"pipelines_serving_{digest[:16]}"
