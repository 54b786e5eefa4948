"""The typed values inside the run-directory contracts and the monitoring report keep the
JSON shapes earlier files have, and a file of another shape is refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.contracts import ChampionRecord, Evaluation, IndexReport, Manifest
from pipelines.errors import BadInput
from pipelines.monitor.alert import read_report
from pipelines.rundir import RunDir

COMPARISON = {
    "metric": "ndcg_at_10",
    "candidate": 0.3,
    "champion": 0.29,
    "delta": 0.01,
    "ci_low": -0.01,
    "ci_high": 0.03,
    "confidence": 0.95,
    "margin": 0.005,
    "units": 40,
    "verdict": "no significant change",
    "passed": True,
}


def _evaluation(champion: dict[str, object]) -> dict[str, object]:
    return {
        "model": "m",
        "primary": "ndcg_at_10",
        "holdout_fingerprint": "f",
        "candidate": {"ndcg_at_10": 0.3},
        "champion": champion,
        "champion_metrics": None,
        "baseline": "most popular items",
        "baseline_metrics": {"ndcg_at_10": 0.1},
        "candidate_interval": {"metric": "ndcg_at_10", "low": 0.2, "high": 0.4, "confidence": 0.95},
        "history": [{"version": "1", "value": 0.28}],
        "gate": {"thresholds": [], "champion": COMPARISON, "passed": True, "summary": "ok"},
        "passed": True,
        "verdict": {"passed": True, "summary": "ok"},
        "schema_version": 1,
    }


def test_a_champion_that_could_not_be_scored_is_written_with_the_keys_it_had(
    tmp_path: Path,
) -> None:
    incomparable = {"version": "3", "run_id": "r", "content_hash": "c", "comparable": False}
    incomparable["reason"] = "champion version 3 cannot be scored"
    run = RunDir(tmp_path)
    run.write(Evaluation.model_validate(_evaluation(incomparable)))
    written = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert written["champion"] == incomparable  # no null row counts added
    read = run.read(Evaluation)
    assert read.champion == ChampionRecord.model_validate(incomparable)
    assert read.gate.champion is not None and read.gate.champion.delta == 0.01
    assert read.candidate_interval is not None and read.candidate_interval.high == 0.4


def test_an_index_report_from_before_p99_single_ms_still_reads(tmp_path: Path) -> None:
    measured = {
        "recall_at_10": 0.99,
        "p50_ms": 0.1,
        "p99_ms": 0.3,
        "batch_qps": 1e4,
        "build_seconds": 0.2,
        "size_bytes": 2048,
        "vectors": 100,
        "dimensions": 8,
        "queries": 50,
    }
    gate = [{"name": "p99_ms", "value": 0.3, "bound": "<= 5", "passed": True}]
    record = {"settings": {}, "measured": measured, "gate": gate, "passed": True, "tuning": None}
    (tmp_path / "index_report.json").write_text(json.dumps(record), encoding="utf-8")
    report = RunDir(tmp_path).read(IndexReport)
    assert report.measured.size_bytes == 2048 and report.measured.p99_single_ms is None
    assert report.gate[0].passed


def test_a_malformed_manifest_vouches_for_nothing(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"steps": {"train": {"seconds": "x"}}}')
    assert RunDir(tmp_path).manifest() == Manifest()
    assert not RunDir(tmp_path).as_written("model", "hash")


def test_a_monitoring_report_of_another_shape_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"model": "m", "status": "alert", "checks": [{"name": 1}]}))
    with pytest.raises(BadInput, match=r"checks\.0\.name") as caught:
        read_report(path)
    assert str(path) in str(caught.value)
    path.write_text(json.dumps({"model": "m", "status": "no-champion", "checks": []}))
    assert read_report(path) == {"model": "m", "status": "no-champion", "checks": []}
