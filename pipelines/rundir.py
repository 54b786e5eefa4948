"""The run directory: what each step reads and writes, written atomically.

Layout (`.runs/<model>/`): data_report.json, model/ (estimator, split, vectors),
index.usearch, index_report.json, evaluation.json, publish.json, report.md, manifest.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np

from pipelines.errors import InfraError, StepOrderError

DATA_REPORT = "data_report.json"
MODEL_DIR = "model"
INDEX_FILE = "index.usearch"
INDEX_REPORT = "index_report.json"
EVALUATION = "evaluation.json"
PUBLISH = "publish.json"
PROMOTE = "promote.json"
REPORT_MD = "report.md"
MANIFEST = "manifest.json"

# which step writes which file, to tell a user what to run first
PRODUCER = {
    DATA_REPORT: "check-data",
    MODEL_DIR: "train",
    INDEX_FILE: "build-index",
    INDEX_REPORT: "build-index",
    EVALUATION: "evaluate",
    PUBLISH: "publish",
}


class RunDir:
    """One model's run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure(self) -> None:
        """Create the folder, turning permission and space problems into one clear line."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InfraError(f"run directory {self.path} is not writable: {exc.strerror}") from exc

    def file(self, name: str) -> Path:
        """Path of `name` inside the run directory."""
        return self.path / name

    def require(self, name: str) -> Path:
        """Path of an earlier step's output; a clear error when that step has not run."""
        path = self.file(name)
        if not path.exists():
            step = PRODUCER.get(name, "the earlier steps")
            raise StepOrderError(f"{path} is missing: run `{step}` first")
        return path

    def read_json(self, name: str) -> Any:
        """Load an earlier step's JSON output."""
        return json.loads(self.require(name).read_text(encoding="utf-8"))

    def write_json(self, name: str, payload: Any) -> Path:
        """Write JSON atomically (never a half-written file)."""
        text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n"
        return self.write_text(name, text)

    def write_text(self, name: str, text: str) -> Path:
        """Write text atomically."""
        target = self.file(name)
        with self._atomic(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return target

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write bytes atomically."""
        target = self.file(name)
        with self._atomic(target) as tmp:
            tmp.write_bytes(data)
        return target

    def write_arrays(self, name: str, **arrays: np.ndarray) -> Path:
        """Save named arrays as one .npz atomically."""
        target = self.file(name)
        with self._atomic(target) as tmp, tmp.open("wb") as handle:
            np.savez(handle, **cast(dict[str, Any], arrays))
        return target

    @contextmanager
    def _atomic(self, target: Path) -> Iterator[Path]:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            os.close(fd)
        except OSError as exc:
            raise InfraError(f"cannot write in {target.parent}: {exc.strerror}") from exc
        tmp = Path(name)
        try:
            yield tmp
            tmp.replace(target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise InfraError(f"cannot write {target}: {exc.strerror}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def record_step(self, step: str, seconds: float, outputs: list[str]) -> None:
        """Add a step's duration and output fingerprints to the manifest."""
        manifest_path = self.file(MANIFEST)
        manifest: dict[str, Any] = {}
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest.setdefault("steps", {})[step] = {
            "seconds": round(seconds, 4),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "outputs": {name: fingerprint(self.file(name)) for name in outputs},
        }
        self.write_json(MANIFEST, manifest)

    def manifest(self) -> dict[str, Any]:
        """The manifest, or an empty one."""
        path = self.file(MANIFEST)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def fingerprint(path: Path) -> str | None:
    """sha256 of a file, or of a folder's files in name order; None when absent."""
    if path.is_file():
        return _sha_file(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(child.relative_to(path).as_posix().encode())
            digest.update(_sha_file(child).encode())
        return digest.hexdigest()
    return None


def _sha_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
