"""`python -m scripts.bench.graphs VECTORS.npz`: usearch graphs and dtypes at equal recall.

The table of docs/bench/usearch.md: on the bench's item vectors and holdout queries (the
`vectors.npz` a bench size writes in its workspace; `nox -s bench -- --work DIR`), each
usearch graph (dtype, connectivity, expansion_add) and hnswlib are built with all cores
and swept over the search expansion; prints build seconds and batch QPS at recall@10 >=
0.95, for `--rounds` rounds, so rounds minutes apart show what holds under noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pipelines.index import IndexSettings, exact_topk
from scripts.bench import ann

GRAPHS = (
    ("f16", 8, 64),
    ("f16", 16, 128),
    ("f16", 32, 128),
    ("f32", 16, 200),
    ("f16", 16, 200),
    ("bf16", 16, 200),
    ("bf16", 12, 200),
)
EFS = (16, 20, 24, 28, 32, 40, 48, 64, 96, 128)


def main(argv: list[str] | None = None) -> int:
    """Print one line per index and round."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("npz", type=Path)
    parser.add_argument("--metric", default="ip")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with np.load(args.npz) as arrays:
        vectors = np.ascontiguousarray(arrays["vectors"], np.float32)
        queries = np.ascontiguousarray(arrays["queries"], np.float32)
    rng = np.random.default_rng(0)
    if len(queries) > ann.QUERIES:
        queries = queries[np.sort(rng.choice(len(queries), ann.QUERIES, replace=False))]
    truth, _ = exact_topk(vectors, queries, ann.K, args.metric)
    keys = np.arange(len(vectors), dtype=np.int64)
    print(f"{len(vectors):,} vectors x {vectors.shape[1]}, {len(queries):,} queries")
    for round_ in range(1, args.rounds + 1):
        for dtype, connectivity, expansion_add in GRAPHS:
            settings = IndexSettings(
                metric=args.metric,
                dtype=dtype,
                connectivity=connectivity,
                expansion_add=expansion_add,
            )
            found = ann._usearch(keys, vectors, queries, truth, settings, EFS)
            _line(round_, f"usearch {dtype} {connectivity}/{expansion_add}", found)
        if ann.available()["hnswlib"]:
            found = ann._hnswlib(vectors, queries, truth, args.metric, EFS)
            _line(round_, "hnswlib M16 ef_construction 200", found)
    return 0


def _line(round_: int, name: str, found: dict) -> None:
    qps = ann.qps_at(ann.pareto(found["front"]), ann.TARGET)
    shown = f"{qps:,.0f}" if qps is not None else "not reached"
    print(f"round {round_}: {name}: build {found['build_seconds']:.2f}s, QPS at 0.95 {shown}")


if __name__ == "__main__":
    raise SystemExit(main())
