"""Fixtures: a real `mlflow server` (sqlite or PostgreSQL backend) and a throwaway PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.integration.support import MlflowServer, Postgres, free_port, postgres_bin


def _sqlite_server(base: Path, migrated_db: Path) -> MlflowServer:
    base.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_db, base / "mlflow.db")
    return MlflowServer(f"sqlite:///{base / 'mlflow.db'}", base / "artifacts", base)


@pytest.fixture
def mlflow_server(tmp_path: Path, _migrated_db: Path) -> Iterator[MlflowServer]:
    """A fresh `mlflow server` (sqlite backend, served artifacts) for one test."""
    server = _sqlite_server(tmp_path / "server", _migrated_db)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _as_postgres_user() -> Mapping[str, object]:
    """Subprocess options that drop root to the `postgres` account (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("PostgreSQL: running as root and there is no 'postgres' account to drop to")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """initdb + pg_ctl into a temp folder; skipped where PostgreSQL is not installed."""
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl): apt-get install postgresql")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed (test dependency group)")
    drop = _as_postgres_user()
    # not under pytest's temp root: that is private to root, and the server runs as postgres
    base = Path(tempfile.mkdtemp(prefix="pipelines-pg-"))
    data = base / "data"
    data.mkdir()
    if drop:
        for path in (base, data):
            os.chown(path, int(drop["user"]), int(drop["group"]))  # type: ignore[call-overload]
    user = "postgres" if drop else os.environ.get("USER", "postgres")
    port = free_port()
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **drop,  # type: ignore[arg-type]
    )
    log = base / "postgres.log"
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    subprocess.run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
        timeout=60,
        **drop,  # type: ignore[arg-type]
    )
    try:
        yield Postgres(port=port, user=user)
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
            **drop,  # type: ignore[arg-type]
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_mlflow_server(postgres: Postgres, tmp_path: Path) -> Iterator[MlflowServer]:
    """An `mlflow server` on a fresh PostgreSQL database."""
    import psycopg2

    name = f"mlflow_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.user)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = tmp_path / "server"
    base.mkdir()
    server = MlflowServer(postgres.uri(name), base / "artifacts", base)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest) -> MlflowServer:
    """Each backend in turn: sqlite, then PostgreSQL (skipped where it is absent)."""
    name = "mlflow_server" if request.param == "sqlite" else "pg_mlflow_server"
    server: MlflowServer = request.getfixturevalue(name)
    return server
