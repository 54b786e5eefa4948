"""`evaluate`: score candidate, champion and baseline on the candidate's holdout; thresholds;
paired bootstraps against champion and baseline."""

from __future__ import annotations

import argparse
import logging
from typing import Any, cast

import numpy as np

from pipelines import gate
from pipelines.access import champion_unavailable
from pipelines.contracts import (
    EXACT_FILE,
    INDEX_FILE,
    ChampionRecord,
    Evaluation,
    GateRecord,
    HistoryPoint,
    HoldoutCopies,
    IndexReport,
    Interval,
    SampleRecord,
    Verdict,
)
from pipelines.errors import EXIT_GATE_FAILED, EXIT_OK
from pipelines.evalsample import sample_holdout
from pipelines.index import KeptExact, remember_exact, restore_index, search_index
from pipelines.kinds import metric_info
from pipelines.registry import CHAMPION, TAG_PREVIOUS_CHAMPION, Registry
from pipelines.spec import LoadedSpec, Spec
from pipelines.state import ModelState
from pipelines.tasks import Task
from pipelines.tasks.base import Bundle, Scores, Split
from pipelines.tasks.baselines import score_baseline

log = logging.getLogger("pipelines")
HISTORY = 6  # champions shown in the report's chart
# Largest share of holdout rows that may copy a training row before the holdout is unfair.
MAX_HOLDOUT_COPIES = 0.5


def evaluate(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Write evaluation.json; exit 1 when the gate fails."""
    spec = state.spec
    frame = state.data().frame
    holdout = state.split()
    sample = sample_holdout(spec, frame, holdout)  # None at or below evaluation.max_units
    split = sample.split if sample is not None else holdout
    index = state.index if state.index is not None else restore_index(state.run.require(INDEX_FILE))
    _reuse_exact_search(state)
    candidate = state.task.score(
        state.loaded, state.bundle(), frame, split, lambda q, k: search_index(index, q, k)
    )
    # A fork's pull request holds no registry credentials: it does not look for a champion
    # in its throwaway store, and its report says the comparison was not run.
    unavailable = champion_unavailable()
    registry = None if unavailable else state.registry()
    champion_info, champion_scores, fair = (
        (None, None, None)
        if registry is None
        else _score_champion(registry, state.loaded, state.task, frame, split)
    )
    compared = candidate
    if fair is not None and len(fair.test) < len(split.test):  # scored on the same rows
        compared = state.task.score(
            state.loaded, state.bundle(), frame, fair, lambda q, k: search_index(index, q, k)
        )
    baseline_scores = score_baseline(state.task, state.loaded, frame, split)
    baseline = _against_baseline(spec, candidate, baseline_scores)
    comparison, incomparable, champion_scores = _against_champion(
        spec, compared, champion_info, champion_scores
    )
    copies, copies_problem = _holdout_copies(state.loaded, state.task, frame, split)
    settings = spec.evaluation.champion
    bounds = {name: (t.min, t.max) for name, t in spec.evaluation.thresholds.items()}
    decision = gate.decide(
        gate.check_thresholds(spec.task, candidate.metrics, bounds),
        comparison,
        baseline,
        incomparable=incomparable,
        override=settings.replace_incomparable,
        unavailable=unavailable,
        copies=copies_problem,
    )
    state.run.write(
        Evaluation(
            model=spec.name,
            primary=spec.evaluation.primary,
            holdout_fingerprint=holdout.fingerprint(state.data_sha256),
            candidate=candidate.metrics,
            champion=ChampionRecord.model_validate(champion_info) if champion_info else None,
            champion_metrics=champion_scores.metrics if champion_scores else None,
            baseline=gate.BASELINE_NAMES[spec.task],
            baseline_metrics=baseline_scores.metrics,
            candidate_interval=_interval(spec, candidate),
            history=_champion_history(registry, spec, champion_info) if registry else [],
            gate=GateRecord.model_validate(decision.as_dict()),
            passed=decision.passed,
            sample=SampleRecord.model_validate(sample.as_dict()) if sample is not None else None,
            split=state.meta().split,
            holdout_copies=HoldoutCopies.model_validate(copies) if copies is not None else None,
            compared_candidate=compared.metrics if compared is not candidate else None,
            # the one place the pull request's verdict is decided; later steps read it
            verdict=Verdict.of(decision.passed, decision.summary, state.run.read(IndexReport)),
        )
    )
    log.info(
        "%s: evaluation %s (%s)",
        spec.name,
        "passed" if decision.passed else "FAILED",
        decision.summary,
    )
    return EXIT_OK if decision.passed else EXIT_GATE_FAILED


def _holdout_copies(
    loaded: LoadedSpec, task: Task, frame: Any, split: Split
) -> tuple[dict[str, int] | None, str | None]:
    """How many holdout rows the candidate was itself fitted on (the same content, or for
    retrieval the same user and item), and why that fails the gate when above
    `MAX_HOLDOUT_COPIES`; (None, None) for a kind that cannot say."""
    copies_of_training = getattr(task, "copies_of_training", None)
    if copies_of_training is None:
        return None, None
    copied = int(np.count_nonzero(copies_of_training(loaded, frame, split)))
    counts = {"rows": copied, "of": len(split.test)}
    if copied:
        log.warning(
            "%s: %d of %d holdout rows copy a training row",
            loaded.spec.name,
            copied,
            len(split.test),
        )
    if copied > MAX_HOLDOUT_COPIES * len(split.test):
        return counts, (
            f"{copied} of {len(split.test)} holdout rows copy a training row (at most "
            f"{MAX_HOLDOUT_COPIES:.0%}); de-duplicate the data or split by another key"
        )
    return counts, None


def _reuse_exact_search(state: ModelState) -> None:
    """Let the candidate's exact search answer from build-index's, where it was kept.

    Used only when the file is as build-index wrote it for this content (manifest
    fingerprint) and searched the same vectors and queries (`KeptExact.answers` compares
    their digest); a changed or unreadable file is searched again, never trusted.
    """
    if state.exact is not None:
        return
    path = state.run.file(EXACT_FILE)
    if not path.is_file():
        return
    if not state.run.as_written(EXACT_FILE, state.content_hash):
        log.warning(
            "%s: %s changed after build-index wrote it; searching exactly again",
            state.spec.name,
            path,
        )
        return
    try:
        state.exact = remember_exact(KeptExact.load(path))
    except (OSError, ValueError, KeyError) as exc:
        log.warning(
            "%s: %s is unreadable (%s); searching exactly again", state.spec.name, path, exc
        )


def _against_baseline(spec: Spec, candidate: Scores, baseline_scores: Scores) -> gate.Comparison:
    """The paired comparison of the candidate with the task's trivial baseline."""
    settings, base_settings = spec.evaluation.champion, spec.evaluation.baseline
    cand_units, base_units = _aligned(candidate, baseline_scores, spec.champion_metric)
    return gate.compare_with_baseline(
        spec.task,
        spec.champion_metric,
        cand_units,
        base_units,
        confidence=settings.confidence,
        resamples=settings.resamples,
        seed=settings.seed,
        gating=base_settings.check,
        reason=base_settings.reason or "",
    )


def _against_champion(
    spec: Spec,
    candidate: Scores,
    champion_info: dict[str, Any] | None,
    champion_scores: Scores | None,
) -> tuple[gate.Comparison | None, str | None, Scores | None]:
    """(the paired comparison with the champion or None, why the champion is not comparable
    or None, the champion's scores when comparable). Marks `champion_info` not comparable."""
    metric, settings = spec.champion_metric, spec.evaluation.champion
    incomparable = None
    if champion_info is not None and champion_scores is not None:
        incomparable = _incomparable(candidate, champion_scores, metric)
        if incomparable:
            champion_info.update(comparable=False, reason=incomparable)
            champion_scores = None
    elif champion_info is not None:
        incomparable = str(champion_info["reason"])
    if champion_scores is None:
        return None, incomparable, None
    cand_units, champ_units = _aligned(candidate, champion_scores, metric)
    comparison = gate.compare_with_champion(
        spec.task,
        metric,
        cand_units,
        champ_units,
        margin=settings.margin,
        confidence=settings.confidence,
        resamples=settings.resamples,
        seed=settings.seed,
    )
    return comparison, incomparable, champion_scores


def _score_champion(
    registry: Registry, loaded: LoadedSpec, task: Task, frame: Any, split: Split
) -> tuple[dict[str, Any] | None, Scores | None, Split | None]:
    """Load `models:/<name>@champion` and score it on the candidate's holdout rows it was
    not fitted on: (what to record of it, its scores, those rows as a split). Scores are
    None when it cannot be compared (the reason is in the record)."""
    name = loaded.spec.name
    version = registry.version_by_alias(name, CHAMPION)
    if version is None:
        return None, None, None
    info: dict[str, Any] = {
        "version": version.version,
        "run_id": version.run_id,
        "content_hash": version.content_hash,
    }
    # By version, not alias: the scores belong to the version recorded above; its files
    # are checked against the digests the release recorded (a mismatch is exit 3).
    champion = registry.load_version(name, version).server
    bundle = cast(Bundle, champion.bundle)  # serving's copy of Bundle: the same fields
    fair, why_not = _rows_the_champion_did_not_train_on(loaded, task, bundle, frame, split)
    if fair is None:
        info.update(comparable=False, reason=f"champion version {version.version} {why_not}")
        log.warning("%s: %s", name, info["reason"])
        return info, None, None
    info["holdout_rows"] = len(split.test)
    info["excluded_rows"] = len(split.test) - len(fair.test)
    if info["excluded_rows"]:
        log.info(
            "%s: %d of %d holdout rows left out of the champion comparison: champion "
            "version %s was fitted on them",
            name,
            info["excluded_rows"],
            len(split.test),
            version.version,
        )
    try:
        scores = task.score(
            loaded, bundle, frame, fair, lambda q, k: search_index(champion.index, q, k)
        )
    except Exception as exc:  # any failure to score it: not comparable, and the gate fails
        text = " ".join(str(exc).split())[:300]
        info["comparable"] = False
        info["reason"] = (
            f"champion version {version.version} cannot be scored on this holdout: "
            f"{type(exc).__name__}: {text}"
        )
        log.warning("%s: %s", name, info["reason"])
        return info, None, None
    info["comparable"] = True
    return info, scores, fair


def _rows_the_champion_did_not_train_on(
    loaded: LoadedSpec, task: Task, bundle: Bundle, frame: Any, split: Split
) -> tuple[Split | None, str]:
    """The candidate's holdout without the rows the champion was fitted on, or (None, why
    that cannot be known or nothing is left)."""
    trained_on = getattr(task, "trained_on", None)
    if trained_on is None:
        return None, f"cannot be compared: a {loaded.spec.task} model does not say its rows"
    try:
        seen = np.asarray(trained_on(bundle, frame, split.test), dtype=bool)
    except (ValueError, KeyError, TypeError) as exc:
        text = " ".join(str(exc).split())[:300]
        return None, f"cannot be compared fairly: which rows it was fitted on is unknown: {text}"
    if seen.all():
        return None, f"was fitted on all {len(split.test)} holdout rows: nothing fair to score"
    return Split(train=split.train, test=split.test[~seen], rule=split.rule), ""


def _interval(spec: Any, scores: Scores) -> Interval | None:
    """The bootstrap interval of the primary metric's mean (per-unit metrics only)."""
    primary = spec.evaluation.primary
    if primary not in scores.per_unit or not metric_info(spec.task, primary).per_unit:
        return None
    settings = spec.evaluation.champion
    low, high = gate.mean_interval(
        scores.per_unit[primary],
        confidence=settings.confidence,
        resamples=settings.resamples,
        seed=settings.seed,
    )
    return Interval(metric=primary, low=low, high=high, confidence=settings.confidence)


def _champion_history(
    registry: Registry, spec: Spec, champion: dict[str, Any] | None
) -> list[HistoryPoint]:
    """The primary metric each past champion logged (on its own holdout), oldest first.

    Follows the `previous_champion` tags back from the current champion, at most HISTORY.
    """
    if not champion:
        return []
    name, primary = spec.name, spec.evaluation.primary
    key = f"candidate.{primary}"
    history: list[HistoryPoint] = []
    version: str | None = champion["version"]
    seen: set[str] = set()
    while version and version not in seen and len(history) < HISTORY:
        seen.add(version)
        found = registry.get_version(name, version)
        if found is None:
            break
        value = registry.run_metrics(found.run_id).get(key) if found.run_id else None
        if value is not None:
            history.append(HistoryPoint(version=str(found.version), value=float(value)))
        version = found.tags.get(TAG_PREVIOUS_CHAMPION)
    return history[::-1]


def _incomparable(candidate: Scores, champion: Scores, metric: str) -> str | None:
    """Why the two sets of scores cannot be compared on `metric`, or None."""
    shared = np.intersect1d(candidate.units, champion.units)
    if len(shared) == 0:
        return "the champion scored none of the candidate's holdout units"
    values = champion.per_unit.get(metric)
    if values is None:
        return f"the champion has no per-unit '{metric}'"
    if not np.all(np.isfinite(np.asarray(values, dtype=float))):
        return f"the champion's '{metric}' is not a number on some units"
    if not np.isfinite(float(champion.metrics.get(metric, float("nan")))):
        return f"the champion's '{metric}' is not a number"
    return None


def _aligned(candidate: Scores, champion: Scores, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit values of both models on the units they share, in the same order."""
    if np.array_equal(candidate.units, champion.units):
        return candidate.per_unit[metric], champion.per_unit[metric]
    _, cand_pos, champ_pos = np.intersect1d(candidate.units, champion.units, return_indices=True)
    return candidate.per_unit[metric][cand_pos], champion.per_unit[metric][champ_pos]
