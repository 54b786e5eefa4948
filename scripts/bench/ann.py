"""The index comparison: usearch (the spec's settings and tuned) against faiss HNSW, hnswlib
and exact brute force, on the same item vectors and holdout queries.

Each library is built once with all cores, then swept over its search-time setting
(usearch expansion_search, faiss efSearch, hnswlib ef); the QPS-recall Pareto front is what
gets compared, at equal recall. Memory is the serialized index size. faiss and hnswlib are
optional: without them only usearch and exact search are measured.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.index import IndexSettings, build_index, exact_topk, recall_at_k, search_index
from pipelines.tune import tune

EFS = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384)
EFS_QUICK = (16, 64, 256)
K = 10
QUERIES = 2_000
SINGLE_QUERIES = 200
TARGET = 0.95


def available() -> dict[str, bool]:
    """Which optional competitors are installed."""
    return {name: importlib.util.find_spec(name) is not None for name in ("faiss", "hnswlib")}


def compare(
    vectors: np.ndarray,
    queries: np.ndarray,
    metric: str,
    spec_settings: IndexSettings,
    efs: tuple[int, ...] = EFS,
) -> dict[str, Any]:
    """Every library's build, memory and front; the tuned usearch settings."""
    rng = np.random.default_rng(0)
    if len(queries) > QUERIES:
        queries = queries[np.sort(rng.choice(len(queries), QUERIES, replace=False))]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    keys = np.arange(len(vectors), dtype=np.int64)
    started = time.perf_counter()
    truth, _ = exact_topk(vectors, queries, K, metric)
    exact_seconds = time.perf_counter() - started
    single = queries[:SINGLE_QUERIES]
    t0 = time.perf_counter()
    for q in single:
        exact_topk(vectors, q[None, :], K, metric)
    exact_single = len(single) / (time.perf_counter() - t0)
    results: dict[str, Any] = {
        "vectors": len(vectors),
        "dimensions": int(vectors.shape[1]),
        "queries": len(queries),
        "metric": metric,
        "libraries": {
            "exact": {
                "settings": "BLAS matrix product + argpartition",
                "build_seconds": 0.0,
                "bytes": int(vectors.nbytes),
                "front": [
                    {
                        "param": 0,
                        "recall_at_10": 1.0,
                        "batch_qps": round(len(queries) / exact_seconds, 1),
                    }
                ],
                "single_qps": round(exact_single, 1),
            }
        },
    }
    libs = results["libraries"]
    libs["usearch (spec)"] = _usearch(keys, vectors, queries, truth, spec_settings, efs)
    tuned, report = tune(spec_settings, keys, vectors, queries, TARGET, max_build_seconds=600.0)
    libs["usearch (tuned)"] = _usearch(keys, vectors, queries, truth, tuned, efs)
    libs["usearch (tuned)"]["tuning"] = {k: report[k] for k in ("chosen", "met", "seconds")}
    have = available()
    if have["faiss"]:
        libs["faiss HNSW"] = _faiss(vectors, queries, truth, metric, efs)
    if have["hnswlib"]:
        libs["hnswlib"] = _hnswlib(vectors, queries, truth, metric, efs)
    for entry in libs.values():
        entry["front"] = pareto(entry["front"])
        entry["qps_at_target"] = qps_at(entry["front"], TARGET)
    return results


def pareto(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points not beaten on both recall and QPS, by increasing recall."""
    ordered = sorted(points, key=lambda p: (-p["recall_at_10"], -p["batch_qps"]))
    front, best_qps = [], -1.0
    for point in ordered:
        if point["batch_qps"] > best_qps:
            front.append(point)
            best_qps = point["batch_qps"]
    return sorted(front, key=lambda p: p["recall_at_10"])


def qps_at(front: list[dict[str, Any]], recall: float) -> float | None:
    """The best batch QPS among points reaching `recall` (None when none does)."""
    qps = [p["batch_qps"] for p in front if p["recall_at_10"] >= recall]
    return max(qps) if qps else None


def _sweep(
    search: Callable[[np.ndarray], np.ndarray],
    set_param: Callable[[int], None],
    queries: np.ndarray,
    truth: np.ndarray,
    efs: tuple[int, ...],
) -> tuple[list[dict[str, Any]], float]:
    """Batch recall/QPS per search setting; single-query QPS at the first reaching TARGET."""
    points = []
    single_param = efs[-1]
    for ef in efs:
        set_param(ef)
        timings = []
        found = np.empty(0)
        for _ in range(3):
            t0 = time.perf_counter()
            found = search(queries)
            timings.append(time.perf_counter() - t0)
        recall = recall_at_k(found, truth)
        points.append(
            {
                "param": ef,
                "recall_at_10": round(recall, 5),
                "batch_qps": round(len(queries) / float(np.median(timings)), 1),
            }
        )
        if recall >= TARGET and single_param == efs[-1]:
            single_param = ef
    set_param(single_param)
    single = queries[:SINGLE_QUERIES]
    t0 = time.perf_counter()
    for q in single:
        search(q[None, :])
    return points, len(single) / (time.perf_counter() - t0)


def _usearch(
    keys: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    settings: IndexSettings,
    efs: tuple[int, ...],
) -> dict[str, Any]:
    t0 = time.perf_counter()
    index = build_index(keys, vectors, settings)
    build = time.perf_counter() - t0

    def set_ef(ef: int) -> None:
        index.expansion_search = ef

    def search(q: np.ndarray) -> np.ndarray:
        return search_index(index, q, K)[0]

    points, single = _sweep(search, set_ef, queries, truth, efs)
    return {
        "settings": f"{settings.dtype} connectivity={settings.connectivity} "
        f"expansion_add={settings.expansion_add}",
        "build_seconds": round(build, 3),
        "bytes": int(index.serialized_length),
        "front": points,
        "single_qps": round(single, 1),
    }


def _faiss(
    vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, metric: str, efs: tuple[int, ...]
) -> dict[str, Any]:
    import faiss

    data = _unit(vectors) if metric == "cos" else vectors
    kind = faiss.METRIC_L2 if metric == "l2sq" else faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexHNSWFlat(vectors.shape[1], 16, kind)
    t0 = time.perf_counter()
    index.add(data)
    build = time.perf_counter() - t0

    def set_ef(ef: int) -> None:
        index.hnsw.efSearch = ef

    def search(q: np.ndarray) -> np.ndarray:
        return index.search(_unit(q) if metric == "cos" else q, K)[1]

    points, single = _sweep(search, set_ef, queries, truth, efs)
    return {
        "settings": f"M=16 efConstruction={index.hnsw.efConstruction}",
        "build_seconds": round(build, 3),
        "bytes": int(faiss.serialize_index(index).nbytes),
        "front": points,
        "single_qps": round(single, 1),
    }


def _hnswlib(
    vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, metric: str, efs: tuple[int, ...]
) -> dict[str, Any]:
    import hnswlib

    space = {"cos": "cosine", "ip": "ip", "l2sq": "l2"}[metric]
    index = hnswlib.Index(space=space, dim=vectors.shape[1])
    t0 = time.perf_counter()
    index.init_index(max_elements=len(vectors), M=16, ef_construction=200, random_seed=0)
    index.add_items(vectors, np.arange(len(vectors)), num_threads=os.cpu_count() or 1)
    build = time.perf_counter() - t0

    def set_ef(ef: int) -> None:
        index.set_ef(max(ef, K))

    def search(q: np.ndarray) -> np.ndarray:
        return index.knn_query(q, k=K, num_threads=-1 if len(q) > 1 else 1)[0].astype(np.int64)

    points, single = _sweep(search, set_ef, queries, truth, efs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.bin"
        index.save_index(str(path))
        size = path.stat().st_size
    return {
        "settings": "M=16 ef_construction=200",
        "build_seconds": round(build, 3),
        "bytes": int(size),
        "front": points,
        "single_qps": round(single, 1),
    }


def _unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
