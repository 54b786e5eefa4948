"""usearch vs hnswlib probe: same vectors, queries, graph settings; threads and per-call cost.

`python -m scripts.bench.usearch_probe` (needs the bench group: hnswlib). Prints one line
per setting; see docs/bench/usearch.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from pipelines.index import exact_topk, recall_at_k

N, QUERIES, K = 20_000, 1_000, 10


def _median_seconds(fn: Callable[[], Any], repeats: int = 5) -> tuple[Any, float]:
    timings, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        timings.append(time.perf_counter() - started)
    return result, float(np.median(timings))


def main() -> None:
    """Build both on one thread, then search at a few expansions, threads and call shapes."""
    import hnswlib
    from usearch.index import Index

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((32, 64)).astype(np.float32)
    base = centres[rng.integers(0, 32, N)] + 0.7 * rng.standard_normal((N, 64))
    base = (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)
    queries = base[rng.integers(0, N, size=(QUERIES, 20))].sum(axis=1).astype(np.float32)
    truth, _ = exact_topk(base, queries, K, "ip")

    def line(name: str, keys: Any, seconds: float) -> None:
        recall = recall_at_k(np.asarray(keys).astype(np.int64), truth) if keys is not None else 0
        print(f"{name}: recall@10 {recall:.4f}, {QUERIES / seconds:,.0f} QPS", flush=True)

    for dtype in ("f32", "f16"):
        index: Any = Index(ndim=64, metric="ip", dtype=dtype, connectivity=16, expansion_add=128)
        started = time.perf_counter()
        index.add(np.arange(N), base, threads=1)
        print(
            f"usearch {dtype} ({index.hardware_acceleration}): build on one thread "
            f"{time.perf_counter() - started:.2f} s",
            flush=True,
        )
        for ef in (16, 32, 64):
            index.expansion_search = ef
            for threads in (1, 0):
                found, seconds = _median_seconds(
                    lambda t=threads, ix=index: ix.search(queries, K, threads=t)
                )
                line(f"usearch {dtype} ef={ef} threads={threads or 'all'}", found.keys, seconds)
        index.expansion_search = 32
        _, seconds = _median_seconds(lambda ix=index: [ix.search(q, K) for q in queries], 3)
        line(f"usearch {dtype} ef=32 one call per query", None, seconds)

    graph: Any = hnswlib.Index(space="ip", dim=64)
    graph.init_index(max_elements=N, M=16, ef_construction=128, random_seed=0)
    started = time.perf_counter()
    graph.add_items(base, np.arange(N), num_threads=1)
    print(f"hnswlib: build on one thread {time.perf_counter() - started:.2f} s", flush=True)
    for ef in (16, 32, 64):
        graph.set_ef(ef)
        for threads in (1, -1):
            (labels, _), seconds = _median_seconds(
                lambda t=threads: graph.knn_query(queries, k=K, num_threads=t)
            )
            line(f"hnswlib ef={ef} threads={'all' if threads == -1 else 1}", labels, seconds)
    graph.set_ef(32)
    _, seconds = _median_seconds(
        lambda: [graph.knn_query(q, k=K, num_threads=1) for q in queries], 3
    )
    line("hnswlib ef=32 one call per query", None, seconds)


if __name__ == "__main__":
    main()
