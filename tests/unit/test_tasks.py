"""Task kinds: retrieval list metrics, seen-item filtering, and tabular scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.data.sources import load_data
from pipelines.index import IndexSettings, build_index, search_index
from pipelines.spec import load_spec
from pipelines.spec.estimators import build_estimator
from pipelines.tasks import get_task
from pipelines.tasks.retrieval import _drop_seen, _list_metrics

ROOT = Path(__file__).resolve().parents[2]


def test_list_metrics_of_a_perfect_and_an_empty_list() -> None:
    lists = np.array([[3, 4, -1], [7, 8, 9]])
    relevant = [np.array([3, 4]), np.array([1])]
    metrics = _list_metrics(lists, relevant, 3, prefix="")
    assert metrics["ndcg_at_3"][0] == pytest.approx(1.0)
    assert metrics["recall_at_3"].tolist() == [1.0, 0.0]
    assert metrics["precision_at_3"][0] == pytest.approx(2 / 3)
    assert metrics["hit_rate_at_3"].tolist() == [1.0, 0.0]


def test_ndcg_rewards_earlier_hits() -> None:
    early = _list_metrics(np.array([[5, 1, 2]]), [np.array([5])], 3, prefix="")["ndcg_at_3"]
    late = _list_metrics(np.array([[1, 2, 5]]), [np.array([5])], 3, prefix="")["ndcg_at_3"]
    assert early[0] == pytest.approx(1.0)
    assert late[0] == pytest.approx(1 / np.log2(4))


def test_unknown_holdout_items_count_as_misses() -> None:
    metrics = _list_metrics(np.array([[1, 2]]), [np.array([1, -1])], 2, prefix="")
    assert metrics["recall_at_2"][0] == pytest.approx(0.5)


def test_seen_items_are_never_recommended() -> None:
    found = np.array([[1, 2, 3, 4, 5], [9, -1, -1, -1, -1]])
    out = _drop_seen(found, [np.array([1, 3]), np.array([], dtype=np.int64)], 2)
    assert out.tolist() == [[2, 4], [9, -1]]


@pytest.mark.parametrize("spec_name", ["item-recs", "breast-cancer"])
def test_split_fit_score_is_deterministic(spec_name: str) -> None:
    loaded = load_spec(ROOT / "model_specs" / f"{spec_name}.yaml")
    task = get_task(loaded.spec.task)
    frame = load_data(loaded).frame
    results = []
    for _ in range(2):
        split = task.split(loaded, frame)
        bundle = task.fit(loaded, frame, split, build_estimator(loaded))
        keys, vectors = task.index_vectors(bundle)
        settings = IndexSettings(metric=loaded.spec.index.metric)
        index = build_index(keys, vectors, settings, threads=1)  # as `reproducible: true`
        scores = task.score(
            loaded, bundle, frame, split, lambda q, k, ix=index: search_index(ix, q, k)
        )
        results.append(scores.metrics)
    assert results[0] == results[1]
    primary = results[0][loaded.spec.evaluation.primary]
    assert 0.0 < primary <= 1.0
    assert len(split.train) + len(split.test) == len(frame)
    assert not np.intersect1d(split.train, split.test).size


def test_retrieval_index_metrics_track_exact_search() -> None:
    loaded = load_spec(ROOT / "model_specs" / "item-recs.yaml")
    task = get_task("retrieval")
    frame = load_data(loaded).frame
    split = task.split(loaded, frame)
    bundle = task.fit(loaded, frame, split, build_estimator(loaded))
    keys, vectors = task.index_vectors(bundle)
    index = build_index(keys, vectors, IndexSettings(metric="ip"), threads=1)  # deterministic
    metrics = task.score(
        loaded, bundle, frame, split, lambda q, k: search_index(index, q, k)
    ).metrics
    assert metrics["ndcg_at_10"] == pytest.approx(metrics["exact_ndcg_at_10"], abs=0.01)
    # A popularity-blind random recommender would score far lower on this data.
    assert metrics["ndcg_at_10"] > 0.15


def _metrics_row_by_row(lists, relevant, k):
    """The per-row definition the vectorised `_list_metrics` must match."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    out = {"ndcg": [], "recall": [], "precision": []}
    for recs, truth in zip(lists, relevant, strict=True):
        hits = np.isin(recs, truth[truth >= 0]) & (recs >= 0)
        ideal = discounts[: min(len(truth), k)].sum()
        out["ndcg"].append(discounts[hits].sum() / ideal if ideal > 0 else 0.0)
        out["recall"].append(hits.sum() / min(len(truth), k) if len(truth) else 0.0)
        out["precision"].append(hits.sum() / k)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_list_metrics_and_seen_filter_match_the_row_by_row_definition(seed):
    rng = np.random.default_rng(seed)
    rows, k, items = 300, 10, 60
    lists = rng.integers(-1, items, size=(rows, k))
    relevant = [rng.integers(-1, items, size=rng.integers(0, 15)) for _ in range(rows)]
    metrics = _list_metrics(lists, relevant, k, prefix="")
    expected = _metrics_row_by_row(lists, relevant, k)
    for name in ("ndcg", "recall", "precision"):
        np.testing.assert_allclose(metrics[f"{name}_at_{k}"], expected[name], rtol=1e-12)
    found = rng.integers(-1, items, size=(rows, 25))
    seen = [rng.choice(items, size=rng.integers(0, 20), replace=False) for _ in range(rows)]
    out = _drop_seen(found, seen, k)
    for row in range(rows):
        fresh = found[row][(found[row] >= 0) & ~np.isin(found[row], seen[row])][:k]
        assert out[row].tolist() == [*fresh.tolist(), *[-1] * (k - len(fresh))]
