"""A run directory that cannot be written: one clear line and exit 3, never a traceback.

Running as root, chmod does not stop writes, so the faults are real ones: a file where the
folder should be, a path under /proc, a read-only bind mount, and a 64 KiB tmpfs that fills.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import registry_snapshot
from tests.integration.support import Cli, assert_clean_failure

SPEC = "model_specs/breast-cancer.yaml"


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def mounted(target: Path, *args: str) -> Iterator[None]:
    """Mount, or skip the test where this machine does not allow it (not root)."""
    target.mkdir(parents=True, exist_ok=True)
    if not _mount(*args, str(target)):
        pytest.skip(f"cannot mount {' '.join(args)} here (needs root)")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def _fails_cleanly(mlflow_store: str, runs: Path, *command: str) -> str:
    before = registry_snapshot(mlflow_store)
    result = Cli(mlflow_store, runs)(*command)
    line = assert_clean_failure(result, 3)
    assert registry_snapshot(mlflow_store) == before
    return line


def test_file_where_run_dir_should_be(mlflow_store: str, tmp_path: Path) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    line = _fails_cleanly(mlflow_store, blocker, "validate", SPEC)
    assert "run directory" in line and "not writable" in line and str(blocker) in line


def test_run_dir_under_proc(mlflow_store: str) -> None:
    line = _fails_cleanly(mlflow_store, Path("/proc/pipelines-runs"), "validate", SPEC)
    assert "/proc/pipelines-runs" in line


def test_read_only_run_dir(mlflow_store: str, tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    with mounted(target, "--bind", str(source)):
        if not _mount("-o", "remount,bind,ro", str(target)):
            pytest.skip("cannot remount read-only here")
        line = _fails_cleanly(mlflow_store, target, "validate", SPEC)
    assert "Read-only file system" in line


@pytest.mark.slow
def test_full_run_dir(mlflow_store: str, tmp_path: Path) -> None:
    target = tmp_path / "tiny"
    with mounted(target, "-t", "tmpfs", "-o", "size=64k", "tmpfs"):
        line = _fails_cleanly(mlflow_store, target, "run", SPEC)
    assert "No space left on device" in line
