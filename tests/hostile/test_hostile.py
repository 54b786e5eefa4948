"""The hostile corpus: every case exits 2 with one line naming file, line and field, and
leaves the registry exactly as it was.

A case is `cases/<name>.yaml` whose header says what it expects:
`# expect-field:` (`-` where the document has no field to name, e.g. an empty file),
`# expect-message:` (a substring), optional `# expect-line:` and `# setup-symlink: LINK TARGET`.
`sha256: AUTO` is replaced by the pin of the case's data file, so the data itself is tested.
The CLI's `main` runs in-process for speed; a sample also runs as a real subprocess.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.spec.yaml_source import MAX_SPEC_BYTES
from tests.conftest import ROOT, registry_snapshot

CASES = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES.glob("*.yaml"))
ERROR = re.compile(r"^error: (?P<file>[^:]+):(?P<line>\d+): (?:(?P<field>[\w.\-]+): )?(?P<msg>.+)$")


def _header(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(":")
        out[key.strip()] = value.strip()
    return out


def _install(case: Path, repo: Path) -> Path:
    """Copy a case (and its data) into a scratch repository; return the spec path there."""
    meta = _header(case)
    text = case.read_text(encoding="utf-8")
    source = re.search(r"^  source: (data/[\w.\-]+)$", text, flags=re.MULTILINE)
    if source and (CASES / source.group(1)).is_file():
        data = CASES / source.group(1)
        shutil.copy(data, repo / source.group(1))
        pin = hashlib.sha256(data.read_bytes()).hexdigest()
        text = text.replace("sha256: AUTO", f"sha256: {pin}")
    if "setup-symlink" in meta:
        link, target = meta["setup-symlink"].split()
        (repo / link).symlink_to(target)
    # model_specs/<case>/<name>.yaml: a spec's name must equal its file stem
    named = re.search(r"^name: ([a-z0-9][a-z0-9-]{0,62})$", text, flags=re.MULTILINE)
    spec = repo / "model_specs" / case.stem / f"{named.group(1) if named else case.stem}.yaml"
    spec.parent.mkdir()
    spec.write_text(text, encoding="utf-8")
    return spec


def _check(case_name: str, meta: dict[str, str], code: int, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2, (code, stderr)
    assert len(errors) == 1, stderr
    match = ERROR.match(errors[0])
    assert match, f"not file:line[: field]: message: {errors[0]}"
    assert match["file"].endswith((case_name, ".csv")), errors[0]
    if "expect-line" in meta:
        assert match["line"] == meta["expect-line"], errors[0]
    field = meta["expect-field"]
    if field == "-":
        assert match["field"] is None or "." not in match["field"], errors[0]
    else:
        assert match["field"] is not None, errors[0]
        assert match["field"] == field or match["field"].startswith(field + "."), errors[0]
    assert meta["expect-message"] in match["msg"], errors[0]


@pytest.mark.parametrize("case", CASE_FILES, ids=[c.stem for c in CASE_FILES])
def test_hostile_case_exits_2_and_changes_nothing(
    case: Path, scratch_repo: Path, mlflow_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _install(case, scratch_repo)
    before = registry_snapshot(mlflow_store)
    capsys.readouterr()
    code = main(["-q", "run", str(spec), "--promote", "champion"])
    _check(spec.name, _header(case), code, capsys.readouterr().err)
    assert registry_snapshot(mlflow_store) == before


def test_corpus_is_big_enough() -> None:
    assert len(CASE_FILES) >= 40
    kinds = {c.stem.split("_")[0] for c in CASE_FILES}
    assert {"yaml", "type", "unknown", "estimator", "param", "path", "url", "csv"} <= kinds


def test_huge_spec_is_refused_before_parsing(
    scratch_repo: Path, mlflow_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = scratch_repo / "model_specs" / "huge.yaml"
    base = (scratch_repo / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8")
    spec.write_text(base + "# " + "x" * MAX_SPEC_BYTES + "\n", encoding="utf-8")
    before = registry_snapshot(mlflow_store)
    capsys.readouterr()
    code = main(["-q", "run", str(spec)])
    meta = {"expect-field": "-", "expect-message": "the limit is", "expect-line": "1"}
    _check("huge.yaml", meta, code, capsys.readouterr().err)
    assert registry_snapshot(mlflow_store) == before


def test_non_utf8_spec(scratch_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = scratch_repo / "model_specs" / "latin1.yaml"
    spec.write_bytes("name: caf\xe9\n".encode("latin-1"))
    capsys.readouterr()
    code = main(["-q", "validate", str(spec)])
    meta = {"expect-field": "-", "expect-message": "UTF-8", "expect-line": "1"}
    _check("latin1.yaml", meta, code, capsys.readouterr().err)


SAMPLE = ["yaml_alias_bomb", "estimator_os_system", "path_symlink_dir", "csv_latin1"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLE)
def test_hostile_sample_through_the_real_cli(
    name: str, scratch_repo: Path, mlflow_store: str, tmp_path: Path
) -> None:
    """The same cases through `python -m pipelines` in a fresh process."""
    case = CASES / f"{name}.yaml"
    spec = _install(case, scratch_repo)
    before = registry_snapshot(mlflow_store)
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "run", str(spec), "--promote", "champion"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _check(spec.name, _header(case), result.returncode, result.stderr)
    assert registry_snapshot(mlflow_store) == before
