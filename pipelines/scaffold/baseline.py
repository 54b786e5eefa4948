"""The first fit: the default estimator on the pipeline's own split, scored with exact
search; its per-unit metrics' bootstrap intervals become the thresholds and the margin
(the interval's width, at most `gate.RELATIVE_MARGIN` of the metric's value)."""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

import numpy as np

from pipelines.config import load_config
from pipelines.errors import BadInput
from pipelines.gate import mean_interval, noise_margin
from pipelines.kinds import METRICS, get_kind
from pipelines.scaffold.draft import CONFIDENCE, RESAMPLES, SEED, THRESHOLD_METRICS, Draft
from pipelines.scaffold.infer import round_out
from pipelines.scaffold.number_text import fmt
from pipelines.scaffold.render import render
from pipelines.spec.model import RELATIVE_MARGIN

log = logging.getLogger("pipelines")


def fit_baseline(draft: Draft, root: Path) -> None:
    """Fit the default estimator on the pipeline's split; derive thresholds from its scores."""
    from pipelines.data.checks import run_checks
    from pipelines.data.sources import load_data
    from pipelines.index import exact_topk
    from pipelines.spec import load_spec
    from pipelines.spec.estimators import build_estimator
    from pipelines.tasks import get_task

    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / f"{draft.name}.yaml"
        probe.write_text(render(draft), encoding="utf-8")
        loaded = load_spec(probe, config=load_config(root))
        data = load_data(loaded)
    failed = [r for r in run_checks(loaded, data, None)[0] if r.blocking and not r.passed]
    if failed:
        raise BadInput(f"the proposed data checks fail on the data: {failed[0].detail}")
    task = get_task(draft.task)
    split = task.split(loaded, data.frame)
    bundle = task.fit(loaded, data.frame, split, build_estimator(loaded))
    keys, vectors = task.index_vectors(bundle)

    def searcher(queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        positions, sims = exact_topk(vectors, queries, count, bundle.index_metric)
        return keys[positions], sims

    scored = task.score(loaded, bundle, data.frame, split, searcher)
    scores = scored.metrics
    draft.baseline = {k: v for k, v in scores.items() if k in METRICS[draft.task]}
    draft.intervals = {
        name: mean_interval(values, confidence=CONFIDENCE, resamples=RESAMPLES, seed=SEED)
        for name, values in scored.per_unit.items()
        if name in METRICS[draft.task]
    }
    draft.thresholds = _thresholds(draft.task, draft.intervals)
    metric = draft.champion["metric"]
    draft.champion["margin"], draft.margin_why = propose_margin(
        metric, draft.intervals[metric], scores[metric]
    )
    log.info("champion margin: %s", draft.margin_why)
    if get_kind(draft.task).target == "class" and "accuracy" in scores:
        majority = float(data.frame[draft.roles["target"]].value_counts(normalize=True).max())
        if scores["accuracy"] <= majority:
            log.warning(
                "the default model's accuracy (%.3f) is no better than always predicting the "
                "most frequent class (%.3f): check the target and features",
                scores["accuracy"],
                majority,
            )


def propose_margin(metric: str, interval: tuple[float, float], value: float) -> tuple[float, str]:
    """The champion margin for a metric whose first fit scored `value` with bootstrap
    `interval`, and the sentence saying how: min(the interval's width, `RELATIVE_MARGIN`
    x |value|) (`gate.noise_margin`), rounded up to two significant digits."""
    low, high = interval
    margin, source = noise_margin(high - low, value)
    margin = round_out(margin, down=False) if margin > 0 else 0.0
    share = f"{RELATIVE_MARGIN:.0%}"
    seen = (
        f"{metric} {fmt(value, 4)} has the {CONFIDENCE:.0%} interval "
        f"[{fmt(low, 4)}, {fmt(high, 4)}] on this holdout"
    )
    if source == "holdout noise":
        why = (
            f"min(interval width, {share} of the value), rounded up: here the width, as "
            f"{seen}; smaller losses cannot be told from noise here"
        )
    else:
        why = (
            f"min(interval width, {share} of the value), rounded up: here {share} of the "
            f"value, as {seen}, wider; an equally good retrain may fail on a holdout this "
            "noisy (more holdout rows narrow the interval)"
        )
    return margin, why


def _thresholds(
    task: str, intervals: dict[str, tuple[float, float]]
) -> dict[str, tuple[str, float]]:
    """Absolute bounds at the far end of each metric's bootstrap interval, rounded away."""
    out: dict[str, tuple[str, float]] = {}
    for metric in THRESHOLD_METRICS[task]:
        if metric not in intervals:
            continue
        low, high = intervals[metric]
        if not (math.isfinite(low) and math.isfinite(high)):
            continue
        if METRICS[task][metric].greater_is_better:
            out[metric] = ("min", round_out(low, down=True) if low > 0 else 0.0)
        else:
            out[metric] = ("max", round_out(high, down=False))
    return out
