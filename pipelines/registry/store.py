"""Where the MLflow store is and whether it answers: tracking URI, artifact root, health.

Default store: embedded sqlite at `<repo>/.mlflow/mlflow.db` with artifacts beside it;
`MLFLOW_TRACKING_URI` points anywhere else.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from pipelines.errors import InfraError
from pipelines.http import Retry, send
from pipelines.settings import settings

log = logging.getLogger(__name__)


def tracking_uri(root: Path) -> str:
    """`MLFLOW_TRACKING_URI`, or the embedded sqlite store of the repository."""
    uri = settings().tracking_uri
    if uri:
        return uri
    folder = root / ".mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


def no_store_yet(root: Path) -> bool:
    """Whether the store is an embedded sqlite file that does not exist yet: nothing was
    ever logged to it, so it holds no champion (and nothing needs MLflow to say so)."""
    uri = settings().tracking_uri or f"sqlite:///{root / '.mlflow' / 'mlflow.db'}"
    if not uri.startswith("sqlite:///"):
        return False
    path = uri.removeprefix("sqlite:///").partition("?")[0]
    return path not in ("", ":memory:") and not Path(path).exists()


def artifact_root(uri: str) -> str | None:
    """For a sqlite store, an `artifacts/` folder beside the database file."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "artifacts").resolve().as_uri()
    return None


def is_remote(uri: str) -> bool:
    """Whether the store is an HTTP tracking server."""
    return uri.startswith(("http://", "https://"))


def display_uri(uri: str) -> str:
    """The URI without any user:password part, for messages."""
    scheme, sep, rest = uri.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        host = rest.split("/", 1)[0].rsplit("@", 1)[1]
        tail = rest[len(rest.split("/", 1)[0]) :]
        return f"{scheme}://{host}{tail}"
    return uri


def retry_settings() -> tuple[int, float]:
    """Attempts and first delay of `ping`: PIPELINES_MLFLOW_RETRIES / _RETRY_DELAY, or 4 / 0.5s."""
    env = settings()
    return env.mlflow_retries, env.mlflow_retry_delay


def ping(uri: str, attempts: int | None = None, first_delay: float | None = None) -> None:
    """Check an HTTP tracking server answers /health, with bounded retries and backoff."""
    if not is_remote(uri):
        return
    default_attempts, default_delay = retry_settings()
    attempts = default_attempts if attempts is None else attempts
    first_delay = default_delay if first_delay is None else first_delay
    request = urllib.request.Request(uri.rstrip("/") + "/health")  # noqa: S310
    server = display_uri(uri)
    policy = Retry(attempts=attempts, first_delay=first_delay, max_delay=60.0)
    response = send(
        request, operation="MLflow health check", server=server, retry=policy, timeout=5
    )
    if response.status != 200:
        raise InfraError(f"MLflow health check at {server}: HTTP {response.status}")


def quiet_mlflow() -> None:
    """MLflow sets its own INFO handler on import; keep its chatter out unless debugging."""
    ours = logging.getLogger("pipelines").getEffectiveLevel()
    level = logging.DEBUG if ours <= logging.DEBUG else logging.ERROR
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)


def seed_sqlite_store(uri: str) -> None:
    """Start a new embedded sqlite store as a copy of an empty, migrated one.

    MLflow runs its ~50 schema migrations on the first touch of a new sqlite file (1.2 to
    1.7 s here); a template made once per machine and MLflow version is copied in instead
    (milliseconds). The template lives in `PIPELINES_CACHE_DIR` (default
    `~/.cache/pipelines`); any problem falls back to MLflow's own initialisation.
    """
    if not uri.startswith("sqlite:///"):
        return
    db = Path(uri.removeprefix("sqlite:///"))
    if db.exists():
        return
    try:
        template = _store_template()
        db.parent.mkdir(parents=True, exist_ok=True)
        partial = db.with_name(f".{db.name}.{os.getpid()}.tmp")
        shutil.copyfile(template, partial)
        with sqlite3.connect(partial) as connection:  # Default experiment's artifacts: beside db
            connection.execute(
                "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                ((db.parent / "artifacts" / "0").resolve().as_uri(),),
            )
        connection.close()
        if not db.exists():
            partial.replace(db)
        else:
            partial.unlink()
    except (OSError, sqlite3.Error, ImportError) as exc:
        log.debug("no sqlite store template (%s); MLflow initialises the store", exc)


def _store_template() -> Path:
    """The migrated empty store for this MLflow and SQLAlchemy, created on first use."""
    versions = "-".join(metadata.version(name) for name in ("mlflow", "sqlalchemy", "alembic"))
    cache = settings().cache_dir
    template = cache / f"mlflow-store-{versions}.db"
    if template.is_file():
        return template
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        path = Path(tmp) / "store.db"
        store = SqlAlchemyStore(f"sqlite:///{path}", (Path(tmp) / "artifacts").as_uri())
        store.engine.dispose()
        path.replace(template)
    return template
