"""A full PR-comment context for template tests (a module, not a test file, so a fork made
without the examples keeps it)."""

from __future__ import annotations

from typing import Any

from pipelines.gate import VERDICTS


def report_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "model": "item-recs",
        "task": "retrieval",
        "primary": "ndcg_at_10",
        "passed": True,
        "summary": "vs champion: better",
        "comparison": {
            "metric": "ndcg_at_10",
            "units": 1200,
            "confidence": 0.95,
            "margin": 0.005,
            "verdict": "better",
            "delta": 0.012,
            "ci_low": 0.004,
            "ci_high": 0.02,
            "passed": True,
            "margin_source": "spec",
            "resolution": 0.008,
        },
        "baseline": {
            "metric": "ndcg_at_10",
            "units": 1200,
            "confidence": 0.95,
            "verdict": "beats baseline",
            "delta": 0.137,
            "ci_low": 0.121,
            "ci_high": 0.153,
            "passed": True,
            "gating": True,
            "reason": "",
            "resolution": 0.016,
        },
        "baseline_name": "most popular items",
        "verdicts": VERDICTS,
        "chart": None,
        "champion": {"version": "3", "comparable": True},
        "metric_rows": [
            {
                "name": "ndcg_at_10",
                "candidate": 0.27,
                "champion": 0.258,
                "baseline": 0.133,
                "delta_text": "+0.0120 ▲",
            },
        ],
        "thresholds": [{"metric": "ndcg_at_10", "value": 0.27, "bound": ">= 0.05", "passed": True}],
        "index_gate": [{"name": "recall_at_10", "value": 0.99, "bound": ">= 0.95", "passed": True}],
        "index": {
            "settings": {
                "metric": "ip",
                "dtype": "f32",
                "connectivity": 16,
                "expansion_add": 128,
                "expansion_search": 64,
            },
            "tuning": None,
            "measured": {
                "vectors": 1500,
                "dimensions": 8,
                "recall_at_10": 0.99,
                "p50_ms": 0.03,
                "p99_ms": 0.1,
                "batch_qps": 50000.0,
                "build_seconds": 0.1,
            },
        },
        "size_text": "100.0 KiB",
        "data": {
            "rows": 59530,
            "source": "data/interactions.csv",
            "checks": [{"name": "min_rows", "detail": "59530 rows", "passed": True}],
            "drift_reference": "3",
        },
        "data_failed": [],
        "publish": {
            "run_id": "abc",
            "run_url": "http://mlflow/#/experiments/1/runs/abc",
            "model_uri": "models:/m-1",
            "content_hash": "0123456789abcdef",
            "reused": False,
        },
    }
    context.update(overrides)
    return context
