"""The champion on fresh data: feature drift, prediction drift, live quality, index recall.

Live quality uses the task's own scoring code. For retrieval, each known user's training
history (held by the served model) is folded into a query exactly as serving does, the
top 10 recommended (seen items excluded) and scored against the items the user went on
to interact with in the fresh batch; users the champion does not know get the popular
items serving answers them with, and are counted (`fallback_users`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.index import exact_topk, search_index
from pipelines.kinds import METRICS, get_kind, imported, metric_info
from pipelines.monitor import detectors
from pipelines.monitor.detectors import Check, Quality
from pipelines.serving import feature_input
from pipelines.spec import LoadedSpec
from pipelines.tasks import Split, get_task

log = logging.getLogger(__name__)
TOP_K = 10


@dataclass
class Outcome:
    """Every check of one monitoring run and the figures beside them."""

    checks: list[Check] = field(default_factory=list)
    quality: Quality | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def alerts(self) -> list[Check]:
        """The checks that alert."""
        return [c for c in self.checks if c.alert]


def id_columns(loaded: LoadedSpec) -> list[str]:
    """The user and item roles and any column the spec marks as an id (`id: true`)."""
    data = loaded.spec.data
    marked = [n for n, c in data.columns.items() if getattr(c, "id", False)]
    return list(dict.fromkeys(c for c in [data.user, data.item, *marked] if c))


def feature_drift(
    loaded: LoadedSpec,
    profile: dict[str, Any],
    frame: pd.DataFrame,
    known_ids: dict[str, np.ndarray],
) -> list[Check]:
    """PSI per feature column; the unseen-id share per id column. The split's time column
    is not compared: fresh data is newer by design."""
    limits = loaded.spec.monitoring.drift if loaded.spec.monitoring else None
    max_psi = limits.max_psi if limits else 0.2
    max_unseen = limits.max_unseen_fraction if limits else 0.3
    ids = id_columns(loaded)
    data = loaded.spec.data
    checks = []
    for name in data.columns:
        if name not in frame.columns or name in (data.target, data.split.column):
            continue
        reference = profile.get(name)
        if name in ids:
            checks.append(
                detectors.column_unseen(
                    name, _unseen(name, reference, frame[name], known_ids), max_unseen
                )
            )
        elif reference is None:
            checks.append(
                Check(f"drift.{name}", "psi", None, f"<= {max_psi:g}", False, "not profiled")
            )
        else:
            checks.append(detectors.column_psi(name, reference, frame[name], max_psi))
    return checks


def _unseen(
    name: str, reference: dict[str, Any] | None, current: pd.Series, known: dict[str, np.ndarray]
) -> float | None:
    """From the model's own id arrays, else from an id profile (a hashed value set)."""
    if name in known:
        return detectors.unseen_share(known[name], current)
    if reference is not None and reference.get("kind") == "id":
        from pipelines.data import profile as profiles

        reader = getattr(profiles, "unseen_fraction", None)
        if reader is not None:
            value = reader(reference, current)
            return None if value is None else float(value)
    return None


# What a kind's monitor scores a champion with (`Kind.monitor` names one):
# (loaded, champion, profile, fresh frame, labelled, holdout metrics) -> Outcome.
Scorer = Callable[[LoadedSpec, Any, dict[str, Any], pd.DataFrame, bool, dict[str, float]], Outcome]


def score_champion(
    loaded: LoadedSpec,
    champion: Any,
    profile: dict[str, Any],
    frame: pd.DataFrame,
    *,
    labelled: bool,
    holdout: dict[str, float],
) -> Outcome:
    """Run every check of the spec's monitoring section on `frame`, with the scorer of the
    spec's kind (`Kind.monitor`); a kind without one gets the data checks only."""
    kind = get_kind(loaded.spec.task)
    scorer: Scorer = imported(kind.monitor) if kind.monitor else score_data
    return scorer(loaded, champion, profile, frame, labelled, holdout)


def score_data(
    loaded: LoadedSpec,
    champion: Any,
    profile: dict[str, Any],
    frame: pd.DataFrame,
    labelled: bool,
    holdout: dict[str, float],
) -> Outcome:
    """Feature drift only (a kind whose champion monitoring cannot score)."""
    outcome = Outcome(checks=feature_drift(loaded, profile, frame, {}))
    outcome.facts["rows"] = len(frame)
    return outcome


def score_retrieval(
    loaded: LoadedSpec,
    champion: Any,
    profile: dict[str, Any],
    frame: pd.DataFrame,
    labelled: bool,
    holdout: dict[str, float],
) -> Outcome:
    """Feature drift (the champion's own users and items as the known ids), then live
    quality, index recall and prediction drift (`_retrieval`)."""
    extras = champion.bundle.extras
    columns = extras["columns"]
    known = {columns["user"]: extras["user_ids"], columns["item"]: extras["item_ids"]}
    outcome = Outcome(checks=feature_drift(loaded, profile, frame, known))
    outcome.facts["rows"] = len(frame)
    _retrieval(loaded, champion, frame, holdout, outcome)
    return outcome


def score_tabular(
    loaded: LoadedSpec,
    champion: Any,
    profile: dict[str, Any],
    frame: pd.DataFrame,
    labelled: bool,
    holdout: dict[str, float],
) -> Outcome:
    """Feature drift, then prediction drift, live quality (labelled data) and index
    recall (`_tabular`)."""
    outcome = Outcome(checks=feature_drift(loaded, profile, frame, {}))
    outcome.facts["rows"] = len(frame)
    _tabular(loaded, champion, frame, labelled, holdout, outcome)
    return outcome


def quality_metric(task: str, primary: str, champion_metric: str) -> str:
    """The primary metric when it is a per-unit mean (bootstrap-able), else the champion's."""
    return primary if METRICS[task][primary].per_unit else champion_metric


def _quality(
    loaded: LoadedSpec, per_unit: dict[str, np.ndarray], holdout: dict[str, float]
) -> Quality:
    spec = loaded.spec
    assert spec.monitoring is not None
    metric = quality_metric(spec.task, spec.evaluation.primary, spec.champion_metric)
    settings = spec.monitoring.quality
    return detectors.quality(
        metric,
        per_unit[metric],
        holdout=holdout.get(metric),
        max_drop=settings.max_drop,
        greater_is_better=metric_info(spec.task, metric).greater_is_better,
        confidence=settings.confidence,
        resamples=settings.resamples,
        seed=settings.seed,
    )


def _min_recall(loaded: LoadedSpec) -> float:
    monitoring = loaded.spec.monitoring
    configured = monitoring.index.min_recall_at_10 if monitoring else None
    return configured if configured is not None else loaded.spec.index.gate.min_recall_at_10


def _retrieval(
    loaded: LoadedSpec,
    champion: Any,
    fresh: pd.DataFrame,
    holdout: dict[str, float],
    outcome: Outcome,
) -> None:
    bundle, index = champion.bundle, champion.index
    extras = bundle.extras
    columns = extras["columns"]
    user, item, weight = columns["user"], columns["item"], columns.get("weight")
    users, items = np.asarray(extras["user_ids"]), np.asarray(extras["item_ids"])
    indptr = np.asarray(extras["history.indptr"])
    history = pd.DataFrame(
        {
            user: np.repeat(users, np.diff(indptr)),
            item: items[np.asarray(extras["history.indices"])],
        }
    )
    if weight:
        history[weight] = np.asarray(extras["history.data"], dtype=np.float64)
    keep = [c for c in (user, item, weight) if c]
    if weight and weight not in fresh.columns:
        fresh = fresh.assign(**{weight: 1.0})
    frame = pd.concat([history[keep], fresh[keep]], ignore_index=True)
    split = Split(train=np.arange(len(history)), test=np.arange(len(history), len(frame)))
    task = get_task(loaded.spec.task)

    def searcher(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return search_index(index, q, k)

    scores = task.score(loaded, bundle, frame, split, searcher)
    known_users = np.isin(fresh[user].to_numpy(), users)
    outcome.facts["scored_users"] = len(scores.units)
    outcome.facts["fresh_users"] = int(fresh[user].nunique())
    outcome.facts["new_users"] = int(fresh.loc[~known_users, user].nunique())
    # Users the champion does not know: served (and scored here) with the popular items.
    outcome.facts["fallback_users"] = int(scores.metrics.get("new_users", 0))
    outcome.quality = _quality(loaded, scores.per_unit, holdout)
    outcome.checks.append(outcome.quality.check())
    # Index recall on fresh queries: the scored users' query vectors.
    queries = task.queries(bundle, frame, split)
    vectors = np.asarray(extras["item_vectors"])
    k = min(TOP_K, len(vectors))
    found, _ = search_index(index, queries, k)
    exact, _ = exact_topk(vectors, queries, k, bundle.index_metric)
    outcome.checks.append(detectors.index_recall(found, exact, _min_recall(loaded)))
    # Prediction drift: items recommended to the fresh batch's known users vs to every
    # training user (the population the champion was built for).
    every = Split(train=np.arange(len(history)), test=np.arange(len(history)))
    reference = task.queries(bundle, history[keep], every)
    ref_top, _ = search_index(index, reference, k)
    fresh_top, _ = search_index(index, queries, k)
    value = (
        detectors.categorical_psi(
            pd.Series(ref_top[ref_top >= 0].ravel()), pd.Series(fresh_top[fresh_top >= 0].ravel())
        )
        if len(queries)
        else None
    )
    drift = loaded.spec.monitoring.drift if loaded.spec.monitoring else None
    outcome.checks.append(
        detectors.prediction_drift(
            value,
            drift.max_prediction_psi if drift else None,
            "recommended items, fresh users vs training users",
        )
    )


def _tabular(
    loaded: LoadedSpec,
    champion: Any,
    fresh: pd.DataFrame,
    labelled: bool,
    holdout: dict[str, float],
    outcome: Outcome,
) -> None:
    bundle, index = champion.bundle, champion.index
    extras = bundle.extras
    features = list(extras["features"])
    x = feature_input(fresh, features, extras.get("categorical", ()))
    model = bundle.estimator
    predicted = np.asarray(model.predict(x))
    labels = pd.Series(np.asarray(extras["train_labels"]))
    drift = loaded.spec.monitoring.drift if loaded.spec.monitoring else None
    if get_kind(loaded.spec.task).target == "class":
        value = detectors.categorical_psi(labels, pd.Series(predicted))
        detail = "predicted classes vs training labels"
    else:
        value = detectors.numeric_psi(labels, pd.Series(predicted))
        detail = "predictions vs training targets"
    outcome.checks.append(
        detectors.prediction_drift(value, drift.max_prediction_psi if drift else None, detail)
    )
    split = Split(train=np.empty(0, np.int64), test=np.arange(len(fresh)))
    task = get_task(loaded.spec.task)

    def searcher(q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return search_index(index, q, k)

    if labelled:
        scores = task.score(loaded, bundle, fresh, split, searcher)
        outcome.quality = _quality(loaded, scores.per_unit, holdout)
        outcome.checks.append(outcome.quality.check())
    queries = task.queries(bundle, fresh, split)
    vectors = np.asarray(extras["train_vectors"])
    rows = np.asarray(extras["train_rows"])
    k = min(TOP_K, len(vectors))
    found, _ = search_index(index, queries, k)
    exact_pos, _ = exact_topk(vectors, queries, k, bundle.index_metric)
    outcome.checks.append(detectors.index_recall(found, rows[exact_pos], _min_recall(loaded)))
