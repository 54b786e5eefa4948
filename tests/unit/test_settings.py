"""Every environment variable is read in one module, listed in one doc, never written on
import; a bad value is one line naming the variable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.errors import BadInput
from pipelines.settings import VARIABLES, Settings, settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_doc_lists_every_variable_with_its_default() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z_]+)` \|\s*`?([^|`]*?)`?\s*\|", text, re.M)
    assert rows == [(v.name, v.default) for v in VARIABLES.values()]


def test_no_other_module_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "pipelines").rglob("*.py")
        if re.search(r"os\.environ|getenv", path.read_text(encoding="utf-8"))
    )
    # The action runner hands its inputs' variables to the command it runs; the lean server
    # hands its options and metrics folder to the worker processes uvicorn starts (they
    # import the app by name, so the environment is the only way in): none is configuration.
    assert readers == [
        "pipelines/action.py",
        "pipelines/lean.py",
        "pipelines/lean_metrics.py",
        "pipelines/settings.py",
        "pipelines/steps/serve.py",
    ]


def test_importing_the_package_leaves_the_environment_alone() -> None:
    code = (
        "import os; before = dict(os.environ);"
        "import pipelines.cli, pipelines.registry, pipelines.registry.store, pipelines.settings;"
        "assert dict(os.environ) == before, set(os.environ) ^ set(before)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("PIPELINES_MLFLOW_RETRIES", "many", "mlflow_retries"),
        ("PIPELINES_MLFLOW_RETRIES", "0", "mlflow_retries"),
        ("PIPELINES_MLFLOW_RETRIES", "2.5", "mlflow_retries"),
        ("PIPELINES_MLFLOW_RETRY_DELAY", "-1", "mlflow_retry_delay"),
        ("PIPELINES_PROMOTION_LOCK_SECONDS", "abc", "lock_seconds"),
        ("PIPELINES_PROMOTION_LOCK_GRACE_SECONDS", "nan", "lock_grace_seconds"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(name: str, value: str, read: str) -> None:
    env = Settings.of({name: value})
    with pytest.raises(BadInput) as caught:
        getattr(env, read)
    assert str(caught.value).startswith(f"{name}: expected") and "\n" not in str(caught.value)
    # read lazily: the other settings of that environment still work
    assert env.tracking_uri == "" and env.actor


def test_defaults_empty_values_and_the_current_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = Settings.of({"PIPELINES_MLFLOW_RETRIES": " ", "USER": "ann"})
    assert (env.mlflow_retries, env.mlflow_retry_delay, env.lock_seconds) == (4, 0.5, 300)
    assert env.actor == "ann" and env.runs_dir is None
    monkeypatch.setenv("PIPELINES_RUNS_DIR", "/tmp/runs")
    first = settings()
    assert first is settings() and first.runs_dir == Path("/tmp/runs")
    monkeypatch.setenv("PIPELINES_RUNS_DIR", "/tmp/other")
    assert settings().runs_dir == Path("/tmp/other")
