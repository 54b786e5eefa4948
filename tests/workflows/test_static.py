"""What act ignores, checked on the YAML: triggers, permissions, environments, concurrency,
pins, checkout credentials, and no `${{ }}` inside `run:`. Plus the actions' README contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.workflows

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
STEP_ACTIONS = {
    "validate",
    "check-data",
    "train",
    "build-index",
    "evaluate",
    "publish",
    "report",
    "promote",
    "smoke",
    "rollback",
    "plan",
    "pr-comment",
    "setup",
}
PIN_RE = re.compile(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def workflow(name: str) -> dict[str, Any]:
    return load(ROOT / ".github" / "workflows" / f"{name}.yml")


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [s for job in document["jobs"].values() for s in job.get("steps", [])]


def test_the_workflows_exist() -> None:
    names = {p.stem for p in WORKFLOWS}
    assert {"pull-request", "release", "rollback", "pipeline", "ci", "preflight"} <= names
    assert {p.parent.name for p in ACTIONS} >= STEP_ACTIONS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_names_and_checkout(path: Path) -> None:
    document = load(path)
    assert document["permissions"] == {}, "permissions: {} at the top"
    assert document.get("name"), "a human name on the workflow"
    for job_id, job in document["jobs"].items():
        assert job.get("name"), f"{job_id}: a human name"
        assert "permissions" in job, f"{job_id}: permissions granted per job"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, job_id


@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS], ids=lambda p: str(p.relative_to(ROOT)))
def test_remote_actions_pinned_and_no_expressions_in_run(path: Path) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if "uses:" in line and not line.strip().startswith("#"):
            target = line.split("uses:", 1)[1].strip()
            if not target.startswith("./"):
                assert PIN_RE.search(line), f"pin by full SHA with a # vX.Y.Z comment: {line}"
    for step in steps_of(load(path)):
        if "run" in step:
            assert "${{" not in step["run"], f"pass values through env:, not in run: {step}"


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_actions_are_thin_and_documented(path: Path) -> None:
    document = load(path)
    assert document["runs"]["using"] == "composite"
    for step in document["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    for section in ("## Usage", "## Inputs", "## Outputs", "## Permissions"):
        assert section in readme, f"{path.parent.name}/README.md lacks {section}"
    for name, spec in (document.get("inputs") or {}).items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), f"kebab-case: {name}"
        assert spec.get("description"), f"{name}: description"
        assert spec.get("required") is True or "default" in spec, f"{name}: a default"
        assert f"`{name}`" in readme, f"input {name} is not documented in its README"
    for name, spec in (document.get("outputs") or {}).items():
        assert "steps." in spec["value"], f"output {name} wired from a step output"
        assert f"`{name}`" in readme, f"output {name} is not documented in its README"


def test_every_remote_action_has_an_offline_stub() -> None:
    from harness import local_repository_args

    args = local_repository_args(ROOT)
    stubbed = {a.split("@")[0] for a in args[1::2]}
    assert stubbed == {
        "actions/setup-python",
        "actions/cache",
        "actions/upload-artifact",
        "actions/download-artifact",
    }


def test_pull_request_triggers_and_cancels() -> None:
    document = workflow("pull-request")
    assert document["on"]["pull_request"]["paths"] == ["model_specs/**", "data/**", "pipelines/**"]
    assert document["concurrency"]["cancel-in-progress"] is True
    assert "pull_request.number" in document["concurrency"]["group"]
    jobs = document["jobs"]
    assert jobs["pipeline"]["permissions"] == {"contents": "read"}
    assert jobs["pipeline"]["uses"] == "./.github/workflows/pipeline.yml"
    assert "fromJSON(needs.plan.outputs.specs)" in jobs["pipeline"]["strategy"]["matrix"]["spec"]
    assert "head.repo.full_name == github.repository" in jobs["pipeline"]["with"]["trusted"]
    assert jobs["comment"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "head.repo.full_name == github.repository" in jobs["comment"]["if"]


def test_forks_get_a_throwaway_mlflow() -> None:
    job = workflow("pipeline")["jobs"]["steps"]
    assert job["env"]["MLFLOW_TRACKING_URI"].startswith("${{ inputs.trusted && secrets.")


def test_report_upload_includes_the_hidden_run_directory() -> None:
    """The act stub copies anything; the real upload-artifact skips dot-folders unless told."""
    job = workflow("pipeline")["jobs"]["steps"]
    (upload,) = [s for s in job["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert upload["with"]["include-hidden-files"] is True
    assert upload["with"]["if-no-files-found"] == "error"
    assert upload["if"] == "${{ !cancelled() && steps.report.outcome == 'success' }}"


@pytest.mark.parametrize("name", ["pull-request", "release", "ci"])
def test_one_aggregator_job(name: str) -> None:
    jobs = workflow(name)["jobs"]
    aggregators = [j for j in jobs.values() if j.get("if") == "${{ always() }}"]
    assert len(aggregators) == 1
    others = set(jobs) - {k for k, j in jobs.items() if j is aggregators[0]}
    assert set(aggregators[0]["needs"]) == others


def test_release_environments_and_concurrency() -> None:
    document = workflow("release")
    assert document["on"] == {"push": {"branches": ["release/**"]}}
    jobs = document["jobs"]
    assert jobs["build"]["with"]["reuse"] is True
    assert jobs["plan"]["needs"] == "preflight"
    assert jobs["preflight"]["uses"] == "./.github/workflows/preflight.yml"
    for alias, env_name, need in (
        ("staging", "staging", "build"),
        ("champion", "production", "staging"),
    ):
        job = jobs[env_name]
        assert job["environment"] == env_name
        assert need in job["needs"]
        assert job["concurrency"] == {
            "group": f"deploy-${{{{ matrix.spec }}}}-{env_name}",
            "cancel-in-progress": False,
        }
        promote = [s for s in job["steps"] if s.get("uses") == "./actions/promote"]
        assert promote[0]["with"]["alias"] == alias
    smoke = [s for s in jobs["staging"]["steps"] if s.get("uses") == "./actions/smoke"]
    assert smoke and smoke[0]["with"]["alias"] == "staging"


def test_rollback_dispatch() -> None:
    document = workflow("rollback")
    inputs = document["on"]["workflow_dispatch"]["inputs"]
    assert inputs["model"]["required"] is True
    assert inputs["version"]["required"] is False
    (job,) = document["jobs"].values()
    assert job["environment"] == "production"
    assert job["concurrency"]["cancel-in-progress"] is False
    # the same group as the release's production job for the same model
    assert job["concurrency"]["group"] == "deploy-model_specs/${{ inputs.model }}.yaml-production"


def test_reusable_pipeline_is_callable() -> None:
    document = workflow("pipeline")
    call = document["on"]["workflow_call"]
    assert call["inputs"]["spec"]["required"] is True
    assert set(call["secrets"]) >= {"MLFLOW_TRACKING_URI"}
    assert all(s.get("required") is False for s in call["secrets"].values())


def test_preflight_reads_environments() -> None:
    document = workflow("preflight")
    assert set(document["on"]) == {"workflow_dispatch", "workflow_call"}
    (job,) = document["jobs"].values()
    assert job["permissions"]["actions"] == "read"
    assert "scripts/setup-github.py check" in job["steps"][-1]["run"]


def test_ci_runs_lint_and_tests_through_nox() -> None:
    jobs = workflow("ci")["jobs"]
    runs = [s.get("run", "") for j in jobs.values() for s in j.get("steps", [])]
    assert "nox -s lint" in runs and "nox -s tests" in runs


def test_harness_default_events(tmp_path: Path) -> None:
    import subprocess

    from harness import default_event

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("commit", "-q", "--allow-empty", "-m", "one")
    git("checkout", "-q", "-b", "feature")
    git("commit", "-q", "--allow-empty", "-m", "two")
    git("commit", "-q", "--allow-empty", "-m", "three")
    pr = default_event(tmp_path, "pull_request", {})
    main_sha = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "main"], capture_output=True, text=True
    ).stdout.strip()
    assert pr["number"] == pr["pull_request"]["number"]
    assert pr["pull_request"]["base"]["sha"] == main_sha  # the fork point, not HEAD~1
    dispatch = default_event(tmp_path, "workflow_dispatch", {"model": "m"})
    assert dispatch["inputs"] == {"model": "m"}
    assert default_event(tmp_path, "push", {})["ref"] == "refs/heads/feature"
