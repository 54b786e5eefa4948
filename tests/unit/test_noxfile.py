"""The nox sessions share two environments: the runtime one (.nox/runtime) for every session
that runs the package, the development one (.nox/dev, every dev group) for tests, lint, act.

Each session function is called with a recorder standing in for nox's Session: what it
installs where, and what it runs, is what `nox -s <name>` would do.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SESSIONS = ("pipeline", "new-spec", "serve", "monitor")
DEV_SESSIONS = ("tests", "lint", "act")


class Skipped(Exception):
    pass


class Recorder:
    """The parts of nox.Session the noxfile uses, recording installs and commands."""

    def __init__(self, posargs: list[str]) -> None:
        self.posargs = posargs
        self.installs: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self.runs: list[tuple[str, ...]] = []

    def log(self, *_: object) -> None:
        pass

    def run_install(self, *args: str, env: dict[str, str], **_: Any) -> None:
        self.installs.append((args, env))

    def run(self, *args: str, **_: Any) -> None:
        self.runs.append(args)

    def skip(self, *_: object) -> None:
        raise Skipped

    def error(self, *args: object) -> None:
        raise AssertionError(args)


@pytest.fixture
def noxfile(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    nox = pytest.importorskip("nox")
    monkeypatch.setenv("PATH", os.environ["PATH"])  # restored after the test
    monkeypatch.setenv("VIRTUAL_ENV", os.environ.get("VIRTUAL_ENV", ""))
    if not any((Path(p) / "uv").is_file() for p in os.environ["PATH"].split(os.pathsep)):
        pytest.skip("uv is not on PATH")
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(nox.registry, "_REGISTRY", {}, raising=False)
    spec.loader.exec_module(module)
    # `serve` replaces nox with the server (os.execve): record that instead of doing it.
    monkeypatch.setattr(os, "execve", _record_exec)
    return module


EXECS: list[tuple[str, list[str], dict[str, str]]] = []


def _record_exec(path: str, argv: list[str], env: dict[str, str]) -> None:
    EXECS.append((path, argv, env))


def _session(noxfile: ModuleType, name: str, posargs: list[str]) -> Recorder:
    import nox

    function = nox.registry.get()[name]
    assert function.python is False, f"{name} builds an environment of its own"
    recorder = Recorder(posargs)
    with contextlib.suppress(Skipped):
        function(recorder)
    return recorder


def _location(recorder: Recorder) -> tuple[str, tuple[str, ...]]:
    (args, env), *more = recorder.installs
    assert not more
    assert args[1:4] == ("sync", "--locked", "--no-default-groups"), args
    return env["UV_PROJECT_ENVIRONMENT"], tuple(a for a in args if a.startswith("--group="))


def test_runtime_sessions_share_one_environment(noxfile: ModuleType) -> None:
    found = {name: _location(_session(noxfile, name, ["x@champion"])) for name in RUNTIME_SESSIONS}
    assert set(found.values()) == {(str(ROOT / ".nox" / "runtime"), ())}, found


def test_dev_sessions_share_one_environment_with_every_group(noxfile: ModuleType) -> None:
    found = {name: _location(_session(noxfile, name, ["-q"])) for name in DEV_SESSIONS}
    groups = ("--group=dev",)
    assert set(found.values()) == {(str(ROOT / ".nox" / "dev"), groups)}, found


def test_a_session_runs_its_commands_from_its_environment(noxfile: ModuleType) -> None:
    recorder = _session(noxfile, "pipeline", ["model_specs/x.yaml"])
    assert recorder.runs[-1][:3] == ("python", "-m", "pipelines")
    first = os.environ["PATH"].split(os.pathsep)[0]
    assert Path(first).parent == ROOT / ".nox" / "runtime"
    _session(noxfile, "lint", [])
    paths = os.environ["PATH"].split(os.pathsep)
    assert Path(paths[0]).parent == ROOT / ".nox" / "dev"
    assert str(ROOT / ".nox" / "runtime" / "bin") not in paths, "PATH is reset, never stacked"


def test_serve_replaces_nox_with_the_server_from_the_shared_environment(
    noxfile: ModuleType,
) -> None:
    EXECS.clear()
    _session(noxfile, "serve", ["x@champion", "--workers", "2"])
    (path, argv, env), *more = EXECS
    assert not more
    assert Path(path) == ROOT / ".nox" / "runtime" / "bin" / "python"
    assert argv[1:] == ["-m", "pipelines", "serve", "x@champion", "--workers", "2"]
    assert env["PATH"].split(os.pathsep)[0] == str(ROOT / ".nox" / "runtime" / "bin")
