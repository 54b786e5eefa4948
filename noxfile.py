"""Sessions: the only entry points CI and people use (`nox -l` lists them)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2024.10"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]
# A second `nox -s pipeline` reuses its environment: `uv sync --locked` below makes it match
# uv.lock exactly either way, so reuse is safe and a warm run installs nothing.
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).parent
PYTHON = "3.11"
# Two shared environments instead of one per session: every session that runs the package
# (pipeline, new-spec, serve, monitor) uses RUNTIME, the development ones (tests, lint, act)
# DEV with all their groups. `uv sync --locked` makes each match uv.lock exactly for its
# groups, so sharing is as exact as a fresh environment, and a newcomer builds two, not five.
RUNTIME = ROOT / ".nox" / "runtime"
DEV = ROOT / ".nox" / "dev"
# `dev`: the test, lint and act groups, nox itself and pre-commit (pyproject.toml).
DEV_GROUPS = ("dev",)
_PATH = os.environ.get("PATH", "")


def install(session: nox.Session, *groups: str, location: Path = RUNTIME) -> Path:
    """Sync the shared environment at `location`: the project (editable) plus dependency
    groups, at the versions pinned in uv.lock; put its bin first on PATH; return that bin.

    `uv sync --locked` fails when uv.lock is out of date with pyproject.toml (run `uv lock`).
    """
    uv = shutil.which("uv")
    if uv is None:
        session.error("uv is not on PATH: python -m pip install uv")
    session.log(f"environment: {location.relative_to(ROOT)} (groups: {', '.join(groups) or '-'})")
    # Byte-compiled once here, so no process recompiles mlflow, pandas or scikit-learn.
    args = [uv, "sync", "--locked", "--no-default-groups", "--compile-bytecode"]
    args += [f"--python={PYTHON}", *(f"--group={g}" for g in groups)]
    session.run_install(*args, env={"UV_PROJECT_ENVIRONMENT": str(location)}, external=True)
    bin_dir = location / ("Scripts" if sys.platform == "win32" else "bin")
    # The session has no environment of its own (python=False): its commands resolve on
    # PATH, which starts with this environment's bin (reset for each session, never stacked).
    os.environ["PATH"] = os.pathsep.join([str(bin_dir), _PATH])
    os.environ["VIRTUAL_ENV"] = str(location)
    return bin_dir


def all_specs() -> list[str]:
    """Every model spec in the repository."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "model_specs").glob("*.yaml"))


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run the test suite (pass pytest arguments after --, e.g. -m "not slow")."""
    install(session, *DEV_GROUPS, location=DEV)
    session.run("pytest", *session.posargs)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff (lint + format), mypy, import layering, the spec schema, and the specs."""
    install(session, *DEV_GROUPS, location=DEV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")  # the import layering of docs/architecture.md
    session.run("python", "-m", "pipelines", "schema", "--check")
    if specs := all_specs():  # a fork made with --no-examples starts with none
        session.run("python", "-m", "pipelines", "-q", "validate", *specs)
    # GitHub workflows and composite actions: security audit, lint, schema (all offline).
    # zizmor audits everything it finds under the root (workflows, actions/, the test stubs,
    # dependabot, pre-commit), honouring .gitignore, so no action.yml escapes the audit.
    session.run("zizmor", "--offline", str(ROOT))
    session.run("zizmor", "--offline", "--persona", "pedantic", str(ROOT))
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    actions = sorted(str(p) for p in (ROOT / "actions").glob("*/action.yml"))
    if workflows:
        session.run("actionlint", *workflows)
        session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    if actions:
        session.run("check-jsonschema", "--builtin-schema", "vendor.github-actions", *actions)
    if (dependabot := ROOT / ".github" / "dependabot.yml").is_file():
        session.run("check-jsonschema", "--builtin-schema", "vendor.dependabot", str(dependabot))


@nox.session(python=False, default=False)
def bench(session: nox.Session) -> None:
    """Benchmark pipeline and index vs faiss/hnswlib; writes docs/bench/ (-- --sizes N...).
    `-- serve [--sizes N...]` measures the served model under load instead."""
    bin_dir = install(session, "bench", location=ROOT / ".nox" / "bench")
    if session.posargs[:1] == ["serve"]:
        path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
        session.run("python", "-m", "scripts.bench.serve", *session.posargs[1:], env={"PATH": path})
    else:
        session.run("python", "-m", "scripts.bench", *session.posargs)


@nox.session(python=False, default=False)
def act(session: nox.Session) -> None:
    """Run a workflow offline with act: `nox -s act -- pull-request pull_request` (see
    tests/workflows/harness.py: --input k=v, --secret k=v, --event-file FILE)."""
    install(session, *DEV_GROUPS, location=DEV)
    session.run("python", "tests/workflows/harness.py", *session.posargs)


@nox.session(python=False)
def pipeline(session: nox.Session) -> None:
    """Run the PR pipeline on specs (default: all); promote passing ones to champion."""
    install(session)
    specs = session.posargs or all_specs()
    if not specs:
        session.skip("no specs in model_specs/ (start one with `nox -s new-spec`)")
    session.run("python", "-m", "pipelines", "run", "--promote", "champion", *specs)


@nox.session(python=False, default=False)
def serve(session: nox.Session) -> None:
    """Serve a registered model over HTTP, from files checked against the digests the
    release recorded: -- NAME[@ALIAS] [--port 5000 --host 127.0.0.1 --workers N --mlflow]."""
    if not session.posargs or session.posargs[0].startswith("-"):
        session.error("usage: nox -s serve -- NAME[@ALIAS] [--port P] [--workers N] [--mlflow]")
    bin_dir = install(session)
    # `mlflow models serve` execs uvicorn by name: this venv's bin must come first on PATH.
    path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / '.mlflow' / 'mlflow.db'}"
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": uri}
    python = str(bin_dir / "python")
    # The server replaces nox: a SIGTERM to `nox -s serve` reaches it (and it stops its
    # workers), instead of ending nox and leaving the server running.
    sys.stdout.flush()
    os.execve(python, [python, "-m", "pipelines", "serve", *session.posargs], env)  # noqa: S606


@nox.session(python=PYTHON, default=False)
def init(session: nox.Session) -> None:
    """Make this clone a project: -- --name NAME --owner ORG [--no-examples] (see docs/fork.md)."""
    session.install("jinja2>=3.1")
    session.run("python", "scripts/init_project.py", *session.posargs)


@nox.session(name="new-spec", python=False, default=False)
def new_spec(session: nox.Session) -> None:
    """Write a first spec for a CSV: -- NAME --task KIND --data data/x.csv [--target COL]."""
    install(session)
    session.run("python", "-m", "pipelines", "new-spec", *session.posargs)


@nox.session(name="update-template", python=PYTHON, default=False)
def update_template(session: nox.Session) -> None:
    """Merge a later template version into this fork: -- --from URL_OR_PATH [--to REF]."""
    session.install("jinja2>=3.1")
    session.run("python", "scripts/update_template.py", *session.posargs)


@nox.session(python=False, default=False)
def monitor(session: nox.Session) -> None:
    """Score each champion on its spec's fresh data (default: every monitored spec); exit 1
    on an alert. A new batch: `python scripts/make_example_data.py --next-period drifted`."""
    install(session)
    specs = session.posargs or [
        s for s in all_specs() if "\nmonitoring:" in (ROOT / s).read_text(encoding="utf-8")
    ]
    if not specs:
        session.skip("no spec has a monitoring section")
    session.run("python", "-m", "pipelines", "monitor", *specs)
