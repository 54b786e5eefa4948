"""Two classes of hostile input that need a fit or a model to show: time and memory bombs
(ended by the spec's resource budget as a BadInput naming `model.params`) and target
leakage (a feature that alone predicts the label, refused by check-data naming the column)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.data.checks import run_checks
from pipelines.data.sources import load_data
from pipelines.spec import LoadedSpec, load_spec
from pipelines.tasks.limits import FitCrashed, fit_within_budget
from tests.conftest import registry_snapshot
from tests.hostile.support import bad_input, csv_spec, one_error_line, tabular, write_spec


def _budget(repo: Path, seconds: float = 30, memory_mb: int = 4096) -> LoadedSpec:
    spec = tabular(resources={"max_fit_seconds": seconds, "max_memory_mb": memory_mb})
    return load_spec(write_spec(repo, spec))


def _spin() -> None:
    while True:
        pass


def _sleep() -> None:
    time.sleep(3600)


def _ignore_sigterm_and_spin() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _spin()


TIME_BOMBS: dict[str, Callable[[], Any]] = {
    "busy-loop": _spin,
    "sleep": _sleep,
    "ignores-sigterm": _ignore_sigterm_and_spin,
}


@pytest.mark.parametrize("bomb", sorted(TIME_BOMBS))
def test_a_time_bomb_ends_within_its_budget(scratch_repo: Path, bomb: str) -> None:
    loaded = _budget(scratch_repo, seconds=0.5)
    started = time.monotonic()
    error = bad_input(lambda: fit_within_budget(loaded, TIME_BOMBS[bomb]))
    elapsed = time.monotonic() - started
    assert error.field == "model.params" and "max_fit_seconds" in error.message
    assert elapsed < 2.5, elapsed


MEMORY_BOMBS: dict[str, Callable[[], Any]] = {
    "one-array": lambda: np.ones(10**10),  # 80 GB at once
    "growing-list": lambda: [bytearray(10**7) for _ in range(10**5)],  # 1 TB by steps
    "matrix-product": lambda: np.ones((40_000, 40_000)) @ np.ones((40_000, 10)),
}


@pytest.mark.parametrize("bomb", sorted(MEMORY_BOMBS))
def test_a_memory_bomb_ends_as_bad_input(scratch_repo: Path, bomb: str) -> None:
    loaded = _budget(scratch_repo, memory_mb=256)
    started = time.monotonic()
    error = bad_input(lambda: fit_within_budget(loaded, MEMORY_BOMBS[bomb]))
    assert error.field == "model.params" and "max_memory_mb" in error.message
    assert time.monotonic() - started < 10


def test_the_budget_passes_results_and_errors_through(scratch_repo: Path) -> None:
    loaded = _budget(scratch_repo)
    assert fit_within_budget(loaded, lambda: {"weights": np.arange(3)})["weights"].tolist() == [
        0,
        1,
        2,
    ]
    error = bad_input(
        lambda: fit_within_budget(
            loaded, lambda: (_ for _ in ()).throw(loaded.error("no", "model", "params", "C"))
        )
    )
    assert error.field == "model.params.C" and error.line is not None
    with pytest.raises(FitCrashed, match="ZeroDivisionError"):
        fit_within_budget(loaded, lambda: 1 / 0)
    died = bad_input(
        lambda: fit_within_budget(loaded, lambda: os.kill(os.getpid(), signal.SIGKILL))
    )
    assert "died" in died.message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "resources", "message"),
    [
        (
            {
                "estimator": "sklearn.neural_network.MLPClassifier",
                "params": {"hidden_layer_sizes": [20000, 20000]},
            },
            {"max_memory_mb": 256},
            "max_memory_mb",
        ),
        (
            {
                "estimator": "sklearn.ensemble.RandomForestClassifier",
                "params": {"n_estimators": 5000},
            },
            {"max_fit_seconds": 1},
            "max_fit_seconds",
        ),
    ],
    ids=["giant-mlp", "slow-forest"],
)
def test_bombs_through_the_cli_exit_2_and_change_nothing(
    scratch_repo: Path,
    mlflow_store: str,
    capsys: pytest.CaptureFixture[str],
    model: dict[str, Any],
    resources: dict[str, Any],
    message: str,
) -> None:
    path = write_spec(scratch_repo, tabular(model=model, resources=resources))
    before = registry_snapshot(mlflow_store)
    capsys.readouterr()
    started = time.monotonic()
    code = main(["-q", "run", str(path), "--promote", "champion"])
    elapsed = time.monotonic() - started
    match = one_error_line(code, capsys.readouterr().err)
    assert match["field"] == "model.params" and message in match["msg"]
    assert registry_snapshot(mlflow_store) == before
    assert elapsed < 60, elapsed


# -- target leakage --------------------------------------------------------------------------
def _frame_csv(columns: dict[str, np.ndarray]) -> bytes:
    names = list(columns)
    rows = [",".join(names)]
    for i in range(len(columns[names[0]])):
        rows.append(",".join(str(columns[n][i]) for n in names))
    return ("\n".join(rows) + "\n").encode()


RNG = np.random.default_rng(3)
N = 400
LABELS = RNG.integers(0, 3, N)
TARGET = RNG.normal(size=N).round(6)
LEAKS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "copy": ("classification", lambda y: y.astype(float)),
    "affine": ("classification", lambda y: 3.5 * y - 2),
    "permuted-codes": ("classification", lambda y: np.array([7.0, -1.0, 2.5])[y]),
    "copy-with-1-in-300-flipped": (
        "classification",
        lambda y: np.where(np.arange(len(y)) % 300 == 0, (y + 1) % 3, y).astype(float),
    ),
    "regression-copy": ("regression", lambda y: y),
    "regression-affine": ("regression", lambda y: -2 * y + 10),
    "regression-with-noise": (
        "regression",
        lambda y: (y + RNG.normal(scale=1e-3, size=len(y))).round(6),
    ),
    "regression-exp": ("regression", lambda y: np.exp(y).round(6)),
}


def _leak_spec(repo: Path, task: str, leak: np.ndarray, labels: np.ndarray) -> LoadedSpec:
    honest = RNG.normal(size=N).round(6)
    raw = _frame_csv({"honest": honest, "leak": leak, "label": labels})
    columns = {
        "honest": {"dtype": "float64"},
        "leak": {"dtype": "float64"},
        "label": {"dtype": "int64" if task == "classification" else "float64"},
    }
    path = csv_spec(repo, raw, columns)
    spec: dict[str, Any] = __import__("yaml").safe_load(path.read_text(encoding="utf-8"))
    spec["task"] = task
    spec["evaluation"] = {"primary": "accuracy" if task == "classification" else "mse"}
    estimator = "LogisticRegression" if task == "classification" else "Ridge"
    spec["model"] = {"estimator": f"sklearn.linear_model.{estimator}"}
    if task == "regression":
        spec["data"]["split"] = {"strategy": "random", "test_fraction": 0.2, "seed": 7}
    return load_spec(write_spec(repo, spec))


@pytest.mark.parametrize("leak", sorted(LEAKS))
def test_a_feature_that_predicts_the_target_is_a_blocking_check(
    scratch_repo: Path, leak: str
) -> None:
    task, make = LEAKS[leak]
    labels = LABELS if task == "classification" else TARGET
    loaded = _leak_spec(scratch_repo, task, make(labels), labels)
    results, _ = run_checks(loaded, load_data(loaded), None)
    failed = [r for r in results if r.blocking and not r.passed]
    assert [r.field for r in failed] == ["data.columns.leak"], failed
    assert "'leak'" in failed[0].detail


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_honest_features_and_the_examples_pass_the_leakage_check(
    scratch_repo: Path, task: str
) -> None:
    labels = LABELS if task == "classification" else TARGET
    weak = labels + RNG.normal(scale=2.0, size=N)
    loaded = _leak_spec(scratch_repo, task, weak.round(6), labels)
    results, _ = run_checks(loaded, load_data(loaded), None)
    assert all(r.passed for r in results if r.name.endswith(".leakage"))
    example = load_spec(scratch_repo / "model_specs" / "breast-cancer.yaml")
    results, _ = run_checks(example, load_data(example), None)
    assert [r for r in results if r.name.endswith(".leakage") and not r.passed] == []


def test_leakage_check_can_be_turned_off(scratch_repo: Path) -> None:
    loaded = _leak_spec(scratch_repo, "classification", LABELS.astype(float), LABELS)
    spec: dict[str, Any] = __import__("yaml").safe_load(loaded.path.read_text(encoding="utf-8"))
    spec["data"]["checks"]["max_leakage_score"] = None
    off = load_spec(write_spec(scratch_repo, spec))
    results, _ = run_checks(off, load_data(off), None)
    assert all(r.passed for r in results if r.blocking)
