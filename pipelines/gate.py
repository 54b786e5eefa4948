"""The gate: absolute thresholds (MLflow's MetricThreshold) and a paired bootstrap of the
primary metric's delta against the champion (non-inferiority within a margin)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipelines.metrics import metric_info

_MAX_INDEX_CELLS = 1 << 24  # resample index matrix budget per chunk


@dataclass(frozen=True)
class ThresholdResult:
    """One absolute bound checked by MLflow's validator."""

    metric: str
    value: float
    bound: str  # ">= 0.05" or "<= 0.3"
    passed: bool


@dataclass(frozen=True)
class ChampionComparison:
    """Candidate vs champion on the same holdout; delta > 0 means the candidate is better."""

    metric: str
    candidate: float
    champion: float
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    margin: float
    units: int
    verdict: str  # better | no significant change | worse (within margin) | worse
    passed: bool


@dataclass
class GateDecision:
    """Everything the report shows and the exit code depends on."""

    thresholds: list[ThresholdResult] = field(default_factory=list)
    champion: ChampionComparison | None = None
    passed: bool = True
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def paired_bootstrap(
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    greater_is_better: bool,
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float, float]:
    """Mean delta (oriented: positive = candidate better) and its percentile interval."""
    diff = np.asarray(candidate, np.float64) - np.asarray(champion, np.float64)
    if not greater_is_better:
        diff = -diff
    n = len(diff)
    if n == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, _MAX_INDEX_CELLS // n)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(rows, n))
        means[start : start + rows] = diff[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(diff.mean()), float(low), float(high)


def compare_with_champion(
    task: str,
    metric: str,
    candidate_units: np.ndarray,
    champion_units: np.ndarray,
    *,
    margin: float,
    confidence: float,
    resamples: int,
    seed: int,
) -> ChampionComparison:
    """Non-inferiority: pass when the interval's low end is at least -margin."""
    info = metric_info(task, metric)
    delta, low, high = paired_bootstrap(
        candidate_units,
        champion_units,
        greater_is_better=info.greater_is_better,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    passed = low >= -margin - 1e-12
    if low > 0:
        verdict = "better"
    elif high < 0:
        verdict = "worse (within margin)" if passed else "worse"
    else:
        verdict = "no significant change" if passed else "possibly worse than the margin allows"
    return ChampionComparison(
        metric=metric,
        candidate=float(np.mean(candidate_units)) if len(candidate_units) else 0.0,
        champion=float(np.mean(champion_units)) if len(champion_units) else 0.0,
        delta=delta,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        margin=margin,
        units=len(candidate_units),
        verdict=verdict,
        passed=passed,
    )


def check_thresholds(
    task: str, metrics: dict[str, float], thresholds: dict[str, tuple[float | None, float | None]]
) -> list[ThresholdResult]:
    """Absolute bounds through `mlflow.models.MetricThreshold` / `validate_evaluation_results`."""
    from mlflow.models import MetricThreshold
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import (
        ModelValidationFailedException,
        validate_evaluation_results,
    )

    results = []
    candidate = EvaluationResult(metrics=dict(metrics), artifacts={})
    for name, (low, high) in thresholds.items():
        bound_value = low if low is not None else high
        assert bound_value is not None
        greater = low is not None
        threshold = MetricThreshold(threshold=bound_value, greater_is_better=greater)
        try:
            validate_evaluation_results({name: threshold}, candidate)
            passed = True
        except ModelValidationFailedException:
            passed = False
        bound = f">= {bound_value:g}" if greater else f"<= {bound_value:g}"
        results.append(ThresholdResult(name, float(metrics.get(name, float("nan"))), bound, passed))
    return results


def decide(thresholds: list[ThresholdResult], champion: ChampionComparison | None) -> GateDecision:
    """Combine threshold results and the champion comparison into one verdict."""
    failed = [t.metric for t in thresholds if not t.passed]
    passed = not failed and (champion is None or champion.passed)
    parts = []
    if failed:
        parts.append("below threshold: " + ", ".join(failed))
    if champion is None:
        parts.append("no champion yet: absolute thresholds only")
    else:
        parts.append(f"vs champion: {champion.verdict}")
    return GateDecision(
        thresholds=thresholds, champion=champion, passed=passed, summary="; ".join(parts)
    )
