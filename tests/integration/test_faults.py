"""Faults injected into real processes: a dead tracking server, a server killed in the
middle of `publish`, racing promotions, and an alias moved under a promotion's feet."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.registry import TAG_GATE, TAG_LOCK_HOLDER, TAG_MODEL_URI, lock_model_name
from tests.integration.support import (
    MODEL,
    ROOT,
    Cli,
    MlflowServer,
    aliases,
    assert_clean_failure,
    clean_env,
    client,
    free_port,
    ok,
    spec_variant,
    versions,
)

pytestmark = pytest.mark.integration


def test_unreachable_server_retries_then_exits_3(tmp_path: Path) -> None:
    """A dead port: bounded retries with backoff, one clear line, exit 3, fast."""
    cli = Cli(f"http://127.0.0.1:{free_port()}", tmp_path / "runs")
    started = time.monotonic()
    result = cli(
        "promote",
        "model_specs/breast-cancer.yaml",
        "--alias",
        "champion",
        PIPELINES_MLFLOW_RETRIES="3",
        PIPELINES_MLFLOW_RETRY_DELAY="0.1",
    )
    elapsed = time.monotonic() - started
    line = assert_clean_failure(result, 3)
    assert "MLflow health check at http://127.0.0.1" in line and "gave up after 3 attempts" in line
    retries = [x for x in result.stderr.splitlines() if "retry" in x]
    assert [r.split("retry ")[1].split(" ")[0] for r in retries] == ["1", "2"]
    assert "in 0.1s" in retries[0] and "in 0.2s" in retries[1]  # backoff doubles
    assert elapsed < 30


def test_bad_retry_setting_is_bad_input(tmp_path: Path) -> None:
    cli = Cli(f"http://127.0.0.1:{free_port()}", tmp_path / "runs")
    result = cli(
        "promote", "model_specs/breast-cancer.yaml", "--alias", "champion",
        PIPELINES_MLFLOW_RETRIES="many",
    )  # fmt: skip
    assert "PIPELINES_MLFLOW_RETRIES" in assert_clean_failure(result, 2)


def _running_run(uri: str, experiment: str) -> object | None:
    from mlflow.entities import ViewType

    found = client(uri).get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client(uri).search_runs(
        [found.experiment_id],
        filter_string="attributes.status = 'RUNNING'",
        run_view_type=ViewType.ACTIVE_ONLY,
    )
    return runs[0] if runs else None


def _reached(uri: str, run: object, point: str) -> bool:
    run_id = run.info.run_id  # type: ignore[attr-defined]
    if point == "created":
        return True
    if point == "params":
        return bool(client(uri).get_run(run_id).data.params)
    return any(a.path == "reports" for a in client(uri).list_artifacts(run_id))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["created", "params", "artifacts"])
def test_server_killed_mid_publish_then_rerun_is_clean(
    mlflow_server: MlflowServer, scratch_repo: Path, tmp_path: Path, point: str
) -> None:
    """SIGKILL the server once a release publish has reached `point`; restart; re-run:
    one version."""
    uri = mlflow_server.url
    cli = Cli(uri, tmp_path / "runs")
    spec = spec_variant(scratch_repo, "v1")
    # Into the release experiment, where the re-run publishes and promotes from.
    proc = cli.popen("run", str(spec), "--release")
    killed = False
    killed_run = ""
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        run = _running_run(uri, f"{_prefix()}{MODEL}")
        if run is not None and _reached(uri, run, point):
            mlflow_server.kill()
            killed = True
            killed_run = run.info.run_id  # type: ignore[attr-defined]
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=180)
    assert killed, f"publish finished before reaching {point!r}: {err[-2000:]}"
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = assert_clean_failure(result, 3)
    assert "MLflow" in line and uri in line

    mlflow_server.start()  # same store, same port
    ok(cli("run", str(spec), "--promote", "champion"))
    ok(cli("run", str(spec), "--promote", "champion"))  # again: a new verdict, no new version
    assert versions(uri) == ["1"]
    assert aliases(uri) == {"champion": "1"}
    version = client(uri).get_model_version(MODEL, "1")
    experiment = client(uri).get_experiment_by_name(f"{_prefix()}{MODEL}").experiment_id
    runs = client(uri).search_runs([experiment])
    usable = [r for r in runs if r.info.status == "FINISHED" and TAG_MODEL_URI in r.data.tags]
    assert version.run_id in [r.info.run_id for r in usable]
    assert len({r.data.tags[TAG_MODEL_URI] for r in usable}) == 1  # one model, logged once
    half = client(uri).get_run(killed_run)  # kept for the record, never reused
    assert half.info.run_id != version.run_id
    assert half.info.status != "FINISHED"
    assert half.info.run_id not in [v.run_id for v in client(uri).search_model_versions()]


RACER = """
import sys, time
from pipelines.cli import main
import pipelines.steps.promote, pipelines.state, mlflow.tracking  # warm imports first
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
sys.exit(main(sys.argv[2:]))
"""


def _run_id(cli: Cli) -> str:
    """The release run this run directory's last `run --release` published."""
    published = json.loads((cli.runs / MODEL / "publish.json").read_text(encoding="utf-8"))
    assert published["release"] is True, published
    return str(published["run_id"])


def _race(cli: Cli, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Start the commands in parallel processes that all begin at the same instant."""
    start = time.time() + 6
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(start), *command],
            cwd=ROOT,
            env=cli.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


@pytest.mark.slow
def test_racing_promotions_exactly_one_wins(
    mlflow_server: MlflowServer, scratch_repo: Path, tmp_path: Path
) -> None:
    uri = mlflow_server.url
    cli_a = Cli(uri, tmp_path / "runs-a")
    cli_b = Cli(uri, tmp_path / "runs-b")
    cli_f = Cli(uri, tmp_path / "runs-f")
    spec_a = spec_variant(scratch_repo, "a", c=0.5)
    spec_b = spec_variant(scratch_repo, "b", c=0.7)
    spec_f = spec_variant(scratch_repo, "f", c=0.9, accuracy_min=0.999)
    ok(cli_a("run", str(spec_a), "--release"))
    ok(cli_b("run", str(spec_b), "--release"))
    assert cli_f("run", str(spec_f), "--release").returncode == 1  # published, gate failed
    run_a, run_b, run_f = _run_id(cli_a), _run_id(cli_b), _run_id(cli_f)

    # 1. two candidates race for champion: one wins, the other changes nothing. It meets
    #    the lock (exit 3) or, when the winner was already done, a verdict reached against
    #    no champion while there is one now (exit 1). (The lock's exclusion itself is
    #    proven under latency in test_registry_boundary.py.)
    first = _race(
        cli_a,
        ["promote", str(spec_a), "--alias", "champion", "--run-id", run_a],
        ["promote", str(spec_b), "--alias", "champion", "--run-id", run_b],
    )
    codes = sorted(r.returncode for r in first)
    assert codes in ([0, 1], [0, 3]), [r.stderr[-2000:] for r in first]
    loser = next(r for r in first if r.returncode != 0)
    line = assert_clean_failure(loser, loser.returncode)
    assert "another promotion of breast-cancer" in line or "the champion is now 1" in line
    assert "nothing was changed" in loser.stderr or loser.returncode == 1
    assert versions(uri) == ["1"]  # the loser registered nothing
    assert aliases(uri) == {"champion": "1"}
    assert not client(uri).search_registered_models(f"name = '{lock_model_name(MODEL)}'")
    winner_spec = spec_a if first[0].returncode == 0 else spec_b
    other_spec = spec_b if winner_spec == spec_a else spec_a

    # 2. a gate-failed candidate races a passing one: it is refused before the lock. (The
    #    passing one is first re-evaluated against the new champion: a verdict reached
    #    against no champion no longer holds.)
    ok(cli_a("run", str(other_spec), "--release"))
    run_other = _run_id(cli_a)
    second = _race(
        cli_a,
        ["promote", str(spec_f), "--alias", "champion", "--run-id", run_f],
        ["promote", str(other_spec), "--alias", "champion", "--run-id", run_other],
    )
    assert [r.returncode for r in second] == [1, 0], [r.stderr[-2000:] for r in second]
    assert "gate failed" in assert_clean_failure(second[0], 1)
    assert versions(uri) == ["1", "2"]
    assert aliases(uri) == {"champion": "2"}
    champion = client(uri).get_model_version(MODEL, "2")
    assert champion.tags[TAG_GATE] == "passed"
    assert champion.tags["pipelines.previous_champion"] == "1"

    # 3. the same content promoted twice at once (staging and champion): one version only.
    #    (The champion's own content: its verdict holds while it is champion.)
    third = _race(
        cli_a,
        ["promote", str(other_spec), "--alias", "staging", "--run-id", run_other],
        ["promote", str(other_spec), "--alias", "champion", "--run-id", run_other],
    )
    codes = sorted(r.returncode for r in third)
    assert codes in ([0, 0], [0, 3]), [r.stderr[-2000:] for r in third]
    assert versions(uri) == ["1", "2"]
    for version in client(uri).search_model_versions(f"name = '{MODEL}'"):
        assert version.tags[TAG_GATE] == "passed"
    for version in aliases(uri).values():
        assert client(uri).get_model_version(MODEL, version).tags[TAG_GATE] == "passed"

    # 4. a live lock (another job mid-promotion) refuses; an expired one (killed job) is
    #    taken over
    holder = {"token": "x", "owner": "release job 7", "purpose": "promote champion"}
    live = {**holder, "since": "now", "expires": time.time() + 300}
    lock = lock_model_name(MODEL)
    client(uri).create_registered_model(lock, tags={TAG_LOCK_HOLDER: json.dumps(live)})
    before = aliases(uri)
    refused = cli_a("promote", str(other_spec), "--alias", "staging")
    assert "release job 7" in assert_clean_failure(refused, 3)
    assert aliases(uri) == before
    stale = {**holder, "token": "y", "since": "long ago", "expires": time.time() - 60}
    client(uri).set_registered_model_tag(lock, TAG_LOCK_HOLDER, json.dumps(stale))
    ok(cli_a("promote", str(other_spec), "--alias", "staging"))
    assert aliases(uri)["staging"] == "2"
    assert not client(uri).search_registered_models(f"name = '{lock}'")


@pytest.mark.slow
def test_alias_moved_to_failed_version_is_put_back(
    mlflow_server: MlflowServer, scratch_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rogue writer points champion at a gate-failed version between move and re-read."""
    from pipelines.config import load_config
    from pipelines.errors import PromotionConflict
    from pipelines.registry import Registry

    uri = mlflow_server.url
    cli = Cli(uri, tmp_path / "runs")
    good = spec_variant(scratch_repo, "good")
    bad = spec_variant(scratch_repo, "bad", c=0.9, accuracy_min=0.999)
    ok(cli("run", str(good), "--promote", "champion"))
    assert cli("run", str(bad)).returncode == 1
    bad_run = json.loads((tmp_path / "runs" / MODEL / "publish.json").read_text())
    assert bad_run["gate"] == "failed"
    rogue = client(uri).create_model_version(
        MODEL,
        bad_run["model_uri"],
        run_id=bad_run["run_id"],
        tags={TAG_GATE: "failed"},
        model_id=bad_run["model_uri"].removeprefix("models:/"),
    )
    client(uri).set_registered_model_alias(MODEL, "champion", rogue.version)

    for name, value in clean_env(MLFLOW_TRACKING_URI=uri).items():
        if name.startswith(("MLFLOW_", "PIPELINES_")):
            monkeypatch.setenv(name, value)
    registry = Registry(scratch_repo, load_config(scratch_repo).experiment_prefix)
    with pytest.raises(PromotionConflict, match="whose gate did not pass"):
        registry.confirm_alias(MODEL, "champion", "1")
    assert aliases(uri) == {"champion": "1"}
    registry.confirm_alias(MODEL, "champion", "1")  # consistent now: no error


def _prefix() -> str:
    """The project's experiment prefix (a fork renders its own)."""
    from pipelines.config import load_config

    return load_config(Path(__file__).resolve().parents[2]).experiment_prefix
