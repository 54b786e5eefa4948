"""The command line: commands, step order errors, exit codes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "model_specs" / "breast-cancer.yaml")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for name in ("validate", "check-data", "train", "build-index", "evaluate", "publish", "run"):
        assert name in COMMANDS
        assert name in out


def test_a_step_before_its_inputs_names_the_missing_step(
    mlflow_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", SPEC]) == 2
    err = capsys.readouterr().err
    assert "run `train` first" in err
    assert len(err.strip().splitlines()) == 1


def test_steps_run_one_by_one_from_the_run_directory(mlflow_store: str) -> None:
    for step in ("validate", "check-data", "train", "build-index", "evaluate", "publish", "report"):
        assert main([step, SPEC]) == 0, step
    runs = Path(__import__("os").environ["PIPELINES_RUNS_DIR"]) / "breast-cancer"
    for name in (
        "data_report.json",
        "model",
        "index.usearch",
        "evaluation.json",
        "publish.json",
        "report.md",
        "manifest.json",
    ):
        assert (runs / name).exists(), name


def test_exit_code_is_the_worst_of_several_specs(
    mlflow_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    assert main(["validate", SPEC, str(bad)]) == 2
    assert "task: required key is missing" in capsys.readouterr().err


def test_run_dir_takes_one_spec_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", SPEC, SPEC, "--run-dir", "/tmp/x"]) == 2
    assert "one spec only" in capsys.readouterr().err


@pytest.mark.parametrize("spec_name", ["breast-cancer", "item-recs"])
def test_a_step_run_twice_on_the_same_inputs_writes_the_same_outputs(
    mlflow_store: str, tmp_path: Path, spec_name: str
) -> None:
    spec = str(ROOT / "model_specs" / f"{spec_name}.yaml")
    fingerprints = []
    for attempt in ("first", "second"):
        run_dir = tmp_path / attempt
        for step in ("check-data", "train", "build-index", "evaluate"):
            assert main([step, spec, "--run-dir", str(run_dir)]) == 0, step
        outputs = {}
        for step in json.loads((run_dir / "manifest.json").read_text())["steps"].values():
            outputs.update(step["outputs"])
        fingerprints.append(outputs)
    # index_report.json holds wall-clock latencies; everything else is byte-identical.
    fingerprints[0].pop("index_report.json")
    fingerprints[1].pop("index_report.json")
    assert fingerprints[0] == fingerprints[1]
    assert set(fingerprints[0]) == {
        "data_report.json",
        "model",
        "index.usearch",
        "exact_topk.npz",  # None where the task keeps no exact search (classification)
        "evaluation.json",
    }


def test_an_unexpected_exception_is_an_internal_error_with_a_saved_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 4 (never 1, which means "gate failed"), one line, the traceback in a file."""
    import pipelines.steps.validate as validate_module

    def crash(*_: object) -> int:
        raise RuntimeError("something we did not foresee")

    monkeypatch.setenv("PIPELINES_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(validate_module, "validate", crash)
    code = main(["validate", SPEC])
    err = capsys.readouterr().err
    assert code == 4, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "internal error: RuntimeError: something we did not foresee" in lines[0]
    saved = Path(lines[0].rsplit("traceback in ", 1)[1])
    assert saved.is_file() and "Traceback" in saved.read_text()


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ConnectionResetError(104, "Connection reset by peer"), 3),
        (TimeoutError("timed out"), 3),
        (OSError(101, "Network is unreachable"), 3),
        (FileNotFoundError(2, "No such file or directory", "data/x.csv"), 2),
    ],
)
def test_os_errors_keep_the_exit_code_contract(
    exc: OSError,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A network failure is infrastructure (3); a file that cannot be read is bad input (2)."""
    import pipelines.steps.validate as validate_module

    def fail(*_: object) -> int:
        raise exc

    monkeypatch.setattr(validate_module, "validate", fail)
    assert main(["validate", SPEC]) == code
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_evaluate_reuses_the_exact_search_build_index_kept(
    mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As CI runs the steps (one process each): evaluate answers the candidate's exact
    search from build-index's file and writes what it writes when it searches itself."""
    from pipelines import index as index_module

    spec = str(ROOT / "model_specs" / "item-recs.yaml")
    run_dir = tmp_path / "run"
    for step in ("check-data", "train", "build-index"):
        assert main([step, spec, "--run-dir", str(run_dir)]) == 0, step
    assert (run_dir / "exact_topk.npz").is_file()
    dims = np.load(run_dir / "exact_topk.npz")["base_shape"][1]
    searched: list[tuple[int, int]] = []
    real = index_module._exact_prepared

    def spy(base: np.ndarray, queries: np.ndarray, *rest: object) -> object:
        searched.append(base.shape)
        return real(base, queries, *rest)

    monkeypatch.setattr(index_module, "_exact_prepared", spy)
    kept = index_module.KeptExact.load(run_dir / "exact_topk.npz")
    outputs = []
    for case in ("kept", "changed", "missing"):
        index_module._kept.clear()  # a new process
        searched.clear()
        if case == "changed":  # same digest, other answers: not as build-index wrote it
            wrong = dataclasses.replace(kept, positions=kept.positions[:, ::-1].copy())
            wrong.save(run_dir / "exact_topk.npz")
        if case == "missing":
            (run_dir / "exact_topk.npz").unlink()
        assert main(["evaluate", spec, "--run-dir", str(run_dir)]) == 0
        candidate_searches = [s for s in searched if s[1] == dims]
        assert len(candidate_searches) == (0 if case == "kept" else 1), case
        outputs.append((run_dir / "evaluation.json").read_bytes())
    index_module._kept.clear()
    assert outputs[0] == outputs[1] == outputs[2]


def test_an_exact_search_too_large_to_keep_is_not_written(
    mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.steps.build_index as build_module
    from pipelines import index as index_module

    monkeypatch.setattr(build_module, "KEPT_FILE_MAX_BYTES", 0)
    spec = str(ROOT / "model_specs" / "item-recs.yaml")
    run_dir = tmp_path / "run"
    for step in ("check-data", "train", "build-index"):
        assert main([step, spec, "--run-dir", str(run_dir)]) == 0, step
    assert not (run_dir / "exact_topk.npz").exists()
    index_module._kept.clear()  # a new process: evaluate searches by itself
    assert main(["evaluate", spec, "--run-dir", str(run_dir)]) == 0
