"""One promoter process of the lock test: take the promotion lock over and over.

Usage: python lock_worker.py MODEL ROUNDS MARKER_DIR DIRECT_URI WORKER_ID (MLFLOW_TRACKING_URI
points at the slow proxy). While holding, it creates MARKER_DIR/held with O_EXCL: a second
holder at the same time finds the file there (an overlap). Before releasing, it reads the
lock straight from the server (DIRECT_URI) and checks the holder is still itself (else
somebody removed or replaced a lock that was not theirs). Prints one JSON line of counts.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipelines.errors import PromotionConflict
from pipelines.registry import TAG_LOCK_HOLDER, Registry, lock_model_name


def main() -> None:
    """Run the rounds and print the counts."""
    model, rounds, marker_dir, direct_uri, worker = sys.argv[1:6]
    marker = Path(marker_dir) / "held"
    registry = Registry(Path.cwd(), "lock-test/")
    direct = MlflowClient(tracking_uri=direct_uri, registry_uri=direct_uri)
    rng = random.Random(int(worker))
    counts = {"held": 0, "conflicts": 0, "overlaps": 0, "foreign": 0, "intervals": []}
    for _ in range(int(rounds)):
        try:
            with registry.promotion_lock(model, f"worker {worker}") as lock:
                start = time.time()
                try:
                    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    os.close(fd)
                except FileExistsError:
                    counts["overlaps"] += 1
                    continue
                counts["held"] += 1
                time.sleep(rng.uniform(0.05, 0.3))
                try:
                    tags = direct.get_registered_model(lock_model_name(model)).tags
                    holder = json.loads(tags.get(TAG_LOCK_HOLDER, "{}"))
                except Exception:  # removed under us: a foreign release
                    holder = {}
                if lock.holder is None or holder.get("token") != lock.holder.token:
                    counts["foreign"] += 1
                marker.unlink()
                counts["intervals"].append([start, time.time()])  # type: ignore[union-attr]
        except PromotionConflict:
            counts["conflicts"] += 1
        time.sleep(rng.uniform(0.0, 0.2))
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
