"""Index tuner: the usearch settings with the highest QPS that meet a recall target.

A bounded search in two stages. First every dtype is tried on the cheapest graph
(connectivity, expansion_add) of `BUILD_CONFIGS`; then its other graphs are tried in the
fastest dtype. Each built index is swept over `expansion_search` in ascending order until
recall@10 meets the target. Large catalogues are tuned on a fixed random sample of vectors,
with a small recall margin because HNSW recall drops slowly as the graph grows.

The choice is the feasible candidate with the highest measured batch QPS (median of
repeats). Candidates within `QPS_TIE` of the fastest count as equal: the smallest dtype
wins, then the fewest distances computed per query, then the fixed order. Distances per
query alone is a poor proxy across graphs: on the bench's 83k item vectors the graph
computing the fewest (connectivity 8, expansion_add 64) was 0.6-0.7x as fast at recall
0.95 as connectivity 12-16 with expansion_add 200, which walks fewer, better hops (on
its 830k vectors the richer graph was only a few percent faster).

Determinism: the sample, the query subset and the candidate order are fixed, and tuning
builds are single-threaded, so the graphs, every recall figure and the distances computed
per query are reproducible. What rests on measured time is the dtype of the second stage
and the final choice (settled towards smaller, cheaper indexes at near-ties), and the
build-budget check. Build times are estimated for the full catalogue from the sample and
must fit `max_build_seconds`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from tqdm import tqdm

from pipelines.index import IndexSettings, build_index, exact_topk, recall_at_k

log = logging.getLogger(__name__)

# (connectivity, expansion_add), cheapest builds first: the first one compares the dtypes.
# Graphs built with expansion_add 200 (hnswlib's default ef_construction) searched fastest
# at recall 0.95 on the bench's item vectors; connectivity 32 was the slowest there.
BUILD_CONFIGS: tuple[tuple[int, int], ...] = ((8, 64), (16, 64), (16, 128), (12, 200), (16, 200))
DTYPES: tuple[str, ...] = ("f32", "f16", "bf16", "i8")
DTYPE_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "i8": 1}
EXPANSION_SEARCH: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
SAMPLE_VECTORS = 50_000
SAMPLE_QUERIES = 1_000
SAMPLED_RECALL_MARGIN = 0.01  # required on top of the target when tuning on a sample
QPS_TIE = 0.10
QPS_REPEATS = 3
K = 10


@dataclass(frozen=True)
class Candidate:
    """One built configuration at the smallest expansion_search that met the target."""

    dtype: str
    connectivity: int
    expansion_add: int
    build_seconds: float
    full_build_seconds: float
    expansion_search: int | None
    recall_at_10: float
    batch_qps: float
    distances_per_query: float
    within_budget: bool
    feasible: bool


@dataclass(frozen=True)
class SweepPoint:
    """Recall and speed of one index at one expansion_search."""

    expansion_search: int
    recall_at_10: float
    batch_qps: float
    distances_per_query: float


def tune_for_spec(
    index_spec: Any, keys: np.ndarray, vectors: np.ndarray, queries: np.ndarray
) -> tuple[IndexSettings, dict[str, Any]]:
    """Tune for a spec's `index:` section (`tune: true` or a TuneSpec)."""
    options = index_spec.tune
    max_build = float(getattr(options, "max_build_seconds", 60.0))
    explicit = getattr(options, "target_recall_at_10", None)
    target = float(explicit if explicit is not None else index_spec.gate.min_recall_at_10)
    base = IndexSettings(
        metric=index_spec.metric,
        dtype=index_spec.dtype,
        connectivity=index_spec.connectivity,
        expansion_add=index_spec.expansion_add,
        expansion_search=index_spec.expansion_search,
    )
    return tune(base, keys, vectors, queries, target, max_build)


@dataclass(frozen=True)
class _Problem:
    """What the tuner measures on: a sample of the vectors, queries and their exact top-k."""

    keys: np.ndarray
    vectors: np.ndarray
    queries: np.ndarray
    truth: np.ndarray
    required: float  # recall@10 the sample must reach (a margin above target when sampled)


def tune(
    base: IndexSettings,
    keys: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    target_recall: float,
    max_build_seconds: float,
    sample_vectors: int = SAMPLE_VECTORS,
    sample_queries: int = SAMPLE_QUERIES,
    seed: int = 0,
) -> tuple[IndexSettings, dict[str, Any]]:
    """The fastest settings meeting `target_recall` within the build budget, and a report."""
    started = time.perf_counter()
    problem = _sample_problem(
        base, keys, vectors, queries, target_recall, sample_vectors, sample_queries, seed
    )
    candidates = _try_all(
        base, problem, _build_scale(len(problem.vectors), len(vectors)), max_build_seconds
    )
    chosen = _choose(candidates)
    met = chosen is not None
    if chosen is None:
        chosen = _most_accurate(candidates)
        log.warning(
            "tune: no settings reach recall@10 %.3f within %.0fs of build; using the most "
            "accurate tried (recall %.4f)",
            problem.required,
            max_build_seconds,
            chosen.recall_at_10,
        )
    settings = IndexSettings(
        metric=base.metric,
        dtype=chosen.dtype,
        connectivity=chosen.connectivity,
        expansion_add=chosen.expansion_add,
        expansion_search=chosen.expansion_search or EXPANSION_SEARCH[-1],
    )
    seconds = time.perf_counter() - started
    log.info(
        "tune: %s/%d/%d ef=%d: recall@10 %.4f at %.0f QPS on %d of %d vectors (%d builds, %.1fs)",
        settings.dtype,
        settings.connectivity,
        settings.expansion_add,
        settings.expansion_search,
        chosen.recall_at_10,
        chosen.batch_qps,
        len(problem.vectors),
        len(vectors),
        len(candidates),
        seconds,
    )
    report = {
        "target_recall_at_10": target_recall,
        "required_on_sample": round(problem.required, 6),
        "max_build_seconds": max_build_seconds,
        "met": met,
        "vectors": len(vectors),
        "sample_vectors": len(problem.vectors),
        "sample_queries": len(problem.queries),
        "seconds": round(seconds, 3),
        "chosen": asdict(settings),
        "candidates": [asdict(c) for c in candidates],
    }
    return settings, report


def _sample_problem(
    base: IndexSettings,
    keys: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    target_recall: float,
    sample_vectors: int,
    sample_queries: int,
    seed: int,
) -> _Problem:
    """A seeded sample of vectors and queries, and the sample's exact top-k."""
    rng = np.random.default_rng(seed)
    full = len(vectors)
    if full > sample_vectors:
        rows = np.sort(rng.choice(full, size=sample_vectors, replace=False))
        sample_keys, sample = keys[rows], vectors[rows]
        required = min(target_recall + SAMPLED_RECALL_MARGIN, 0.999)
    else:
        sample_keys, sample, required = keys, vectors, target_recall
    if len(queries) > sample_queries:
        queries = queries[np.sort(rng.choice(len(queries), size=sample_queries, replace=False))]
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    truth_pos, _ = exact_topk(sample, queries, K, base.metric, desc="tune ground truth")
    return _Problem(sample_keys, sample, queries, sample_keys[truth_pos], required)


def _try_all(
    base: IndexSettings, problem: _Problem, scale: float, max_build_seconds: float
) -> list[Candidate]:
    """Every dtype on the cheapest graph, then the other graphs in the fastest dtype."""
    dtypes = (base.dtype, *(d for d in DTYPES if d != base.dtype))
    (first_c, first_e), *graphs = BUILD_CONFIGS

    def attempt(settings: IndexSettings) -> Candidate:
        return _try(
            settings,
            problem.keys,
            problem.vectors,
            problem.queries,
            problem.truth,
            problem.required,
            scale,
            max_build_seconds,
        )

    candidates: list[Candidate] = []
    quiet = len(problem.vectors) < 20_000
    with tqdm(total=len(dtypes) + len(graphs), desc="tune", unit="build", disable=quiet) as bar:
        for dtype in dtypes:
            settings = replace(base, dtype=dtype, connectivity=first_c, expansion_add=first_e)
            candidates.append(attempt(settings))
            bar.update()
        dtype = (_choose(candidates) or _most_accurate(candidates)).dtype
        for connectivity, expansion_add in graphs:
            settings = replace(
                base, dtype=dtype, connectivity=connectivity, expansion_add=expansion_add
            )
            candidates.append(attempt(settings))
            bar.update()
    return candidates


def sweep(
    index: Any,
    queries: np.ndarray,
    truth: np.ndarray,
    values: tuple[int, ...] = EXPANSION_SEARCH,
    stop_at: float | None = None,
    repeats: int = QPS_REPEATS,
) -> list[SweepPoint]:
    """Recall@10 and batch QPS of `index` at each expansion_search (ascending).

    With `stop_at`, stops after the first value whose recall reaches it.
    """
    points = []
    for value in values:
        index.expansion_search = value
        found, seconds = _timed_search(index, queries, repeats)
        recall = recall_at_k(found, truth)
        work = float(index.search(queries, K).computed_distances) / max(1, len(queries))
        points.append(
            SweepPoint(value, round(recall, 6), round(len(queries) / seconds, 1), round(work, 2))
        )
        if stop_at is not None and recall >= stop_at:
            break
    return points


def _try(
    settings: IndexSettings,
    keys: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    required: float,
    scale: float,
    max_build_seconds: float,
) -> Candidate:
    started = time.perf_counter()
    index = build_index(keys, vectors, settings, threads=1, progress=False)
    build_seconds = time.perf_counter() - started
    full_build = build_seconds * scale
    within_budget = full_build <= max_build_seconds
    points = sweep(index, queries, truth, stop_at=required)
    hit = points[-1] if points[-1].recall_at_10 >= required else None
    best = hit or max(points, key=lambda p: p.recall_at_10)
    candidate = Candidate(
        dtype=settings.dtype,
        connectivity=settings.connectivity,
        expansion_add=settings.expansion_add,
        build_seconds=round(build_seconds, 4),
        full_build_seconds=round(full_build, 3),
        expansion_search=best.expansion_search,
        recall_at_10=best.recall_at_10,
        batch_qps=best.batch_qps,
        distances_per_query=best.distances_per_query,
        within_budget=within_budget,
        feasible=hit is not None and within_budget,
    )
    log.debug("tune: %s", candidate)
    return candidate


def _choose(candidates: list[Candidate]) -> Candidate | None:
    """The fastest feasible candidate by measured batch QPS.

    Near-ties (within `QPS_TIE` of the fastest) go to the smallest index (f16 over f32:
    half the memory, a faster build), then to the fewest distances per query (exact), then
    to the earliest tried: timing noise can only move the choice between candidates that
    measured as fast as each other.
    """
    feasible = [c for c in candidates if c.feasible]
    if not feasible:
        return None
    fastest = max(c.batch_qps for c in feasible)
    near = [c for c in feasible if c.batch_qps >= fastest * (1 - QPS_TIE)]
    # min() keeps the first of equals
    return min(near, key=lambda c: (DTYPE_BYTES[c.dtype], c.distances_per_query))


def _most_accurate(candidates: list[Candidate]) -> Candidate:
    """Fallback: the best recall within the build budget (or overall when none fits)."""
    within = [c for c in candidates if c.within_budget] or candidates
    return max(within, key=lambda c: (c.recall_at_10, c.batch_qps))


def _build_scale(sample: int, full: int) -> float:
    """Estimated full/sample build time from n log n growth. The sample is built on one
    thread and no core count enters: it scales a single-thread build."""
    if sample >= full or sample < 2:
        return 1.0
    return (full / sample) * (math.log2(full) / math.log2(sample))


def _timed_search(index: Any, queries: np.ndarray, repeats: int) -> tuple[np.ndarray, float]:
    from pipelines.index import search_index

    timings = []
    found = np.empty((0, 0), np.int64)
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        found, _ = search_index(index, queries, K)
        timings.append(time.perf_counter() - started)
    return found, max(float(np.median(timings)), 1e-9)
