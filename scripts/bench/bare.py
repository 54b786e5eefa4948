"""The bare computation of one spec, called directly: read, split, fit, index, evaluate.

Run as a subprocess (`python -m scripts.bench.bare SPEC OUT.npz`): imports happen before
the clock starts; prints phase seconds as JSON and saves the item vectors and holdout
queries for the index comparison.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.evalsample import sample_holdout
from pipelines.index import IndexSettings, build_index, search_index
from pipelines.spec import load_spec
from pipelines.spec.estimators import build_estimator
from pipelines.tasks import get_task
from pipelines.tune import tune_for_spec


def main() -> None:
    """Time each phase; write vectors and queries to the npz path given.

    With a third argument `twice`, the computation runs again in the same process and
    `warm_total` reports the second run (what a further model of one `pipelines run` pays).
    """
    spec_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    result = compute(spec_path, out)
    if sys.argv[3:] == ["twice"]:
        result["warm_total"] = compute(spec_path, out)["phases"]["total"]
    print(json.dumps(result))


def compute(spec_path: Path, out: Path) -> dict[str, Any]:
    """One bare computation with its phase seconds."""
    loaded = load_spec(spec_path)
    spec = loaded.spec
    task = get_task(spec.task)
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 4)
        clock = now

    columns = list(spec.data.columns)
    frame = pd.read_csv(loaded.config.root / spec.data.source, usecols=columns)
    lap("read")
    split = task.split(loaded, frame)
    bundle = task.fit(loaded, frame, split, build_estimator(loaded))
    lap("fit")
    keys, vectors = task.index_vectors(bundle)
    settings = IndexSettings(
        metric=spec.index.metric,
        dtype=spec.index.dtype,
        connectivity=spec.index.connectivity,
        expansion_add=spec.index.expansion_add,
        expansion_search=spec.index.expansion_search,
    )
    if spec.index.tune:  # as build-index does
        queries = task.queries(bundle, frame, split)
        settings, _ = tune_for_spec(spec.index, keys, vectors, queries)
    index = build_index(keys, vectors, settings, threads=1 if spec.index.reproducible else 0)
    lap("index")
    sample = sample_holdout(spec, frame, split)  # as evaluate does above evaluation.max_units
    scored = sample.split if sample is not None else split
    task.score(loaded, bundle, frame, scored, lambda q, k: search_index(index, q, k))
    lap("evaluate")
    queries = task.queries(bundle, frame, split)
    np.savez(out, vectors=vectors, queries=queries)
    phases["total"] = round(sum(phases.values()), 4)
    return {"phases": phases, "vectors": len(vectors), "queries": len(queries)}


if __name__ == "__main__":
    main()
