"""`monitor.yml` under act against the GitHub stub and a throwaway MLflow: a drifted batch
opens one issue and one retrain pull request, a second alert updates both (no duplicates),
and a stable batch closes the issue. An issue someone else wrote is never touched. Without
PIPELINES_RETRAIN_TOKEN the pull-request pipeline is dispatched on the retrain branch (the
pull request, made with GITHUB_TOKEN, starts nothing); with it, nothing is dispatched and
the token writes the branch and the pull request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from github_monitor_stub import BOT, MonitorStub
from harness import ActResult, run_act
from test_act import _copy_tree, explain

pytestmark = [pytest.mark.workflows, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SPEC = "model_specs/item-recs.yaml"
REPOSITORY = "acme/models"
EVENT = {"inputs": {"model": "item-recs"}, "ref": "refs/heads/main"}


def _git(repo: Path, *args: str) -> None:
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    subprocess.run(command, check=True, capture_output=True)


def test_monitor_workflow_issue_lifecycle_and_one_retrain_pr(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is needed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_tree(repo)
    spec = repo / SPEC
    spec.write_text(spec.read_text().replace("max_p99_ms: 5", "max_p99_ms: 1000"))
    for other in (repo / "model_specs").glob("*.yaml"):
        if other.name != "item-recs.yaml":
            other.unlink()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PIPELINES_RUNS_DIR": str(tmp_path / "runs")}
    subprocess.run(
        [sys.executable, "-m", "pipelines", "-q", "run", SPEC, "--promote", "champion"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", f"https://github.com/{REPOSITORY}.git")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    sys.path.insert(0, str(ROOT))
    from scripts.make_example_data import make_next_period, write_csv

    drifted = repo / "data" / "fresh" / "interactions-0002.csv"
    write_csv(make_next_period("drifted", 2), drifted)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "drifted batch")

    with MonitorStub() as gh:
        gh.state.repository = REPOSITORY
        gh.state.files["main"] = {
            p: (repo / p).read_bytes() for p in ("data/interactions.csv", SPEC)
        }
        decoy = gh.state.seed_issue("notes", "<!-- pipelines-monitor:item-recs -->", "mallory")

        app = {"login": "models-retrain[bot]", "type": "Bot"}
        gh.state.tokens["app-token"] = app

        def act(**more_secrets: str) -> ActResult:
            return run_act(
                repo,
                ".github/workflows/monitor.yml",
                "workflow_dispatch",
                {**EVENT, "repository": {"full_name": REPOSITORY, "name": "models"}},
                home=tmp_path / "home",
                secrets={"MLFLOW_TRACKING_URI": uri, "GITHUB_TOKEN": "t0ken", **more_secrets},
                env={"GITHUB_API_URL": gh.url},
            )

        first = act()
        first_callers = list(gh.state.callers)
        assert first.step_result("Monitor", "Fail on an alert or an error") == "failure", explain(
            first
        )
        assert "Monitoring `item-recs`: 🔴 alert" in first.summaries("Monitor")
        mine = [i for i in gh.state.issues if i["user"]["login"] == BOT]
        assert len(mine) == 1 and mine[0]["state"] == "open", explain(first)
        assert "unseen.item_id" in mine[0]["body"]
        assert len(gh.state.pulls) == 1
        branch = gh.state.files["monitor/retrain-item-recs"]
        changed = {p for p, data in branch.items() if data != gh.state.files["main"].get(p)}
        assert changed == {"data/interactions.csv", SPEC}
        assert branch["data/interactions.csv"].endswith(drifted.read_bytes().partition(b"\n")[2])
        (dispatch,) = gh.state.dispatches
        assert dispatch["workflow"] == "pull-request.yml" and dispatch["by"] == BOT
        assert dispatch["ref"] == "monitor/retrain-item-recs"
        assert dispatch["sha"] == gh.state.branches["monitor/retrain-item-recs"]

        second = act(PIPELINES_RETRAIN_TOKEN="app-token")
        assert second.job_result("Issue") is not None, explain(second)
        assert len([i for i in gh.state.issues if i["user"]["login"] == BOT]) == 1
        assert len(gh.state.pulls) == 1
        patched = [r for r in gh.state.requests if r[0] == "PATCH" and "/issues/" in r[1]]
        assert len(patched) == 1, gh.state.requests
        assert len(gh.state.dispatches) == 1, explain(second)  # the token's events start it
        writes = [c for c in gh.state.callers[len(first_callers) :] if c[1] in {"PUT", "PATCH"}]
        retrain_writes = [c for c in writes if "/contents/" in c[2] or "/pulls/" in c[2]]
        assert retrain_writes and {c[0] for c in retrain_writes} == {app["login"]}

        _git(repo, "rm", "-q", str(drifted.relative_to(repo)))
        _git(repo, "commit", "-qm", "back to the stable batch")
        third = act()
        assert third.step_result("Monitor", "Fail on an alert or an error") in (None, "skipped"), (
            explain(third)
        )
        assert mine[0]["state"] == "closed", explain(third)
        assert len(gh.state.pulls) == 1 and len(gh.state.dispatches) == 1
        assert decoy["state"] == "open" and decoy["body"].endswith("-->")

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(f"{_prefix()}item-recs.pull-requests")
    runs = client.search_runs([experiment.experiment_id], "tags.`pipelines.kind` = 'monitor'")
    assert sorted(r.data.tags["pipelines.monitor.status"] for r in runs) == [
        "alert",
        "alert",
        "healthy",
    ]


def _prefix() -> str:
    """The project's experiment prefix (a fork renders its own)."""
    from pipelines.config import load_config

    return load_config(Path(__file__).resolve().parents[2]).experiment_prefix
