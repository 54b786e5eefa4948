"""`check-data` imports MLflow only when it must ask a store for the champion: importing the
step never does, and a first run (no embedded store yet, so no champion) neither imports
MLflow nor creates the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "model_specs" / "breast-cancer.yaml"


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_step_imports_no_mlflow() -> None:
    code = "import sys, pipelines.steps.check_data; print('mlflow' in sys.modules)"
    assert _python(code, dict(os.environ)) == "False"


def test_a_first_check_data_imports_no_mlflow_and_creates_no_store(tmp_path: Path) -> None:
    store = tmp_path / "store" / "mlflow.db"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        "PIPELINES_RUNS_DIR": str(tmp_path / "runs"),
    }
    code = (
        "import sys\nfrom pipelines.cli import main\n"
        f"code = main(['-q', 'check-data', {str(SPEC)!r}])\n"
        "print(code, 'mlflow' in sys.modules)"
    )
    assert _python(code, env) == "0 False"
    assert not store.parent.exists()
    assert (tmp_path / "runs" / "breast-cancer" / "data_report.json").is_file()
