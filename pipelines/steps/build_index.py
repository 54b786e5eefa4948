"""`build-index`: usearch index over the model's vectors; recall, latency, size; the gate."""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from pipelines.contracts import EXACT_FILE, INDEX_FILE, IndexCheck, IndexMeasured, IndexReport
from pipelines.errors import EXIT_GATE_FAILED, EXIT_OK
from pipelines.evalsample import sample_holdout
from pipelines.index import IndexSettings, build_index, keep_exact, measure, recall_subset
from pipelines.state import ModelState

log = logging.getLogger("pipelines")
KEPT_FILE_MAX_BYTES = 256 << 20  # the kept exact search is written only up to this size


def settings_from_spec(state: ModelState) -> IndexSettings:
    """The spec's index settings (before any tuning)."""
    spec = state.spec.index
    return IndexSettings(
        metric=spec.metric,
        dtype=spec.dtype,
        connectivity=spec.connectivity,
        expansion_add=spec.expansion_add,
        expansion_search=spec.expansion_search,
    )


def build(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Build, save, measure and gate the index; exit 1 when the gate fails.

    Queries are those of the units evaluate scores (its sample above
    `evaluation.max_units`). Where the task says how deep evaluate searches them exactly
    (`exact_queries`), the ground truth is searched that deep once and kept in the run
    directory, and evaluate answers from it instead of searching again.
    """
    bundle = state.bundle()
    keys, vectors = state.task.index_vectors(bundle)
    queries, truth = _queries_and_truth(state, vectors)
    settings = settings_from_spec(state)
    tuning: dict[str, Any] | None = None
    if state.spec.index.tune:
        from pipelines.tune import tune_for_spec

        settings, tuning = tune_for_spec(state.spec.index, keys, vectors, queries)
    started = time.perf_counter()
    threads = 1 if state.spec.index.reproducible else 0
    index = build_index(keys, vectors, settings, threads=threads)
    build_seconds = time.perf_counter() - started
    path = state.run.file(INDEX_FILE)
    index.save(str(path))
    measured = measure(
        index,
        keys,
        vectors,
        queries,
        settings.metric,
        build_seconds,
        path.stat().st_size,
        truth=truth,
    )
    gate = state.spec.index.gate
    checks = [
        IndexCheck(
            name="recall_at_10",
            value=measured.recall_at_10,
            bound=f">= {gate.min_recall_at_10:g}",
            passed=measured.recall_at_10 >= gate.min_recall_at_10,
        ),
        IndexCheck(
            name="p99_ms",
            value=measured.p99_ms,
            bound=f"<= {gate.max_p99_ms:g}",
            passed=measured.p99_ms <= gate.max_p99_ms,
        ),
    ]
    passed = all(c.passed for c in checks)
    state.run.write(
        IndexReport(
            settings=asdict(settings),
            measured=IndexMeasured.model_validate(measured.as_dict()),
            gate=checks,
            passed=passed,
            tuning=tuning,
        )
    )
    state.index = index
    log.info(
        "%s: index of %d vectors, recall@10 %.4f, p99 %.3f ms, %d bytes: gate %s",
        state.spec.name,
        measured.vectors,
        measured.recall_at_10,
        measured.p99_ms,
        measured.size_bytes,
        "passed" if passed else "FAILED",
    )
    return EXIT_OK if passed else EXIT_GATE_FAILED


def _queries_and_truth(
    state: ModelState, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """The queries of the units evaluate scores, and the kept exact search's positions for
    the recall subset of them (None when the task does not say how deep evaluate searches).
    """
    frame, holdout = state.data().frame, state.split()
    sample = sample_holdout(state.spec, frame, holdout)
    scored = sample.split if sample is not None else holdout
    exact_queries = getattr(state.task, "exact_queries", None)
    if exact_queries is None:
        return state.task.queries(state.bundle(), frame, scored), None
    queries, depth = exact_queries(state.bundle(), frame, scored)
    subset = recall_subset(queries)
    if len(subset) == 0:
        return queries, None
    kept = keep_exact(vectors, subset, max(depth, 10), state.spec.index.metric, "ground truth")
    state.exact = kept
    size = kept.positions.size * 4 + kept.similarity.nbytes  # positions are saved as int32
    if size <= KEPT_FILE_MAX_BYTES:
        kept.save(state.run.file(EXACT_FILE))
    else:  # users with very long histories: a step run alone searches again
        log.info("%s: exact search of %d bytes not kept on disk", state.spec.name, size)
    return queries, kept.positions
