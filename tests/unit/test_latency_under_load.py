"""The index latency gate holds on a busy shared runner.

A busy-loop process (bounded in time) holds another core at 100% while the gate's latency
statistic is taken again and again on an index the size of the retrieval example, against
the examples' bound of 5 ms. At most 1% of the trials may fail. The plain p99 of 200
single timings, the statistic the gate used before, is measured in the first trials for
comparison and logged, not asserted.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from pipelines.index import IndexSettings, build_index, query_latency

log = logging.getLogger(__name__)

BOUND_MS = 5.0  # max_p99_ms of the example specs
TRIALS = 300
BUSY_SECONDS = 900  # upper bound on the life of each busy-loop process (a loaded runner
# takes several minutes for the trials: at 120 s the loop ended first under a load of 10)


def spawn_busy_loop() -> subprocess.Popen[bytes]:
    """A process spinning for at most BUSY_SECONDS, pinned to the last core when it can be."""
    loop = (
        f"import time\nend = time.monotonic() + {BUSY_SECONDS}\n"
        "while time.monotonic() < end:\n    pass\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", loop])
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) > 1:
        os.sched_setaffinity(proc.pid, {cores[-1]})
    return proc


@pytest.fixture
def busy_cpu() -> Iterator[subprocess.Popen[bytes]]:
    """A busy-loop process on another core, ended when the test ends."""
    proc = spawn_busy_loop()
    time.sleep(0.2)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def false_failure_rates(trials: int, old_trials: int) -> tuple[float, float, float]:
    """(gate statistic failure rate, old statistic failure rate over the first `old_trials`,
    worst gated p99 in ms)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(1500, 8)).astype(np.float32)
    queries = rng.normal(size=(2600, 8)).astype(np.float32)
    index = build_index(np.arange(1500), vectors, IndexSettings(metric="ip"), threads=1)
    gated = np.empty(trials)
    single = np.empty(old_trials)
    for trial in range(trials):
        gated[trial] = query_latency(index, queries, 10).p99_ms
        if trial < old_trials:
            old = query_latency(index, queries, 10, latency_queries=200, rounds=1)
            single[trial] = old.p99_single_ms
    return float((gated > BOUND_MS).mean()), float((single > BOUND_MS).mean()), float(gated.max())


@pytest.mark.slow
def test_latency_gate_false_failures_under_a_busy_cpu(
    busy_cpu: subprocess.Popen[bytes],
) -> None:
    started = time.monotonic()
    rate, old_rate, worst = false_failure_rates(TRIALS, old_trials=50)
    assert busy_cpu.poll() is None, "the busy loop ended before the measurement did"
    log.warning(
        "latency beside a busy core, %d trials in %.0f s: gate p99 > %g ms in %.2f%% "
        "(worst %.3f ms); plain p99 of 200 queries in %.2f%% of 50",
        TRIALS,
        time.monotonic() - started,
        BOUND_MS,
        100 * rate,
        worst,
        100 * old_rate,
    )
    assert rate <= 0.01, f"{rate:.1%} false failures (worst p99 {worst:.3f} ms)"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=TRIALS)
    trials = parser.parse_args().trials
    busy = spawn_busy_loop()
    try:
        rate, old_rate, worst = false_failure_rates(trials, old_trials=trials)
    finally:
        busy.kill()
        busy.wait()
    print(
        f"beside a busy core, {trials} trials: gate {rate:.2%} false failures "
        f"(worst p99 {worst:.3f} ms); plain p99 of 200 queries {old_rate:.2%}"
    )
