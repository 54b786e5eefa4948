"""The PR comment template."""

from __future__ import annotations

import pytest

from pipelines.gate import VERDICTS
from pipelines.report import render_report
from tests.unit.report_context import report_context as _context


def test_report_starts_with_the_marker_and_holds_the_comparison() -> None:
    text = render_report(_context())
    assert text.splitlines()[0] == "<!-- pipelines-report:item-recs -->"
    assert "| **ndcg_at_10** | 0.2700 | 0.2580 | +0.0120 ▲ | 0.1330 |" in text
    assert "| beats baseline `ndcg_at_10` | +0.1370 [+0.1210, +0.1530] | > 0 | ✅ |" in text
    assert "cannot tell apart differences smaller than ±0.0080" in text
    assert "+0.0120 [+0.0040, +0.0200]" in text
    assert "[run `abc`](http://mlflow/#/experiments/1/runs/abc)" in text
    assert "drift against champion v3" in text


def test_report_without_champion_or_publish() -> None:
    text = render_report(_context(comparison=None, champion=None, publish=None, passed=False))
    assert "gate failed" in text
    assert "No champion yet" in text
    assert "Not published." in text


def test_report_lists_every_verdict() -> None:
    text = render_report(_context())
    for verdict in VERDICTS:
        assert f"| {verdict.name} | {verdict.against} |" in text


def test_report_shows_a_baseline_check_that_is_off_and_why() -> None:
    off = dict(_context()["baseline"], gating=False, passed=False, reason="a ranking by age")
    off["verdict"] = "does not beat baseline"
    text = render_report(_context(baseline=off))
    assert "the check is off: a ranking by age" in text
    assert "| beats baseline `ndcg_at_10` (off) |" in text


def test_chart_without_a_champion_shows_baseline_and_candidate_interval() -> None:
    from pipelines.report.context import chart

    source = chart(
        {
            "primary": "accuracy",
            "candidate": {"accuracy": 0.97},
            "candidate_interval": {"low": 0.94, "high": 0.99},
            "baseline_metrics": {"accuracy": 0.63},
        }
    )
    assert source is not None
    assert 'x-axis ["baseline", "candidate low", "candidate", "candidate high"]' in source
    assert "bar [0.63, 0.94, 0.97, 0.99]" in source
    assert 'y-axis "accuracy" 0 --> 1.089' in source
    assert chart({"primary": "r2", "candidate": {"r2": float("nan")}}) is None


def test_a_sampled_holdout_is_named_with_its_size() -> None:
    sample = {
        "units": 49322,
        "size": 10000,
        "fraction": 0.2027,
        "seed": 7,
        "strata": 10,
        "stratified_by": "training interactions per user (deciles)",
    }
    text = render_report(_context(sample=sample))
    assert "fixed sample of **10,000 of 49,322 holdout units** (seed 7" in text
    assert "holdout units** " not in render_report(_context(sample=None))
    assert "fixed sample" not in render_report(_context())


def test_report_says_when_a_margin_from_noise_is_wide() -> None:
    noise = dict(_context()["comparison"], margin=0.016, margin_source="holdout noise")
    noise["champion"] = 0.5
    text = render_report(_context(comparison=noise))
    assert (
        "margin 0.0160 from the holdout's noise: the interval's width, as `margin: null` says;"
        in (text)
    )
    assert "within 5% of the champion's value" in text
    wide = dict(noise, margin=0.06)
    text = render_report(_context(comparison=wide))
    assert "more than 5% of the champion's value, so a clearly worse candidate can pass" in text
    assert "from the holdout's noise" not in render_report(_context())  # a spec margin


def test_a_zero_width_interval_says_why_instead_of_a_zero_resolution() -> None:
    same = {**_context()["comparison"], "delta": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    text = render_report(_context(comparison={**same, "resolution": 0.0}))
    assert "score every holdout unit identically: the interval has zero width at 0" in text
    assert "±0.0000" not in text and "cannot tell apart" not in text.split("Baseline")[0]
    shifted = {**same, "delta": 0.01, "ci_low": 0.01, "ci_high": 0.01, "resolution": 0.0}
    assert "every holdout unit differs by the same +0.0100" in render_report(
        _context(comparison=shifted)
    )
    tiny = render_report(_context(comparison={**same, "resolution": 2e-6}))
    assert "smaller than ±2e-06" in tiny


@pytest.mark.slow
def test_a_re_run_against_its_own_champion_reports_identical_scores(mlflow_store: str) -> None:
    """The same content run twice: the second run's candidate is the champion's model."""
    import os
    from pathlib import Path

    from pipelines.cli import main

    spec = str(Path(__file__).resolve().parents[2] / "model_specs" / "breast-cancer.yaml")
    assert main(["-q", "run", spec, "--promote", "champion"]) == 0
    assert main(["-q", "run", spec]) == 0
    text = (Path(os.environ["PIPELINES_RUNS_DIR"]) / "breast-cancer" / "report.md").read_text()
    assert "Candidate and champion score every holdout unit identically" in text, text
    assert "±0.0000" not in text
