"""The gate: absolute thresholds (plain comparisons), a paired bootstrap of the
comparison metric's delta against the champion (non-inferiority within a margin) and
against a baseline (the candidate must beat it), and the one list of verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipelines.kinds import KindTable, metric_info
from pipelines.spec.model import RELATIVE_MARGIN

_MAX_INDEX_CELLS = 1 << 24  # resample index matrix budget per batch


@dataclass(frozen=True)
class ComparisonVerdict:
    """One outcome of a comparison, whether it passes the gate, and what it means."""

    name: str
    against: str  # champion | baseline
    passes: bool
    meaning: str


# The one list of verdicts: the README's table and the report's words come from here.
VERDICTS: tuple[ComparisonVerdict, ...] = (
    ComparisonVerdict("better", "champion", True, "the interval lies above zero"),
    ComparisonVerdict(
        "no significant change", "champion", True, "the interval holds zero; low end ≥ -margin"
    ),
    ComparisonVerdict(
        "worse (within margin)", "champion", True, "the interval lies in [-margin, 0)"
    ),
    ComparisonVerdict(
        "possibly worse than the margin allows",
        "champion",
        False,
        "the interval holds zero but reaches below -margin",
    ),
    ComparisonVerdict(
        "worse", "champion", False, "the interval lies below zero and reaches below -margin"
    ),
    ComparisonVerdict(
        "not comparable",
        "champion",
        False,
        "the champion cannot be scored on this holdout (other features, labels, task, or a "
        "metric that is not a number); passes only with `champion.replace_incomparable: REASON`",
    ),
    ComparisonVerdict("beats baseline", "baseline", True, "the interval lies above zero"),
    ComparisonVerdict(
        "does not beat baseline", "baseline", False, "the interval reaches zero or below"
    ),
)
VERDICT_NAMES = frozenset(v.name for v in VERDICTS)

# {kind: how reports name its baseline}, from the registered kinds.
BASELINE_NAMES: Mapping[str, str] = KindTable(lambda kind: kind.baseline_name)


@dataclass(frozen=True)
class ThresholdResult:
    """One absolute bound on one metric and whether the metric meets it."""

    metric: str
    value: float
    bound: str  # ">= 0.05" or "<= 0.3"
    passed: bool


@dataclass(frozen=True)
class Comparison:
    """Candidate vs another model on the same holdout; delta > 0 means the candidate is better.

    `resolution` is half the interval's width: differences smaller than it cannot be told
    from zero on this holdout.
    """

    metric: str
    candidate: float
    champion: float  # the other model's value (champion or baseline)
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    margin: float
    units: int
    verdict: str  # one of VERDICTS
    passed: bool
    against: str = "champion"
    margin_source: str = "spec"  # spec | holdout noise
    resolution: float = 0.0
    gating: bool = True  # False: shown, but the decision ignores it (baseline check off)
    reason: str = ""  # why a non-gating comparison is off

    def line(self) -> str:
        """The verdict and its interval in one line."""
        text = (
            f"vs {self.against}: {self.verdict} ({self.metric} delta {self.delta:+.4f}, "
            f"{self.confidence:.0%} interval [{self.ci_low:+.4f}, {self.ci_high:+.4f}]"
        )
        if self.against == "champion":
            text += f", margin {self.margin:.4g}"
        text += ")"
        if not self.gating:
            text += f" [check off: {self.reason}]"
        return text


ChampionComparison = Comparison  # the name evaluation code used before baselines existed


@dataclass
class GateDecision:
    """Everything the report shows and the exit code depends on."""

    thresholds: list[ThresholdResult] = field(default_factory=list)
    champion: Comparison | None = None
    baseline: Comparison | None = None
    passed: bool = True
    summary: str = ""
    # Set when a champion exists but could not be scored: why, and the spec's override.
    incomparable: str | None = None
    override: str | None = None
    # Set when this job could not look for a champion at all (a fork's pull request): why.
    champion_unavailable: str | None = None
    # Set when too many holdout rows copy a training row (a verdict on them measures memory).
    copies: str | None = None

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
    """Mean delta (oriented: positive = candidate better) and its percentile interval.

    Resamples units (users, rows) jointly for both models with
    `scipy.stats.bootstrap(paired=True)`. Constant deltas (identical models) and a single
    unit give a zero-width interval at the delta.
    """
    cand = np.asarray(candidate, np.float64)
    other = np.asarray(champion, np.float64)
    sign = 1.0 if greater_is_better else -1.0
    diff = sign * (cand - other)
    n = len(diff)
    if n == 0:
        return 0.0, 0.0, 0.0
    delta = float(diff.mean())
    if n < 2 or float(np.ptp(diff)) == 0.0:
        return delta, delta, delta

    def mean_delta(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(sign * (a - b).mean(axis=axis))

    from scipy.stats import bootstrap  # ~1 s of imports: only where a bootstrap runs

    result = bootstrap(
        (cand, other),
        mean_delta,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        batch=max(1, _MAX_INDEX_CELLS // n),
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return delta, float(interval.low), float(interval.high)


def mean_interval(
    values: np.ndarray, *, confidence: float, resamples: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-unit values (one model)."""
    data = np.asarray(values, np.float64)
    if len(data) < 2 or float(np.ptp(data)) == 0.0:
        mean = float(data.mean()) if len(data) else 0.0
        return mean, mean
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        vectorized=True,
        n_resamples=resamples,
        batch=max(1, _MAX_INDEX_CELLS // len(data)),
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def noise_margin(width: float, value: float) -> tuple[float, str]:
    """The margin taken from an interval `width` on a metric whose value is `value`, and
    where it came from: min(width, `RELATIVE_MARGIN` x |value|), "holdout noise" when the
    width is the smaller, else "share of the value"."""
    cap = RELATIVE_MARGIN * abs(value)
    if width <= cap:
        return width, "holdout noise"
    return cap, "share of the value"


def compare_with_champion(
    task: str,
    metric: str,
    candidate_units: np.ndarray,
    champion_units: np.ndarray,
    *,
    margin: float | None,
    confidence: float,
    resamples: int,
    seed: int,
) -> Comparison:
    """Non-inferiority: pass when the interval's low end is at least -margin.

    `margin=None` takes the margin from the holdout's noise: the interval's width. The
    candidate then fails only when the whole interval lies below zero (significantly
    worse), so an equally good retrain passes with probability about (1 + confidence) / 2.
    (`new-spec` proposes a margin bounded by the metric's value instead: `noise_margin`.)
    """
    info = metric_info(task, metric)
    delta, low, high = paired_bootstrap(
        candidate_units,
        champion_units,
        greater_is_better=info.greater_is_better,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    source = "spec"
    if margin is None:
        margin, source = high - low, "holdout noise"
    passed = low >= -margin - 1e-12
    if low > 0:
        verdict = "better"
    elif high < 0:
        verdict = "worse (within margin)" if passed else "worse"
    else:
        verdict = "no significant change" if passed else "possibly worse than the margin allows"
    return Comparison(
        metric=metric,
        candidate=_mean(candidate_units),
        champion=_mean(champion_units),
        delta=delta,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        margin=margin,
        units=len(candidate_units),
        verdict=verdict,
        passed=passed,
        margin_source=source,
        resolution=(high - low) / 2,
    )


def compare_with_baseline(
    task: str,
    metric: str,
    candidate_units: np.ndarray,
    baseline_units: np.ndarray,
    *,
    confidence: float,
    resamples: int,
    seed: int,
    gating: bool = True,
    reason: str = "",
) -> Comparison:
    """Superiority: pass when the interval's low end is above zero."""
    info = metric_info(task, metric)
    delta, low, high = paired_bootstrap(
        candidate_units,
        baseline_units,
        greater_is_better=info.greater_is_better,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    passed = low > 0
    return Comparison(
        metric=metric,
        candidate=_mean(candidate_units),
        champion=_mean(baseline_units),
        delta=delta,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        margin=0.0,
        units=len(candidate_units),
        verdict="beats baseline" if passed else "does not beat baseline",
        passed=passed,
        against="baseline",
        margin_source="none",
        resolution=(high - low) / 2,
        gating=gating,
        reason=reason,
    )


def check_thresholds(
    task: str, metrics: dict[str, float], thresholds: dict[str, tuple[float | None, float | None]]
) -> list[ThresholdResult]:
    """Each metric against its one bound (`>= min` or `<= max`); a missing or NaN metric fails.

    Plain comparisons, the same outcome as MLflow's `MetricThreshold` validation
    (tests/unit/test_gate.py checks that), without building an `EvaluationResult` for
    metrics that `mlflow.evaluate` never computed.
    """
    results = []
    for name, (low, high) in thresholds.items():
        bound_value = low if low is not None else high
        assert bound_value is not None
        greater = low is not None
        value = metrics.get(name)
        if value is None:
            passed = False
        else:
            passed = bool(value >= bound_value) if greater else bool(value <= bound_value)
        bound = f">= {bound_value:g}" if greater else f"<= {bound_value:g}"
        results.append(ThresholdResult(name, float(metrics.get(name, float("nan"))), bound, passed))
    return results


def decide(
    thresholds: list[ThresholdResult],
    champion: Comparison | None,
    baseline: Comparison | None = None,
    *,
    incomparable: str | None = None,
    override: str | None = None,
    unavailable: str | None = None,
    copies: str | None = None,
) -> GateDecision:
    """Combine thresholds, the champion and the baseline comparison into one decision.

    `incomparable` (a champion exists but could not be scored) fails the gate, unless the
    spec's reviewed `override` says why the champion may be replaced without comparison.
    `unavailable` (this job cannot reach the registry, e.g. a fork's pull request) leaves
    thresholds and baseline to decide and says that the comparison was not run, and why.
    `copies` (more holdout rows copy a training row than `MAX_HOLDOUT_COPIES` allows)
    fails the gate: such a holdout measures what the model memorised.
    The summary names every failed part with its verdict and interval, joined by "; ".
    """
    failed = [t.metric for t in thresholds if not t.passed]
    baseline_ok = baseline is None or baseline.passed or not baseline.gating
    champion_ok = (champion is None or champion.passed) and (not incomparable or bool(override))
    passed = not failed and champion_ok and baseline_ok and copies is None
    parts = []
    if copies:
        parts.append(f"no fair holdout: {copies}")
    if failed:
        parts.append("below threshold: " + ", ".join(failed))
    if baseline is not None:
        parts.append(baseline.line())
    if incomparable:
        parts.append(f"vs champion: not comparable ({incomparable})")
        if override:
            parts.append(f"champion replaced without comparison, as the spec says: {override}")
    elif champion is None and unavailable:
        parts.append(f"champion comparison not run: {unavailable}")
    elif champion is None:
        parts.append("no champion yet: no champion comparison")
    else:
        parts.append(champion.line())
    return GateDecision(
        thresholds=thresholds,
        champion=champion,
        baseline=baseline,
        passed=passed,
        summary="; ".join(parts),
        incomparable=incomparable,
        override=override if incomparable else None,
        champion_unavailable=unavailable if champion is None and not incomparable else None,
        copies=copies,
    )


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else 0.0
