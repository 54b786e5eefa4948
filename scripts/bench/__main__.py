"""`python -m scripts.bench [--sizes 10000 100000 1000000] [--out docs/bench]`."""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from scripts.bench import ann, budgets, pipeline, report
from scripts.bench.data import REPO, make_workspace

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print the markdown and write the outputs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of fixed-cost runs")
    parser.add_argument("--tiny-items", type=int, default=500, help="items of the fixed-cost data")
    parser.add_argument(
        "--steps-up-to",
        type=int,
        default=1_000_000,
        help="run each step in its own process only up to this many items",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: one repeat, no per-step processes, a short index sweep",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="only rewrite the tables and plots of an earlier results.json",
    )
    args = parser.parse_args(argv)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
        results["budgets"] = budgets.evaluate(results)
        report.write(results, args.out)
        print(report.markdown(results))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-"))
    started = time.perf_counter()
    print(f"bench: workspaces under {work}", flush=True)

    tiny = make_workspace(work / "tiny", args.tiny_items, users=300)
    print("bench: fixed cost (tiny data) ...", flush=True)
    repeats = 1 if args.quick else args.repeats
    fixed = pipeline.fixed_cost(
        tiny, repeats=repeats, further=1 if args.quick else 3, warm_up=not args.quick
    )

    sizes = []
    for items in sorted(args.sizes):
        print(f"bench: {items:,} items: data ...", flush=True)
        ws = make_workspace(work / str(items), items)
        print(f"bench: {items:,} items: bare computation ...", flush=True)
        npz = ws.root / "vectors.npz"
        bare = pipeline.bare(ws, npz)
        print(f"bench: {items:,} items: pipelines run ...", flush=True)
        whole = pipeline.whole_run(ws)
        steps = {}
        if not args.quick and items <= args.steps_up_to:
            print(f"bench: {items:,} items: steps one process each ...", flush=True)
            steps = pipeline.per_step(ws)
        print(f"bench: {items:,} items: index comparison ...", flush=True)
        from pipelines.spec import load_spec
        from pipelines.state import ModelState
        from pipelines.steps.build_index import settings_from_spec

        settings = settings_from_spec(ModelState(load_spec(ws.spec()), ws.root / "scratch"))
        with np.load(npz) as arrays:
            compared = ann.compare(
                arrays["vectors"],
                arrays["queries"],
                settings.metric,
                settings,
                efs=ann.EFS_QUICK if args.quick else ann.EFS,
            )
        sizes.append(
            {
                "nominal_items": items,
                "items": ws.items,
                "rows": ws.rows,
                "users": ws.users,
                "bare": bare,
                "run": whole,
                "steps": steps,
                "ann": compared,
            }
        )
    results = {
        "command": "nox -s bench -- --sizes "
        + " ".join(str(s) for s in sorted(args.sizes))
        + (f" --steps-up-to {args.steps_up_to}" if args.steps_up_to < max(args.sizes) else "")
        + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "seconds": round(time.perf_counter() - started, 1),
        "optional": ann.available(),
        "fixed_cost": fixed,
        "sizes": sizes,
    }
    results["budgets"] = budgets.evaluate(results)
    report.write(results, args.out)
    print(report.markdown(results))
    print(f"bench: wrote {args.out} in {results['seconds']:.0f}s")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
