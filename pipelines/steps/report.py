"""`report`: render report.md (the PR comment) and append it to the job summary."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from pipelines.contracts import REPORT_MD, DataReport, Evaluation, IndexReport, Publish
from pipelines.gate import VERDICTS
from pipelines.kinds import METRICS
from pipelines.report import render_report
from pipelines.settings import settings
from pipelines.state import ModelState
from pipelines.tasks.splitting import SplitRule

log = logging.getLogger("pipelines")


def report(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Write report.md; append to $GITHUB_STEP_SUMMARY when set."""
    text = render_report(build_context(state))
    path = state.run.write_text(REPORT_MD, text)
    summary = settings().text("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    log.info("%s: report written to %s", state.spec.name, path)
    return 0


def build_context(state: ModelState, *, with_publish: bool = True) -> dict[str, Any]:
    """Everything the template shows, read from the run directory.

    `with_publish=False` leaves out publish.json (the review logged with the run itself,
    before publish.json of this run exists).
    """
    evaluation = state.run.read(Evaluation)
    index = state.run.read(IndexReport)
    data = state.run.read(DataReport)
    publish = (
        state.run.read(Publish).model_dump()
        if with_publish and state.run.file(Publish.FILE).exists()
        else None
    )
    gate = evaluation.gate
    known = METRICS[state.spec.task]
    rows = []
    champion_metrics = evaluation.champion_metrics or {}
    # The delta compares both models on the same rows (those the champion never trained on).
    compared = evaluation.compared_candidate or evaluation.candidate
    for name, value in evaluation.candidate.items():
        if name not in known:
            continue
        other = champion_metrics.get(name)
        rows.append(
            {
                "name": name,
                "candidate": value,
                "champion": other,
                "baseline": evaluation.baseline_metrics.get(name),
                "delta_text": _delta_text(
                    compared.get(name, value), other, known[name].greater_is_better
                ),
            }
        )
    rows.sort(key=lambda r: (r["name"] != evaluation.primary, r["name"]))
    return {
        "model": state.spec.name,
        "task": state.spec.task,
        "primary": evaluation.primary,
        "passed": evaluation.verdict.passed,
        "summary": evaluation.verdict.summary,
        "comparison": gate["champion"],
        "baseline": gate.get("baseline"),
        "baseline_name": evaluation.baseline,
        "verdicts": VERDICTS,
        "champion": evaluation.champion,
        "override": gate.get("override"),
        "champion_unavailable": gate.get("champion_unavailable"),
        "metric_rows": rows,
        "thresholds": gate["thresholds"],
        "index_gate": index.gate,
        "index": index.model_dump(),
        "size_text": _size(index.measured["size_bytes"]),
        "data": data.model_dump(),
        "data_failed": [c for c in data.checks if not c["passed"]],
        "publish": publish,
        "chart": chart(evaluation.model_dump()),
        "sample": evaluation.sample,  # only when the holdout was sampled
        "split_text": SplitRule.of(evaluation.split).describe() if evaluation.split else None,
        "holdout_copies": evaluation.holdout_copies,
    }


def chart(evaluation: dict[str, Any]) -> str | None:
    """A mermaid `xychart-beta` of the primary metric: past champions (as each logged it),
    the champion and the baseline on this holdout, and the candidate with its interval."""
    primary = evaluation["primary"]
    bars: list[tuple[str, float]] = [
        (f"v{h['version']} logged", h["value"]) for h in evaluation.get("history") or []
    ]
    champion = evaluation.get("champion") or {}
    champion_metrics = evaluation.get("champion_metrics") or {}
    if primary in champion_metrics:
        bars.append((f"champion v{champion.get('version', '?')}", champion_metrics[primary]))
    baseline = (evaluation.get("baseline_metrics") or {}).get(primary)
    if baseline is not None:
        bars.append(("baseline", baseline))
    interval = evaluation.get("candidate_interval")
    if interval:
        bars.append(("candidate low", interval["low"]))
    bars.append(("candidate", evaluation["candidate"][primary]))
    if interval:
        bars.append(("candidate high", interval["high"]))
    values = [v for _, v in bars if isinstance(v, int | float) and v == v]
    if len(values) != len(bars) or not values:
        return None
    top = max(values)
    bottom = min(0.0, min(values))
    top = top + 0.1 * (top - bottom) if top > bottom else bottom + 1.0
    labels = ", ".join(f'"{_label(name)}"' for name, _ in bars)
    numbers = ", ".join(f"{v:.4g}" for v in values)
    return "\n".join(
        [
            "xychart-beta",
            f'    title "{_label(primary)} on this holdout"',
            f"    x-axis [{labels}]",
            f'    y-axis "{_label(primary)}" {bottom:.4g} --> {top:.4g}',
            f"    bar [{numbers}]",
        ]
    )


def _label(text: str) -> str:
    """Text safe inside a mermaid double-quoted string."""
    return "".join(c for c in str(text) if c not in '"\\`<>{}[]#;')


def _delta_text(value: float, other: float | None, greater_is_better: bool) -> str:
    """Candidate minus champion, with ▲ when the candidate is better and ▼ when worse."""
    if other is None:
        return "–"
    delta = value - other
    text = f"{delta:+.4f}"
    if delta != 0:
        text += " ▲" if (delta > 0) == greater_is_better else " ▼"
    return text


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
