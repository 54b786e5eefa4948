"""The model lifecycle over HTTP against a real `mlflow server`: publish, register, promote,
load by alias, roll back; sqlite and PostgreSQL backends; the champion served by
`mlflow models serve` answering top-k neighbour queries on /invocations."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import registry_snapshot
from tests.integration.support import (
    BIN,
    MODEL,
    PARAMS_SCHEMA,
    Cli,
    MlflowServer,
    aliases,
    assert_clean_failure,
    clean_env,
    client,
    free_port,
    kill_group,
    ok,
    spec_variant,
    versions,
    wait_http,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_lifecycle_over_http(any_server: MlflowServer, scratch_repo: Path, tmp_path: Path) -> None:
    uri = any_server.url
    cli = Cli(uri, tmp_path / "runs")
    v1 = spec_variant(scratch_repo, "v1", c=0.5)
    v2 = spec_variant(scratch_repo, "v2", c=0.7)
    bad = spec_variant(scratch_repo, "bad", c=0.9, accuracy_min=0.999)

    # publish + register + promote over HTTP (the pre-migration server had nothing)
    ok(cli("run", str(v1), "--promote", "champion"))
    assert versions(uri) == ["1"]
    assert aliases(uri) == {"champion": "1"}
    # the spec's description reaches the registered model and the version
    description = "Malignant vs benign from cell-nucleus measurements."
    assert client(uri).get_registered_model(MODEL).description == description
    assert client(uri).get_model_version(MODEL, "1").description == description
    publish = json.loads((tmp_path / "runs" / MODEL / "publish.json").read_text())
    assert publish["tracking_uri"] == uri
    assert publish["model_uri"].startswith("models:/")

    # publishing the same content again is a no-op
    before = registry_snapshot(uri)
    ok(cli("publish", str(v1), "--release"))
    assert json.loads((tmp_path / "runs" / MODEL / "publish.json").read_text())["reused"] is True
    assert registry_snapshot(uri) == before

    # a second candidate: staging, smoke-tested by alias, then champion
    ok(cli("run", str(v2), "--promote", "staging"))
    assert versions(uri) == ["1", "2"]
    assert aliases(uri) == {"champion": "1", "staging": "2"}
    ok(cli("smoke", str(v2), "--alias", "staging"))
    ok(cli("promote", str(v2), "--alias", "champion"))
    assert aliases(uri) == {"champion": "2", "staging": "2"}
    version2 = client(uri).get_model_version(MODEL, "2")
    assert version2.tags["pipelines.previous_champion"] == "1"
    assert version2.tags["pipelines.gate"] == "passed"
    assert (
        version2.tags["pipelines.content_hash"]
        != client(uri).get_model_version(MODEL, "1").tags["pipelines.content_hash"]
    )
    assert not client(uri).search_registered_models(f"name = '{MODEL}.promotion-lock'")

    # load by alias, as a user would, in a fresh process talking HTTP only
    loader = (
        "import mlflow, sys\n"
        f"m = mlflow.pyfunc.load_model('models:/{MODEL}@champion')\n"
        "out = m.predict(m.unwrap_python_model().sample_input(), params={'k': 3})\n"
        "print(len(out), sorted(out.columns))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", loader],
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "'neighbour'" in loaded.stdout and "'label'" in loaded.stdout

    # rollback re-points champion and leaves an audit tag on the registered model
    ok(cli("rollback", str(v2), GITHUB_ACTOR="octocat", GITHUB_RUN_ID="42"))
    assert aliases(uri) == {"champion": "1", "staging": "2"}
    audit = json.loads(client(uri).get_registered_model(MODEL).tags["pipelines.last_rollback"])
    assert audit["from"] == "2" and audit["to"] == "1"
    assert audit["by"] == "octocat" and audit["run"] == "42"

    # a gate-failed candidate is published for the record but never registered or aliased
    failed = cli("run", str(bad), "--release")
    assert failed.returncode == 1, failed.stderr[-3000:]
    before = registry_snapshot(uri)
    refused = cli("promote", str(bad), "--alias", "champion")
    line = assert_clean_failure(refused, 1)
    assert "gate failed" in line
    after = registry_snapshot(uri)
    assert after[MODEL] == before[MODEL]
    assert versions(uri) == ["1", "2"]


def test_champion_served_answers_top_k(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """`mlflow models serve -m models:/item-recs@champion` answers /invocations."""
    uri = mlflow_server.url
    cli = Cli(uri, tmp_path / "runs")
    ok(cli("run", "model_specs/item-recs.yaml", "--promote", "champion"))
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                "models:/item-recs@champion",
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env={**clean_env(MLFLOW_TRACKING_URI=uri), "PATH": f"{BIN}:{clean_env()['PATH']}"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", 120, serve, log)
        items = [1006, 1103]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(
                {
                    "dataframe_split": {"columns": ["item_id"], "data": [[i] for i in items]},
                    "params": {"k": 5},
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    finally:
        kill_group(serve)
    # The logged signature declares `k`, so serving passes the request's k through.
    info = subprocess.run(
        [sys.executable, "-c", PARAMS_SCHEMA],
        env=clean_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert info.stdout.strip() == "yes"
    k = 5
    rows = answer["predictions"]
    assert len(rows) == 2 * k
    for query, item in enumerate(items):
        mine = sorted((r for r in rows if r["query"] == query), key=lambda r: r["rank"])
        assert [r["rank"] for r in mine] == list(range(1, k + 1))
        assert all(r["item_id"] == item and r["neighbour"] != item for r in mine)
        distances = [r["distance"] for r in mine]
        assert distances == sorted(distances)
