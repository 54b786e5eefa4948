"""Served = evaluated: `python -m pipelines serve` (`mlflow models serve` on a copy checked
against the release's digests) answers what `evaluate` scored, and serves nothing whose
files differ from the digests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.contracts import INDEX_FILE
from pipelines.index import restore_index, search_index
from pipelines.spec import load_spec
from pipelines.state import ModelState
from pipelines.tasks import Split

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE_USERS = 40

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post_raw(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _strict(raw: bytes) -> Any:
    """JSON proper: an answer holding NaN or Infinity fails the test."""

    def reject(token: str) -> Any:
        raise AssertionError(f"the answer holds {token}, which is not JSON")

    return json.loads(raw, parse_constant=reject)


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, raw = _post_raw(url, json.dumps(body).encode())
    return status, _strict(raw)


class Served:
    """`python -m pipelines serve TARGET` on loopback, stopped (its whole process group)
    on exit."""

    def __init__(self, target: str, log: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pipelines",
                    "serve",
                    target,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    port,
                    "--workers",
                    "1",
                ],
                env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.log.read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"no answer on {self.url} within {seconds}s")

    def invoke(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return _post(f"{self.url}/invocations", body)

    def invoke_raw(self, body: bytes) -> tuple[int, bytes]:
        return _post_raw(f"{self.url}/invocations", body)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def champions(mlflow_store: str, tmp_path: Path) -> Iterator[dict[str, Served]]:
    """Both examples run to champion and served, each by its own server process."""
    specs = [ROOT / "model_specs" / "item-recs.yaml", ROOT / "model_specs" / "breast-cancer.yaml"]
    assert main(["run", *map(str, specs), "--promote", "champion"]) == 0
    servers = {
        name: Served(f"{name}@champion", tmp_path / f"{name}.log")
        for name in ("item-recs", "breast-cancer")
    }
    try:
        for server in servers.values():
            server.wait()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def test_served_answers_equal_the_evaluated_ones_and_bad_requests_get_400(
    champions: dict[str, Served],
) -> None:
    # Retrieval: users' top-10 by the path `evaluate` scores, given what the served model
    # knows of them: every row of the data (training and holdout) folded in and excluded.
    state = ModelState(load_spec(ROOT / "model_specs" / "item-recs.yaml"))
    bundle, frame = state.bundle(), state.data().frame
    everything = Split(train=np.arange(len(frame)), test=np.arange(len(frame)))
    index = restore_index(state.run.require(INDEX_FILE))
    users, lists, _, seen = state.task.recommend(
        bundle, frame, everything, lambda q, k: search_index(index, q, k), 10
    )
    rows = np.random.default_rng(0).choice(len(users), SAMPLE_USERS, replace=False)
    status, answer = champions["item-recs"].invoke(
        {"dataframe_split": {"columns": ["user_id"], "data": [[int(users[r])] for r in rows]}}
    )
    assert status == 200, answer
    items = bundle.extras["item_ids"]
    for query, row in enumerate(rows):
        mine = [p for p in answer["predictions"] if p["query"] == query]
        assert [p["rank"] for p in mine] == list(range(1, 11))
        assert {p["user_id"] for p in mine} == {int(users[row])}
        assert [p["neighbour"] for p in mine] == items[lists[row]].tolist()
        assert not set(items[seen[row]].tolist()) & {p["neighbour"] for p in mine}
        rated = set(frame.loc[frame["user_id"] == users[row], "item_id"].tolist())
        assert not rated & {p["neighbour"] for p in mine}, "served an item the user has"
        assert not any(p["fallback"] for p in mine)

    # The same user as an anonymous history, and similar items, through HTTP.
    user = int(users[rows[0]])
    history = frame[frame["user_id"] == user]
    status, as_history = champions["item-recs"].invoke(
        {
            "dataframe_records": [
                {"history": history["item_id"].tolist(), "rating": history["rating"].tolist()}
            ],
        }
    )
    assert status == 200, as_history
    assert [p["neighbour"] for p in as_history["predictions"]] == items[lists[rows[0]]].tolist()
    status, similar = champions["item-recs"].invoke(
        {"dataframe_records": [{"item_id": int(items[0])}], "params": {"k": 4}}
    )
    assert status == 200, similar
    assert [p["rank"] for p in similar["predictions"]] == [1, 2, 3, 4]
    assert all(p["neighbour"] != int(items[0]) for p in similar["predictions"])

    popular_items = items[bundle.extras["popular"][:10]].tolist()  # the fallback answer

    # Classification: every holdout row's prediction and probability.
    state = ModelState(load_spec(ROOT / "model_specs" / "breast-cancer.yaml"))
    bundle, frame, split = state.bundle(), state.data().frame, state.split()
    features, _ = state.task.holdout(bundle, frame, split)
    status, answer = champions["breast-cancer"].invoke(
        {
            "dataframe_split": {
                "columns": bundle.extras["features"],
                "data": features.tolist(),
            },
            "params": {"k": 2},
        }
    )
    assert status == 200, answer
    first = [p for p in answer["predictions"] if p["rank"] == 1]
    assert [p["prediction"] for p in first] == bundle.estimator.predict(features).tolist()
    expected = bundle.estimator.predict_proba(features).max(axis=1)
    assert np.allclose([p["probability"] for p in first], expected, rtol=0, atol=1e-12)

    # Bad requests: HTTP 400 with a message naming what is expected.
    status, answer = champions["item-recs"].invoke({"dataframe_records": [{"userId": 1}]})
    assert status == 400
    assert "exactly one of the columns ['user_id', 'history', 'item_id']" in answer["message"]
    # A user who arrived after training: the popular items, flagged, not an error.
    status, answer = champions["item-recs"].invoke({"dataframe_records": [{"user_id": 10**9}]})
    assert status == 200, answer
    fallback = answer["predictions"]
    assert [p["rank"] for p in fallback] == list(range(1, 11))
    assert all(p["fallback"] and p["user_id"] == 10**9 for p in fallback)
    assert [p["neighbour"] for p in fallback] == popular_items
    status, answer = champions["item-recs"].invoke(
        {"dataframe_records": [{"user_id": 1}], "params": {"k": 0}}
    )
    assert status == 400 and "param 'k' must be an integer" in answer["message"]

    # Hostile bodies over HTTP (the families are tests/hostile/test_serving.py, in-process).
    # A NaN weight, and a feature beyond float32: 400 naming row and column, never a NaN.
    pair = [int(items[0]), int(items[1])]
    status, answer = champions["item-recs"].invoke(
        {"dataframe_records": [{"history": pair, "rating": [1.5, float("nan")]}]}
    )
    assert status == 400 and "Error: row 0: 'rating'[1] is nan" in answer["message"], answer
    row = dict(zip(bundle.extras["features"], features[0].tolist(), strict=True))
    row[bundle.extras["features"][2]] = 1e300
    status, answer = champions["breast-cancer"].invoke({"dataframe_records": [row]})
    assert status == 400, answer
    assert f"row 0: feature {bundle.extras['features'][2]!r} too far" in answer["message"]
    # The documented limit of `mlflow models serve`: nesting past its JSON parser's
    # recursion is a 500 before the model sees the body.
    deep = b'{"dataframe_records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert champions["item-recs"].invoke_raw(deep) == (500, b"Internal Server Error")


def test_a_champion_whose_stored_index_was_replaced_is_not_served(
    mlflow_store: str, tmp_path: Path
) -> None:
    """The champion's stored index replaced by a valid index of other vectors: `serve`
    exits 3 with one line naming the file, and no server starts; `smoke` exits 3 too."""
    spec = ROOT / "model_specs" / "breast-cancer.yaml"
    assert main(["-q", "run", str(spec), "--promote", "champion"]) == 0
    artifacts = Path(mlflow_store.removeprefix("sqlite:///")).parent / "artifacts"
    (stored,) = [p for p in artifacts.rglob("index.usearch") if "models" in p.parts]
    from usearch.index import Index

    other = Index(ndim=4, metric="cos")
    other.add(np.arange(8), np.random.default_rng(1).random((8, 4), dtype=np.float32))
    other.save(str(stored))
    port = str(_free_port())
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "serve", "breast-cancer@champion", "--port", port],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "artifacts/index.usearch does not match" in lines[0], result.stderr
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(port))) != 0  # nothing listens
    assert main(["-q", "smoke", str(spec), "--alias", "champion"]) == 3
