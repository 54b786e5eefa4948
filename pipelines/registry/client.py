"""`Registry`: the one class that talks to MLflow's tracking and registry APIs.

Every call goes through `call` (any failure: InfraError, exit 3, naming the operation and
the server) or `lookup` (the same, except that MLflow's exact not-found answers mean
None). Results are the typed records of `pipelines.registry.records`.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pipelines.errors import InfraError, PipelineError, PromotionConflict
from pipelines.registry import digests as model_digests
from pipelines.registry.datasets import DatasetInput
from pipelines.registry.failures import already_exists, infra_failure, is_absent
from pipelines.registry.lock import LockSettings, PromotionLock
from pipelines.registry.models import LoadedModel, PyfuncPackage
from pipelines.registry.names import (
    GATE_PASSED,
    TAG_CONTENT,
    TAG_DIGEST,
    TAG_DIGESTS,
    TAG_GATE,
    TAG_MODEL_URI,
    experiment_name,
    registered_model_name,
    spec_model_name,
)
from pipelines.registry.records import ModelVersion, PublishedRun
from pipelines.registry.store import (
    artifact_root,
    display_uri,
    is_remote,
    ping,
    quiet_mlflow,
    tracking_uri,
)
from pipelines.settings import apply_library_defaults

log = logging.getLogger(__name__)

T = TypeVar("T")

# One logged artifact: a local file and the artifact folder it goes into.
Artifact = tuple[Path, str]


class Registry:
    """A connected MLflow client for one repository's store."""

    def __init__(self, root: Path, experiment_prefix: str, model_prefix: str = "") -> None:
        self.uri = tracking_uri(root)
        self.server = display_uri(self.uri)
        ping(self.uri)
        apply_library_defaults()  # before MLflow's first request reads them
        import mlflow
        from mlflow.tracking import MlflowClient

        quiet_mlflow()
        self._mlflow = mlflow
        try:  # a sqlite store is opened (and migrated) here: a garbage file fails here
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        except Exception as exc:
            raise infra_failure("opening of the store", self.server, exc) from exc
        self.prefix = experiment_prefix
        # Callers name models by their spec name; MLflow sees `model_prefix` + that name.
        self.model_prefix = model_prefix
        self._experiments: dict[tuple[str, bool], str] = {}
        self.activate()

    def mlflow_name(self, model_name: str) -> str:
        """The registered model name in MLflow of a spec name (or of a lock's name)."""
        return registered_model_name(model_name, self.model_prefix)

    def _version(self, found: Any) -> ModelVersion:
        version = ModelVersion.from_mlflow(found)
        if not self.model_prefix:
            return version
        return dataclasses.replace(version, name=spec_model_name(version.name, self.model_prefix))

    def model_uri(self, model_uri: str) -> str:
        """`models:/<spec name>/<version>` or `@<alias>` as MLflow names it (with the
        prefix); `models:/<model id>` and other URIs unchanged."""
        found = re.fullmatch(r"models:/([^/@]+)([/@].+)", model_uri)
        if not found or not self.model_prefix:
            return model_uri
        return f"models:/{self.mlflow_name(found.group(1))}{found.group(2)}"

    def activate(self) -> None:
        """Point MLflow's process-wide URIs (fluent runs, `models:/` loads) at this store."""
        self._mlflow.set_tracking_uri(self.uri)
        self._mlflow.set_registry_uri(self.uri)

    # -- the two ways to call MLflow ------------------------------------------------------
    def call(self, operation: str, fn: Callable[[], T]) -> T:
        """Run an MLflow call; any failure becomes InfraError naming operation and server."""
        try:
            return fn()
        except PipelineError:
            raise
        except Exception as exc:
            raise infra_failure(operation, self.server, exc) from exc

    def lookup(self, operation: str, fn: Callable[[], T]) -> T | None:
        """Like `call`, but MLflow's exact not-found answers give None."""
        try:
            return fn()
        except PipelineError:
            raise
        except Exception as exc:
            if is_absent(exc):
                return None
            raise infra_failure(operation, self.server, exc) from exc

    # -- experiments and published runs ---------------------------------------------------
    def experiment_id(self, model_name: str, *, release: bool) -> str:
        """The model's release or pull-request experiment, created on first use; a deleted
        one is an error. On a server with permissions the admin creates both beforehand
        (docs/mlflow-auth.md), so only the release user can write the release one."""
        key = (model_name, release)
        if key not in self._experiments:
            name = experiment_name(self.prefix, model_name, release=release)
            self._experiments[key] = self._experiment_id(name)
        return self._experiments[key]

    def _experiment_id(self, name: str) -> str:
        found = self.call("experiment lookup", lambda: self._client.get_experiment_by_name(name))
        if found is not None:
            if found.lifecycle_stage != "active":
                raise InfraError(
                    f"MLflow experiment '{name}' at {self.server} is deleted: restore it "
                    f"(`mlflow experiments restore --experiment-id {found.experiment_id}`)"
                )
            return str(found.experiment_id)
        return str(
            self.call(
                "experiment creation",
                lambda: self._client.create_experiment(
                    name, artifact_location=artifact_root(self.uri)
                ),
            )
        )

    def latest_verdict(
        self, model_name: str, content_hash: str, *, release: bool
    ) -> PublishedRun | None:
        """The newest finished publish of this content hash that tagged a verdict, in the
        release or the pull-request experiment. Publish and `run --reuse` use it to avoid
        repeating work; a promotion never does: it is handed its run by id."""
        experiment = self.experiment_id(model_name, release=release)
        runs = self.call(
            "run search",
            lambda: self._client.search_runs(
                [experiment],
                filter_string=(
                    f"tags.`{TAG_CONTENT}` = '{content_hash}' and attributes.status = 'FINISHED'"
                ),
                order_by=["attributes.start_time DESC"],
                max_results=20,
            ),
        )
        for run in runs:
            published = PublishedRun.from_mlflow(run)
            if published.model_uri and TAG_GATE in published.tags:
                return published
        return None

    def published_run(self, run_id: str) -> PublishedRun:
        """The run `run_id`; a run that does not exist is an error like any other."""
        run = self.call(f"lookup of run {run_id}", lambda: self._client.get_run(run_id))
        return PublishedRun.from_mlflow(run)

    def logged_model_uri(self, model_name: str, content_hash: str, *, release: bool) -> str | None:
        """`models:/<id>` of a complete logged model of this content hash in the release or
        the pull-request experiment, if one exists."""
        experiment = self.experiment_id(model_name, release=release)
        models = self.call(
            "logged model search",
            lambda: self._client.search_logged_models(
                [experiment], filter_string=f"tags.`{TAG_CONTENT}` = '{content_hash}'"
            ),
        )
        ready = [m for m in models if str(getattr(m.status, "name", m.status)).upper() == "READY"]
        if not ready:
            return None
        return str(min(ready, key=lambda m: int(m.creation_timestamp or 0)).model_uri)

    def publish_run(
        self,
        *,
        experiment_id: str,
        run_name: str,
        tags: Mapping[str, str],
        final_tags: Mapping[str, str],
        params: Mapping[str, str],
        metrics: Mapping[str, float],
        artifacts: list[Artifact],
        dicts: Mapping[str, Any],
        texts: Mapping[str, str],
        model_uri: str | None,
        model: PyfuncPackage | None,
        datasets: Sequence[DatasetInput] = (),
        scored_on: str | None = None,
    ) -> PublishedRun:
        """One run: params, the `datasets` it read (dataset inputs), artifacts, JSON `dicts`
        and `texts`, the model (`model` logged, or `model_uri` reused), metrics, then
        `final_tags` last so a run killed half-way never looks gated. Metrics whose name
        starts with `scored_on` + "." are linked to the dataset of context "holdout" (and,
        like the others, to the model logged here).
        """
        mlflow = self._mlflow

        def log_all() -> str:
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags)):
                run_id = mlflow.active_run().info.run_id
                mlflow.log_params(dict(params))
                inputs = {d.context: d.to_mlflow() for d in datasets}
                if datasets:
                    mlflow.log_inputs(
                        datasets=list(inputs.values()),
                        contexts=list(inputs),
                        tags_list=[dict(d.tags) for d in datasets],
                    )
                for name, value in dicts.items():
                    mlflow.log_dict(value, name)
                for name, text in texts.items():
                    mlflow.log_text(text, name)
                for path, folder in artifacts:
                    mlflow.log_artifact(str(path), artifact_path=folder)
                model_id = None
                uri = model_uri
                if uri is None and model is not None:
                    info = model.log(mlflow)
                    uri, model_id = str(info.model_uri), str(info.model_id)
                    self._client.set_logged_model_tags(
                        model_id, {k: v for k, v in tags.items() if k == TAG_CONTENT}
                    )
                # After the model, linked to it in one batch (logged before, `log_model`
                # would copy each metric to the model with one history query per metric).
                holdout = inputs.get("holdout")
                scored = {
                    k: v
                    for k, v in metrics.items()
                    if holdout is not None and scored_on and k.startswith(f"{scored_on}.")
                }
                rest = {k: v for k, v in metrics.items() if k not in scored}
                mlflow.log_metrics(rest, model_id=model_id)
                if scored:
                    mlflow.log_metrics(scored, model_id=model_id, dataset=holdout)
                # What the model's files are, as stored: read back, not as written locally.
                found = self.stored_digests(str(uri))
                encoded = model_digests.encode(found)
                if len(encoded) > model_digests.MAX_RUN_TAG_CHARS:
                    raise InfraError(
                        f"the logged model {uri} has {len(found)} files: their digests do not "
                        f"fit in one MLflow tag ({len(encoded)} characters)"
                    )
                mlflow.set_tags(
                    {
                        TAG_DIGESTS: encoded,
                        TAG_DIGEST: model_digests.tree_digest(found),
                        **final_tags,
                        TAG_MODEL_URI: str(uri),
                    }
                )
                return str(run_id)

        run_id = self.call("publish", log_all)
        run = self.call("run lookup", lambda: self._client.get_run(run_id))
        return PublishedRun.from_mlflow(run)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric of a run."""
        run = self.call(f"lookup of run {run_id}", lambda: self._client.get_run(run_id))
        return {str(k): float(v) for k, v in run.data.metrics.items()}

    def run_url(self, experiment_id: str, run_id: str) -> str | None:
        """A browser link to a run, for HTTP tracking servers."""
        if not is_remote(self.uri):
            return None
        return f"{self.server.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"

    def download_json(self, run_id: str, artifact: str) -> Any:
        """A JSON artifact of a run. Missing or unreadable is a broken store: InfraError."""
        text = self.call(
            f"download of {artifact} from run {run_id}",
            lambda: self._mlflow.artifacts.load_text(f"runs:/{run_id}/{artifact}"),
        )
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InfraError(
                f"MLflow artifact {artifact} of run {run_id} at {self.server} is not JSON: {exc}"
            ) from exc

    # -- model files: digests, verified downloads and loads ----------------------------------
    def stored_digests(self, model_uri: str) -> dict[str, str]:
        """The digests of a logged model's files as the store holds them (downloaded into
        a temporary folder, removed afterwards)."""
        with tempfile.TemporaryDirectory(prefix="digests-") as tmp:
            return model_digests.folder_digests(self._download(model_uri, Path(tmp)))

    def _download(self, model_uri: str, target: Path) -> Path:
        uri = self.model_uri(model_uri)
        local = self.call(
            f"download of {uri}",
            lambda: self._mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(target)
            ),
        )
        return Path(local)

    def fetch_verified(
        self, model_uri: str, expected: Mapping[str, str], where: str, target: Path
    ) -> Path:
        """Download a logged model into `target` and check every file against `expected`
        (InfraError naming the first file that differs): what is then loaded from the
        returned folder is what was checked."""
        local = self._download(model_uri, target)
        model_digests.verify(local, expected, where)
        return local

    def fetch_version(self, model_name: str, version: ModelVersion, target: Path) -> Path:
        """A registered version's files in `target`, checked against its digests tag (which
        only the release credential writes)."""
        where = f"{model_name} version {version.version}"
        expected = model_digests.decode(version.tags.get(TAG_DIGESTS), where)
        return self.fetch_verified(
            f"models:/{model_name}/{version.version}", expected, where, target
        )

    def load_version(self, model_name: str, version: ModelVersion) -> LoadedModel:
        """A registered version, loaded from a verified local copy (kept until the process
        exits: the index and arrays are memory-mapped from it)."""
        target = Path(tempfile.mkdtemp(prefix=f"model-{model_name}-{version.version}-"))
        atexit.register(shutil.rmtree, target, ignore_errors=True)
        local = self.fetch_version(model_name, version, target)
        uri = f"models:/{model_name}/{version.version}"
        pyfunc = self.call(f"load of {uri}", lambda: self._mlflow.pyfunc.load_model(str(local)))
        return LoadedModel(uri, pyfunc, local)

    # -- registered models and versions ---------------------------------------------------
    def version_by_alias(self, model_name: str, alias: str) -> ModelVersion | None:
        """The version `alias` points at; None only when the model or the alias is absent.

        An alias that the registered model holds but whose version the registry does not
        (deleted, or never there) is a broken registry, never "no champion": InfraError
        naming the alias and the version.
        """
        found = self.lookup(
            f"lookup of {model_name}@{alias}",
            lambda: self._client.get_model_version_by_alias(self.mlflow_name(model_name), alias),
        )
        if found is not None:
            return self._version(found)
        model = self.lookup(
            f"lookup of registered model {model_name}",
            lambda: self._client.get_registered_model(self.mlflow_name(model_name)),
        )
        dangling = dict(model.aliases or {}).get(alias) if model is not None else None
        if dangling is None:
            return None
        raise InfraError(
            f"MLflow alias {model_name}@{alias} at {self.server} points at version {dangling}, "
            "which does not exist: a broken registry; point the alias at an existing version "
            "or delete it in MLflow (nothing was changed)"
        )

    def version_by_content_hash(self, model_name: str, content_hash: str) -> ModelVersion | None:
        """The first version registered from this content hash, if any."""
        name = self.mlflow_name(model_name)
        found = self.lookup(
            f"version search of {model_name}",
            lambda: self._client.search_model_versions(
                f"name = '{name}' and tags.`{TAG_CONTENT}` = '{content_hash}'"
            ),
        )
        versions = [self._version(v) for v in found or []]
        return min(versions, key=lambda v: v.number) if versions else None

    def get_version(self, model_name: str, version: str | int) -> ModelVersion | None:
        """A model version; None only when it does not exist."""
        found = self.lookup(
            f"lookup of {model_name} version {version}",
            lambda: self._client.get_model_version(self.mlflow_name(model_name), str(version)),
        )
        return self._version(found) if found is not None else None

    def ensure_registered_model(self, model_name: str, description: str = "") -> None:
        """Create the registered model on first promotion; keep its description current."""
        if self.create_model(model_name, {}, description) or not description:
            return
        current = self.lookup(
            f"lookup of registered model {model_name}",
            lambda: self._client.get_registered_model(self.mlflow_name(model_name)),
        )
        if current is not None and (current.description or "") != description:
            self.call(
                f"description of {model_name}",
                lambda: self._client.update_registered_model(
                    self.mlflow_name(model_name), description=description
                ),
            )

    def register(
        self,
        model_name: str,
        model_uri: str,
        run_id: str,
        tags: Mapping[str, str],
        description: str = "",
    ) -> ModelVersion:
        """A new version from a logged model, carrying the run's tags.

        A tracking server refuses a `models:/<model_id>` source unless the model id is
        passed too (the embedded store does not check), so it is always passed.
        """
        model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/") else None
        self.ensure_registered_model(model_name, description)
        created = self.call(
            f"version creation of {model_name}",
            lambda: self._client.create_model_version(
                self.mlflow_name(model_name),
                model_uri,
                run_id=run_id,
                tags=dict(tags),
                model_id=model_id,
                description=description or None,
            ),
        )
        return self._version(created)

    def set_alias(self, model_name: str, alias: str, version: str | int) -> None:
        """Point `alias` at `version`."""
        self.call(
            f"move of {model_name}@{alias}",
            lambda: self._client.set_registered_model_alias(
                self.mlflow_name(model_name), alias, str(version)
            ),
        )

    def set_version_tag(self, model_name: str, version: str | int, key: str, value: str) -> None:
        """Tag a model version."""
        self.call(
            f"tag of {model_name} version {version}",
            lambda: self._client.set_model_version_tag(
                self.mlflow_name(model_name), str(version), key, value
            ),
        )

    def set_model_tag(self, model_name: str, key: str, value: str) -> None:
        """Tag the registered model."""
        self.call(
            f"tag of {model_name}",
            lambda: self._client.set_registered_model_tag(self.mlflow_name(model_name), key, value),
        )

    def model_tags(self, model_name: str) -> dict[str, str]:
        """Tags of the registered model ({} when it does not exist)."""
        return self.model_tags_or_none(model_name) or {}

    # -- the lock's store operations (see pipelines.registry.lock.LockStore) -------------
    def create_model(self, name: str, tags: dict[str, str], description: str) -> bool:
        """Create a registered model; False when the name is taken."""

        def create() -> bool:
            try:
                self._client.create_registered_model(
                    self.mlflow_name(name), tags=tags, description=description
                )
            except Exception as exc:
                if already_exists(exc):
                    return False
                raise
            return True

        return self.call(f"creation of registered model {name}", create)

    def model_tags_or_none(self, name: str) -> dict[str, str] | None:
        """A registered model's tags, or None when it does not exist."""
        found = self.lookup(
            f"lookup of registered model {name}",
            lambda: self._client.get_registered_model(self.mlflow_name(name)),
        )
        return dict(found.tags or {}) if found is not None else None

    def delete_model(self, name: str) -> None:
        """Delete a registered model; nothing when it does not exist."""
        self.lookup(
            f"deletion of registered model {name}",
            lambda: self._client.delete_registered_model(self.mlflow_name(name)),
        )

    # -- promotions -----------------------------------------------------------------------
    @contextmanager
    def promotion_lock(self, model_name: str, purpose: str) -> Iterator[PromotionLock]:
        """Hold the model's promotion lock (PromotionConflict when another process does).

        The body calls `lock.check_held()` before each write.
        """
        lock = PromotionLock(self, model_name, purpose, LockSettings.from_env())
        lock.acquire()
        try:
            yield lock
        finally:
            try:
                lock.release()
            except InfraError as exc:
                log.warning("%s: promotion lock not released (it expires): %s", model_name, exc)

    def confirm_alias(self, model_name: str, alias: str, expected: str | int) -> None:
        """Re-read `alias` after a move: it must still point at `expected` (gate passed).

        When another writer moved it to a version whose gate did not pass, it is put back
        on `expected` first, so it is never left there; either way PromotionConflict.
        """
        current = self.version_by_alias(model_name, alias)
        if current is not None and current.version == str(expected):
            return
        if current is not None and current.tags.get(TAG_GATE) != GATE_PASSED:
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
