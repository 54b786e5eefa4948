"""The first fit: the default estimator on the pipeline's own split, scored with exact
search; its per-unit metrics' bootstrap intervals become the thresholds and the margin."""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path

import numpy as np

from pipelines.config import load_config
from pipelines.errors import BadInput
from pipelines.gate import mean_interval
from pipelines.kinds import METRICS
from pipelines.scaffold.draft import CONFIDENCE, RESAMPLES, SEED, THRESHOLD_METRICS, Draft
from pipelines.scaffold.infer import round_out
from pipelines.scaffold.render import render

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
    low, high = draft.intervals[metric]
    # The margin is the interval's width: an equally good retrain differs from this fit by
    # less than that on this holdout about 97.5% of the time.
    draft.champion["margin"] = round_out(high - low, down=False) if high > low else 0.0
    if draft.task == "classification":
        majority = float(data.frame[draft.roles["target"]].value_counts(normalize=True).max())
        if scores["accuracy"] <= majority:
            log.warning(
                "the default model's accuracy (%.3f) is no better than always predicting the "
                "most frequent class (%.3f): check the target and features",
                scores["accuracy"],
                majority,
            )


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
