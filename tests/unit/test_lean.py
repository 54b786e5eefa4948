"""The lean server's request parsing and answer encoding, in-process (the served behaviour
is tests/e2e/test_serve.py): what MLflow's scoring protocol carries reaches the model as
the same columns, and the answer's JSON is the one `mlflow models serve` writes."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest

from pipelines import serving
from pipelines.errors import BadInput
from pipelines.lean import BadRequest, Settings, encode_answer, parse_request
from pipelines.steps.serve import parse_options

SETTINGS = Settings(model_dir="unused", max_body_bytes=100_000, max_rows=3, max_answer_rows=20)


def _parse(body: object) -> tuple[dict[str, list[object]], dict[str, object]]:
    return parse_request(json.dumps(body).encode(), SETTINGS)


def test_split_and_records_give_the_same_columns() -> None:
    split = {"columns": ["history", "rating"], "data": [[[1, 2], [1.0, 2.0]], [[3], [5]]]}
    records = [{"history": [1, 2], "rating": [1.0, 2.0]}, {"history": [3], "rating": [5]}]
    assert _parse({"dataframe_split": split}) == _parse({"dataframe_records": records})
    columns, params = _parse({"dataframe_records": [{"a": 1}, {"b": 2}], "params": {"k": 2}})
    assert columns == {"a": [1, None], "b": [None, 2]} and params == {"k": 2}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"x" * 100_001, 413, "more than 100,000 bytes"),
        (b"[" * 5000 + b"]" * 5000, 400, "nested too deeply"),
        (b"1" * 5000, 400, "not JSON"),
        (b"[1]", 400, "JSON object"),
        (b'{"inputs": [1]}', 400, "exactly one of"),
        (b'{"dataframe_split": {}, "dataframe_records": []}', 400, "exactly one of"),
        (b'{"dataframe_records": [{"a": 1}], "params": {"n": 1}}', 400, "'params' may hold"),
        (b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', 400, "row 0 must be"),
        (b'{"dataframe_split": {"columns": ["a", "a"], "data": []}}', 400, "distinct"),
        (b'{"dataframe_records": []}', 400, "no rows"),
        (b'{"dataframe_records": [{"a": 1}, {"a": 1}, {"a": 1}, {"a": 1}]}', 400, "4 rows"),
        (b'{"dataframe_records": [{"a": 1}, {"a": 2}], "params": {"k": 11}}', 400, "more than 20"),
    ],
)
def test_bad_bodies_are_refused_naming_what_is_wrong(body: bytes, status: int, words: str) -> None:
    with pytest.raises(BadRequest, match=words) as caught:
        parse_request(body, SETTINGS)
    assert caught.value.status == status
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_the_answer_json_is_the_one_mlflow_writes_for_the_frame() -> None:
    from mlflow.pyfunc.scoring_server import predictions_to_json

    answer = {
        "query": np.array([0, 0, 1]),
        "user_id": np.array([7, 7, 10**9]),
        "rank": np.array([1, 2, 1]),
        "neighbour": np.array([1978, 2426, 5]),
        "distance": np.array([-1.0600164, 0.1, 0.33333334], dtype=np.float32),
        "fallback": np.array([False, False, True]),
    }
    written = StringIO()
    predictions_to_json(pd.DataFrame(answer), written)
    assert json.loads(encode_answer(answer)) == json.loads(written.getvalue())
    assert encode_answer(answer).decode() == written.getvalue()


def test_a_server_must_answer_columns_or_frames() -> None:
    with pytest.raises(TypeError, match="must implement `columns` or `predict`"):

        class Nothing(serving.Server):
            def sample_input(self) -> pd.DataFrame:
                return pd.DataFrame()


def test_serve_options_unknown_to_the_lean_server_need_mlflow() -> None:
    options, rest = parse_options(["--port", "8080", "--workers", "2"])
    assert (options.port, options.workers, options.mlflow, rest) == (8080, 2, False, [])
    with pytest.raises(BadInput, match=r"unknown option\(s\) \['--timeout', '30'\]"):
        parse_options(["--timeout", "30"])
    options, rest = parse_options(["--mlflow", "--", "--timeout", "30"])
    assert options.mlflow and rest == ["--timeout", "30"]
    with pytest.raises(BadInput, match="--workers must be at least 1"):
        parse_options(["--workers", "0"])


def test_the_serve_bench_prints_each_server_over_bare_and_lean_over_mlflow() -> None:
    from scripts.bench.serve import CONCURRENCY, markdown

    def level(rps: float) -> dict[str, float]:
        return {"rps": rps, "cpu_ms": 1.0, "p50_ms": 1.0, "p99_ms": 2.0, "requests": 10}

    size = {
        "items": 10_000,
        "bare": {c: {"rps": 1000.0, "cpu_ms": 0.2} for c in CONCURRENCY},
        "servers": {"lean": [level(500.0)] * 3, "mlflow": [level(100.0)] * 3},
        "breakdown_ms": {"parse": 1.0},
    }
    text = markdown({"sizes": [size]})
    rows = [line for line in text.splitlines() if line.startswith("| 10,000 | ")]
    assert len(rows) == 4  # three concurrency levels and the breakdown
    assert rows[0].split(" | ")[4:] == ["500", "1.00", "0.500", "100", "1.00", "0.100", "5.00 |"]
