"""Model file digests: every changed, missing or extra file is named; bad records fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import InfraError
from pipelines.registry import digests


def _model(folder: Path) -> Path:
    (folder / "artifacts" / "serving").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "artifacts" / "index.usearch").write_bytes(b"\x01" * 100)
    (folder / "artifacts" / "serving" / "estimator.pkl").write_bytes(b"\x02" * 10)
    return folder


def test_a_folder_matches_its_own_digests_and_the_client_written_file_is_ignored(
    tmp_path: Path,
) -> None:
    folder = _model(tmp_path / "m")
    recorded = digests.folder_digests(folder)
    assert sorted(recorded) == [
        "MLmodel",
        "artifacts/index.usearch",
        "artifacts/serving/estimator.pkl",
    ]
    (folder / "registered_model_meta").write_text("model_name: x\n")  # MLflow's client writes it
    digests.verify(folder, recorded, "x version 1")
    assert digests.tree_digest(recorded) == digests.tree_digest(dict(reversed(recorded.items())))
    assert digests.decode(digests.encode(recorded), "x") == recorded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: (f / "artifacts" / "index.usearch").write_bytes(b"\x03" * 100),
         "file artifacts/index.usearch does not match its recorded digest"),
        (lambda f: (f / "artifacts" / "serving" / "estimator.pkl").unlink(),
         "file artifacts/serving/estimator.pkl is missing"),
        (lambda f: (f / "artifacts" / "extra.py").write_text("import os\n"),
         "file artifacts/extra.py is not in the recorded digests"),
    ],
)  # fmt: skip
def test_every_difference_is_named(tmp_path: Path, change: object, message: str) -> None:
    folder = _model(tmp_path / "m")
    recorded = digests.folder_digests(folder)
    change(folder)  # type: ignore[operator]
    with pytest.raises(InfraError, match=message):
        digests.verify(folder, recorded, "x version 1")


def test_a_symlink_in_a_model_is_refused(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    (folder / "link").symlink_to(folder / "MLmodel")
    with pytest.raises(InfraError, match="link is not a regular file"):
        digests.folder_digests(folder)


@pytest.mark.parametrize("text", [None, "", "{", "[]", "{}", '{"a": "short"}', '{"a": 1}'])
def test_a_missing_or_malformed_record_fails_closed(text: str | None) -> None:
    with pytest.raises(InfraError, match="x version 3"):
        digests.decode(text, "x version 3")
