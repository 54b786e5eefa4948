"""Monitoring: each detector on synthetic shifts with a known answer, the spec section,
the example batches, and the GitHub side (issue, retrain pull request) against the stub."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.data.profile import profile_frame
from pipelines.errors import BadInput
from pipelines.monitor import detectors
from pipelines.monitor.report import marker, render
from pipelines.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "workflows"))


def test_unseen_share_counts_rows_not_values() -> None:
    known = np.array([1, 2, 3])
    current = pd.Series([1, 2, 4, 4, 5, None, 3, 3])
    # 7 non-null rows, of which 4, 4, 5 are unseen
    assert detectors.unseen_share(known, current) == pytest.approx(3 / 7)
    assert detectors.unseen_share(known, pd.Series([], dtype="float64")) is None
    ints = pd.Series([0, 1, 3, 9, 2**40, -5], dtype="int64")  # the integer table path
    assert detectors.unseen_share(known, ints) == pytest.approx(4 / 6)
    assert detectors.unseen_share(np.array(["a", "b"]), pd.Series(["a", "c"])) == 0.5
    check = detectors.column_unseen("item_id", 3 / 7, 0.3)
    assert check.alert and check.name == "unseen.item_id"


def test_psi_is_zero_on_the_same_distribution_and_large_on_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = profile_frame(pd.DataFrame({"x": rng.normal(0, 1, 20_000)}))["x"]
    same = detectors.column_psi("x", reference, pd.Series(rng.normal(0, 1, 20_000)), 0.2)
    shifted = detectors.column_psi("x", reference, pd.Series(rng.normal(1, 1, 20_000)), 0.2)
    assert same.value is not None and same.value < 0.01 and not same.alert
    # PSI of N(1,1) against N(0,1) is about 1.0 (the symmetric KL divergence is mu^2 = 1).
    assert shifted.value is not None and 0.7 < shifted.value < 1.2 and shifted.alert


def test_categorical_psi_has_the_closed_form_answer() -> None:
    reference = {"kind": "categorical", "shares": {"a": 0.5, "b": 0.5}}
    value = detectors.column_psi("c", reference, pd.Series(["a"] * 100), 0.2).value
    eps = 1e-4  # the profile's floor for empty bins
    expected = (1 - 0.5) * math.log(1 / 0.5) + (eps - 0.5) * math.log(eps / 0.5)
    assert value == pytest.approx(expected)


def test_prediction_drift_without_a_limit_only_reports() -> None:
    check = detectors.prediction_drift(5.0, None)
    assert not check.alert and check.limit == ""
    assert detectors.prediction_drift(0.3, 0.25).alert
    labels = pd.Series([0, 1] * 50)
    assert detectors.categorical_psi(labels, pd.Series([0, 1] * 30)) == pytest.approx(0, abs=1e-9)


def test_bootstrap_interval_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0.3, 0.1, 2000)
    mean, low, high = detectors.bootstrap_interval(values, confidence=0.95, resamples=2000, seed=3)
    assert low < 0.3 < high and mean == pytest.approx(values.mean())
    assert high - low == pytest.approx(2 * 1.96 * 0.1 / math.sqrt(2000), rel=0.15)
    const = detectors.bootstrap_interval(np.full(50, 0.25), confidence=0.9, resamples=200, seed=0)
    assert const == pytest.approx((0.25, 0.25, 0.25))


def _quality(values: np.ndarray, holdout: float, greater: bool = True) -> detectors.Quality:
    return detectors.quality(
        "m",
        values,
        holdout=holdout,
        max_drop=0.05,
        greater_is_better=greater,
        confidence=0.95,
        resamples=500,
        seed=0,
    )


def test_quality_alerts_only_when_the_whole_interval_is_below_the_floor() -> None:
    rng = np.random.default_rng(2)
    assert _quality(rng.normal(0.1, 0.05, 500), holdout=0.3).degraded
    assert not _quality(rng.normal(0.28, 0.05, 500), holdout=0.3).degraded
    assert not _quality(rng.normal(0.2, 0.5, 10), holdout=0.3).degraded  # too uncertain
    # lower is better (a loss): degraded when the interval lies above holdout + drop
    assert _quality(rng.normal(0.6, 0.05, 500), holdout=0.3, greater=False).degraded
    check = _quality(rng.normal(0.1, 0.05, 500), holdout=0.3).check()
    assert check.alert and "0.25" in check.limit and "[" in check.detail


def test_index_recall_against_exact_search() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert detectors.index_recall(exact, exact, 0.9).value == 1.0
    half = np.array([[1, 2, -1, -1], [5, 6, 0, 0]])
    check = detectors.index_recall(half, exact, 0.9)
    assert check.value == 0.5 and check.alert


def _spec(tmp_path: Path, monitoring: str) -> Path:
    text = (ROOT / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8")
    text = text.split("monitoring:")[0] + monitoring
    repo = tmp_path / "repo"
    (repo / "model_specs").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", repo)
    shutil.copytree(ROOT / "data", repo / "data")
    path = repo / "model_specs" / "item-recs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_monitoring_section_unknown_keys_and_bad_cron_are_located(tmp_path: Path) -> None:
    path = _spec(tmp_path, "monitoring:\n  source: data/x.csv\n  drift: {max_pis: 0.2}\n")
    with pytest.raises(BadInput) as err:
        load_spec(path)
    assert "monitoring.drift" in str(err.value) and "max_psi" in str(err.value)
    path.write_text(
        path.read_text().split("monitoring:")[0] + "monitoring:\n  source: a\n  schedule: weekly\n"
    )
    with pytest.raises(BadInput, match="cron"):
        load_spec(path)


def test_example_batches_stable_and_drifted() -> None:
    from scripts.make_example_data import make_interactions, make_next_period

    base = make_interactions(300, 200)
    stable = make_next_period("stable", 1, 300, 200)
    drifted = make_next_period("drifted", 1, 300, 200)
    items, users = base["item_id"].unique(), base["user_id"].unique()
    assert detectors.unseen_share(items, stable["item_id"]) < 0.05
    assert detectors.unseen_share(users, stable["user_id"]) < 0.1
    assert detectors.unseen_share(items, drifted["item_id"]) > 0.3
    assert drifted["rating"].mean() < stable["rating"].mean() - 0.3
    # next-period interactions are new: no user sees an item again
    merged = stable.merge(base, on=["user_id", "item_id"])
    assert merged.empty


def _report(status: str, fresh: str = "data/fresh/interactions-0001.csv") -> dict[str, object]:
    import hashlib

    sha = hashlib.sha256((ROOT / fresh).read_bytes()).hexdigest()
    checks = [
        detectors.Check("unseen.item_id", "unseen", 0.5, "<= 0.3", status == "alert").as_dict(),
    ]
    return {
        "model": "item-recs",
        "status": status,
        "version": "1",
        "fresh": {"origin": fresh, "sha256": sha, "rows": 10, "path": fresh},
        "checks": checks,
        "alerts": ["unseen.item_id"] if status == "alert" else [],
        "drifted_columns": ["item_id"] if status == "alert" else [],
        "quality": None,
        "facts": {},
    }


def test_report_leads_with_the_marker_and_names_the_alerts() -> None:
    text = render(_report("alert"))
    assert text.startswith(marker("item-recs")) and "unseen.item_id" in text and "alert" in text


def test_issue_opened_updated_not_duplicated_closed_and_others_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from github_monitor_stub import MonitorStub

    from pipelines.monitor.alert import github_from_env, sync_issue

    with MonitorStub() as gh:
        decoy = gh.state.seed_issue("mine", marker("item-recs") + " copied by hand", "mallory")
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("GITHUB_REPOSITORY", gh.state.repository)
        monkeypatch.setenv("GITHUB_API_URL", gh.url)
        github = github_from_env()
        action, number = sync_issue(github, _report("alert"))
        assert action == "opened"
        assert sync_issue(github, _report("alert")) == ("updated", number)
        open_bot = [i for i in gh.state.issues if i["user"]["login"] != "mallory"]
        assert len(open_bot) == 1 and open_bot[0]["state"] == "open"
        assert sync_issue(github, _report("healthy")) == ("closed", number)
        assert open_bot[0]["state"] == "closed" and gh.state.comments[number]
        assert sync_issue(github, _report("healthy")) == ("unchanged", None)
        assert decoy["state"] == "open" and decoy["body"].endswith("copied by hand")


def test_retrain_pull_request_changes_only_the_pin_and_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from github_monitor_stub import MonitorStub

    from pipelines.data.sources import sha256_file
    from pipelines.monitor.alert import github_from_env, open_retrain_pr

    section = (ROOT / "model_specs" / "item-recs.yaml").read_text().split("\nmonitoring:")[1]
    spec_path = _spec(tmp_path, "monitoring:" + section)
    loaded = load_spec(spec_path)
    report = _report("alert")
    with MonitorStub() as gh:
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("GITHUB_REPOSITORY", gh.state.repository)
        monkeypatch.setenv("GITHUB_API_URL", gh.url)
        gh.state.files["main"] = {
            "data/interactions.csv": b"old",
            "model_specs/item-recs.yaml": b"old",
        }
        action, number = open_retrain_pr(github_from_env(), loaded, report)
        assert action == "opened"
        again = open_retrain_pr(github_from_env(), loaded, report)
        assert again == ("updated", number) and len(gh.state.pulls) == 1
        branch = gh.state.files["monitor/retrain-item-recs"]
        assert set(branch) == {"data/interactions.csv", "model_specs/item-recs.yaml"}
        data = branch["data/interactions.csv"]
        train = (ROOT / "data" / "interactions.csv").read_bytes()
        fresh = (ROOT / report["fresh"]["path"]).read_bytes()  # type: ignore[index]
        assert data == train + fresh.partition(b"\n")[2]
        import hashlib

        new_sha = hashlib.sha256(data).hexdigest()
        old_spec = spec_path.read_text(encoding="utf-8")
        new_spec = branch["model_specs/item-recs.yaml"].decode()
        assert new_spec == old_spec.replace(
            sha256_file(ROOT / "data" / "interactions.csv"), new_sha
        )
        assert json.dumps(gh.state.pulls[0]["head"]) == json.dumps(
            {"ref": "monitor/retrain-item-recs"}
        )


def _retrain_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gh: Any) -> Path:
    section = (ROOT / "model_specs" / "item-recs.yaml").read_text().split("\nmonitoring:")[1]
    spec_path = _spec(tmp_path, "monitoring:" + section)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_report("alert")), encoding="utf-8")
    for key, value in {
        "GITHUB_TOKEN": "t",
        "GITHUB_REPOSITORY": gh.state.repository,
        "GITHUB_API_URL": gh.url,
        "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PIPELINES_RETRAIN_TOKEN", raising=False)
    gh.state.files["main"] = {"data/interactions.csv": b"old", "model_specs/item-recs.yaml": b"x"}
    monkeypatch.chdir(spec_path.parents[1])
    return spec_path


def test_retrain_with_github_token_dispatches_the_pipeline_on_the_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GITHUB_TOKEN's pull request starts no workflow: pull-request.yml is dispatched on the
    retrain branch after its last write, on every alert (a refresh starts nothing either)."""
    from github_monitor_stub import BOT, MonitorStub

    from pipelines.cli import main

    with MonitorStub() as gh:
        spec = _retrain_setup(tmp_path, monkeypatch, gh)
        args = ["monitor-alert", "retrain-pr", str(tmp_path / "report.json"), str(spec)]
        assert main(args) == 0
        branch = "monitor/retrain-item-recs"
        (dispatch,) = gh.state.dispatches
        assert dispatch == {
            "workflow": "pull-request.yml",
            "ref": branch,
            "sha": gh.state.branches[branch],  # dispatched after the last commit
            "inputs": {},
            "by": BOT,
        }
        assert gh.state.pulls[0]["user"]["login"] == BOT
        assert "pipeline-trigger=workflow_dispatch" in (tmp_path / "out.txt").read_text()
        assert main(args) == 0
        assert len(gh.state.pulls) == 1 and len(gh.state.dispatches) == 2
        assert gh.state.dispatches[1]["sha"] == gh.state.branches[branch]
        gh.state.workflows = set()  # a workflow without workflow_dispatch: GitHub says 404
        assert main(args) == 3


def test_retrain_with_the_retrain_token_lets_the_pull_request_start_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from github_monitor_stub import MonitorStub

    from pipelines.cli import main

    with MonitorStub() as gh:
        spec = _retrain_setup(tmp_path, monkeypatch, gh)
        gh.state.tokens["app-token"] = {"login": "models-retrain[bot]", "type": "Bot"}
        monkeypatch.setenv("PIPELINES_RETRAIN_TOKEN", "app-token")
        assert main(["monitor-alert", "retrain-pr", str(tmp_path / "report.json"), str(spec)]) == 0
        assert gh.state.dispatches == []
        assert gh.state.pulls[0]["user"]["login"] == "models-retrain[bot]"
        writes = {(m, p.rsplit("/", 1)[-1]) for who, m, p in gh.state.callers if m != "GET"}
        assert writes and all(
            who == "models-retrain[bot]" for who, m, _ in gh.state.callers if m != "GET"
        )
        assert ("POST", "pulls") in writes
        assert "pipeline-trigger=pull_request" in (tmp_path / "out.txt").read_text()


def test_dry_run_previews_the_issue_and_the_retrain_pull_request_without_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GITHUB_TOKEN, no GITHUB_REPOSITORY, an API URL that nothing answers: the preview
    prints title, body, branch and files changed, and makes no request."""
    import subprocess

    section = (ROOT / "model_specs" / "item-recs.yaml").read_text().split("\nmonitoring:")[1]
    spec = _spec(tmp_path, "monitoring:" + section)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_report("alert")), encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PIPELINES_RETRAIN"))
    }
    env["GITHUB_API_URL"] = "http://127.0.0.1:9"  # refused if anything were called

    def preview(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines", "monitor-alert", *args, "--dry-run"],
            cwd=spec.parents[1],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = preview("issue", str(report), str(spec))
    assert out.startswith("(dry run: no GitHub call)")
    assert "title: Monitoring alert: item-recs (item_id)" in out and marker("item-recs") in out
    assert "branch monitor/retrain-item-recs" in out and "title: Retrain item-recs" in out
    train = (ROOT / "data" / "interactions.csv").stat().st_size
    assert f"  data/interactions.csv: {train} -> " in out
    assert "  model_specs/item-recs.yaml: " in out and "<!-- pipelines-retrain:item-recs -->" in out
    only_pr = preview("retrain-pr", str(report), str(spec))
    assert "title: Monitoring alert" not in only_pr and "title: Retrain item-recs" in only_pr
    report.write_text(json.dumps(_report("healthy")), encoding="utf-8")
    assert "close the open one" in preview("issue", str(report))
