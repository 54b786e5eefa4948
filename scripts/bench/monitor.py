"""Monitoring speed: drift of N fresh rows against a stored profile, as a ratio to reading
the same CSV with pandas (target <= 2x).

    python -m scripts.bench.monitor [--rows 1000000]

The monitored part is what grows with the fresh batch: loading it as `monitor` does (pin
hash, header and dtype checks, parse) and every feature and id check (PSI per column,
unseen-id shares against the model's id arrays). Scoring the champion is left out: it grows
with the users scored, not the rows, and is measured by the pipeline benchmarks.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.data.profile import profile_frame
from pipelines.monitor.fresh import load_fresh
from pipelines.monitor.score import feature_drift
from pipelines.spec import load_spec
from scripts.bench.data import REPO

log = logging.getLogger("bench.monitor")


def main(argv: list[str] | None = None) -> int:
    """Write a fresh batch of N rows, time pandas alone and the monitoring checks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        repo = Path(tmp)
        shutil.copy(REPO / "pyproject.toml", repo)
        (repo / "model_specs").mkdir()
        (repo / "data" / "fresh").mkdir(parents=True)
        shutil.copy(REPO / "data" / "interactions.csv", repo / "data")
        shutil.copy(REPO / "model_specs" / "item-recs.yaml", repo / "model_specs")
        train = pd.read_csv(repo / "data" / "interactions.csv")
        rng = np.random.default_rng(0)
        fresh = pd.DataFrame(
            {
                "user_id": rng.integers(1, 4000, args.rows),
                "item_id": rng.integers(1001, 3000, args.rows),
                "rating": np.round(rng.uniform(0.5, 5, args.rows) * 2) / 2,
            }
        )
        path = repo / "data" / "fresh" / "interactions-0001.csv"
        fresh.to_csv(path, index=False, float_format="%.1f")
        profile = profile_frame(train)
        known = {"user_id": train["user_id"].unique(), "item_id": train["item_id"].unique()}
        loaded = load_spec(repo / "model_specs" / "item-recs.yaml")
        dtypes = {"user_id": "int64", "item_id": "int64", "rating": "float64"}
        bare, monitored = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            pd.read_csv(path, dtype=dtypes)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            batch = load_fresh(loaded)
            feature_drift(loaded, profile, batch.frame, known)
            monitored.append(time.perf_counter() - started)
    b, m = float(np.median(bare)), float(np.median(monitored))
    log.info(
        "%d rows: pandas read_csv %.2f s, monitoring drift %.2f s, ratio %.2fx (median of %d)",
        args.rows,
        b,
        m,
        m / b,
        args.repeats,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
