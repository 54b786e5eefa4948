"""Evaluation on a fixed, seeded, stratified sample of holdout units above a size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.sources import load_data
from pipelines.evalsample import sample_holdout
from pipelines.index import IndexSettings, build_index, search_index
from pipelines.spec import load_spec
from pipelines.spec.estimators import build_estimator
from pipelines.tasks import get_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def retrieval():
    loaded = load_spec(ROOT / "model_specs" / "item-recs.yaml")
    task = get_task("retrieval")
    frame = load_data(loaded).frame
    split = task.split(loaded, frame)
    return loaded, task, frame, split


def _with_limit(loaded, limit: int):
    evaluation = loaded.spec.evaluation.model_copy(update={"max_units": limit})
    return loaded.spec.model_copy(update={"evaluation": evaluation})


def test_at_or_below_the_limit_nothing_is_sampled(retrieval) -> None:
    loaded, _, frame, split = retrieval
    assert loaded.spec.evaluation.max_units == 10_000  # the default
    assert sample_holdout(loaded.spec, frame, split) is None
    users = frame[loaded.spec.data.user].to_numpy()
    scorable = np.intersect1d(users[split.test], users[split.train])
    assert sample_holdout(_with_limit(loaded, len(scorable)), frame, split) is None


def test_sample_is_fixed_stratified_and_a_subset_of_the_holdout(retrieval) -> None:
    loaded, _, frame, split = retrieval
    spec = _with_limit(loaded, 200)
    first = sample_holdout(spec, frame, split)
    again = sample_holdout(spec, frame, split)
    assert first is not None and again is not None
    assert np.array_equal(first.split.test, again.split.test)  # same inputs, same sample
    assert np.array_equal(first.split.train, split.train)
    assert np.isin(first.split.test, split.test).all()
    users = frame[spec.data.user].to_numpy()
    kept = np.unique(users[first.split.test])
    assert first.size == len(kept) == 200 and first.units > 200
    # every holdout row of a sampled user is kept (per-user metrics are unchanged)
    assert np.isin(split.test[np.isin(users[split.test], kept)], first.split.test).all()
    # stratified: heavy and light users keep their share (deciles of training activity)
    counts = np.bincount(users[split.train])
    all_users = np.intersect1d(users[split.test], users[split.train])
    median = np.median(counts[all_users])
    share = np.mean(counts[kept] > median)
    assert abs(share - np.mean(counts[all_users] > median)) < 0.05
    other = _with_limit(loaded, 200).model_copy(
        update={
            "data": spec.data.model_copy(
                update={"split": spec.data.split.model_copy(update={"seed": 8})}
            )
        }
    )
    assert not np.array_equal(sample_holdout(other, frame, split).split.test, first.split.test)


def test_scores_on_the_sample_are_the_full_scores_of_those_users(retrieval) -> None:
    loaded, task, frame, split = retrieval
    sample = sample_holdout(_with_limit(loaded, 150), frame, split)
    assert sample is not None
    bundle = task.fit(loaded, frame, split, build_estimator(loaded))
    keys, vectors = task.index_vectors(bundle)
    index = build_index(keys, vectors, IndexSettings(metric="ip"), threads=1)
    searcher = lambda q, k: search_index(index, q, k)  # noqa: E731
    full = task.score(loaded, bundle, frame, split, searcher)
    part = task.score(loaded, bundle, frame, sample.split, searcher)
    assert len(part.units) == 150
    rows = np.searchsorted(full.units, part.units)
    assert np.array_equal(full.units[rows], part.units)
    for name in ("ndcg_at_10", "exact_ndcg_at_10", "recall_at_10"):
        assert np.allclose(full.per_unit[name][rows], part.per_unit[name])


def test_classification_sample_keeps_label_shares() -> None:
    loaded = load_spec(ROOT / "model_specs" / "breast-cancer.yaml")
    task = get_task("classification")
    frame = load_data(loaded).frame
    split = task.split(loaded, frame)
    sample = sample_holdout(_with_limit(loaded, 100), frame, split)
    assert sample is not None and sample.size == 100 and sample.stratified_by == "label"
    labels = frame[loaded.spec.data.target].to_numpy()
    assert abs(labels[sample.split.test].mean() - labels[split.test].mean()) < 0.02
    assert np.isin(sample.split.test, split.test).all()
