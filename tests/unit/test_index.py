"""usearch index helpers: exact ground truth, recall, build and search."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.index import (
    IndexSettings,
    build_index,
    exact_topk,
    measure,
    recall_at_k,
    search_index,
)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32)


@pytest.mark.parametrize("metric", ["cos", "ip", "l2sq"])
def test_exact_topk_matches_a_full_sort(vectors: np.ndarray, metric: str) -> None:
    queries = vectors[:25] + 0.01
    positions, _ = exact_topk(vectors, queries, 10, metric)
    if metric == "l2sq":
        scores = -((queries[:, None, :] - vectors[None, :, :]) ** 2).sum(-1)
    else:
        base = (
            vectors / np.linalg.norm(vectors, axis=1, keepdims=True) if metric == "cos" else vectors
        )
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True) if metric == "cos" else queries
        scores = q @ base.T
    expected = np.argsort(-scores, axis=1)[:, :10]
    assert recall_at_k(positions, expected) == pytest.approx(1.0)


@pytest.mark.parametrize("size", [10, 500, 2000])
def test_index_recall_against_exact(vectors: np.ndarray, size: int) -> None:
    keys = np.arange(size, dtype=np.int64) + 100
    index = build_index(keys, vectors[:size], IndexSettings(metric="cos"))
    measured = measure(index, keys, vectors[:size], vectors[:50] * 1.1, "cos", 0.0, 0)
    assert measured.recall_at_10 >= 0.95
    assert measured.vectors == size
    assert measured.p99_ms >= measured.p50_ms > 0


def test_search_pads_missing_hits_with_minus_one(vectors: np.ndarray) -> None:
    index = build_index(np.arange(3), vectors[:3], IndexSettings(metric="l2sq"))
    keys, _ = search_index(index, vectors[:2], 10)
    assert keys.shape == (2, 3)
    assert set(keys[0]) == {0, 1, 2}


def test_recall_counts_partial_overlap() -> None:
    found = np.array([[1, 2, 3, -1], [5, 6, 7, 8]])
    truth = np.array([[1, 2, 9, 10], [5, 6, 7, 8]])
    assert recall_at_k(found, truth) == pytest.approx(6 / 8)


def test_one_add_builds_the_graph_the_chunked_adds_built(vectors: np.ndarray) -> None:
    """usearch's own progress bar replaced chunked `add` calls: one thread, same bytes."""
    from usearch.index import Index

    settings = IndexSettings(metric="cos")
    keys = np.arange(len(vectors), dtype=np.int64) + 7
    chunked = Index(
        ndim=vectors.shape[1],
        metric=settings.metric,
        dtype=settings.dtype,
        connectivity=settings.connectivity,
        expansion_add=settings.expansion_add,
        expansion_search=settings.expansion_search,
    )
    for start in range(0, len(vectors), 300):
        stop = start + 300
        chunked.add(keys[start:stop].astype(np.uint64), vectors[start:stop], threads=1)
    built = build_index(keys, vectors, settings, threads=1)
    assert bytes(built.save()) == bytes(chunked.save())


@pytest.mark.parametrize("metric", ["cos", "ip", "l2sq"])
def test_repeated_queries_get_the_answer_each_gets_alone(vectors: np.ndarray, metric: str) -> None:
    distinct = vectors[:5] + 0.01
    repeated = distinct[[3, 0, 3, 1, 4, 4, 2, 0]]
    positions, sims = exact_topk(vectors, repeated, 10, metric)
    for row, query in enumerate(repeated):
        alone_pos, alone_sims = exact_topk(vectors, query[None, :], 10, metric)
        np.testing.assert_array_equal(positions[row], alone_pos[0])
        np.testing.assert_allclose(sims[row], alone_sims[0], rtol=1e-5, atol=1e-5)


def test_a_kept_exact_search_answers_the_same_inputs_and_nothing_else(
    vectors: np.ndarray, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines import index as index_module
    from pipelines.index import KeptExact, keep_exact, remember_exact

    monkeypatch.setattr(index_module, "_kept", [])
    queries = vectors[:30] + 0.02
    expected_pos, expected_sims = exact_topk(vectors, queries, 7, "ip")
    keep_exact(vectors, queries, 25, "ip").save(tmp_path / "exact.npz")
    index_module._kept.clear()  # a new process: only the file
    remember_exact(KeptExact.load(tmp_path / "exact.npz"))
    calls = []
    real = index_module._exact_prepared
    monkeypatch.setattr(index_module, "_exact_prepared", lambda *a: calls.append(a) or real(*a))
    pos, sims = exact_topk(vectors, queries, 7, "ip")  # shallower: answered from the file
    assert calls == []
    np.testing.assert_array_equal(pos, expected_pos)
    np.testing.assert_allclose(sims, expected_sims, rtol=1e-6)
    exact_topk(vectors, queries, 26, "ip")  # deeper than kept: searched
    exact_topk(vectors, queries, 7, "cos")  # another metric
    changed = queries.copy()
    changed[3, 0] += 1e-3
    exact_topk(vectors, changed, 7, "ip")  # other bytes, same shape
    assert len(calls) == 3
