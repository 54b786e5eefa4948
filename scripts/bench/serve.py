"""Served speed under load: `python -m scripts.bench.serve [--sizes 10000 100000]`.

For each catalogue size: run the pipeline in a workspace store, then serve the published
model on loopback with the lean server (`pipelines.lean`, the app `pipelines serve` runs)
and with `mlflow models serve`, each with 1 and 2 workers, and send known-user queries
(k=10) from 1, 4 and 16 concurrent clients (keep-alive connections; a fixed number of
requests per level and a time cap, so it always stops). Each level records req/s, latency
and the server's CPU per request (its whole process tree's, from /proc). Beside it, in the
same run, the bare usearch search of the same users' query vectors at the same depth and
concurrency (CPU of this process per search), and where one `mlflow models serve`
request's time goes in-process (JSON parsing, pyfunc wrapper and schema checks, our
predict split into folding, index search and answer building, response serialisation).
Prints the ratios side by side; writes docs/bench/serve.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

from scripts.bench import pipeline
from scripts.bench.data import REPO, make_workspace

CONCURRENCY = (1, 4, 16)
K = 10


def main(argv: list[str] | None = None) -> int:
    """Measure every size and concurrency, print a markdown table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=400, help="requests per level")
    parser.add_argument("--seconds", type=float, default=15.0, help="time cap per level")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "serve.json")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    results = []
    for items in sorted(args.sizes):
        print(f"serve bench: {items:,} items: pipeline ...", flush=True)
        ws = make_workspace(work / str(items), items)
        pipeline.whole_run(ws)  # the gate may fail on a busy machine: the model is logged
        published = ws.runs_dir / "bench" / "publish.json"
        if not published.is_file():
            raise RuntimeError(f"the pipeline published no model ({published} is missing)")
        uri = json.loads(published.read_text(encoding="utf-8"))["model_uri"]
        env = pipeline.child_env(ws, ws.root / "store-run")
        results.append(measure_size(ws.items, uri, env, args.requests, args.seconds))
    out = {
        "command": "nox -s bench -- serve --sizes " + " ".join(map(str, sorted(args.sizes))),
        "cpus": len(os.sched_getaffinity(0)),
        "requests_per_level": args.requests,
        "seconds_cap": args.seconds,
        "sizes": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(markdown(out))
    return 0


# (name, server, workers) of every served configuration measured.
SERVERS = (
    ("lean", "lean", 1),
    ("lean w2", "lean", 2),
    ("mlflow", "mlflow", 1),
    ("mlflow w2", "mlflow", 2),
)


def measure_size(
    items: int, uri: str, env: dict[str, str], requests: int, cap: float
) -> dict[str, Any]:
    """Every server configuration and bare search at each concurrency, and the in-process
    breakdown, for one model."""
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    import mlflow.artifacts
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(uri)
    server = model.unwrap_python_model().server
    rng = np.random.default_rng(0)
    users = rng.choice(np.asarray(server.users), size=min(500, len(server.users)), replace=False)
    bodies = [
        json.dumps({"dataframe_split": {"columns": [server.user], "data": [[int(u)]]}}).encode()
        for u in users
    ]
    breakdown = in_process(model, server, bodies)
    vectors, depths = _bare_queries(server, users)
    local = Path(tempfile.mkdtemp(prefix="bench-serve-model-"))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(local)))
    bare = {
        clients: _bare(server.index, vectors, depths, clients, requests * 20, cap)
        for clients in CONCURRENCY
    }
    configs: dict[str, list[dict[str, Any]]] = {}
    for name, kind, workers in SERVERS:
        port = _free_port()
        proc = _start(kind, workers, uri, local, port, env)
        try:
            _wait(port, proc)
            levels = []
            for clients in CONCURRENCY:
                _load(port, bodies[:20], 1, 20, cap)  # warm-up
                before = _tree_cpu(proc.pid)
                served = _load(port, bodies, clients, requests, cap)
                served["cpu_ms"] = round(
                    (_tree_cpu(proc.pid) - before) * 1000 / served["requests"], 3
                )
                levels.append({"clients": clients, **served})
                print(f"  {items:,} items, {name}, {clients:>2} clients: {served}", flush=True)
            configs[name] = levels
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    return {"items": items, "bare": bare, "servers": configs, "breakdown_ms": breakdown}


def _start(
    kind: str, workers: int, uri: str, local: Path, port: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """The lean app (as `pipelines serve` runs it) on the downloaded copy, or `mlflow models
    serve` on the model, with `workers` workers, in a process group of its own."""
    bin_dir = Path(sys.executable).parent
    proc_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if kind == "lean":
        from pipelines.lean import Settings

        settings = Settings(model_dir=str(local), name="bench", digests_checked=True)
        proc_env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
        run = (
            "import json, sys; from pipelines.lean import Settings; "
            "from pipelines.steps.serve import run_lean; "
            "run_lean(Settings(**json.loads(sys.argv[1])), '127.0.0.1', *map(int, sys.argv[2:]))"
        )
        command = [sys.executable, "-c", run, settings.to_env(), str(port), str(workers)]
    else:
        command = [str(bin_dir / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local"]
        command += common
    return subprocess.Popen(
        command,
        env=proc_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of `pid` and every process below it, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def in_process(model: Any, server: Any, bodies: list[bytes]) -> dict[str, float]:
    """Median milliseconds per single-user request of each stage, in this process."""
    from mlflow.pyfunc.scoring_server import _parse_json_data, predictions_to_json

    from pipelines import serving

    metadata, schema = model.metadata, model.metadata.get_input_schema()
    stages: dict[str, list[float]] = {
        k: [] for k in ("parse", "pyfunc", "ours", "fold", "search", "serialise")
    }
    for body in bodies[:300]:
        t0 = time.perf_counter()
        parsed = _parse_json_data(body.decode(), metadata, schema)
        t1 = time.perf_counter()
        answer = model.predict(parsed.data, params=parsed.params)
        t2 = time.perf_counter()
        predictions_to_json(answer, StringIO())
        t3 = time.perf_counter()
        server.predict(parsed.data, parsed.params)
        t4 = time.perf_counter()
        row = server._positions(server.users, parsed.data[server.user].to_numpy(), server.user)
        a, b = server.indptr[row[0]], server.indptr[row[0] + 1]
        cols, values = [np.asarray(server.indices[a:b])], [np.asarray(server.weights[a:b])]
        query = server._fold(cols, values)
        t5 = time.perf_counter()
        serving.top_unseen(
            lambda q, n: serving.search_index(server.index, q, n),
            query,
            cols,
            K,
            len(server.items),
        )
        t6 = time.perf_counter()
        for name, seconds in (
            ("parse", t1 - t0),
            ("pyfunc", (t2 - t1) - (t4 - t3)),
            ("ours", t4 - t3),
            ("fold", t5 - t4),
            ("search", t6 - t5),
            ("serialise", t3 - t2),
        ):
            stages[name].append(seconds * 1000)
    return {name: round(float(np.median(v)), 4) for name, v in stages.items()}


def _bare_queries(server: Any, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = server._positions(server.users, users, server.user)
    cols = [np.asarray(server.indices[server.indptr[r] : server.indptr[r + 1]]) for r in rows]
    values = [np.asarray(server.weights[server.indptr[r] : server.indptr[r + 1]]) for r in rows]
    depths = np.minimum(len(server.items), K + np.array([len(c) for c in cols]))
    return server._fold(cols, values), depths


def _bare(
    index: Any, vectors: np.ndarray, depths: np.ndarray, clients: int, total: int, cap: float
) -> dict[str, float]:
    """Single-query usearch searches from `clients` threads (bounded count and time)."""

    def one(i: int) -> None:
        index.search(vectors[i % len(vectors)], int(depths[i % len(depths)]))

    before = time.process_time()
    result = _drive(one, clients, total, cap)
    result["cpu_ms"] = round((time.process_time() - before) * 1000 / result["requests"], 4)
    return result


def _load(port: int, bodies: list[bytes], clients: int, total: int, cap: float) -> dict[str, float]:
    """`total` POSTs from `clients` keep-alive connections (stops at `cap` seconds)."""
    local = threading.local()

    def one(i: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local.conn.request(
            "POST",
            "/invocations",
            body=bodies[i % len(bodies)],
            headers={"Content-Type": "application/json"},
        )
        response = local.conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {payload[:300]!r}")

    return _drive(one, clients, total, cap)


def _drive(call: Any, clients: int, total: int, cap: float) -> dict[str, float]:
    """Run `call(i)` for i < total across `clients` threads; rps and latency percentiles."""
    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[BaseException] = []
    deadline = time.perf_counter() + cap

    def worker() -> None:
        mine = []
        while time.perf_counter() < deadline and not errors:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t0 = time.perf_counter()
            try:
                call(i)
            except BaseException as exc:
                errors.append(exc)
                break
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"load failed: {errors[0]}")
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(ms),
        "rps": round(len(ms) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
    }


def markdown(out: dict[str, Any]) -> str:
    """The tables for README: per size and concurrency, each server's req/s, CPU ms per
    request and req/s over bare search's; then the in-process breakdown."""
    names = list(out["sizes"][0]["servers"])
    head = ["items", "clients", "bare req/s", "bare CPU ms"]
    for name in names:
        head += [f"{name} req/s", f"{name} CPU ms", f"{name} / bare"]
    head += ["lean / mlflow"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for size in out["sizes"]:
        for row, clients in enumerate(CONCURRENCY):
            bare = (
                size["bare"][str(clients)]
                if str(clients) in size["bare"]
                else size["bare"][clients]
            )
            cells = [
                f"{size['items']:,}",
                str(clients),
                f"{bare['rps']:,.0f}",
                f"{bare['cpu_ms']:.3f}",
            ]
            rps = {}
            for name in names:
                level = size["servers"][name][row]
                rps[name] = level["rps"]
                cells += [
                    f"{level['rps']:,.0f}",
                    f"{level['cpu_ms']:.2f}",
                    f"{level['rps'] / bare['rps']:.3f}",
                ]
            lean = rps.get("lean", 0.0)
            mlflow = rps.get("mlflow", 0.0)
            cells.append(f"{lean / mlflow:.2f}" if mlflow else "-")
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| items | " + " | ".join(out["sizes"][0]["breakdown_ms"]) + " |"]
    lines.append("|---:|" + "---:|" * len(out["sizes"][0]["breakdown_ms"]))
    for size in out["sizes"]:
        cells = " | ".join(f"{v:.3f}" for v in size["breakdown_ms"].values())
        lines.append(f"| {size['items']:,} | {cells} |")
    return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer on port {port} within {seconds}s")


if __name__ == "__main__":
    raise SystemExit(main())
