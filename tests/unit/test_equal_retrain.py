"""Equal retrains pass the champion gate with the spec's default margin.

Two logistic regressions fitted on different bootstrap resamples of the same training rows
are equally good in expectation; the gate compares them on one holdout, per-row log loss,
as `evaluate` does. With the default margin (the interval's width) at least 95% of such
pairs must pass; with margin 0 almost none do, which is why 0 is not the default.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.gate import compare_with_champion
from pipelines.spec.model import ChampionSpec

TRIALS = 200


def _row_log_loss(model: object, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    proba = model.predict_proba(features)  # type: ignore[attr-defined]
    return -np.log(np.clip(proba[np.arange(len(labels)), labels], 1e-15, 1.0))


def equal_retrain_pass_rate(trials: int = TRIALS, margin: float | None = None) -> float:
    """Share of equally good candidate/champion pairs that pass the gate."""
    features, labels = load_breast_cancer(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=0.3, stratify=labels, random_state=7
    )
    defaults = ChampionSpec()
    passed = 0
    for trial in range(trials):
        losses = []
        for seed in (2 * trial, 2 * trial + 1):
            rows = np.random.default_rng(seed).integers(0, len(train_y), len(train_y))
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=1000))
            model.fit(train_x[rows], train_y[rows])
            losses.append(_row_log_loss(model, test_x, test_y))
        result = compare_with_champion(
            "classification",
            "log_loss",
            losses[0],
            losses[1],
            margin=margin,
            confidence=defaults.confidence,
            resamples=defaults.resamples,
            seed=trial,
        )
        passed += result.passed
    return passed / trials


@pytest.mark.slow
def test_equal_retrains_pass_with_the_default_margin() -> None:
    assert ChampionSpec().margin is None, "the default margin is the holdout's noise"
    rate = equal_retrain_pass_rate()
    assert rate >= 0.95, f"only {rate:.1%} of equal retrains passed"


@pytest.mark.slow
def test_margin_zero_fails_most_equal_retrains() -> None:
    assert equal_retrain_pass_rate(trials=60, margin=0.0) < 0.2


if __name__ == "__main__":
    import sys

    trials = int(sys.argv[1]) if len(sys.argv) > 1 else TRIALS
    print(f"default margin: {equal_retrain_pass_rate(trials):.1%} of {trials} equal retrains pass")
    print(f"margin 0:       {equal_retrain_pass_rate(trials, 0.0):.1%} of {trials} pass")
