"""`build-index`: usearch index over the model's vectors; recall, latency, size; the gate."""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from typing import Any

from pipelines.contracts import INDEX_FILE, IndexReport
from pipelines.errors import EXIT_GATE_FAILED, EXIT_OK
from pipelines.index import IndexSettings, build_index, measure
from pipelines.state import ModelState

log = logging.getLogger("pipelines")


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
    """Build, save, measure and gate the index; exit 1 when the gate fails."""
    bundle = state.bundle()
    keys, vectors = state.task.index_vectors(bundle)
    queries = state.task.queries(bundle, state.data().frame, state.split())
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
        index, keys, vectors, queries, settings.metric, build_seconds, path.stat().st_size
    )
    gate = state.spec.index.gate
    checks = [
        {
            "name": "recall_at_10",
            "value": measured.recall_at_10,
            "bound": f">= {gate.min_recall_at_10:g}",
            "passed": measured.recall_at_10 >= gate.min_recall_at_10,
        },
        {
            "name": "p99_ms",
            "value": measured.p99_ms,
            "bound": f"<= {gate.max_p99_ms:g}",
            "passed": measured.p99_ms <= gate.max_p99_ms,
        },
    ]
    passed = all(c["passed"] for c in checks)
    state.run.write(
        IndexReport(
            settings=asdict(settings),
            measured=measured.as_dict(),
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
