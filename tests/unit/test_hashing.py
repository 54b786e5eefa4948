"""`hashlib.file_digest` gives the digests the hand-written chunk loops gave."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipelines.data.sources import sha256_file
from pipelines.rundir import fingerprint


def _chunked_sha256(path: Path) -> str:
    """The loop both modules had before `hashlib.file_digest`."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize("size", [0, 1, 1 << 20, (1 << 20) + 3, 3 * (1 << 20) - 1])
def test_file_digests_are_unchanged(tmp_path: Path, size: int) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * (size // 256) + bytes(size % 256))
    expected = _chunked_sha256(path)
    assert sha256_file(path) == expected
    assert fingerprint(path) == expected


def test_folder_fingerprint_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.txt").write_text("zz", encoding="utf-8")
    (tmp_path / "a.bin").write_bytes(b"\0" * ((1 << 20) + 5))
    digest = hashlib.sha256()
    for name in ("a.bin", "b/z.txt"):
        digest.update(name.encode())
        digest.update(_chunked_sha256(tmp_path / name).encode())
    assert fingerprint(tmp_path) == digest.hexdigest()
    assert fingerprint(tmp_path / "absent") is None
