"""`monitor.yml` under act against the GitHub stub and a throwaway MLflow: a drifted batch
opens one issue and one retrain pull request, a second alert updates both (no duplicates),
and a stable batch closes the issue. An issue someone else wrote is never touched."""

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

        def act() -> ActResult:
            return run_act(
                repo,
                ".github/workflows/monitor.yml",
                "workflow_dispatch",
                {**EVENT, "repository": {"full_name": REPOSITORY, "name": "models"}},
                home=tmp_path / "home",
                secrets={"MLFLOW_TRACKING_URI": uri, "GITHUB_TOKEN": "t0ken"},
                env={"GITHUB_API_URL": gh.url},
            )

        first = act()
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

        second = act()
        assert second.job_result("Issue") is not None, explain(second)
        assert len([i for i in gh.state.issues if i["user"]["login"] == BOT]) == 1
        assert len(gh.state.pulls) == 1
        patched = [r for r in gh.state.requests if r[0] == "PATCH" and "/issues/" in r[1]]
        assert len(patched) == 1, gh.state.requests

        _git(repo, "rm", "-q", str(drifted.relative_to(repo)))
        _git(repo, "commit", "-qm", "back to the stable batch")
        third = act()
        assert third.step_result("Monitor", "Fail on an alert or an error") in (None, "skipped"), (
            explain(third)
        )
        assert mine[0]["state"] == "closed", explain(third)
        assert len(gh.state.pulls) == 1
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
