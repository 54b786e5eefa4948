"""usearch index: build, exact ground truth, recall@k, latency, size.

Ground truth is a BLAS matrix product with a top-k selection (`exact_topk`); `nox -s bench`
times it beside usearch, faiss and hnswlib (docs/bench/). An exact search can be kept
(`keep_exact`, saved in the run directory by build-index): a later `exact_topk` over the
same vectors and queries, at the same or a smaller depth, answers from it, so build-index
and evaluate share one exact search.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pipelines.serving import search_index as search_index  # shared with serving

log = logging.getLogger(__name__)

_BATCH_FLOATS = 1 << 25  # scores matrix budget per batch (~128 MB of float32)
LATENCY_QUERIES = 500  # distinct single queries timed for the latency gate
LATENCY_ROUNDS = 3  # each query is timed this many times, in interleaved rounds
RECALL_QUERIES = 10_000  # at most this many queries measure recall (a fixed subset)
KEPT_MAX = 2  # exact searches kept in memory (build-index's, and one loaded by evaluate)


@dataclass(frozen=True)
class IndexSettings:
    """usearch construction and search settings."""

    metric: str = "cos"
    dtype: str = "f32"
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 64


@dataclass(frozen=True)
class IndexMeasurement:
    """What the gate and the report look at."""

    recall_at_10: float
    p50_ms: float  # median over queries of each query's best time
    p99_ms: float  # 99th percentile over queries of each query's best time (gated)
    p99_single_ms: float  # 99th percentile of one timing per query (noisy on shared CPUs)
    batch_qps: float
    build_seconds: float
    size_bytes: int
    vectors: int
    dimensions: int
    queries: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def build_index(
    keys: np.ndarray,
    vectors: np.ndarray,
    settings: IndexSettings,
    threads: int = 0,
    progress: bool = True,
) -> Any:
    """A usearch index over `vectors` with `keys`; with `progress`, usearch's own progress
    bar from 50k vectors (its callback runs once per vector: the tuner turns it off).

    `threads=0` uses every core; `threads=1` builds a reproducible graph (a multi-threaded
    HNSW build inserts in a racy order, so graph and recall differ between runs).
    """
    from usearch.index import Index

    index = Index(
        ndim=vectors.shape[1],
        metric=settings.metric,
        dtype=settings.dtype,
        connectivity=settings.connectivity,
        expansion_add=settings.expansion_add,
        expansion_search=settings.expansion_search,
    )
    if len(vectors) == 0:
        return index
    log = "index" if progress and len(vectors) >= 50_000 else False
    index.add(keys.astype(np.uint64), vectors, threads=threads, log=log)
    return index


def restore_index(path: Path, view: bool = False) -> Any:
    """Load an index saved with `index.save`."""
    from usearch.index import Index

    index = Index.restore(str(path), view=view)
    if index is None:
        raise ValueError(f"{path} is not a usearch index")
    return index


def prepare(metric: str, vectors: np.ndarray) -> np.ndarray:
    """Vectors as exact search compares them (unit length for cosine)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric == "cos":
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
    return vectors


def exact_topk(
    base: np.ndarray, queries: np.ndarray, k: int, metric: str, desc: str = "exact"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k positions into `base` and their similarity (higher is closer).

    Identical queries are searched once: the most-popular baseline asks every user the same
    query, so its search costs one row, not one per user.
    """
    for known in _kept:
        if known.answers(base, queries, k, metric):
            depth = min(k, len(base))
            return known.positions[:, :depth].astype(np.int64), known.similarity[:, :depth]
    base_p = prepare(metric, base)
    queries_p = prepare(metric, queries)
    if len(queries_p) > 1:
        distinct, inverse = np.unique(queries_p, axis=0, return_inverse=True)
        if len(distinct) < len(queries_p):
            top, sims = _exact_prepared(base_p, distinct, k, metric, desc)
            inverse = inverse.reshape(-1)
            return top[inverse], sims[inverse]
    return _exact_prepared(base_p, queries_p, k, metric, desc)


@dataclass(frozen=True)
class KeptExact:
    """An exact search done once: what it searched (shapes, metric, digest) and its answer."""

    metric: str
    base_shape: tuple[int, ...]
    queries_shape: tuple[int, ...]
    digest: str
    positions: np.ndarray  # (queries, depth) positions into the base
    similarity: np.ndarray

    def answers(self, base: np.ndarray, queries: np.ndarray, k: int, metric: str) -> bool:
        """Whether this is the answer to `exact_topk(base, queries, k, metric)`: the same
        metric, shapes and bytes (digest, checked last: it reads every vector), deep enough."""
        return (
            metric == self.metric
            and tuple(base.shape) == self.base_shape
            and tuple(queries.shape) == self.queries_shape
            and min(k, len(base)) <= self.positions.shape[1]
            and exact_digest(base, queries, metric) == self.digest
        )

    def save(self, path: Path) -> None:
        """Write to `path` (.npz)."""
        np.savez(
            path,
            positions=self.positions.astype(np.int32),
            similarity=self.similarity,
            metric=np.array(self.metric),
            digest=np.array(self.digest),
            base_shape=np.array(self.base_shape, dtype=np.int64),
            queries_shape=np.array(self.queries_shape, dtype=np.int64),
        )

    @classmethod
    def load(cls, path: Path) -> KeptExact:
        """Read what `save` wrote (ValueError or KeyError when it is not such a file)."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(
                metric=str(arrays["metric"]),
                base_shape=tuple(int(n) for n in arrays["base_shape"]),
                queries_shape=tuple(int(n) for n in arrays["queries_shape"]),
                digest=str(arrays["digest"]),
                positions=arrays["positions"],
                similarity=arrays["similarity"],
            )


_kept: list[KeptExact] = []


def exact_digest(base: np.ndarray, queries: np.ndarray, metric: str) -> str:
    """Identity of an exact search: the metric, and the float32 bytes of base and queries."""
    digest = hashlib.blake2b(metric.encode(), digest_size=16)
    for array in (base, queries):
        values = np.ascontiguousarray(array, dtype=np.float32)
        digest.update(repr(values.shape).encode())
        digest.update(values.data)
    return digest.hexdigest()


def keep_exact(
    base: np.ndarray, queries: np.ndarray, k: int, metric: str, desc: str = "exact"
) -> KeptExact:
    """`exact_topk`, kept in this process for later searches of the same inputs."""
    positions, similarity = exact_topk(base, queries, k, metric, desc=desc)
    return remember_exact(
        KeptExact(
            metric=metric,
            base_shape=tuple(base.shape),
            queries_shape=tuple(queries.shape),
            digest=exact_digest(base, queries, metric),
            positions=positions,
            similarity=similarity,
        )
    )


def remember_exact(kept: KeptExact) -> KeptExact:
    """Answer later `exact_topk` calls from `kept` (the newest `KEPT_MAX` are kept)."""
    others = [k for k in _kept if k.digest != kept.digest]
    _kept[:] = [*others[-(KEPT_MAX - 1) :], kept]
    return kept


def recall_subset(queries: np.ndarray, limit: int = RECALL_QUERIES) -> np.ndarray:
    """The queries recall is measured on: all, or a fixed random `limit` of them in order.

    Recall@10 over 10k queries is exact to about ±0.003, and exact search over every
    holdout user of a large catalogue would cost more than the rest of the pipeline.
    """
    if len(queries) <= limit:
        return queries
    rows = np.random.default_rng(0).choice(len(queries), size=limit, replace=False)
    return queries[np.sort(rows)]


def _exact_prepared(
    base_p: np.ndarray, queries_p: np.ndarray, k: int, metric: str, desc: str
) -> tuple[np.ndarray, np.ndarray]:
    """`exact_topk` on vectors already `prepare`d."""
    k = min(k, len(base_p))
    norms = (base_p * base_p).sum(axis=1) if metric == "l2sq" else None
    rows = max(1, _BATCH_FLOATS // max(1, len(base_p)))
    out_idx = np.empty((len(queries_p), k), dtype=np.int64)
    out_sim = np.empty((len(queries_p), k), dtype=np.float32)
    batches = range(0, len(queries_p), rows)

    def batch(start: int) -> tuple[int, np.ndarray, np.ndarray]:
        sims = queries_p[start : start + rows] @ base_p.T
        if norms is not None:
            sims = 2 * sims - norms[None, :]
        return (start, *_top_rows(sims, k))

    # numpy releases the GIL in the selection too, so batches overlap on every core
    workers = min(len(batches), os.cpu_count() or 1, 4)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = pool.map(batch, batches)
        for start, top, top_sims in tqdm(
            done, total=len(batches), desc=desc, disable=len(batches) < 20
        ):
            out_idx[start : start + rows] = top
            out_sim[start : start + rows] = top_sims
    return out_idx, out_sim


def _top_rows(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the k largest values per row, in descending order.

    For k much smaller than the row, a full argpartition of every row dominates exact
    search. Instead, the k-th largest value among the first `pilot` columns is a lower
    bound of the row's k-th largest, so one vectorised comparison keeps a few candidates
    per row and only those are sorted (about 3× faster at a million columns). Ties go to
    the lower column. Rows the shortcut cannot settle (NaN) take the plain path.
    """
    n_rows, n = sims.shape
    pilot = min(n, max(8 * k, int(4 * math.sqrt(k * n))))
    if k >= n or pilot * 4 > n:
        return _top_rows_plain(sims, k)
    bound = -np.partition(-sims[:, :pilot], k - 1, axis=1)[:, k - 1]
    hit_r, hit_c = np.nonzero(sims >= bound[:, None])
    hit_v = sims[hit_r, hit_c]
    order = np.lexsort((hit_c, -hit_v, hit_r))
    hit_r, hit_c, hit_v = hit_r[order], hit_c[order], hit_v[order]
    rank = np.arange(len(hit_r)) - np.searchsorted(hit_r, np.arange(n_rows))[hit_r]
    keep = rank < k
    top = np.zeros((n_rows, k), dtype=np.int64)
    top_sims = np.zeros((n_rows, k), dtype=np.float32)
    top[hit_r[keep], rank[keep]] = hit_c[keep]
    top_sims[hit_r[keep], rank[keep]] = hit_v[keep]
    short = np.bincount(hit_r[keep], minlength=n_rows) < k
    if short.any():
        top[short], top_sims[short] = _top_rows_plain(sims[short], k)
    return top, top_sims


def _top_rows_plain(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    top = (
        np.argpartition(-sims, k - 1, axis=1)[:, :k]
        if k < sims.shape[1]
        else np.tile(np.arange(sims.shape[1]), (len(sims), 1))
    )
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.lexsort((top, -top_sims), axis=1)  # ties to the lower column, as above
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top-k that the index returned."""
    if truth.size == 0:
        return 1.0
    hits = 0
    rows = max(1, (1 << 22) // max(1, found.shape[1] * truth.shape[1]))
    for start in range(0, len(truth), rows):
        f, t = found[start : start + rows], truth[start : start + rows]
        # keys are unique within a row, so a truth key found anywhere in the row is one hit
        hits += int(((t[:, :, None] == f[:, None, :]) & (f[:, None, :] >= 0)).any(axis=2).sum())
    return hits / truth.size


@dataclass(frozen=True)
class Latency:
    """Single-query latency in milliseconds."""

    p50_ms: float
    p99_ms: float
    p99_single_ms: float


def query_latency(
    index: Any,
    queries: np.ndarray,
    k: int,
    *,
    latency_queries: int = LATENCY_QUERIES,
    rounds: int = LATENCY_ROUNDS,
) -> Latency:
    """Time single-query searches; the tail is taken over each query's best of `rounds`.

    Up to `latency_queries` queries (cycling through `queries` when there are fewer) are
    each searched once per round, rounds one after another. A query slowed by another
    process (preempted, cache evicted) is slow in one round, not in all: the best of
    `rounds` keeps the index's own tail (queries that are slow every time) and drops the
    neighbours' noise, so the p99 holds on a busy shared runner. `p99_single_ms` is the
    plain p99 of the first round, for comparison.
    """
    if len(queries) == 0 or latency_queries <= 0:
        return Latency(0.0, 0.0, 0.0)
    sample = queries[np.arange(latency_queries) % len(queries)]
    timings = np.empty((rounds, len(sample)))
    clock = time.perf_counter
    for round_ in range(rounds):
        row = timings[round_]
        for position, query in enumerate(sample):
            t0 = clock()
            index.search(query, k)
            row[position] = clock() - t0
    best = timings.min(axis=0) * 1000
    p50, p99 = np.percentile(best, [50, 99])
    single = float(np.percentile(timings[0] * 1000, 99))
    return Latency(round(float(p50), 4), round(float(p99), 4), round(single, 4))


def measure(
    index: Any,
    keys: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    metric: str,
    build_seconds: float,
    size_bytes: int,
    latency_queries: int = LATENCY_QUERIES,
    truth: np.ndarray | None = None,
) -> IndexMeasurement:
    """Recall@10 against exact search, single-query latency (see `query_latency`), batch QPS.

    Recall is measured on `recall_subset(queries)`; `truth` is the exact search's positions
    for exactly those queries (at least 10 deep), or None to search here.
    """
    queries = recall_subset(queries)
    k = min(10, len(vectors))
    if truth is None:
        truth, _ = exact_topk(vectors, queries, k, metric, desc="ground truth")
    truth_keys = keys[truth[:, :k]]
    started = time.perf_counter()
    found, _ = search_index(index, queries, k)
    batch_seconds = time.perf_counter() - started
    recall = recall_at_k(found, truth_keys)
    latency = query_latency(index, queries, k, latency_queries=latency_queries)
    return IndexMeasurement(
        recall_at_10=round(recall, 6),
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
        p99_single_ms=latency.p99_single_ms,
        batch_qps=round(len(queries) / batch_seconds, 1) if batch_seconds > 0 else 0.0,
        build_seconds=round(build_seconds, 4),
        size_bytes=size_bytes,
        vectors=len(vectors),
        dimensions=int(vectors.shape[1]) if vectors.ndim == 2 else 0,
        queries=len(queries),
    )
