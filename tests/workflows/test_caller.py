"""A caller repository that holds only its specs, data and a small config file runs the
template's reusable workflows at a version tag, offline with act.

The template is a git repository tagged `v0.2.0`; act's `--local-repository
OWNER/TEMPLATE@v0.2.0=PATH` stands in for GitHub's copy when the caller's workflows say
`uses: OWNER/TEMPLATE/.github/workflows/<file>.yml@v0.2.0`, and the checkout stub exports the
same repository when the reusable workflows check the template out. The caller carries a
booby-trapped `pipelines/` package: if its checkout's code ever ran, the jobs would fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from github_stub import GitHubStub
from harness import ActResult, run_act
from test_act import COPY_EXCLUDES, _copy_tree, explain, relax_latency_gate

from pipelines.registry.names import experiment_name

pytestmark = [pytest.mark.workflows, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TAG = "v0.2.0"
CALLER = "acme/models-only"
MODEL = "tumours"
PREFIX = "acme-models/"
C_PARAM = r"\bC: [0-9.eE+-]+"


def template_identity() -> str:
    """The repository the reusable workflow checks out by default (init renders it)."""
    document = yaml.safe_load((ROOT / ".github/workflows/pipeline.yml").read_text())
    return str(document[True]["workflow_call"]["inputs"]["template-repository"]["default"])


def caller_workflows(template: str) -> dict[str, str]:
    """The caller's whole CI: three short files calling the template at a tag."""
    uses = f"{template}/.github/workflows/{{}}.yml@{TAG}"
    return {
        "pull-request.yml": f"""name: Models pull request
on:
  pull_request:
permissions: {{}}
jobs:
  pipeline:
    name: Pipeline
    permissions:
      contents: read
      pull-requests: write
    uses: {uses.format("pipeline")}
    with:
      template-ref: {TAG}
    secrets: inherit
""",
        "release.yml": f"""name: Models release
on:
  push:
    branches: [release/**]
permissions: {{}}
jobs:
  release:
    name: Release
    permissions:
      actions: read
      contents: read
    uses: {uses.format("release")}
    with:
      template-ref: {TAG}
    secrets: inherit
""",
    }


@dataclass
class Caller:
    repo: Path
    template: Path
    template_name: str
    home: Path
    tracking_uri: str
    github: GitHubStub

    def git(self, *args: str, repo: Path | None = None) -> str:
        command = ["git", "-C", str(repo or self.repo), "-c", "user.name=t"]
        command += ["-c", "user.email=t@t", *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    def act(self, workflow: str, event_name: str, event: dict[str, Any]) -> ActResult:
        return run_act(
            self.repo,
            f".github/workflows/{workflow}.yml",
            event_name,
            {**event, "repository": {"full_name": CALLER, "name": CALLER.split("/")[1]}},
            home=self.home,
            secrets={"MLFLOW_TRACKING_URI": self.tracking_uri, "GITHUB_TOKEN": "t0ken"},
            env={"GITHUB_API_URL": self.github.url},
            repositories={self.template_name: self.template},
            template=self.template,
            extra_args=[
                "--local-repository",
                f"{self.template_name}@{TAG}={self.template}",
            ],
        )

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)


@pytest.fixture(scope="module")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caller]:
    if shutil.which("git") is None:
        pytest.skip("git is needed")
    top = tmp_path_factory.mktemp("caller")
    template = top / "template"
    template.mkdir()
    _copy_tree(template)
    name = template_identity()
    repo = top / "repo"
    (repo / "model_specs").mkdir(parents=True)
    (repo / "data").mkdir()
    (repo / "data" / "README.md").write_text("This repository's data.\n")
    spec = (ROOT / "model_specs" / "breast-cancer.yaml").read_text()
    spec = re.sub(r"(?m)^name: .*$", f"name: {MODEL}", spec)
    (repo / "model_specs" / f"{MODEL}.yaml").write_text(spec)
    relax_latency_gate(repo / "model_specs" / f"{MODEL}.yaml")
    (repo / "pyproject.toml").write_text(f'[tool.pipelines]\nexperiment_prefix = "{PREFIX}"\n')
    trap = repo / "pipelines"
    trap.mkdir()
    (trap / "__init__.py").write_text('raise SystemExit("the caller\'s own pipelines/ ran")\n')
    (trap / "__main__.py").write_text('raise SystemExit("the caller\'s own pipelines/ ran")\n')
    workflows = repo / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for file, text in caller_workflows(name).items():
        (workflows / file).write_text(text)
    (top / "mlflow").mkdir()
    with GitHubStub() as github:
        github.state.repository = CALLER
        for env_name in ("staging", "production"):  # as setup-github.py leaves them
            rules = [{"type": "required_reviewers", "reviewers": [{"type": "User", "id": 1}]}]
            github.state.environments[env_name] = {"name": env_name, "protection_rules": rules}
        box = Caller(
            repo, template, name, top / "home", f"sqlite:///{top / 'mlflow' / 'mlflow.db'}", github
        )
        box.git("init", "-q", "-b", "main", repo=template)
        box.git("add", "-A", repo=template)
        box.git("commit", "-qm", "template", repo=template)
        box.git("tag", TAG, repo=template)
        box.git("init", "-q", "-b", "main")
        box.git("remote", "add", "origin", f"https://github.com/{CALLER}.git")
        box.git("add", "-A")
        box.git("commit", "-qm", "base")
        yield box


def test_caller_holds_no_template_code(caller: Caller) -> None:
    files = {p.relative_to(caller.repo).parts[0] for p in caller.repo.iterdir()}
    assert files == {".git", ".github", "model_specs", "data", "pyproject.toml", "pipelines"}
    assert not (caller.repo / "actions").exists()
    assert not COPY_EXCLUDES & {"model_specs", "data"}


def test_caller_pull_request_then_release_to_champion(caller: Caller) -> None:
    base = caller.git("rev-parse", "main")
    caller.git("checkout", "-q", "-b", "pr-1")
    spec = caller.repo / "model_specs" / f"{MODEL}.yaml"
    text, count = re.subn(C_PARAM, "C: 1.0", spec.read_text(), count=1)
    assert count == 1
    spec.write_text(text)
    caller.git("commit", "-qam", "tumours: C 1.0")
    head = caller.git("rev-parse", "HEAD")
    event = {
        "number": 3,
        "action": "synchronize",
        "pull_request": {
            "number": 3,
            "head": {"sha": head, "ref": "pr-1", "repo": {"full_name": CALLER}},
            "base": {"sha": base, "ref": "main", "repo": {"full_name": CALLER}},
        },
    }
    result = caller.act("pull-request", "pull_request", event)
    assert result.returncode == 0, explain(result)
    assert "the caller's own pipelines/ ran" not in result.log
    assert result.outputs("specs")[0] == f'["model_specs/{MODEL}.yaml"]'
    assert result.step_result("Pipeline steps", "Evaluate against the champion") == "success"
    assert result.job_result("Pipeline passed") == "success", explain(result)
    experiment = caller.client().get_experiment_by_name(
        experiment_name(PREFIX, MODEL, release=False)
    )
    assert experiment is not None, "the caller's experiment prefix applies"
    assert len(caller.client().search_runs([experiment.experiment_id])) == 1
    (comment,) = caller.github.state.comments[3]
    assert comment["body"].startswith(f"<!-- pipelines-report:{MODEL} -->")

    caller.git("checkout", "-q", "-B", "release/1", head)
    push = {"ref": "refs/heads/release/1", "before": base, "after": head}
    release = caller.act("release", "push", push)
    assert release.returncode == 0, explain(release)
    assert "the caller's own pipelines/ ran" not in release.log
    assert release.job_result("Release passed") == "success", explain(release)
    # built again under the release credential, into the caller's release experiment
    assert "reusing published run" not in release.log
    client = caller.client()
    released = client.get_experiment_by_name(experiment_name(PREFIX, MODEL, release=True))
    assert released is not None, "the caller's experiment prefix applies to the release"
    (release_run,) = client.search_runs([released.experiment_id])
    assert client.get_model_version(MODEL, "1").run_id == release_run.info.run_id
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "staging").version) == "1"
