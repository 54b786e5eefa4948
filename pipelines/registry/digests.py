"""Content digests of a logged model's files: what the release records, what loaders check.

A model's digests are `{relative path: sha256}` of every file of the logged model as stored
(estimator payload, index, serving code, MLmodel, environment files). The release writes
them as a tag on the model version with its own credential; whatever loads the model checks
the bytes it downloaded against them and refuses any difference: a changed, missing or
extra file. The tree digest is one sha256 over the sorted map, short enough to hand from
job to job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from pipelines.errors import InfraError

# Written into a downloaded `models:/name/version` folder by MLflow's client itself, after
# the download: not part of what was stored, so not part of the digests.
CLIENT_WRITTEN = frozenset({"registered_model_meta"})
# MLflow's limit on a run tag's value; a model version tag may hold far more.
MAX_RUN_TAG_CHARS = 8000
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The sha256 of one file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digests(folder: Path) -> dict[str, str]:
    """`{posix relative path: sha256}` of every regular file under `folder`.

    A symlink or any other non-regular entry is refused: a stored model holds only files.
    """
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            raise InfraError(f"model file {relative} is not a regular file")
        if path.is_file() and relative not in CLIENT_WRITTEN:
            found[relative] = file_sha256(path)
    return found


def tree_digest(digests: Mapping[str, str]) -> str:
    """One sha256 over the sorted `path sha256` lines: the model's identity in a few bytes."""
    lines = "".join(f"{path}\0{digests[path]}\n" for path in sorted(digests))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def encode(digests: Mapping[str, str]) -> str:
    """The tag value: compact JSON with sorted keys."""
    return json.dumps(dict(sorted(digests.items())), separators=(",", ":"))


def decode(text: str | None, where: str) -> dict[str, str]:
    """The map a digests tag holds; a missing or malformed tag is a broken record (exit 3)."""
    if not text:
        raise InfraError(f"{where} records no file digests: it cannot be verified (re-release it)")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InfraError(f"{where}: its file digests are not JSON") from exc
    if (
        not isinstance(value, dict)
        or not value
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in value.items()
        )
    ):
        raise InfraError(f"{where}: its file digests are malformed")
    return value


def verify(folder: Path, expected: Mapping[str, str], where: str) -> None:
    """Raise InfraError naming the first file of `folder` that differs from `expected`."""
    actual = folder_digests(folder)
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            raise InfraError(f"{where}: file {path} is missing from the downloaded model")
        if path not in expected:
            raise InfraError(f"{where}: file {path} is not in the recorded digests")
        if actual[path] != expected[path]:
            raise InfraError(
                f"{where}: file {path} does not match its recorded digest "
                f"(sha256 {actual[path][:16]}..., recorded {expected[path][:16]}...)"
            )
