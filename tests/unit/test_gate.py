"""Golden cases of the gate: better, worse, within noise, no champion; MLflow thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.gate import check_thresholds, compare_with_champion, decide, paired_bootstrap

RNG = np.random.default_rng(0)
CHAMPION = RNG.uniform(0.0, 0.4, size=2000)  # per-user NDCG of the champion
NOISE = RNG.normal(0.0, 0.05, size=2000)


def _compare(candidate: np.ndarray, margin: float = 0.0) -> object:
    return compare_with_champion(
        "retrieval",
        "ndcg_at_10",
        candidate,
        CHAMPION,
        margin=margin,
        confidence=0.95,
        resamples=1000,
        seed=7,
    )


def test_better_candidate_passes_as_better() -> None:
    result = _compare(CHAMPION + 0.02 + NOISE)
    assert result.verdict == "better"
    assert result.passed
    assert result.ci_low > 0


def test_worse_candidate_fails() -> None:
    result = _compare(CHAMPION - 0.03 + NOISE, margin=0.005)
    assert result.verdict == "worse"
    assert not result.passed
    assert result.ci_high < 0


def test_candidate_within_noise_passes_with_a_margin() -> None:
    centred = NOISE - NOISE.mean()
    result = _compare(CHAMPION + centred, margin=0.005)
    assert result.verdict == "no significant change"
    assert result.passed
    assert result.ci_low < 0 < result.ci_high


def test_identical_models_have_a_zero_interval() -> None:
    result = _compare(CHAMPION.copy())
    assert (result.delta, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert result.passed and result.verdict == "no significant change"


def test_small_loss_within_margin_passes_but_says_so() -> None:
    result = _compare(CHAMPION - 0.01 + NOISE * 0.1, margin=0.02)
    assert result.verdict == "worse (within margin)"
    assert result.passed


def test_lower_is_better_metrics_are_oriented() -> None:
    champion_loss = RNG.uniform(0.1, 0.5, size=500)
    result = compare_with_champion(
        "classification",
        "log_loss",
        champion_loss - 0.05,
        champion_loss,
        margin=0.0,
        confidence=0.95,
        resamples=500,
        seed=1,
    )
    assert result.delta == pytest.approx(0.05)
    assert result.verdict == "better"


def test_no_champion_applies_thresholds_only() -> None:
    thresholds = check_thresholds("retrieval", {"ndcg_at_10": 0.1}, {"ndcg_at_10": (0.05, None)})
    decision = decide(thresholds, None)
    assert decision.passed
    assert "no champion" in decision.summary


def test_thresholds_go_through_mlflow_validation() -> None:
    results = check_thresholds(
        "regression", {"rmse": 3.0, "r2": 0.4}, {"rmse": (None, 2.5), "r2": (0.3, None)}
    )
    assert [(r.metric, r.passed) for r in results] == [("rmse", False), ("r2", True)]
    assert results[0].bound == "<= 2.5"
    decision = decide(results, None)
    assert not decision.passed
    assert "rmse" in decision.summary


def test_bootstrap_is_deterministic_and_chunked() -> None:
    a, b = RNG.random(50_000), RNG.random(50_000)
    first = paired_bootstrap(a, b, greater_is_better=True, resamples=600, confidence=0.9, seed=3)
    second = paired_bootstrap(a, b, greater_is_better=True, resamples=600, confidence=0.9, seed=3)
    assert first == second
    assert first[1] < first[0] < first[2]
