#!/usr/bin/env python3
"""Set up (`apply`) or check (`check`, the preflight) the GitHub side of the template.

`apply` creates what the release and rollback workflows rely on, through the REST API:
  - environment `staging`, deployable from `release/**` branches, with the same required
    reviewers: its job holds the release user, which builds the release candidate and
    could move any alias, so nothing runs with it unreviewed;
  - environment `production` with required reviewers who cannot approve their own runs,
    deployable from `release/**` (and the default branch, where the rollback workflow is
    dispatched);
  - branch protection on the default branch requiring the two checks that always report
    ("CI passed" and "Pipeline / Pipeline passed"), admins included;
  - a ruleset on `release/**` with no admin bypass: no deletion, no force push, and with
    `--release-team ORG/TEAM` only that team may create or push release branches (without
    one, pushes need an approved pull request and creation is not restricted: the output
    says so).
With `--per-model-environments` (the release's `per-model-environments` input or the
variable PIPELINES_PER_MODEL_ENVIRONMENTS), also `production-<model>` for every spec in
`model_specs/`, like `production`: each model's promotion is then approved on its own.
It detects the repository's visibility and, where the token may read it, the owner's plan,
and says what GitHub will and will not enforce.
`check` verifies that staging and production (and the per-model environments) exist and
that each has required reviewers; the release workflow runs it first.

    python scripts/setup-github.py apply --repo OWNER/NAME --reviewer YOUR_LOGIN \
        [--release-team ORG/TEAM]
    python scripts/setup-github.py check --repo OWNER/NAME

Token: GITHUB_TOKEN or GH_TOKEN, else `gh auth token`. Repository: --repo, else
GITHUB_REPOSITORY. API: --api-url, else GITHUB_API_URL, else https://api.github.com.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = "scripts/setup-github.py"
RELEASE_BRANCHES = "release/**"
# The ci.yml aggregator, and pull-request.yml's job "Pipeline" calling pipeline.yml, whose
# aggregator is "Pipeline passed": both report on every pull request.
DEFAULT_CHECKS = ("CI passed", "Pipeline / Pipeline passed")
RULESET_NAME = "release branches"
MLFLOW_USER_SECRETS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
NO_REVIEWERS_HINT = (
    "required reviewers are not available for this repository: GitHub offers them on "
    "environments of public repositories on every plan, and of private or internal ones "
    "only with GitHub Enterprise. Release builds (staging) and promotions (production) will "
    "NOT wait for an approval. "
    "Make the repository public, move it to an Enterprise plan, or accept this with the "
    "repository variable PIPELINES_ALLOW_NO_REVIEWERS=true (the preflight then passes "
    "without reviewers)."
)


class ApiError(Exception):
    """An HTTP error from the GitHub API, with its status."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message


@dataclass
class GitHubApi:
    """Minimal JSON client for the REST API."""

    api_url: str
    token: str
    dry_run: bool = False
    log: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        """One request; raises ApiError on an HTTP error."""
        if self.dry_run and method != "GET":
            self.log.append(f"{method} {path} {json.dumps(payload, sort_keys=True)}")
            print(f"[dry-run] {method} {path} {json.dumps(payload, sort_keys=True)}")
            return {}
        url = self.api_url.rstrip("/") + path
        if not url.startswith(("https://", "http://")):
            raise SystemExit(f"error: the API URL must be http(s): {self.api_url}")
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url,
            data=data,
            method=method,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "pipelines-setup-github",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            try:
                message = json.loads(body).get("message", body)
            except (json.JSONDecodeError, AttributeError):
                message = body
            raise ApiError(exc.code, method, path, str(message)[:300]) from exc
        return json.loads(raw) if raw else {}


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def resolve_reviewers(api: GitHubApi, users: list[str], teams: list[str]) -> list[dict[str, Any]]:
    """Reviewer entries (`{"type": "User"|"Team", "id": n}`) for logins and org/team slugs."""
    reviewers: list[dict[str, Any]] = []
    for login in users:
        reviewers.append({"type": "User", "id": api.call("GET", f"/users/{_quote(login)}")["id"]})
    for team in teams:
        org, _, slug = team.partition("/")
        if not slug:
            raise SystemExit(f"error: --reviewer-team takes ORG/TEAM-SLUG, got {team!r}")
        found = api.call("GET", f"/orgs/{_quote(org)}/teams/{_quote(slug)}")
        reviewers.append({"type": "Team", "id": found["id"]})
    return reviewers


def resolve_teams(api: GitHubApi, teams: list[str]) -> list[dict[str, Any]]:
    """ORG/TEAM-SLUG names as ruleset bypass actors (teams only: never a role or an admin)."""
    actors: list[dict[str, Any]] = []
    for team in teams:
        org, _, slug = team.partition("/")
        if not org or not slug:
            raise SystemExit(f"error: --release-team takes ORG/TEAM-SLUG, got {team!r}")
        found = api.call("GET", f"/orgs/{_quote(org)}/teams/{_quote(slug)}")
        actors.append({"actor_id": found["id"], "actor_type": "Team", "bypass_mode": "always"})
    return actors


def ensure_branch_policies(
    api: GitHubApi, repo: str, environment: str, patterns: list[str]
) -> None:
    """Add the deployment branch policies an environment lacks."""
    path = f"/repos/{repo}/environments/{_quote(environment)}/deployment-branch-policies"
    existing = (
        set()
        if api.dry_run
        else {p["name"] for p in api.call("GET", path + "?per_page=100").get("branch_policies", [])}
    )
    for pattern in patterns:
        if pattern not in existing:
            api.call("POST", path, {"name": pattern, "type": "branch"})


def put_environment(
    api: GitHubApi, repo: str, name: str, reviewers: list[dict[str, Any]]
) -> list[str]:
    """Create or update an environment; returns warnings (e.g. no reviewers on this plan)."""
    payload: dict[str, Any] = {
        "wait_timer": 0,
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    }
    if reviewers:
        payload["reviewers"] = reviewers
        payload["prevent_self_review"] = True
    path = f"/repos/{repo}/environments/{_quote(name)}"
    try:
        api.call("PUT", path, payload)
    except ApiError as exc:
        if not reviewers or exc.status not in (403, 422):
            raise
        payload.pop("reviewers")
        payload.pop("prevent_self_review")
        api.call("PUT", path, payload)
        return [f"{name}: {NO_REVIEWERS_HINT} (GitHub said: {exc.message})"]
    return []


def release_ruleset(release_teams: list[dict[str, Any]]) -> dict[str, Any]:
    """The `release/**` ruleset: no deletion and no force push for anyone. With release
    teams, only they may create or push (they are the only bypass actors); without, every
    push needs an approved pull request whose last push someone else approved."""
    rules: list[dict[str, Any]] = [{"type": "deletion"}, {"type": "non_fast_forward"}]
    if release_teams:
        rules += [
            {"type": "creation"},
            {"type": "update", "parameters": {"update_allows_fetch_and_merge": False}},
        ]
    else:
        rules.append(
            {
                "type": "pull_request",
                "parameters": {
                    "required_approving_review_count": 1,
                    "dismiss_stale_reviews_on_push": True,
                    "require_code_owner_review": False,
                    "require_last_push_approval": True,
                    "required_review_thread_resolution": False,
                },
            }
        )
    return {
        "name": RULESET_NAME,
        "target": "branch",
        "enforcement": "active",
        "bypass_actors": release_teams,
        "conditions": {"ref_name": {"include": ["refs/heads/release/**"], "exclude": []}},
        "rules": rules,
    }


def ensure_release_ruleset(api: GitHubApi, repo: str, release_teams: list[dict[str, Any]]) -> None:
    """Create or update the `release/**` ruleset (see `release_ruleset`)."""
    payload = release_ruleset(release_teams)
    existing = [] if api.dry_run else api.call("GET", f"/repos/{repo}/rulesets?per_page=100")
    found = [r for r in existing or [] if r.get("name") == RULESET_NAME]
    if found:
        api.call("PUT", f"/repos/{repo}/rulesets/{found[0]['id']}", payload)
    else:
        api.call("POST", f"/repos/{repo}/rulesets", payload)


def secret_names(api: GitHubApi, path: str) -> set[str] | None:
    """Names of the secrets at a `.../secrets` endpoint, or None when they cannot be read."""
    try:
        return {s["name"] for s in api.call("GET", path + "?per_page=100").get("secrets", [])}
    except ApiError:
        return None


def credentials_report(api: GitHubApi, repo: str, production: list[str] | None = None) -> list[str]:
    """Warnings about the MLflow credentials: the repository's secrets are the pull-request
    user; staging and production need their own (the release user), which take precedence
    in their jobs. Secret values are never read (GitHub does not return them)."""
    if api.dry_run:
        return []
    warnings: list[str] = []
    repository = secret_names(api, f"/repos/{repo}/actions/secrets")
    if repository is None:
        return ["MLflow credentials: cannot list the repository's secrets with this token"]
    if "MLFLOW_TRACKING_URI" not in repository:
        warnings.append(
            "MLflow: no repository secret MLFLOW_TRACKING_URI; every job will use a "
            "throwaway store (set it with `gh secret set MLFLOW_TRACKING_URI`)"
        )
    for environment in ["staging", *(production or ["production"])]:
        names = secret_names(api, f"/repos/{repo}/environments/{_quote(environment)}/secrets")
        missing = [n for n in MLFLOW_USER_SECRETS if n not in (names or set())]
        if names is not None and missing and set(MLFLOW_USER_SECRETS) <= repository:
            warnings.append(
                f"MLflow: environment {environment} lacks {', '.join(missing)}: its jobs would "
                "run as the pull-request user, which must not register versions or move "
                "aliases. Set the release user's: "
                + "; ".join(f"`gh secret set {n} --env {environment}`" for n in missing)
            )
    return warnings


def model_names(specs_dir: str) -> list[str]:
    """The model names (file stems) of the specs in `specs_dir`."""
    folder = Path(specs_dir)
    return sorted({p.stem for p in [*folder.glob("*.yaml"), *folder.glob("*.yml")]})


def production_environments(args: argparse.Namespace) -> list[str]:
    """`production`, and `production-<model>` per spec when per-model environments are on."""
    names = ["production"]
    if args.per_model_environments:
        names += [f"production-{model}" for model in model_names(args.specs_dir)]
    return names


def detect_plan(api: GitHubApi, info: dict[str, Any]) -> str | None:
    """The owner's GitHub plan (`free`, `pro`, `team`, `enterprise`...), or None when this
    token cannot read it: GitHub shows an organization's `plan` to its owners only
    (GET /orgs/{org}), and a user's to that user (GET /user)."""
    owner = info.get("owner") or {}
    login = owner.get("login")
    if not login:
        return None
    try:
        if owner.get("type") == "Organization":
            data = api.call("GET", f"/orgs/{_quote(login)}")
        else:
            data = api.call("GET", "/user")
            if data.get("login") != login:
                return None
    except ApiError:
        return None
    name = (data.get("plan") or {}).get("name")
    return str(name).lower() if name else None


def expected_enforcement(visibility: str, plan: str | None) -> list[str]:
    """What GitHub's documentation says this visibility and plan get, before trying."""
    public = visibility == "public"
    enterprise = plan is not None and "enterprise" in plan
    known = plan or "unknown (this token cannot read it)"
    lines = [f"plan: {known}"]
    if public or enterprise:
        lines.append(
            "GitHub offers: required reviewers and prevent-self-review on environments"
            + ("" if public else " (Enterprise)")
        )
    elif plan is None:
        lines.append(
            "GitHub offers required reviewers on a non-public repository only with "
            "Enterprise: the script tries and reports what GitHub accepted"
        )
    else:
        lines.append(
            f"GitHub does NOT offer required reviewers on a {visibility} repository on plan "
            f"{plan} (public repositories on every plan; private or internal only Enterprise)"
        )
    if public or (plan is not None and plan != "free"):
        lines.append("GitHub offers: branch protection and rulesets (admins included)")
    elif plan is None:
        lines.append(
            "GitHub offers branch protection and rulesets on a private repository only on "
            "Pro, Team or Enterprise: the script tries and reports what GitHub accepted"
        )
    else:
        lines.append(
            f"GitHub does NOT offer branch protection or rulesets on a {visibility} "
            "repository on GitHub Free"
        )
    return lines


def enforcement_report(
    info: dict[str, Any], reviewers_set: bool, protected: bool, release_teams: bool
) -> list[str]:
    """What GitHub will and will not enforce, in plain lines."""
    visibility = info.get("visibility") or ("private" if info.get("private") else "public")
    lines = [f"visibility: {visibility}"]
    if reviewers_set:
        lines.append(
            "enforced: staging (the release build) and production wait for a required "
            "reviewer, who cannot approve a run they triggered"
        )
    else:
        lines.append(
            "NOT enforced: release builds (staging) and promotions (production) do not wait "
            "for an approval"
        )
    if protected:
        lines.append(
            "enforced: merges to the default branch need the required checks and an approving "
            "review, admins included; release/** cannot be deleted or force-pushed, "
            "admins included"
        )
        if release_teams:
            lines.append("enforced: only the release teams may create or push release/**")
        else:
            lines.append(
                "enforced: pushes to release/** need an approved pull request; NOT enforced: "
                "who may create a release/** branch (give --release-team ORG/TEAM: a "
                "ruleset lets only its bypass actors create, and those are teams or apps); "
                "the staging approval still guards what a new branch builds"
            )
    else:
        lines.append(
            "NOT enforced: branch protection and rulesets (private repositories need GitHub "
            "Pro, Team or Enterprise): gates do not block merges"
        )
    return lines


def apply(api: GitHubApi, args: argparse.Namespace, repo: str) -> int:
    """Create the environments, their branch policies and the branch protection."""
    info = api.call("GET", f"/repos/{repo}")
    branch = args.branch or info.get("default_branch") or "main"
    warnings: list[str] = []
    reviewers = resolve_reviewers(api, args.reviewer, args.reviewer_team)
    if not reviewers:
        warnings.append(
            "staging and production: no --reviewer/--reviewer-team given, so release builds "
            "and promotions will not wait for an approval and the preflight check will fail."
        )
    release_teams = resolve_teams(api, args.release_team)
    reviewer_warnings = put_environment(api, repo, "staging", reviewers)
    ensure_branch_policies(api, repo, "staging", [RELEASE_BRANCHES])
    for environment in production_environments(args):
        reviewer_warnings += put_environment(api, repo, environment, reviewers)
        ensure_branch_policies(api, repo, environment, [RELEASE_BRANCHES, branch])
    warnings += reviewer_warnings
    protection = {
        "required_status_checks": {"strict": True, "contexts": list(args.required_check)},
        "enforce_admins": True,
        "required_pull_request_reviews": {"required_approving_review_count": args.approvals},
        "restrictions": None,
        "allow_force_pushes": False,
        "allow_deletions": False,
    }
    protected = True
    try:
        api.call("PUT", f"/repos/{repo}/branches/{_quote(branch)}/protection", protection)
        ensure_release_ruleset(api, repo, release_teams)
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
        protected = False
        warnings.append(
            f"branch protection and rulesets: not available ({exc.message}); private "
            "repositories need GitHub Pro, Team or Enterprise for them."
        )
    environments = ", ".join(["staging", *production_environments(args)])
    print(f"{repo}: environments {environments}, deployment branches {RELEASE_BRANCHES}")
    print(f"{repo}: {branch} requires {', '.join(args.required_check)}")
    warnings += credentials_report(api, repo, production_environments(args))
    visibility = info.get("visibility") or ("private" if info.get("private") else "public")
    for line in expected_enforcement(visibility, detect_plan(api, info)):
        print(f"{repo}: {line}")
    reviewers_set = bool(reviewers) and not reviewer_warnings
    for line in enforcement_report(info, reviewers_set, protected, bool(release_teams)):
        print(f"{repo}: {line}")
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


def check(api: GitHubApi, args: argparse.Namespace, repo: str) -> int:
    """The preflight: staging and production exist and have required reviewers (or
    `--allow-no-reviewers` waives them, and the output says so)."""
    problems: list[str] = []
    environments: dict[str, Any] = {}
    production_names = production_environments(args)
    for name in ["staging", *production_names]:
        try:
            environments[name] = api.call("GET", f"/repos/{repo}/environments/{_quote(name)}")
        except ApiError as exc:
            if exc.status != 404:
                raise
            problems.append(f"environment {name!r} does not exist")
    waived: list[str] = []
    gated = ["staging", *production_names]
    for name in gated:
        environment = environments.get(name)
        if environment is None:
            continue
        rules = environment.get("protection_rules") or []
        has_reviewers = any(
            r.get("type") == "required_reviewers" and r.get("reviewers") for r in rules
        )
        if not has_reviewers and not args.allow_no_reviewers:
            problems.append(f"environment {name!r} has no required reviewers")
        elif not has_reviewers:
            waived.append(name)
    if problems:
        for problem in problems:
            print(f"::error title=Preflight::{problem}")
        print(
            f"\nSet the repository up with:\n  python {SCRIPT} apply --repo {repo} "
            "--reviewer <your-login>"
            + (" --per-model-environments" if args.per_model_environments else "")
            + "\n(a token with admin rights on the repository: "
            "`gh auth login`, or GITHUB_TOKEN). If the plan cannot have required reviewers, "
            "see the warning that script prints.",
            file=sys.stderr,
        )
        return 1
    states = [
        f"{name} has NO required reviewers (allowed)"
        if name in waived
        else f"{name} has required reviewers"
        for name in gated
    ]
    print(f"{repo}: {', '.join(['staging', *production_names])} exist; {'; '.join(states)}")
    return 0


def find_token() -> str:
    """GITHUB_TOKEN, GH_TOKEN, or the gh CLI's token."""
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if token:
        return token
    gh = shutil.which("gh")
    if gh:
        result = subprocess.run([gh, "auth", "token"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    raise SystemExit("error: no token: set GITHUB_TOKEN (or GH_TOKEN), or run `gh auth login`")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run `apply` or `check`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["apply", "check"])
    parser.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="OWNER/NAME")
    parser.add_argument(
        "--api-url", default=os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    )
    parser.add_argument("--reviewer", action="append", default=[], help="login (repeatable)")
    parser.add_argument(
        "--reviewer-team", action="append", default=[], help="ORG/TEAM-SLUG (repeatable)"
    )
    parser.add_argument("--branch", help="branch to protect (default: the default branch)")
    parser.add_argument(
        "--required-check",
        action="append",
        default=None,
        help=f"status check required on the branch (default: {', '.join(DEFAULT_CHECKS)})",
    )
    parser.add_argument("--approvals", type=int, default=1, help="approving reviews on PRs")
    parser.add_argument(
        "--allow-no-reviewers",
        action="store_true",
        default=os.environ.get("ALLOW_NO_REVIEWERS", "").lower() == "true",
        help="check: pass without required reviewers on staging and production",
    )
    parser.add_argument(
        "--release-team",
        action="append",
        default=[],
        help="ORG/TEAM-SLUG that alone may create and push release/** (repeatable)",
    )
    parser.add_argument(
        "--per-model-environments",
        action="store_true",
        default=os.environ.get("PER_MODEL_ENVIRONMENTS", "").lower() == "true",
        help="also production-<model> for every spec: approvals one model at a time",
    )
    parser.add_argument(
        "--specs-dir", default="model_specs", help="where the specs are (default: model_specs)"
    )
    parser.add_argument("--dry-run", action="store_true", help="apply: print, change nothing")
    args = parser.parse_args(argv)
    args.required_check = args.required_check or list(DEFAULT_CHECKS)
    if not args.repo:
        parser.error("--repo OWNER/NAME is required (or set GITHUB_REPOSITORY)")
    api = GitHubApi(args.api_url, find_token(), dry_run=args.dry_run)
    try:
        return (
            apply(api, args, args.repo) if args.command == "apply" else check(api, args, args.repo)
        )
    except ApiError as exc:
        print(f"error: GitHub API {exc}", file=sys.stderr)
        if exc.status in (401, 403):
            print("The token needs admin rights on the repository.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
