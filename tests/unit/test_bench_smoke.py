"""`nox -s bench` at a smoke size: it runs end to end and reports every budget."""

from __future__ import annotations

import json
import math

import pytest

from scripts.bench.__main__ import main
from scripts.bench.budgets import evaluate

pytestmark = pytest.mark.slow

BUDGETS = (
    "fixed cost, first model, existing store (s)",
    "fixed cost, first model, new store (s)",
    "fixed cost, first model / import floor",
    "fixed cost, each further model in the same run (s)",
    "overhead: pipelines run / bare computation",
    "index: tuned usearch",
    "largest size: whole pipeline (s)",
    "largest size: peak memory (MB)",
)


def test_bench_smoke(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINES_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = main(["--sizes", "1500", "--quick", "--tiny-items", "300", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    names = [row["budget"] for row in results["budgets"]]
    for budget in BUDGETS:
        assert any(name.startswith(budget) for name in names), budget
    assert len(names) == 9
    for row in results["budgets"]:
        if row["value"] is not None:
            assert math.isfinite(row["value"]) and row["value"] > -1.0, row
    size = results["sizes"][0]
    assert size["rows"] > 1000 and size["items"] > 500
    assert size["run"]["exit"] == 0
    assert size["run"]["peak_mb"] > 50
    assert 0 < size["bare"]["phases"]["total"] < size["run"]["seconds"]
    libs = size["ann"]["libraries"]
    assert libs["exact"]["front"][0]["recall_at_10"] == 1.0
    for name in ("usearch (spec)", "usearch (tuned)"):
        assert max(p["recall_at_10"] for p in libs[name]["front"]) > 0.9
        assert libs[name]["build_seconds"] > 0 and libs[name]["bytes"] > 0
    fixed = results["fixed_cost"]
    assert fixed["components"]["imports"] > 0
    assert fixed["components"]["import_floor"] > 0
    assert "| budget |" in capsys.readouterr().out
    assert (out / "results.md").read_text().startswith("### Budgets")


def test_budget_rows_without_competitors():
    """faiss and hnswlib absent: the index rows are present and say so."""
    lib = {"front": [], "qps_at_target": 1000.0, "build_seconds": 1.0}
    size = {
        "nominal_items": 100_000,
        "items": 90_000,
        "run": {"seconds": 12.0, "peak_mb": 900.0},
        "bare": {"phases": {"total": 10.0}},
        "ann": {"libraries": {"usearch (tuned)": lib}},
    }
    fixed = {"first_model_existing_store": 1.5, "first_model_new_store": 2.5, "further_model": 0.3}
    rows = evaluate({"fixed_cost": fixed, "sizes": [size]})
    verdicts = {row["budget"]: row["passed"] for row in rows}
    assert verdicts["fixed cost, first model, existing store (s)"] is True
    assert verdicts["fixed cost, first model, new store (s)"] is False
    assert verdicts["overhead: pipelines run / bare computation"] is True
    assert sum(v is None for v in verdicts.values()) == 2
    assert len(rows) == 8  # no import floor measured: no ratio row
    fixed["components"] = {"import_floor": 1.25}
    rows = evaluate({"fixed_cost": fixed, "sizes": [size]})
    ratio = next(r for r in rows if r["budget"] == "fixed cost, first model / import floor")
    assert ratio["value"] == 1.2 and ratio["passed"] is True and len(rows) == 9
    # with the floor measured, the absolute seconds are figures, not budgets
    verdicts = {row["budget"]: row["passed"] for row in rows}
    assert verdicts["fixed cost, first model, new store (s)"] is None
