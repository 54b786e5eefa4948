"""Steps trust only what they can verify: each run-directory output is bound to the content
hash it was made for and to its fingerprint, and a crash leaves nothing stale behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from tests.conftest import registry_snapshot

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "model_specs" / "breast-cancer.yaml")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return errors[0]


@pytest.fixture
def evaluated(mlflow_store: str, tmp_path: Path) -> Path:
    """A run directory where every step up to `evaluate` has run."""
    run_dir = tmp_path / "run"
    for step in ("check-data", "train", "build-index", "evaluate"):
        assert main([step, SPEC, "--run-dir", str(run_dir)]) in (0, 1), step
    return run_dir


def test_a_crashed_evaluate_leaves_no_result_to_publish(
    evaluated: Path,
    mlflow_store: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The previous evaluation.json is gone once evaluate starts again and crashes, so
    publish and promote cannot take it for a verdict on this model."""
    import pipelines.steps.evaluate as evaluate_module

    def crash(*_: object) -> int:
        raise RuntimeError("champion scoring blew up")

    assert (evaluated / "evaluation.json").exists()
    monkeypatch.setattr(evaluate_module, "evaluate", crash)
    assert main(["evaluate", SPEC, "--run-dir", str(evaluated)]) == 4
    assert not (evaluated / "evaluation.json").exists()
    before = registry_snapshot(mlflow_store)
    capsys.readouterr()
    assert main(["publish", SPEC, "--run-dir", str(evaluated)]) == 2
    assert "run `evaluate`" in _error(capsys)
    assert registry_snapshot(mlflow_store) == before


def test_an_edited_output_is_refused(evaluated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = evaluated / "evaluation.json"
    edited = json.loads(path.read_text())
    edited["passed"] = not edited["passed"]
    path.write_text(json.dumps(edited))
    capsys.readouterr()
    assert main(["publish", SPEC, "--run-dir", str(evaluated)]) == 2
    assert "changed after `evaluate` wrote it" in _error(capsys)


def test_outputs_of_another_spec_are_refused(
    evaluated: Path, scratch_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec edited after `train` (new content hash): the old model is not evaluated as if
    it were the new one."""
    spec = scratch_repo / "model_specs" / "breast-cancer.yaml"
    spec.write_text(spec.read_text().replace("C: 0.5", "C: 0.25"))
    capsys.readouterr()
    assert main(["evaluate", str(spec), "--run-dir", str(evaluated)]) == 2
    assert "another spec, data or code" in _error(capsys)
    assert main(["build-index", str(spec), "--run-dir", str(evaluated)]) == 2
    assert "run `train` again" in _error(capsys)


def test_check_data_alone_keeps_the_other_steps_outputs(
    evaluated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-running one step deletes only its own outputs; the same data report keeps every
    later result usable (the report renders again from them)."""
    assert main(["report", SPEC, "--run-dir", str(evaluated)]) == 0
    kept = {n: (evaluated / n).read_bytes() for n in ("evaluation.json", "report.md")}
    assert main(["check-data", SPEC, "--run-dir", str(evaluated)]) == 0
    for name, content in kept.items():
        assert (evaluated / name).read_bytes() == content, name
    assert (evaluated / "model").is_dir() and (evaluated / "index.usearch").is_file()
    capsys.readouterr()
    assert main(["report", SPEC, "--run-dir", str(evaluated)]) == 0


def test_a_changed_data_report_makes_the_later_results_stale(
    evaluated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data report that differs from the one `train` read: the files stay, but no step
    takes the results that followed from the old one, and each names `train` to run again."""
    import pipelines.steps.check_data as check_data_module
    from pipelines.data.checks import CheckResult, as_dicts

    def one_more(results: list[CheckResult]) -> list[dict[str, object]]:
        return as_dicts([*results, CheckResult("extra", "data", True, "an added check", False)])

    monkeypatch.setattr(check_data_module, "as_dicts", one_more)
    assert main(["check-data", SPEC, "--run-dir", str(evaluated)]) == 0
    assert (evaluated / "evaluation.json").is_file()
    capsys.readouterr()
    for step in ("report", "publish", "evaluate"):
        assert main([step, SPEC, "--run-dir", str(evaluated)]) == 2, step
        error = _error(capsys)
        assert "older data_report.json" in error and "run `train` again" in error, error
    for step in ("train", "build-index", "evaluate", "report"):
        assert main([step, SPEC, "--run-dir", str(evaluated)]) in (0, 1), step


def test_a_reused_release_verdict_is_promoted_from_a_fresh_or_kept_run_directory(
    mlflow_store: str, tmp_path: Path
) -> None:
    """`run --reuse` of released content writes a publish record naming the release's
    verdict without running the steps; `promote` takes it, in the directory that published
    and in a fresh one (each GitHub job starts with an empty workspace)."""
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    assert main(["run", "--reuse", SPEC, "--run-dir", str(kept)]) == 0
    published = json.loads((kept / "publish.json").read_text(encoding="utf-8"))
    assert published["reused"] is False
    for run_dir in (kept, fresh):
        assert main(["run", "--reuse", SPEC, "--run-dir", str(run_dir)]) == 0
        record = json.loads((run_dir / "publish.json").read_text(encoding="utf-8"))
        assert record["reused"] is True and record["run_id"] == published["run_id"]
        assert main(["promote", "--alias", "staging", SPEC, "--run-dir", str(run_dir)]) == 0
