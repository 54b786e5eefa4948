"""The lean server's Prometheus metrics (prometheus-client).

With `PROMETHEUS_MULTIPROC_DIR` set (as `pipelines serve` sets it, before any worker
starts) every worker writes its counts there and `/metrics` of any worker answers the sum
over all of them; without it, the one process's own counts.
"""

from __future__ import annotations

import os
from typing import Any

# Request latency buckets (seconds): a served query takes from a fraction of a millisecond.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    """Requests by status, latency, fallback answers and the served model version."""

    def __init__(self, name: str, version: str, alias: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pipelines_requests",
            "Requests to /invocations by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pipelines_request_seconds",
            "Time to answer a request to /invocations.",
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.fallback = Counter(
            "pipelines_fallback_queries",
            "Queries of unknown users answered with the most popular items.",
            registry=self.registry,
        )
        info = Gauge(
            "pipelines_model_info",
            "The served model version (value 1).",
            ["model", "version", "alias"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        info.labels(name, version, alias).set(1)

    def observe(self, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        self.requests.labels(str(status)).inc()
        self.latency.observe(seconds)

    def fallbacks(self, queries: int) -> None:
        """Count `queries` answered by popularity."""
        if queries:
            self.fallback.inc(queries)

    def exposition(self) -> tuple[bytes, str]:
        """(text, content type) of every metric, summed over workers in multiprocess mode."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry: Any = self.registry
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
