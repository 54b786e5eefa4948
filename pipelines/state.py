"""What the steps of one model share: the spec, the run directory, and cached loads.

A step run alone reads earlier outputs from the run directory; steps run in one process
(`pipelines run`) share one ModelState, so the data is loaded once and the fitted bundle,
split and index are reused from memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import pipelines
from pipelines.contracts import BUNDLE_FILE, MODEL_DIR, SPLIT_FILE, TrainMeta
from pipelines.data.sources import LoadedData, load_data
from pipelines.kinds import get_kind, kind_sources
from pipelines.rundir import RunDir
from pipelines.spec import LoadedSpec
from pipelines.tasks import Bundle, Split, Task, get_task
from pipelines.tasks.base import load_bundle

if TYPE_CHECKING:
    from pipelines.index import KeptExact
    from pipelines.registry import Registry

_registries: dict[tuple[str, str, str], Registry] = {}

log = logging.getLogger(__name__)


def code_version() -> str:
    """Package version plus a hash of the package's source files and of the lock file the
    dependencies were installed from (uv.lock beside the package, when it is there), so
    what was reviewed runs with the dependency versions that ship."""
    root = Path(pipelines.__file__).parent
    digest = hashlib.sha256(pipelines.__version__.encode())
    # One digest over many files' names and bytes: `hashlib.file_digest` hashes one file.
    for path in sorted(root.rglob("*")):
        if path.suffix in {".py", ".j2"} and path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    lock = root.parent / "uv.lock"
    if lock.is_file():
        digest.update(b"uv.lock\0")
        digest.update(lock.read_bytes())
    return f"{pipelines.__version__}+{digest.hexdigest()[:12]}"


class ModelState:
    """One spec's state across steps."""

    def __init__(self, loaded: LoadedSpec, run_dir: Path | None = None) -> None:
        self.loaded = loaded
        self.spec = loaded.spec
        self.run = RunDir(run_dir or loaded.run_dir)
        self.task: Task = get_task(loaded.spec.task)
        self._data: LoadedData | None = None
        self._bundle: Bundle | None = None
        self._split: Split | None = None
        self._meta: TrainMeta | None = None
        self.index: Any = None  # the usearch index, once built or restored
        self.exact: KeptExact | None = None  # build-index's kept exact search

    # -- data -----------------------------------------------------------------------------
    def data(self) -> LoadedData:
        """The spec's data, loaded and pin-checked once."""
        if self._data is None:
            self._data = load_data(self.loaded)
        return self._data

    @cached_property
    def data_sha256(self) -> str:
        """sha256 of the data: the pin, or without one the bytes' (loading the data once,
        for the steps to reuse)."""
        pinned = self.spec.data.sha256
        return pinned if pinned is not None else self.data().sha256

    @cached_property
    def content_hash(self) -> str:
        """What defines the model: spec, data and code (the package's, a plug-in kind's own)."""
        # Monitoring settings do not change the model: a spec edited there keeps its hash.
        spec = self.spec.model_dump(mode="json", exclude={"monitoring"})
        canonical = json.dumps(spec, sort_keys=True)
        digest = hashlib.sha256()
        for part in (canonical, self.data_sha256, code_version()):
            digest.update(part.encode())
            digest.update(b"\0")
        # A plug-in kind's own code (none for the built-in kinds, whose hashes stay as
        # they were): its edited task or server is a new model.
        for path in kind_sources(get_kind(self.spec.task)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
        return digest.hexdigest()

    # -- train outputs ----------------------------------------------------------------------
    def save_model(self, bundle: Bundle, split: Split, meta: TrainMeta) -> None:
        """Write the fitted bundle, the split and metadata into the run directory."""
        self.run.write_bytes(BUNDLE_FILE, pickle.dumps(bundle, protocol=pickle.HIGHEST_PROTOCOL))
        self.run.write_arrays(SPLIT_FILE, train=split.train, test=split.test)
        self.run.write(meta)
        self._bundle, self._split, self._meta = bundle, split, meta

    def bundle(self) -> Bundle:
        """The fitted bundle from `train`."""
        if self._bundle is None:
            self.run.require(MODEL_DIR)
            self._bundle = load_bundle(self.run.file(BUNDLE_FILE))
        return self._bundle

    def split(self) -> Split:
        """The holdout split from `train`."""
        if self._split is None:
            self.run.require(MODEL_DIR)
            with np.load(self.run.file(SPLIT_FILE)) as arrays:
                self._split = Split(train=arrays["train"], test=arrays["test"])
        return self._split

    def meta(self) -> TrainMeta:
        """Metadata written by `train`."""
        if self._meta is None:
            self._meta = self.run.read(TrainMeta)
        return self._meta

    # -- registry ----------------------------------------------------------------------------
    def registry(self) -> Registry:
        """A connected MLflow registry (one per process and store)."""
        from pipelines.registry import Registry, seed_sqlite_store, tracking_uri

        config = self.loaded.config
        key = (tracking_uri(config.root), config.experiment_prefix, config.model_prefix)
        if key not in _registries:
            seed_sqlite_store(key[0])
            _registries[key] = Registry(config.root, config.experiment_prefix, config.model_prefix)
        registry = _registries[key]
        registry.activate()  # another store may have been used last in this process
        return registry
