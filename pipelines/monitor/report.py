"""The monitoring report: markdown for the job summary, the issue body and people."""

from __future__ import annotations

import math
from typing import Any

MARKER_PREFIX = "pipelines-monitor:"


def marker(model: str) -> str:
    """The hidden marker that identifies a model's monitoring issue."""
    return f"<!-- {MARKER_PREFIX}{model} -->"


def _number(value: float | None) -> str:
    """4 decimals; 'n/a' for None or a non-finite number (never 'nan')."""
    return f"{value:.4f}" if value is not None and math.isfinite(value) else "n/a"


def _value(check: dict[str, Any]) -> str:
    return _number(check["value"])


def render(report: dict[str, Any]) -> str:
    """The report as markdown, led by the model's hidden marker."""
    model = report["model"]
    status = report["status"]
    headline = {
        "alert": "🔴 alert",
        "healthy": "🟢 healthy",
        "no-champion": "⚪ no champion to monitor",
    }.get(status, status)
    lines = [
        marker(model),
        f"## Monitoring `{model}`: {headline}",
        "",
    ]
    if status == "no-champion":
        lines.append("No version holds the `champion` alias yet: nothing to monitor.")
        return "\n".join(lines) + "\n"
    lines += [
        f"Champion version {report['version']} on `{report['fresh']['origin']}` "
        f"({report['fresh']['rows']} rows, sha256 `{report['fresh']['sha256'][:12]}`).",
        "",
    ]
    alerts = [c for c in report["checks"] if c["alert"]]
    if alerts:
        lines.append("**Alerts:** " + "; ".join(_summary(c) for c in alerts))
        lines.append("")
    quality = report.get("quality")
    if quality and quality.get("measured", True) and quality["value"] is not None:
        holdout = quality["holdout"]
        versus = f" vs {_number(holdout)} on the champion's holdout" if holdout is not None else ""
        lines.append(
            f"**Live {quality['metric']}:** {_number(quality['value'])} "
            f"[{_number(quality['ci_low'])}, {_number(quality['ci_high'])}] "
            f"({quality['confidence']:.0%} bootstrap interval, {quality['units']} users/rows)"
            f"{versus}."
        )
        lines.append("")
    elif quality:
        lines.append(
            f"**Live {quality['metric']}:** not measured (no user or row of the batch could "
            "be scored)."
        )
        lines.append("")
    lines += ["| check | value | limit | |", "|---|---:|---|---|"]
    for check in report["checks"]:
        flag = "**alert**" if check["alert"] else "ok"
        detail = f" ({check['detail']})" if check["detail"] else ""
        lines.append(f"| `{check['name']}` | {_value(check)} | {check['limit']} | {flag}{detail} |")
    facts = report.get("facts") or {}
    if facts:
        lines += ["", " · ".join(f"{k.replace('_', ' ')}: {v}" for k, v in facts.items())]
    if report.get("run_id"):
        lines += [
            "",
            f"MLflow run `{report['run_id']}`"
            + (f": {report['run_url']}" if report.get("run_url") else ""),
        ]
    if report.get("plot"):
        lines += [
            "",
            f"History plot: `{report['plot']}` beside this report (the monitor job's "
            "artifact), also logged to the MLflow run.",
        ]
    return "\n".join(lines) + "\n"


def _summary(check: dict[str, Any]) -> str:
    if check["kind"] == "quality":
        return f"`{check['name']}` {check['detail']}, healthy {check['limit']}"
    return f"`{check['name']}` = {_value(check)} (limit {check['limit']})"
