"""MLflow: tracking URI, experiments, champion lookup, registration, aliases and tags.

Default store: embedded sqlite at `<repo>/.mlflow/mlflow.db` with artifacts beside it;
`MLFLOW_TRACKING_URI` points anywhere else. Aliases only, never the deprecated stages.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pipelines.errors import BadInput, InfraError, PromotionConflict

log = logging.getLogger(__name__)

# Tags on runs and model versions.
TAG_PREFIX = "pipelines."
TAG_GIT_SHA = "pipelines.git_sha"
TAG_PR = "pipelines.pr_number"
TAG_SPEC_SHA = "pipelines.spec_sha256"
TAG_DATA_SHA = "pipelines.data_sha256"
TAG_CONTENT = "pipelines.content_hash"
TAG_GATE = "pipelines.gate"
TAG_MODEL_URI = "pipelines.model_uri"
TAG_HOLDOUT = "pipelines.holdout_fingerprint"
TAG_PREVIOUS_CHAMPION = "pipelines.previous_champion"
TAG_LAST_ROLLBACK = "pipelines.last_rollback"
# Registered-model tag held while one process promotes: promotions of a model never overlap.
TAG_LEASE = "pipelines.promotion_lease"

CHAMPION = "champion"
STAGING = "staging"

T = TypeVar("T")

# MLflow's own HTTP retries default to minutes; keep them short and retry here instead.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
# stdout carries results only; the report links the run instead.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def tracking_uri(root: Path) -> str:
    """`MLFLOW_TRACKING_URI`, or the embedded sqlite store of the repository."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    folder = root / ".mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


def artifact_root(uri: str) -> str | None:
    """For a sqlite store, an `artifacts/` folder beside the database file."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "artifacts").resolve().as_uri()
    return None


def is_remote(uri: str) -> bool:
    """Whether the store is an HTTP tracking server."""
    return uri.startswith(("http://", "https://"))


def retry_settings() -> tuple[int, float]:
    """Attempts and first delay of `ping`: PIPELINES_MLFLOW_RETRIES / _RETRY_DELAY, or 4 / 0.5s."""
    try:
        attempts = int(os.environ.get("PIPELINES_MLFLOW_RETRIES", "4"))
        delay = float(os.environ.get("PIPELINES_MLFLOW_RETRY_DELAY", "0.5"))
    except ValueError as exc:
        raise BadInput(
            f"PIPELINES_MLFLOW_RETRIES / PIPELINES_MLFLOW_RETRY_DELAY must be numbers: {exc}"
        ) from exc
    if not 1 <= attempts <= 100 or not 0 <= delay <= 60:
        raise BadInput(
            "PIPELINES_MLFLOW_RETRIES must be 1..100 and PIPELINES_MLFLOW_RETRY_DELAY 0..60 s"
        )
    return attempts, delay


def ping(uri: str, attempts: int | None = None, first_delay: float | None = None) -> None:
    """Check an HTTP tracking server answers, with bounded retries and backoff."""
    if not is_remote(uri):
        return
    default_attempts, default_delay = retry_settings()
    attempts = default_attempts if attempts is None else attempts
    first_delay = default_delay if first_delay is None else first_delay
    url = uri.rstrip("/") + "/health"
    delay = first_delay
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < attempts:
            log.warning(
                "MLflow at %s not reachable (%s); retry %d in %.1fs", uri, last, attempt, delay
            )
            time.sleep(delay)
            delay *= 2
    raise InfraError(f"MLflow tracking server {uri} unreachable after {attempts} attempts: {last}")


class Registry:
    """A connected MLflow client for one repository."""

    def __init__(self, root: Path, experiment_prefix: str) -> None:
        self.uri = tracking_uri(root)
        ping(self.uri)
        import mlflow
        from mlflow.tracking import MlflowClient

        quiet_mlflow()
        self.mlflow = mlflow
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self.prefix = experiment_prefix
        self.activate()

    def activate(self) -> None:
        """Point MLflow's process-wide URIs (fluent runs, `models:/` loads) at this store."""
        self.mlflow.set_tracking_uri(self.uri)
        self.mlflow.set_registry_uri(self.uri)

    # -- calls with infrastructure errors mapped to exit code 3 ------------------------
    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run an MLflow call; connection problems become InfraError."""
        from mlflow.exceptions import MlflowException

        try:
            return fn()
        except MlflowException as exc:
            if _is_connection_problem(exc):
                raise InfraError(
                    f"MLflow at {self.uri} failed during {what}: {_first_line(exc)}"
                ) from exc
            raise
        except (ConnectionError, OSError) as exc:
            raise InfraError(f"MLflow at {self.uri} failed during {what}: {exc}") from exc

    # -- experiments and runs -----------------------------------------------------------
    def experiment_id(self, model_name: str) -> str:
        """The model's experiment, created on first use."""
        name = f"{self.prefix}{model_name}"

        def get_or_create() -> str:
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            return str(
                self.client.create_experiment(name, artifact_location=artifact_root(self.uri))
            )

        return self.call("experiment lookup", get_or_create)

    def find_published_run(self, model_name: str, content_hash: str) -> Any | None:
        """The newest finished run of this content hash that logged a model, if any."""
        experiment = self.experiment_id(model_name)
        runs = self.call(
            "run search",
            lambda: self.client.search_runs(
                [experiment],
                filter_string=(
                    f"tags.`{TAG_CONTENT}` = '{content_hash}' and attributes.status = 'FINISHED'"
                ),
                order_by=["attributes.start_time DESC"],
                max_results=10,
            ),
        )
        for run in runs:
            if run.data.tags.get(TAG_MODEL_URI):
                return run
        return None

    # -- registry ---------------------------------------------------------------------
    def version_by_alias(self, model_name: str, alias: str) -> Any | None:
        """The version an alias points at, or None (no model, or no such alias)."""
        from mlflow.exceptions import MlflowException

        def lookup() -> Any | None:
            try:
                return self.client.get_model_version_by_alias(model_name, alias)
            except MlflowException as exc:
                if _is_connection_problem(exc):
                    raise
                return None

        return self.call("alias lookup", lookup)

    def version_by_content_hash(self, model_name: str, content_hash: str) -> Any | None:
        """An existing version registered from this content hash."""
        from mlflow.exceptions import MlflowException

        def search() -> Any | None:
            try:
                versions = self.client.search_model_versions(
                    f"name = '{model_name}' and tags.`{TAG_CONTENT}` = '{content_hash}'"
                )
            except MlflowException as exc:
                if _is_connection_problem(exc):
                    raise
                return None
            return min(versions, key=lambda v: int(v.version)) if versions else None

        return self.call("version search", search)

    def get_version(self, model_name: str, version: str | int) -> Any | None:
        """A model version, or None."""
        from mlflow.exceptions import MlflowException

        def get() -> Any | None:
            try:
                return self.client.get_model_version(model_name, str(version))
            except MlflowException as exc:
                if _is_connection_problem(exc):
                    raise
                return None

        return self.call("version lookup", get)

    def ensure_registered_model(self, model_name: str) -> None:
        """Create the registered model on first promotion."""
        from mlflow.exceptions import MlflowException

        def create() -> None:
            try:
                self.client.create_registered_model(model_name)
            except MlflowException as exc:
                if "RESOURCE_ALREADY_EXISTS" not in str(
                    exc.error_code
                ) and "already exists" not in str(exc):
                    raise

        self.call("model registration", create)

    def register(self, model_name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> Any:
        """A new version from a logged model, carrying the run's tags.

        A tracking server refuses a `models:/<model_id>` source unless the model id is
        passed too (the embedded store does not check), so it is always passed.
        """
        from mlflow.store.artifact.utils.models import _parse_model_id_if_present

        self.ensure_registered_model(model_name)
        model_id = _parse_model_id_if_present(model_uri)
        return self.call(
            "version creation",
            lambda: self.client.create_model_version(
                model_name, model_uri, run_id=run_id, tags=tags, model_id=model_id
            ),
        )

    def set_alias(self, model_name: str, alias: str, version: str | int) -> None:
        """Point `alias` at `version`."""
        self.call(
            "alias move",
            lambda: self.client.set_registered_model_alias(model_name, alias, str(version)),
        )

    def set_version_tag(self, model_name: str, version: str | int, key: str, value: str) -> None:
        """Tag a model version."""
        self.call(
            "version tag",
            lambda: self.client.set_model_version_tag(model_name, str(version), key, value),
        )

    def set_model_tag(self, model_name: str, key: str, value: str) -> None:
        """Tag the registered model."""
        self.call("model tag", lambda: self.client.set_registered_model_tag(model_name, key, value))

    def model_tags(self, model_name: str) -> dict[str, str]:
        """Tags of the registered model ({} when it does not exist)."""
        from mlflow.exceptions import MlflowException

        def get() -> dict[str, str]:
            try:
                return dict(self.client.get_registered_model(model_name).tags)
            except MlflowException as exc:
                if _is_connection_problem(exc):
                    raise
                return {}

        return self.call("model lookup", get)

    @contextmanager
    def promotion_lease(self, model_name: str, purpose: str) -> Iterator[None]:
        """Hold the model's promotion lease, or raise PromotionConflict without changing anything.

        MLflow has no compare-and-set, so: refuse when a live lease is held, write ours,
        wait `settle` seconds for any racing writer, and read back; the last writer holds it.
        A lease left by a killed process expires after PIPELINES_PROMOTION_LEASE_SECONDS.
        """
        ttl, settle = lease_settings(is_remote(self.uri))
        self.ensure_registered_model(model_name)
        held = _lease(self.model_tags(model_name).get(TAG_LEASE))
        if held is not None and held["expires"] > time.time():
            raise _conflict(model_name, held)
        token = uuid.uuid4().hex
        mine = {
            "token": token,
            "owner": _owner(),
            "purpose": purpose,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "expires": time.time() + ttl,
        }
        self.set_model_tag(model_name, TAG_LEASE, json.dumps(mine, sort_keys=True))
        time.sleep(settle)
        held = _lease(self.model_tags(model_name).get(TAG_LEASE))
        if held is None or held["token"] != token:
            raise _conflict(model_name, held)
        log.debug("%s: promotion lease %s held for %s", model_name, token[:8], purpose)
        try:
            yield
        finally:
            self._release(model_name, token)

    def _release(self, model_name: str, token: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            held = _lease(self.model_tags(model_name).get(TAG_LEASE))
            if held is not None and held["token"] == token:
                self.client.delete_registered_model_tag(model_name, TAG_LEASE)
        except (InfraError, MlflowException, OSError) as exc:
            log.warning("%s: promotion lease not released (it expires): %s", model_name, exc)

    def confirm_alias(self, model_name: str, alias: str, expected: str | int) -> None:
        """Re-read `alias` after a move: it must still point at `expected` (gate passed).

        When another writer moved it to a version whose gate did not pass, it is put back
        on `expected` first, so it is never left there; either way PromotionConflict.
        """
        current = self.version_by_alias(model_name, alias)
        if current is not None and str(current.version) == str(expected):
            return
        if current is not None and current.tags.get(TAG_GATE) != "passed":
            self.set_alias(model_name, alias, expected)
            raise PromotionConflict(
                f"{model_name}@{alias} was moved to version {current.version}, whose gate did "
                f"not pass, while promoting version {expected}; it was put back on {expected}"
            )
        found = current.version if current is not None else "nothing"
        raise PromotionConflict(
            f"{model_name}@{alias} was moved to {found} by another writer while promoting "
            f"version {expected}; re-run the promotion"
        )

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        """A browser link to a run, for HTTP tracking servers."""
        if not is_remote(self.uri):
            return None
        return f"{self.uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def download_json(self, run_id: str, artifact: str) -> Any | None:
        """A JSON artifact of a run, or None when absent."""
        from mlflow.exceptions import MlflowException

        def fetch() -> Any | None:
            try:
                text = self.mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}")
            except (MlflowException, OSError):
                return None
            return json.loads(text)

        return self.call("artifact download", fetch)


def lease_settings(remote: bool = True) -> tuple[float, float]:
    """Lease lifetime and settle time: PIPELINES_PROMOTION_LEASE_SECONDS / _SETTLE_SECONDS.

    The settle time covers the gap between checking for a lease and writing one: a network
    round trip to a server (0.5 s by default), a local sqlite write for the embedded store
    (0.05 s by default).
    """
    default_settle = "0.5" if remote else "0.05"
    try:
        ttl = float(os.environ.get("PIPELINES_PROMOTION_LEASE_SECONDS", "300"))
        settle = float(os.environ.get("PIPELINES_PROMOTION_SETTLE_SECONDS", default_settle))
    except ValueError as exc:
        raise BadInput(f"promotion lease settings must be numbers: {exc}") from exc
    if not 0 < ttl <= 86_400 or not 0 <= settle <= 60:
        raise BadInput(
            "PIPELINES_PROMOTION_LEASE_SECONDS must be 0..86400 and "
            "PIPELINES_PROMOTION_SETTLE_SECONDS 0..60"
        )
    return ttl, settle


def _lease(text: str | None) -> dict[str, Any] | None:
    """A lease tag's value, or None when absent or unreadable (then it protects nothing)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("expires"), int | float):
        return None
    return value


def _owner() -> str:
    actor = os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unknown"
    run = os.environ.get("GITHUB_RUN_ID")
    where = f"run {run}" if run else f"{socket.gethostname()} pid {os.getpid()}"
    return f"{actor} ({where})"


def _conflict(model_name: str, held: dict[str, Any] | None) -> InfraError:
    if held is None:
        return PromotionConflict(
            f"another promotion of {model_name} raced this one and won; nothing was changed"
        )
    left = max(0, int(held["expires"] - time.time()))
    return PromotionConflict(
        f"another promotion of {model_name} is in progress ({held.get('purpose', '?')} by "
        f"{held.get('owner', '?')} since {held.get('since', '?')}); nothing was changed: "
        f"retry when it ends (the lease expires in {left}s)"
    )


def quiet_mlflow() -> None:
    """MLflow sets its own INFO handler on import; keep its chatter out unless debugging."""
    ours = logging.getLogger("pipelines").getEffectiveLevel()
    level = logging.DEBUG if ours <= logging.DEBUG else logging.ERROR
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)


def _is_connection_problem(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    markers = (
        "connection",
        "max retries",
        "timed out",
        "unreachable",
        "temporarily",
        "502",
        "503",
        "504",
    )
    return any(marker in text for marker in markers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
