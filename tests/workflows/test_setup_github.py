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


def run(
    github: GitHubStub, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": github.state.repository,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def test_apply_creates_environments_policies_and_protection(github: GitHubStub) -> None:
    result = run(github, "apply", "--reviewer", "alice", "--reviewer-team", "acme/ml")
    assert result.returncode == 0, result.stderr
    envs = github.state.environments
    assert set(envs) == {"staging", "production"}
    # staging holds the release user too: it waits for the same reviewers
    for name in ("staging", "production"):
        (rule,) = envs[name]["protection_rules"]
        assert rule["type"] == "required_reviewers"
        assert {r["reviewer"]["id"] for r in rule["reviewers"]} == {101, 201}
        assert envs[name]["prevent_self_review"] is True
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
    # no release team: every push needs an approved pull request, nobody bypasses, and the
    # output says creation is not restricted
    assert {r["type"] for r in ruleset["rules"]} == {"deletion", "non_fast_forward", "pull_request"}
    (pull_request,) = [r for r in ruleset["rules"] if r["type"] == "pull_request"]
    assert pull_request["parameters"]["require_last_push_approval"] is True
    assert ruleset["bypass_actors"] == []
    assert "enforced: staging (the release build) and production wait" in result.stdout
    assert "NOT enforced: who may create a release/** branch" in result.stdout
    checked = run(github, "check")
    assert checked.returncode == 0
    assert "staging has required reviewers; production has required reviewers" in checked.stdout


def test_a_release_team_alone_creates_and_pushes_release_branches(github: GitHubStub) -> None:
    """Creation and pushes of release/** restricted to the named team, the only bypass actor
    (no repository role, so no admin bypass); run again, the one ruleset is updated."""
    assert run(github, "apply", "--reviewer", "alice").returncode == 0
    result = run(github, "apply", "--reviewer", "alice", "--release-team", "acme/ml")
    assert result.returncode == 0, result.stderr
    (ruleset,) = github.state.rulesets.values()
    types = {r["type"] for r in ruleset["rules"]}
    assert types == {"deletion", "non_fast_forward", "creation", "update"}
    assert ruleset["bypass_actors"] == [
        {"actor_id": 201, "actor_type": "Team", "bypass_mode": "always"}
    ]
    assert ruleset["enforcement"] == "active"
    assert "enforced: only the release teams may create or push release/**" in result.stdout
    assert "NOT enforced: who may create" not in result.stdout
    bad = run(github, "apply", "--reviewer", "alice", "--release-team", "just-a-name")
    assert bad.returncode != 0 and "ORG/TEAM-SLUG" in bad.stderr


def test_staging_without_reviewers_fails_the_preflight(github: GitHubStub) -> None:
    """An environment edited by hand after setup: staging lost its reviewers."""
    assert run(github, "apply", "--reviewer", "alice").returncode == 0
    github.state.environments["staging"]["protection_rules"] = []
    failed = run(github, "check")
    assert failed.returncode == 1
    assert "environment 'staging' has no required reviewers" in failed.stdout


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
    assert "NOT enforced: release builds (staging) and promotions (production)" in result.stdout
    assert github.state.environments["production"]["protection_rules"] == []
    assert github.state.environments["staging"]["protection_rules"] == []
    failed = run(github, "check")
    assert failed.returncode == 1
    assert "no required reviewers" in failed.stdout
    waived = run(github, "check", "--allow-no-reviewers")
    assert waived.returncode == 0
    assert "production has NO required reviewers (allowed)" in waived.stdout
    assert "staging has NO required reviewers (allowed)" in waived.stdout
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


def test_per_model_production_environments(github: GitHubStub, tmp_path: Path) -> None:
    """One `production-<model>` per spec, like `production`: GitHub asks for one approval
    per environment and run, so each model's promotion is approved on its own."""
    specs = tmp_path / "model_specs"
    specs.mkdir()
    (specs / "item-recs.yaml").write_text("name: item-recs\n")
    (specs / "wine.yml").write_text("name: wine\n")
    (specs / "spec.schema.json").write_text("{}")
    # the preflight of a release with per-model environments, before they exist
    missing = run(github, "check", "--per-model-environments", cwd=tmp_path)
    assert missing.returncode == 1
    assert "environment 'production-item-recs' does not exist" in missing.stdout
    assert "--per-model-environments" in missing.stderr
    result = run(github, "apply", "--reviewer", "alice", "--per-model-environments", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    envs = github.state.environments
    assert set(envs) == {"staging", "production", "production-item-recs", "production-wine"}
    for name in ("production-item-recs", "production-wine"):
        assert envs[name]["prevent_self_review"] is True
        assert envs[name]["protection_rules"][0]["type"] == "required_reviewers"
        assert sorted(p["name"] for p in github.state.branch_policies[name]) == [
            "main",
            "release/**",
        ]
    assert run(github, "check", "--per-model-environments", cwd=tmp_path).returncode == 0
    # without the flag (or PER_MODEL_ENVIRONMENTS=true, as the release passes it): production
    del envs["production-wine"]
    assert run(github, "check", cwd=tmp_path).returncode == 0
    github.state.secrets[""] = {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
    again = run(github, "apply", "--reviewer", "alice", "--per-model-environments", cwd=tmp_path)
    assert "environment production-wine lacks MLFLOW_TRACKING_USERNAME" in again.stderr


@pytest.mark.parametrize(
    ("visibility", "plan", "expected"),
    [
        ("public", "free", ["plan: free", "GitHub offers: required reviewers"]),
        (
            "private",
            "team",
            [
                "plan: team",
                "GitHub does NOT offer required reviewers on a private repository on plan team",
                "GitHub offers: branch protection and rulesets",
            ],
        ),
        (
            "private",
            "free",
            ["GitHub does NOT offer branch protection or rulesets on a private repository"],
        ),
        ("internal", "enterprise", ["GitHub offers: required reviewers", "(Enterprise)"]),
        ("private", None, ["plan: unknown (this token cannot read it)", "only with Enterprise"]),
    ],
)
def test_plan_and_visibility_say_what_github_enforces(
    github: GitHubStub, visibility: str, plan: str | None, expected: list[str]
) -> None:
    github.state.visibility = visibility
    github.state.plan = plan
    result = run(github, "apply", "--reviewer", "alice")
    assert result.returncode == 0, result.stderr
    assert f"visibility: {visibility}" in result.stdout
    for line in expected:
        assert line in result.stdout, result.stdout
