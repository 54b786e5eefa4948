"""scripts/setup-github.py (`apply`, and `check`: the preflight) against a fake GitHub API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from github_stub import GitHubStub

pytestmark = pytest.mark.workflows

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "setup-github.py"


@pytest.fixture
def github() -> Iterator[GitHubStub]:
    with GitHubStub() as server:
        yield server


def run(github: GitHubStub, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": github.state.repository,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False
    )


def test_apply_creates_environments_policies_and_protection(github: GitHubStub) -> None:
    result = run(github, "apply", "--reviewer", "alice", "--reviewer-team", "acme/ml")
    assert result.returncode == 0, result.stderr
    envs = github.state.environments
    assert set(envs) == {"staging", "production"}
    assert envs["staging"]["protection_rules"] == []
    (rule,) = envs["production"]["protection_rules"]
    assert rule["type"] == "required_reviewers"
    assert {r["reviewer"]["id"] for r in rule["reviewers"]} == {101, 201}
    assert envs["production"]["deployment_branch_policy"]["custom_branch_policies"] is True
    policies = {k: sorted(p["name"] for p in v) for k, v in github.state.branch_policies.items()}
    assert policies == {"staging": ["release/**"], "production": ["main", "release/**"]}
    assert envs["production"]["prevent_self_review"] is True
    protection = github.state.protections["main"]
    assert protection["required_status_checks"]["contexts"] == [
        "CI passed",
        "Pipeline / Pipeline passed",
    ]
    assert protection["enforce_admins"] is True
    (ruleset,) = github.state.rulesets.values()
    assert ruleset["conditions"]["ref_name"]["include"] == ["refs/heads/release/**"]
    assert {r["type"] for r in ruleset["rules"]} == {"deletion", "non_fast_forward"}
    assert ruleset["bypass_actors"] == []
    assert "enforced: production waits for a required reviewer" in result.stdout
    assert run(github, "check").returncode == 0


def test_apply_is_idempotent(github: GitHubStub) -> None:
    assert run(github, "apply", "--reviewer", "alice").returncode == 0
    assert run(github, "apply", "--reviewer", "alice").returncode == 0
    assert len(github.state.branch_policies["production"]) == 2
    assert len(github.state.rulesets) == 1


def test_plan_without_required_reviewers_is_said_clearly(github: GitHubStub) -> None:
    github.state.reviewers_allowed = False
    result = run(github, "apply", "--reviewer", "alice")
    assert result.returncode == 0
    assert "required reviewers are not available for this repository" in result.stderr
    assert "private or internal ones only with GitHub Enterprise" in result.stderr
    assert "NOT enforced: production promotions do not wait" in result.stdout
    assert github.state.environments["production"]["protection_rules"] == []
    failed = run(github, "check")
    assert failed.returncode == 1
    assert "no required reviewers" in failed.stdout
    waived = run(github, "check", "--allow-no-reviewers")
    assert waived.returncode == 0
    assert "production has NO required reviewers (allowed)" in waived.stdout
    assert "production has required reviewers" not in waived.stdout


def test_preflight_points_to_the_setup_script(github: GitHubStub) -> None:
    result = run(github, "check")
    assert result.returncode == 1
    assert "::error title=Preflight::environment 'staging' does not exist" in result.stdout
    assert "scripts/setup-github.py apply --repo acme/models --reviewer" in result.stderr


def test_no_reviewer_given_warns(github: GitHubStub) -> None:
    result = run(github, "apply")
    assert result.returncode == 0
    assert "no --reviewer" in result.stderr


def test_dry_run_changes_nothing(github: GitHubStub) -> None:
    result = run(github, "apply", "--reviewer", "alice", "--dry-run")
    assert result.returncode == 0
    assert "[dry-run] PUT /repos/acme/models/environments/production" in result.stdout
    assert github.state.environments == {}
    assert {m for m, *_ in github.state.requests} == {"GET"}


def test_unknown_reviewer_is_an_error(github: GitHubStub) -> None:
    result = run(github, "apply", "--reviewer", "mallory")
    assert result.returncode == 1
    assert "404" in result.stderr


def test_release_environments_without_the_release_user_are_named(github: GitHubStub) -> None:
    github.state.secrets[""] = {
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    }
    github.state.secrets["staging"] = {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
    result = run(github, "apply", "--reviewer", "alice")
    assert result.returncode == 0, result.stderr
    assert "environment staging lacks" not in result.stderr
    assert "environment production lacks MLFLOW_TRACKING_USERNAME" in result.stderr
    assert "`gh secret set MLFLOW_TRACKING_PASSWORD --env production`" in result.stderr
    github.state.secrets["production"] = set(github.state.secrets["staging"])
    assert "lacks" not in run(github, "apply", "--reviewer", "alice").stderr
