"""The run directory: typed reads and atomic writes of the steps' files.

File names and JSON shapes are in `pipelines.contracts`, which step writes and reads what
in `pipelines.table`. The manifest binds each output to the content hash it was made for
and its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from pydantic import ValidationError

from pipelines.contracts import MANIFEST, Contract, Manifest, StepRecord
from pipelines.errors import InfraError, StepOrderError
from pipelines.table import INPUTS, OUTPUTS, PRODUCER

ContractT = TypeVar("ContractT", bound=Contract)


class RunDir:
    """One model's run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fingerprints: dict[str, tuple[tuple[tuple[str, int, int], ...], str | None]] = {}

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

    def read(self, contract: type[ContractT]) -> ContractT:
        """An earlier step's JSON output, checked against its contract."""
        path = self.require(contract.FILE)
        try:
            return contract.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            step = PRODUCER.get(contract.FILE, "the earlier steps")
            raise StepOrderError(
                f"{path} does not hold this version's {contract.__name__} "
                f"({exc.error_count()} problem(s)): run `{step}` again"
            ) from exc

    def write(self, record: Contract) -> Path:
        """Write a step's JSON output atomically (never a half-written file)."""
        return self._write_json(record.FILE, record.model_dump())

    def _write_json(self, name: str, payload: Any) -> Path:
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

    def begin_step(self, step: str, content_hash: str) -> None:
        """Check the step's inputs, then remove its own outputs (other steps' stay).

        An input is accepted only when the manifest says its producer wrote it for this
        content hash, its fingerprint is unchanged since, and the producer's own inputs are
        still the ones it read (`stale`); otherwise StepOrderError names the step to run
        again. The step's outputs go before it runs, so a step that crashes leaves nothing
        a later step could take for a result; a later step's outputs stay on disk, and the
        manifest tells whether they still follow from this step's new ones.
        """
        manifest = self.manifest().steps
        for name in INPUTS.get(step, ()):
            path = self.require(name)
            producer = PRODUCER[name]
            record = manifest.get(producer)
            if record is None or record.content_hash != content_hash:
                raise StepOrderError(
                    f"{path} was made from another spec, data or code than this one's: "
                    f"run `{producer}` again"
                )
            if record.outputs.get(name) != self.fingerprint(name):
                raise StepOrderError(
                    f"{path} changed after `{producer}` wrote it: run `{producer}` again"
                )
            if (stale := self.stale(producer)) is not None:
                rerun, changed = stale
                raise StepOrderError(
                    f"{path} follows from an older {changed} than the one there now: "
                    f"run `{rerun}` again, then the steps after it"
                )
        if step not in OUTPUTS:
            return
        for name in OUTPUTS[step]:
            self._remove(self.file(name))
        if step in manifest:
            kept = {k: v for k, v in manifest.items() if k != step}
            self._write_manifest(Manifest(steps=kept))

    def stale(self, step: str) -> tuple[str, str] | None:
        """(a step, its input) when that input of `step`'s last run, or of a step it
        followed from, is no longer what that run read; None when nothing changed."""
        steps = self.manifest().steps
        seen: set[str] = set()
        pending = [step]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            record = steps.get(current)
            read = record.inputs if record is not None else {}
            for name in INPUTS.get(current, ()):
                producer = PRODUCER[name]
                made = steps.get(producer)
                written = made.outputs.get(name) if made is not None else None
                fingerprint = read.get(name)
                if (
                    fingerprint is None
                    or fingerprint != self.fingerprint(name)
                    or fingerprint != written
                ):
                    return current, name
                pending.append(producer)
        return None

    def as_written(self, name: str, content_hash: str) -> bool:
        """Whether `name` is what its producer wrote for this content hash, unchanged since
        and from unchanged inputs (the check `begin_step` makes of required inputs, for an
        optional one)."""
        producer = PRODUCER[name]
        record = self.manifest().steps.get(producer)
        return (
            self.file(name).exists()
            and record is not None
            and record.content_hash == content_hash
            and record.outputs.get(name) == self.fingerprint(name)
            and self.stale(producer) is None
        )

    def record_step(self, step: str, seconds: float, content_hash: str) -> None:
        """Add a step's duration, content hash, and the fingerprints of the inputs it read
        and the outputs it wrote, to the manifest."""
        record = StepRecord(
            seconds=round(seconds, 4),
            finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            content_hash=content_hash,
            inputs={name: self.fingerprint(name) for name in INPUTS.get(step, ())},
            outputs={name: self.fingerprint(name) for name in OUTPUTS.get(step, ())},
        )
        self._write_manifest(Manifest(steps={**self.manifest().steps, step: record}))

    def manifest(self) -> Manifest:
        """The manifest, or an empty one (an unreadable or malformed one counts as empty:
        every input it would vouch for is then refused, never trusted)."""
        path = self.file(MANIFEST)
        if not path.exists():
            return Manifest()
        try:
            return Manifest.model_validate_json(path.read_bytes())
        except ValidationError:
            return Manifest()

    def _write_manifest(self, manifest: Manifest) -> None:
        self._write_json(MANIFEST, manifest.model_dump())

    def fingerprint(self, name: str) -> str | None:
        """`fingerprint` of a run-directory entry, cached while its size and mtime hold."""
        path = self.file(name)
        key = _stat_key(path)
        cached = self._fingerprints.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        value = fingerprint(path)
        self._fingerprints[name] = (key, value)
        return value

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise InfraError(f"cannot remove the stale {path}: {exc.strerror}") from exc


def _stat_key(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and mtimes of a file or a folder's files (what the cache trusts)."""
    if path.is_file():
        stat = path.stat()
        return (("", stat.st_size, stat.st_mtime_ns),)
    if path.is_dir():
        return tuple(
            (p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*"))
            if p.is_file()
        )
    return ()


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
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
