"""A fork's pull request cannot read the champion: its report says so, never "no champion yet"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.access import FORK_NO_REGISTRY, champion_unavailable
from pipelines.gate import ThresholdResult, decide
from pipelines.report import render_report
from tests.unit.report_context import report_context as _context


def _event(tmp_path: Path, head: str, base: str) -> dict[str, str]:
    path = tmp_path / "event.json"
    payload = {
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"repo": {"full_name": head}},
            "base": {"repo": {"full_name": base}},
        },
    }
    path.write_text(json.dumps(payload), encoding="utf-8")
    return {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(path)}


def test_fork_pull_request_has_no_registry(tmp_path: Path) -> None:
    env = _event(tmp_path, "someone/fork", "acme/models")
    assert champion_unavailable(env) == FORK_NO_REGISTRY


def test_a_fork_given_a_tracking_server_asks_it(tmp_path: Path) -> None:
    env = _event(tmp_path, "someone/fork", "acme/models")
    env["MLFLOW_TRACKING_URI"] = "https://mlflow.example.org"
    assert champion_unavailable(env) is None


def test_same_repository_pull_request_looks_for_the_champion(tmp_path: Path) -> None:
    assert champion_unavailable(_event(tmp_path, "acme/models", "acme/models")) is None


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": "/nonexistent"},
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": "/nonexistent/event.json"},
        {"GITHUB_EVENT_NAME": "pull_request"},
    ],
)
def test_unknown_or_unreadable_events_look_for_the_champion(env: dict[str, str]) -> None:
    assert champion_unavailable(env) is None


def test_a_push_event_is_not_a_fork(tmp_path: Path) -> None:
    env = _event(tmp_path, "someone/fork", "acme/models")
    env["GITHUB_EVENT_NAME"] = "push"
    assert champion_unavailable(env) is None


def test_an_explicit_reason_wins() -> None:
    env = {"PIPELINES_CHAMPION_UNAVAILABLE": "registry down for maintenance"}
    assert champion_unavailable(env) == "registry down for maintenance"


def test_the_gate_says_the_comparison_was_not_run() -> None:
    thresholds = [ThresholdResult("ndcg_at_10", 0.3, ">= 0.05", True)]
    decision = decide(thresholds, None, unavailable=FORK_NO_REGISTRY)
    assert decision.passed
    assert "champion comparison not run: fork pull request" in decision.summary
    assert "no champion yet" not in decision.summary
    assert decision.champion_unavailable == FORK_NO_REGISTRY
    # without the reason, the old line stays
    assert "no champion yet" in decide(thresholds, None).summary
    assert decide(thresholds, None).champion_unavailable is None


def test_the_report_says_the_comparison_was_not_run() -> None:
    text = render_report(
        _context(
            champion=None,
            comparison=None,
            summary="champion comparison not run: " + FORK_NO_REGISTRY,
            champion_unavailable=FORK_NO_REGISTRY,
        )
    )
    assert "Champion comparison not run: fork pull request without registry access" in text
    assert "No champion yet" not in text
    assert "no champion yet" not in text
