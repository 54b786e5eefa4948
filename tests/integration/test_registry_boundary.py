"""The registry boundary against a real `mlflow server` behind a loopback proxy that adds
latency or answers with errors: lookups fail closed, and promotions truly exclude.

- A PERMISSION_DENIED or 500 on the champion lookup, a version lookup or the lock exits 3
  with one line naming the operation and the server, and changes nothing.
- N promoter processes taking the promotion lock through a proxy that adds 300 ms to every
  request: never two holders at once, never a release of another holder's lock.
- An expired lock (its holder killed) is taken over by exactly one of several takers.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.registry import TAG_LOCK_HOLDER, lock_model_name
from tests.conftest import registry_snapshot
from tests.integration.proxy import Fault, FaultProxy
from tests.integration.support import (
    MODEL,
    ROOT,
    Cli,
    MlflowServer,
    aliases,
    assert_clean_failure,
    clean_env,
    client,
    ok,
    spec_variant,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER = Path(__file__).with_name("lock_worker.py")


@pytest.fixture
def proxy(mlflow_server: MlflowServer) -> Iterator[FaultProxy]:
    """A proxy in front of the test's server, with no latency and no faults to start."""
    proxy = FaultProxy(mlflow_server.url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory, _migrated_db: Path
) -> Iterator[tuple[MlflowServer, Path, Path]]:
    """One server for the fault cases: champion version 1, and a candidate published against
    it (their faults must leave it exactly so, which each case checks)."""
    base = tmp_path_factory.mktemp("faults")
    (base / "server").mkdir()
    shutil.copy(_migrated_db, base / "server" / "mlflow.db")
    server = MlflowServer(
        f"sqlite:///{base / 'server' / 'mlflow.db'}", base / "server" / "artifacts", base / "server"
    )
    server.start()
    try:
        repo = base / "repo"
        shutil.copytree(ROOT / "data", repo / "data")
        (repo / "model_specs").mkdir()
        shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
        shutil.copy(ROOT / "model_specs" / f"{MODEL}.yaml", repo / "model_specs")
        direct = Cli(server.url, base / "runs")
        champion = spec_variant(repo, "champion", c=0.5)
        candidate = spec_variant(repo, "candidate", c=0.7)
        ok(direct("run", str(champion), "--promote", "champion"))
        ok(direct("run", str(candidate), "--release"))  # verdict against champion 1
        yield server, candidate, base
    finally:
        server.stop()


FAULTS = [
    # (what, the command that meets it, path fragment, method, status, MLflow error code)
    ("champion lookup", "run", "/registered-models/alias", "GET", 403, "PERMISSION_DENIED"),
    ("champion lookup", "run", "/registered-models/alias", "GET", 500, "INTERNAL_ERROR"),
    ("version lookup", "promote", "/model-versions/search", "GET", 403, "PERMISSION_DENIED"),
    ("version lookup", "promote", "/model-versions/search", "GET", 500, "INTERNAL_ERROR"),
    ("lock", "promote", "/registered-models/create", "POST", 403, "PERMISSION_DENIED"),
    ("lock", "promote", "/registered-models/create", "POST", 500, "INTERNAL_ERROR"),
]


@pytest.mark.parametrize(
    ("what", "command", "path", "method", "status", "code"),
    FAULTS,
    ids=[f"{f[0].replace(' ', '-')}-{f[4]}" for f in FAULTS],
)
def test_a_refusing_server_exits_3_and_changes_nothing(
    published: tuple[MlflowServer, Path, Path],
    tmp_path: Path,
    what: str,
    command: str,
    path: str,
    method: str,
    status: int,
    code: str,
) -> None:
    server, candidate, base = published
    before = registry_snapshot(server.url)
    proxy = FaultProxy(server.url, faults=[Fault(path, status, code, method=method)]).start()
    try:
        through = Cli(proxy.url, base / "runs")
        if command == "run":
            result = through("run", str(candidate), "--run-dir", str(tmp_path / "run"))
        else:
            result = through("promote", str(candidate), "--alias", "champion")
    finally:
        proxy.stop()
    line = assert_clean_failure(result, 3)
    assert code in line and proxy.url.removeprefix("http://") in line, line
    assert "not found" not in line.lower()
    assert registry_snapshot(server.url) == before
    assert aliases(server.url) == {"champion": "1"}
    assert proxy.faults[0].hits, f"the {what} fault was never hit"


def _workers(count: int, rounds: int, proxy_url: str, direct_url: str, marker: Path) -> list[dict]:
    marker.mkdir()
    env = clean_env(MLFLOW_TRACKING_URI=proxy_url, PIPELINES_PROMOTION_LOCK_GRACE_SECONDS="0")
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), MODEL, str(rounds), str(marker), direct_url, str(i)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_promotion_lock_excludes_under_latency(
    mlflow_server: MlflowServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    """4 promoters x 20 rounds, 300 ms added to every request: zero overlaps, zero foreign
    releases; holds never intersect in time."""
    proxy.latency = 0.3
    results = _workers(4, 20, proxy.url, mlflow_server.url, tmp_path / "marker")
    held = sum(r["held"] for r in results)
    summary = {k: sum(r[k] for r in results) for k in ("held", "conflicts", "overlaps", "foreign")}
    print(f"lock under 300 ms latency, 4 promoters x 20 rounds: {summary}")
    assert summary["overlaps"] == 0 and summary["foreign"] == 0, summary
    assert held >= 8 and summary["conflicts"] >= 1, summary  # they did contend
    intervals = sorted(tuple(i) for r in results for i in r["intervals"])
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, "two holders at once"
    assert not client(mlflow_server.url).search_registered_models(
        f"name = '{lock_model_name(MODEL)}'"
    )


def test_an_expired_lock_is_taken_over_by_exactly_one(
    mlflow_server: MlflowServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A killed holder left its lock; 4 processes find it expired at once: one takes it
    over, the others back off, and nothing is left behind but the takeover marker."""
    expired = {"token": "dead", "owner": "killed job", "purpose": "promote champion"}
    expired.update({"since": "long ago", "expires": time.time() - 5})  # type: ignore[dict-item]
    client(mlflow_server.url).create_registered_model(
        lock_model_name(MODEL), tags={TAG_LOCK_HOLDER: json.dumps(expired)}
    )
    proxy.latency = 0.3
    results = _workers(4, 1, proxy.url, mlflow_server.url, tmp_path / "marker")
    assert sum(r["held"] for r in results) >= 1
    assert sum(r["overlaps"] + r["foreign"] for r in results) == 0
    names = {m.name for m in client(mlflow_server.url).search_registered_models()}
    assert names == {f"{lock_model_name(MODEL)}.takeover.dead"}
