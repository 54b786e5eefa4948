"""Helpers of the integration tests: an `mlflow server` process (sqlite or PostgreSQL
backend, artifacts served over HTTP) on a free loopback port, and a throwaway PostgreSQL.

Every process is started in its own session and killed as a group, so nothing outlives
the tests. The CLI is always run as a subprocess, exactly as CI runs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVER_START_TIMEOUT = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Poll `url` until it answers 200; fail with the process log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {timeout}s:\n{log.read_text()[-3000:]}")


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal a process started with `start_new_session=True` and all its children."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    else:  # the leader is gone; children may not be
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a CI job: no GitHub variables, MLflow quiet, fast retries."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "MLFLOW_", "PIPELINES_", "PYTEST_"))
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "PIPELINES_MLFLOW_RETRIES": "3",
            "PIPELINES_MLFLOW_RETRY_DELAY": "0.2",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
        }
    )
    env.update(extra)
    return env


@dataclass
class MlflowServer:
    """One `mlflow server` process; can be killed and restarted on the same store and port."""

    backend_uri: str
    artifacts: Path | str  # a folder, or a URI such as s3://bucket/prefix
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # `--app-name` (e.g. "basic-auth") and extra server environment (its auth config).
    app_name: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = SERVER_START_TIMEOUT

    @property
    def url(self) -> str:
        """The tracking URI clients use."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The server's combined output."""
        return self.workdir / "server.log"

    def start(self) -> None:
        """Start the server and wait for /health."""
        self.starts += 1
        env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **self.extra_env)
        app = ["--app-name", self.app_name] if self.app_name else []
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "mlflow"),
                    "server",
                    *app,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                    "--backend-store-uri",
                    self.backend_uri,
                    "--serve-artifacts",
                    "--artifacts-destination",
                    str(self.artifacts),
                ],
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_http(self.url + "/health", self.start_timeout, self.proc, self.log)

    def kill(self) -> None:
        """SIGKILL the server and its workers: no clean shutdown, like a crashed host."""
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        """Terminate the server and its workers."""
        if self.proc is not None:
            kill_group(self.proc)


# -- PostgreSQL -----------------------------------------------------------------------------
def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (Debian keeps them out of PATH)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return candidates[0].parent if candidates else None


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port."""

    port: int
    user: str

    def uri(self, database: str) -> str:
        """An SQLAlchemy URI for `database` (psycopg2 driver)."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"


# -- the CLI as CI runs it -----------------------------------------------------------------
@dataclass
class Cli:
    """`python -m pipelines ...` against one tracking URI and run-directory root."""

    uri: str
    runs: Path
    cwd: Path = ROOT

    def env(self, **extra: str) -> dict[str, str]:
        """The subprocess environment."""
        return clean_env(MLFLOW_TRACKING_URI=self.uri, PIPELINES_RUNS_DIR=str(self.runs), **extra)

    def __call__(
        self, *args: str, timeout: float = 240, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """Run one command; return its exit code and output."""
        return subprocess.run(
            [sys.executable, "-m", "pipelines", *args],
            cwd=self.cwd,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """Start one command without waiting."""
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines", *args],
            cwd=self.cwd,
            env=self.env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def error_lines(stderr: str) -> list[str]:
    """The `error:` lines of a CLI run."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit `code`, exactly one `error:` line, and no traceback; returns the error line."""
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


# -- the example model, in variants ---------------------------------------------------------
MODEL = "breast-cancer"
PARAMS_SCHEMA = (
    "from mlflow.models import get_model_info\n"
    "s = get_model_info('models:/item-recs@champion').signature\n"
    "print('yes' if s is not None and s.params is not None else 'no')\n"
)


def spec_variant(repo: Path, tag: str, c: float = 0.5, accuracy_min: float = 0.9) -> Path:
    """A copy of the breast-cancer spec with another `C` (new content) or a harder gate."""
    text = (repo / "model_specs" / f"{MODEL}.yaml").read_text(encoding="utf-8")
    text = text.replace("params: {C: 0.5, max_iter: 1000}", f"params: {{C: {c}, max_iter: 1000}}")
    text = text.replace("accuracy: {min: 0.9}", f"accuracy: {{min: {accuracy_min}}}")
    # These variants test the registry, not latency: a busy shared runner must not fail them.
    text = text.replace("max_p99_ms: 5}", "max_p99_ms: 1000}")
    folder = repo / "model_specs" / tag
    folder.mkdir(exist_ok=True)
    path = folder / f"{MODEL}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def client(uri: str):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(uri: str, name: str = MODEL) -> dict[str, str]:
    """Alias -> version of a registered model."""
    return {k: str(v) for k, v in client(uri).get_registered_model(name).aliases.items()}


def versions(uri: str, name: str = MODEL) -> list[str]:
    """Version numbers of a registered model."""
    return sorted(v.version for v in client(uri).search_model_versions(f"name = '{name}'"))


def ok(result: subprocess.CompletedProcess[str]) -> None:
    """Exit 0 and no traceback."""
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Traceback" not in result.stderr
