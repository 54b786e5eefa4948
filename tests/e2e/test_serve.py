"""Served = evaluated: `python -m pipelines serve` (the lean server, or with --mlflow
`mlflow models serve`, on a copy checked against the release's digests) answers what
`evaluate` scored, both answer the same, SIGTERM leaves no process behind, and nothing
whose files differ from the digests is served."""

from __future__ import annotations

import json
import os
import shutil
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

    def __init__(self, target: str, log: Path, *extra: str, workers: int = 1) -> None:
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
                    str(workers),
                    *extra,
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

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

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


@pytest.fixture(scope="module")
def champions(
    tmp_path_factory: pytest.TempPathFactory, _migrated_db: Path
) -> Iterator[dict[str, Served]]:
    """Both examples run to champion (in a store of this module's) and served, each by the
    lean server (item-recs with two workers) and by `mlflow models serve` (`<name>/mlflow`).
    The last test stops item-recs' servers itself."""
    tmp_path = tmp_path_factory.mktemp("serve")
    (tmp_path / "mlflow").mkdir()
    shutil.copy(_migrated_db, tmp_path / "mlflow" / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
        patch.setenv("PIPELINES_RUNS_DIR", str(tmp_path / "runs"))
        for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_SHA", "GITHUB_REF"):
            patch.delenv(name, raising=False)
        yield from _serve_champions(tmp_path)


def _serve_champions(tmp_path: Path) -> Iterator[dict[str, Served]]:
    """Run both examples to champion and start their four servers; stop them after."""
    specs = [ROOT / "model_specs" / "item-recs.yaml", ROOT / "model_specs" / "breast-cancer.yaml"]
    assert main(["run", *map(str, specs), "--promote", "champion"]) == 0
    servers = {}
    for name in ("item-recs", "breast-cancer"):
        workers = 2 if name == "item-recs" else 1
        servers[name] = Served(f"{name}@champion", tmp_path / f"{name}.log", workers=workers)
        servers[f"{name}/mlflow"] = Served(
            f"{name}@champion", tmp_path / f"{name}-mlflow.log", "--mlflow"
        )
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
    assert status == 400 and answer["message"].startswith("row 0: 'rating'[1] is nan"), answer
    row = dict(zip(bundle.extras["features"], features[0].tolist(), strict=True))
    row[bundle.extras["features"][2]] = 1e300
    status, answer = champions["breast-cancer"].invoke({"dataframe_records": [row]})
    assert status == 400, answer
    assert f"row 0: feature {bundle.extras['features'][2]!r} too far" in answer["message"]
    # Nesting past the JSON parser's recursion: a 400 from the lean server; the documented
    # limit of `mlflow models serve` is a 500 before the model sees the body.
    deep = b'{"dataframe_records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, raw = champions["item-recs"].invoke_raw(deep)
    assert status == 400 and b"nested too deeply" in raw, raw
    assert champions["item-recs/mlflow"].invoke_raw(deep) == (500, b"Internal Server Error")
    # The lean server's limits: the body (413) and the rows of a query and of an answer.
    status, raw = champions["item-recs"].invoke_raw(b" " * (1 << 20) + b"{}")
    assert status == 413 and b"more than 1,048,576 bytes" in raw, raw
    many = {"dataframe_split": {"columns": ["user_id"], "data": [[1]] * 1001}}
    status, answer = champions["item-recs"].invoke(many)
    assert status == 400 and "1,001 rows, at most 1,000" in answer["message"]
    status, answer = champions["item-recs"].invoke(
        {"dataframe_split": {"columns": ["user_id"], "data": [[1]] * 200}, "params": {"k": 1000}}
    )
    assert status == 400 and "more than 100,000 rows" in answer["message"]


def test_the_lean_server_and_mlflow_models_serve_answer_the_same(
    champions: dict[str, Served],
) -> None:
    """Every kind of query, to the lean server and to `mlflow models serve` of the same
    logged model: the same JSON answer; a bad request is a 400 from both. A wrong column
    name is named by the lean server; MLflow drops it first, which its message says."""
    recs, recs_mlflow = champions["item-recs"], champions["item-recs/mlflow"]
    status, example = recs.invoke({"dataframe_records": [{"user_id": 1}], "params": {"k": 3}})
    assert status == 200, example
    item = example["predictions"][0]["neighbour"]
    bodies: list[dict[str, Any]] = [
        {"dataframe_split": {"columns": ["user_id"], "data": [[u] for u in range(1, 30)]}},
        {"dataframe_records": [{"user_id": 1}, {"user_id": 10**9}], "params": {"k": 7}},
        {"dataframe_records": [{"user_id": 2}], "params": {"k": 20, "exclude_seen": False}},
        {"dataframe_records": [{"history": [item], "rating": [2.5]}], "params": {"k": 5}},
        {"dataframe_records": [{"history": [item]}]},
        {"dataframe_split": {"columns": ["item_id"], "data": [[item]]}, "params": {"k": 4}},
    ]
    for body in bodies:
        lean, mlflow = recs.invoke(body), recs_mlflow.invoke(body)
        assert lean[0] == mlflow[0] == 200, (body, lean, mlflow)
        assert lean[1] == mlflow[1], body
    state = ModelState(load_spec(ROOT / "model_specs" / "breast-cancer.yaml"))
    bundle = state.bundle()
    features, _ = state.task.holdout(bundle, state.data().frame, state.split())
    split = {"columns": bundle.extras["features"], "data": features[:20].tolist()}
    cancer = {"dataframe_split": split, "params": {"k": 3}}
    lean, mlflow = (
        champions["breast-cancer"].invoke(cancer),
        champions["breast-cancer/mlflow"].invoke(cancer),
    )
    assert lean[0] == mlflow[0] == 200 and lean[1] == mlflow[1], (lean, mlflow)

    for bad in (
        {"dataframe_records": [{"item_id": -5}]},
        {"dataframe_records": [{"user_id": 1}], "params": {"k": 0}},
        {"dataframe_records": [{"history": [item], "rating": [1.0, 2.0]}]},
    ):
        lean, mlflow = recs.invoke(bad), recs_mlflow.invoke(bad)
        assert lean[0] == mlflow[0] == 400, (bad, lean, mlflow)
    wrong = {"dataframe_records": [{"userId": 1}]}
    status, answer = recs.invoke(wrong)
    assert status == 400 and answer["message"].endswith("got ['userId']"), answer
    status, answer = recs_mlflow.invoke(wrong)
    assert (
        status == 400
        and "MLflow drops the columns its signature does not name" in (answer["message"])
    ), answer


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_share_one_mapped_index_and_one_metrics_and_stop_on_sigterm(
    champions: dict[str, Served],
) -> None:
    """Two lean workers: each maps the model's index file (usearch view: the pages are
    the file's, no private copy); /ready names the checked version; /metrics counts the
    requests of both; SIGTERM to the serving process (not its group) stops every process
    it started, for the lean server and for `mlflow models serve`."""
    recs = champions["item-recs"]
    status, raw = recs.get("/ready")
    assert status == 200 and json.loads(raw)["digests_checked"] is True, raw
    assert json.loads(raw)["version"] == "1"
    workers = [p for p in _children(recs.process.pid) if "spawn_main" in _cmdline(p)]
    assert len(workers) == 2, [_cmdline(p) for p in _children(recs.process.pid)]
    for worker in workers:
        maps = _index_mappings(worker)
        assert maps, f"worker {worker} does not map index.usearch"
        assert all(m["Private_Dirty"] == 0 and m["Anonymous"] == 0 for m in maps), maps

    for user in range(1, 21):  # a connection each: the kernel spreads them over both workers
        assert recs.invoke({"dataframe_records": [{"user_id": user}]})[0] == 200
    assert recs.invoke({"dataframe_records": [{"user_id": 10**9}]})[0] == 200
    status, raw = recs.get("/metrics")
    assert status == 200, raw
    text = raw.decode()
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert float(samples['pipelines_requests_total{status="200"}']) >= 21, text
    assert "pipelines_request_seconds_bucket" in text
    assert 'pipelines_model_info{alias="champion",model="item-recs",version="1"} 1.0' in text
    assert float(samples["pipelines_fallback_queries_total"]) >= 1, text

    for name in ("item-recs", "item-recs/mlflow"):
        served = champions[name]
        everything = [served.process.pid, *_children(served.process.pid)]
        assert len(everything) >= 2, name
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=40) == 0, served.log.read_text(errors="replace")
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in everything) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in everything if _alive(p)], f"{name}: processes left"
        port = int(served.url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"{name}: still listening"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _index_mappings(pid: int) -> list[dict[str, int]]:
    """The smaps counters (kB) of each mapping of an `index.usearch` file in `pid`."""
    found: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and not head[0].endswith(":"):  # a mapping's header line
            current = {} if line.endswith("index.usearch") else None
            if current is not None:
                found.append(current)
        elif current is not None and len(head) >= 2 and head[1].isdigit():
            current[head[0].rstrip(":")] = int(head[1])
    return found


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
