"""A second file claiming a model, by class: any extension (`.yaml`, `.yml`) and any case
of the file name beside the item-recs example spec. "Spec name = file stem" means one file
per model name in a folder: loading either file, or running it, is one line naming the
other (exit 2), and nothing reaches the registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.spec import load_spec
from tests.hostile.support import bad_input, one_error_line

RIVALS = ["item-recs.yml", "item-recs.YAML", "Item-Recs.yaml", "ITEM-RECS.yml", "item-recs.Yml"]


@pytest.mark.parametrize("rival", RIVALS)
def test_a_second_file_of_the_same_model_is_refused(
    scratch_repo: Path, rival: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = scratch_repo / "model_specs" / "item-recs.yaml"
    shutil.copy(spec, scratch_repo / "model_specs" / rival)
    error = bad_input(lambda: load_spec(spec))
    assert rival in str(error) and "one file per model name" in str(error)
    assert error.field == "name"
    code = main(["-q", "run", str(spec)])
    assert rival in one_error_line(code, capsys.readouterr().err)["msg"]


def test_the_same_name_in_another_folder_is_a_variant(scratch_repo: Path) -> None:
    """Folders hold variants of a model (a pull request's copy): not a second claim."""
    spec = scratch_repo / "model_specs" / "item-recs.yaml"
    (scratch_repo / "model_specs" / "v2").mkdir()
    shutil.copy(spec, scratch_repo / "model_specs" / "v2" / "item-recs.yml")
    assert load_spec(spec).spec.name == "item-recs"
