"""What act ignores, checked on the YAML: triggers, permissions, environments, concurrency,
pins, checkout credentials, and no `${{ }}` inside `run:`. Plus the actions' README contract."""

from __future__ import annotations

import re
import sys
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
PROMOTE = "./.pipelines-template/actions/promote"
SMOKE = "./.pipelines-template/actions/smoke"
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
        "actions/checkout",
        "actions/setup-python",
        "actions/cache",
        "actions/upload-artifact",
        "actions/download-artifact",
    }


def test_pull_request_always_reports_one_check() -> None:
    """No path filter: a path-filtered workflow cannot be a required check (it never reports
    on unrelated pull requests); the plan decides what runs and an empty plan passes. A
    dispatch (the monitor's retrain branch) runs the same jobs, so the same check names."""
    document = workflow("pull-request")
    assert document["on"] == {"pull_request": None, "workflow_dispatch": None}
    assert document["concurrency"]["cancel-in-progress"] is True
    group = document["concurrency"]["group"]
    assert group == "pull-request-${{ github.event.pull_request.number || github.ref }}"
    (job,) = document["jobs"].values()
    assert job["name"] == "Pipeline"
    assert job["uses"] == "./.github/workflows/pipeline.yml"
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert job["with"]["template-repository"] == "${{ github.repository }}"
    jobs = workflow("pipeline")["jobs"]
    assert jobs["passed"]["name"] == "Pipeline passed"
    assert "needs.plan.outputs.count != '0'" in jobs["model"]["if"]
    # one entry per spec (spec, model, runs_on), and each model's job on its own runner
    assert jobs["model"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["model"]["runs-on"] == "${{ matrix.runs_on }}"
    assert jobs["model"]["permissions"] == {"contents": "read"}
    assert jobs["comment"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "head.repo.full_name == github.repository" in jobs["comment"]["if"]
    assert "github.event_name == 'workflow_dispatch'" in jobs["comment"]["if"]
    # a dispatched run plans the branch against the default branch, as its pull request would
    (plan,) = [s for s in jobs["plan"]["steps"] if s.get("id") == "plan"]
    assert plan["with"]["base"] == (
        "${{ github.event.pull_request.base.sha || (github.event_name == 'workflow_dispatch' "
        "&& format('origin/{0}', github.event.repository.default_branch)) "
        "|| github.event.before }}"
    )


def test_the_required_checks_are_the_ones_that_always_report() -> None:
    import importlib.util

    path = ROOT / "scripts/setup-github.py"
    loaded = importlib.util.spec_from_file_location("setup_github", path)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    sys.modules["setup_github"] = module  # its dataclasses look their module up
    loaded.loader.exec_module(module)
    pr_job = workflow("pull-request")["jobs"]["pipeline"]["name"]
    aggregator = workflow("pipeline")["jobs"]["passed"]["name"]
    ci = workflow("ci")["jobs"]["passed"]["name"]
    assert set(module.DEFAULT_CHECKS) == {f"{pr_job} / {aggregator}", ci}


@pytest.mark.parametrize("name", ["pipeline", "release", "rollback"])
def test_reusable_workflows_run_the_template_at_its_version(name: str) -> None:
    """`./actions/x` in a called workflow resolves against the caller's checkout: every job
    checks the template out at `template-ref` and uses its actions from there."""
    document = workflow(name)
    assert "workflow_call" in document["on"]
    for job_id, job in document["jobs"].items():
        steps = job.get("steps", [])
        local = [str(s["uses"]) for s in steps if str(s.get("uses", "")).startswith("./")]
        assert all(u.startswith("./.pipelines-template/actions/") for u in local), job_id
        runs = " ".join(str(s.get("run", "")) for s in steps)
        if local or "scripts/" in runs:
            (checkout,) = [
                s for s in steps if s.get("with", {}).get("path") == ".pipelines-template"
            ]
            assert "inputs.template-ref" in checkout["with"]["ref"], job_id
            assert "inputs.template-repository" in checkout["with"]["repository"], job_id
            assert checkout["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_actions_run_the_template_code_not_the_callers(path: Path) -> None:
    """`python -P` drops the working directory from sys.path: `pipelines` comes from the
    action's own template (`github.action_path`/../..), even when the caller has one."""
    for step in load(path)["runs"]["steps"]:
        run = str(step.get("run", ""))
        if "-m pipelines" in run:
            assert 'PYTHONPATH="$PIPELINES_HOME" python -P -m pipelines' in run
            assert step["env"]["PIPELINES_HOME"] == "${{ github.action_path }}/../.."
    assert "python -m pipelines" not in path.read_text(encoding="utf-8")


def test_setup_installs_from_the_lock_and_checks_warmth() -> None:
    steps = {s["name"]: s for s in load(ROOT / "actions/setup/action.yml")["runs"]["steps"]}
    key = steps["Compute the environment key"]
    assert "scripts/setup_key.py" in key["run"]
    install = steps["Install the locked dependencies (skipped when warm)"]
    assert " sync " in install["run"] and "--locked" in install["run"]
    assert '"$VENV/bin/python" -c' in install["run"], "warm means the venv's python runs"
    assert (ROOT / "uv.lock").is_file()


def test_setup_key_names_the_resolved_interpreter_and_the_lock(tmp_path: Path) -> None:
    import platform
    import shutil

    from harness import setup_key

    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/setup_key.py", tmp_path / "scripts/setup_key.py")
    key = setup_key(tmp_path, ["dev"])
    assert f"{platform.python_version()}-" in key, "the resolved X.Y.Z, not the request"
    assert "-dev-" in key
    (tmp_path / "uv.lock").write_text((ROOT / "uv.lock").read_text() + "\n")
    assert setup_key(tmp_path, ["dev"]) != key, "the lock file's hash is in the key"


def test_nox_and_ci_install_from_the_lock() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert '"sync", "--locked"' in noxfile
    ci_run = (ROOT / ".ci/run").read_text()
    assert re.search(r"uv==\d", ci_run) and re.search(r"nox==\d", ci_run), "pinned tools"
    dependabot = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())
    assert "uv" in {u["package-ecosystem"] for u in dependabot["updates"]}


def test_report_upload_overwrites_on_a_rerun() -> None:
    """Artifact names are unique per run across attempts: a re-run job uploads again."""
    job = workflow("pipeline")["jobs"]["model"]
    (upload,) = [s for s in job["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert upload["with"]["overwrite"] is True
    assert upload["with"]["include-hidden-files"] is True
    assert upload["with"]["if-no-files-found"] == "error"
    assert upload["if"] == "${{ !cancelled() && steps.report.outcome == 'success' }}"


def test_pull_request_credentials_never_reach_forks() -> None:
    env = workflow("pipeline")["jobs"]["model"]["env"]
    assert set(env) == {
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
    }
    # a dispatch can only be started by a writer of the repository, on one of its branches
    same_repo = (
        "${{ (github.event_name == 'workflow_dispatch' || "
        "github.event.pull_request.head.repo.full_name == github.repository) && "
    )
    for name, value in env.items():
        assert value == f"{same_repo}secrets.{name} || '' }}}}", name


MLFLOW_SECRETS = {
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
}


def test_monitor_talks_to_mlflow_as_the_pull_request_user() -> None:
    """The monitor job gets every MLflow credential (basic auth or a bearer token) from the
    repository's secrets, the pull-request user's: no environment, so never the release
    user; no other monitor job holds an MLflow secret."""
    jobs = workflow("monitor")["jobs"]
    assert "environment" not in jobs["monitor"]
    (score,) = [s for s in jobs["monitor"]["steps"] if s.get("id") == "monitor"]
    assert {k: v for k, v in score["env"].items() if k.startswith("MLFLOW_")} == {
        name: f"${{{{ secrets.{name} }}}}" for name in MLFLOW_SECRETS
    }
    for job_id, job in jobs.items():
        if job_id != "monitor":
            assert "MLFLOW_" not in yaml.safe_dump(job), job_id


def test_the_retrain_pull_request_starts_the_pipeline() -> None:
    """With the retrain token the pull request's own events start pull-request.yml; without
    it the job dispatches the workflow alert.py names, which must accept a dispatch with no
    required input."""
    from pipelines.monitor import alert

    retrain = workflow("monitor")["jobs"]["retrain"]
    assert retrain["permissions"]["actions"] == "write"
    (step,) = [s for s in retrain["steps"] if "retrain-pr" in str(s.get("run", ""))]
    assert step["env"][alert.RETRAIN_TOKEN] == f"${{{{ secrets.{alert.RETRAIN_TOKEN} }}}}"
    assert step["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    dispatched = load(ROOT / ".github" / "workflows" / alert.PR_WORKFLOW)
    assert "workflow_dispatch" in dispatched["on"]
    inputs = (dispatched["on"]["workflow_dispatch"] or {}).get("inputs") or {}
    assert not [name for name, spec in inputs.items() if spec.get("required")]


def test_only_environment_jobs_register_or_move_aliases() -> None:
    """promote and rollback (register, move aliases) run only under staging / production,
    whose secrets (the release user) take precedence over the repository's."""
    for path in WORKFLOWS:
        for job_id, job in load(path)["jobs"].items():
            uses = [str(s.get("uses", "")) for s in job.get("steps", [])]
            if [u for u in uses if u.endswith(("/promote", "/rollback"))]:
                environment = job.get("environment")
                assert environment in {"staging", "production", PRODUCTION}, (path.name, job_id)
                assert "MLFLOW_TRACKING_PASSWORD" in job["env"], (path.name, job_id)
            assert "promote" not in str(job.get("with", {})), "no promotion in a PR call"


@pytest.mark.parametrize("name", ["pipeline", "release", "ci"])
def test_one_aggregator_job(name: str) -> None:
    jobs = workflow(name)["jobs"]
    aggregators = [j for j in jobs.values() if j.get("if") == "${{ always() }}"]
    assert len(aggregators) == 1
    others = set(jobs) - {k for k, j in jobs.items() if j is aggregators[0]}
    assert set(aggregators[0]["needs"]) == others


# `production`, or `production-<model>` when per-model environments are on (input or variable).
PRODUCTION = (
    "${{ (inputs.per-model-environments || vars.PIPELINES_PER_MODEL_ENVIRONMENTS == 'true') "
    "&& format('production-{0}', matrix.model) || 'production' }}"
)


def test_release_runs_each_model_where_its_spec_says() -> None:
    """Build and stage (training, smoke test) runs on the spec's `resources.runs_on`, through
    the plan's matrix; production only moves an alias, on a hosted runner."""
    document = workflow("release")
    jobs = document["jobs"]
    assert jobs["plan"]["outputs"]["matrix"] == "${{ steps.plan.outputs.matrix }}"
    for job_id in ("staging", "production"):
        assert jobs[job_id]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert jobs["staging"]["runs-on"] == "${{ matrix.runs_on }}"
    assert jobs["production"]["runs-on"] == "ubuntu-latest"
    inputs = document["on"]["workflow_call"]["inputs"]
    assert inputs["per-model-environments"]["default"] is False
    assert inputs["runs-on"]["default"] == "ubuntu-latest"
    preflight_env = jobs["preflight"]["steps"][-1]["env"]
    assert "PIPELINES_PER_MODEL_ENVIRONMENTS" in preflight_env["PER_MODEL_ENVIRONMENTS"]


def test_release_environments_and_concurrency() -> None:
    """The release candidate is built under the staging environment (the release user), never
    in a job without one; production moves `champion` under its own."""
    document = workflow("release")
    jobs = document["jobs"]
    assert {"push", "workflow_call"} == set(document["on"])
    assert document["on"]["push"] == {"branches": ["release/**"]}
    assert set(jobs) == {"preflight", "plan", "staging", "production", "passed"}
    (run,) = [s for s in jobs["staging"]["steps"] if str(s.get("uses", "")).endswith("/run")]
    assert run["with"]["reuse"] == "true"
    assert jobs["plan"]["needs"] == "preflight"
    assert "setup-github.py check" in jobs["preflight"]["steps"][-1]["run"]
    for alias, env_name, need, environment in (
        ("staging", "staging", "plan", "staging"),
        ("champion", "production", "staging", PRODUCTION),
    ):
        job = jobs[env_name]
        assert job["environment"] == environment
        assert need in job["needs"]
        assert job["concurrency"] == {
            "group": f"deploy-${{{{ matrix.spec }}}}-{env_name}",
            "cancel-in-progress": False,
        }
        promote = [s for s in job["steps"] if s.get("uses") == PROMOTE]
        assert promote[0]["with"]["alias"] == alias
    steps = jobs["staging"]["steps"]
    smoke = [s for s in steps if s.get("uses") == SMOKE]
    assert smoke and smoke[0]["with"]["alias"] == "staging"
    assert steps.index(run) < steps.index(smoke[0])


def test_release_hands_the_verdict_on_by_id() -> None:
    """Production promotes the run staging promoted and the digest of the version it
    smoke-tested, read from the hand-off; nothing is searched for."""
    jobs = workflow("release")["jobs"]
    staging = jobs["staging"]["steps"]
    (promote,) = [s for s in staging if s.get("uses") == PROMOTE]
    (hand_on,) = [s for s in staging if str(s.get("name", "")).startswith("Hand this model on")]
    assert hand_on["env"]["RUN_ID"] == f"${{{{ steps.{promote['id']}.outputs.run-id }}}}"
    assert hand_on["env"]["DIGEST"] == f"${{{{ steps.{promote['id']}.outputs.digest }}}}"
    assert "${{" not in hand_on["run"]
    production = jobs["production"]["steps"]
    (read,) = [s for s in production if s.get("id") == "handoff"]
    assert "${{" not in read["run"]
    (champion,) = [s for s in production if s.get("uses") == PROMOTE]
    assert champion["with"]["run-id"] == "${{ steps.handoff.outputs.run-id }}"
    assert champion["with"]["digest"] == "${{ steps.handoff.outputs.digest }}"
    assert production.index(read) < production.index(champion)


def test_release_legs_are_per_model() -> None:
    """`needs` on a matrix waits for every leg: production runs even when another model's
    leg failed, and each leg goes on only with its own model's hand-off artifact
    (download-artifact fails on a name that does not exist)."""
    jobs = workflow("release")["jobs"]
    production = jobs["production"]
    assert production["if"].startswith("${{ !cancelled() && needs.plan.result == 'success'")
    (wait,) = [s for s in production["steps"] if "download-artifact" in str(s.get("uses"))]
    assert wait["with"]["name"] == "staged-${{ matrix.model }}"
    steps = jobs["staging"]["steps"]
    (upload,) = [s for s in steps if "upload-artifact" in str(s.get("uses"))]
    assert upload["with"]["name"] == "staged-${{ matrix.model }}"
    assert upload["with"]["overwrite"] is True
    assert steps.index(upload) == len(steps) - 1, "handed on only after every step passed"


def test_rollback_dispatch() -> None:
    document = workflow("rollback")
    inputs = document["on"]["workflow_dispatch"]["inputs"]
    assert inputs["model"]["required"] is True
    assert inputs["version"]["required"] is False
    assert set(document["on"]["workflow_call"]["inputs"]) >= {"model", "version"}
    (job,) = document["jobs"].values()
    assert job["environment"] == "production"
    # Its own group per model: never queued behind a release awaiting approval, never
    # cancelled by one (the release's groups are deploy-...).
    assert job["concurrency"] == {
        "group": "rollback-${{ inputs.model }}",
        "cancel-in-progress": False,
    }
    release_jobs = workflow("release")["jobs"].values()
    groups = {j["concurrency"]["group"] for j in release_jobs if "concurrency" in j}
    assert groups and not any(g.startswith("rollback-") for g in groups)
    # the spec path is found, .yaml or .yml, never assumed
    assert ".yaml" not in " ".join(str(s.get("with", "")) for s in job["steps"])


def test_find_spec_takes_yml_and_yaml(tmp_path: Path) -> None:
    import importlib.util

    loaded = importlib.util.spec_from_file_location("find_spec", ROOT / "scripts/find_spec.py")
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    (tmp_path / "model_specs").mkdir()
    (tmp_path / "model_specs/a.yml").write_text("name: a\n")
    (tmp_path / "model_specs/b.yaml").write_text("name: b\n")
    assert module.find_spec("a", tmp_path) == "model_specs/a.yml"
    assert module.find_spec("b", tmp_path) == "model_specs/b.yaml"
    for bad in ("c", "../b", "a/../b", ""):
        with pytest.raises(ValueError):
            module.find_spec(bad, tmp_path)
    (tmp_path / "model_specs/b.yml").write_text("name: b\n")
    with pytest.raises(ValueError, match="both"):
        module.find_spec("b", tmp_path)


def test_reusable_pipeline_is_callable() -> None:
    document = workflow("pipeline")
    call = document["on"]["workflow_call"]
    assert set(call["inputs"]) >= {"template-repository", "template-ref", "python-version"}
    assert set(call["secrets"]) >= {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN"}
    assert all(s.get("required") is False for s in call["secrets"].values())


def test_preflight_reads_environments() -> None:
    document = workflow("preflight")
    assert set(document["on"]) == {"workflow_dispatch"}
    (job,) = document["jobs"].values()
    assert job["permissions"]["actions"] == "read"
    assert "scripts/setup-github.py check" in job["steps"][-1]["run"]


def test_ci_runs_lint_and_tests_through_nox() -> None:
    jobs = workflow("ci")["jobs"]
    runs = [s.get("run", "") for j in jobs.values() for s in j.get("steps", [])]
    assert "nox -s lint" in runs and "nox -s tests" in runs


def test_lint_audits_every_action_under_the_root_and_no_stub_writes_the_path() -> None:
    """zizmor runs on the repository root (test stubs included), in both personas; the
    setup-python stub leaves PATH to the harness instead of writing $GITHUB_PATH."""
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert 'session.run("zizmor", "--offline", str(ROOT))' in noxfile
    assert 'session.run("zizmor", "--offline", "--persona", "pedantic", str(ROOT))' in noxfile
    for stub in (ROOT / "tests" / "workflows" / "stubs").glob("*/action.yml"):
        for step in load(stub)["runs"].get("steps", []):
            assert "GITHUB_PATH" not in step.get("run", ""), stub.parent.name


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
    git("remote", "add", "origin", "git@github.com:acme/models.git")
    pr = default_event(tmp_path, "pull_request", {})
    # the documented command takes the same-repository path: act names the repository
    # after `origin`, and so does the event
    assert pr["repository"]["full_name"] == "acme/models"
    assert pr["pull_request"]["head"]["repo"]["full_name"] == "acme/models"
    fork = default_event(tmp_path, "pull_request", {}, fork=True)
    assert fork["pull_request"]["head"]["repo"]["full_name"] != "acme/models"
    main_sha = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "main"], capture_output=True, text=True
    ).stdout.strip()
    assert pr["number"] == pr["pull_request"]["number"]
    assert pr["pull_request"]["base"]["sha"] == main_sha  # the fork point, not HEAD~1
    dispatch = default_event(tmp_path, "workflow_dispatch", {"model": "m"})
    assert dispatch["inputs"] == {"model": "m"}
    assert default_event(tmp_path, "push", {})["ref"] == "refs/heads/feature"


def test_setup_rebuilds_an_environment_whose_python_is_dead(tmp_path: Path) -> None:
    """A restored environment with the right key but a dead interpreter (the runner image
    moved 3.11.x under it: python exits 127) is not warm: the action rebuilds it."""
    import subprocess

    steps = {s["name"]: s for s in load(ROOT / "actions/setup/action.yml")["runs"]["steps"]}
    script = steps["Install the locked dependencies (skipped when warm)"]["run"]
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".pipelines-setup-key").write_text("key-1\n")
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    for path, body in (
        (venv / "bin" / "python", "exit 127"),  # the dead interpreter
        (fake_bin / "python3", f'echo "$@" > {tmp_path / "rebuilt"}; exit 9'),
    ):
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    env = {
        "PATH": f"{fake_bin}:/usr/bin:/bin",
        "VENV": str(venv),
        "KEY": "key-1",
        "TEMPLATE_ROOT": str(ROOT),
        "INPUT_GROUPS": "",
        "UV_VERSION": "0",
        **{k: str(tmp_path / k.lower()) for k in ("GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_ENV")},
    }
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True
    )
    assert "is warm" not in result.stdout
    assert (tmp_path / "rebuilt").read_text().split()[:2] == ["-m", "venv"]
    # and a live one with the same key is warm
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".pipelines-setup-key").write_text("key-1\n")
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "is warm" in result.stdout
