"""The monitoring report: markdown for the job summary, the issue body and people."""

from __future__ import annotations

from typing import Any

MARKER_PREFIX = "pipelines-monitor:"


def marker(model: str) -> str:
    """The hidden marker that identifies a model's monitoring issue."""
    return f"<!-- {MARKER_PREFIX}{model} -->"


def _value(check: dict[str, Any]) -> str:
    value = check["value"]
    return "n/a" if value is None else f"{value:.4f}"


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
    if quality:
        holdout = quality["holdout"]
        versus = f" vs {holdout:.4f} on the champion's holdout" if holdout is not None else ""
        lines.append(
            f"**Live {quality['metric']}:** {quality['value']:.4f} "
            f"[{quality['ci_low']:.4f}, {quality['ci_high']:.4f}] "
            f"({quality['confidence']:.0%} bootstrap interval, {quality['units']} users/rows)"
            f"{versus}."
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
        lines += ["", f"History plot: `{report['plot']}` (also logged to the run)."]
    return "\n".join(lines) + "\n"


def _summary(check: dict[str, Any]) -> str:
    if check["kind"] == "quality":
        return f"`{check['name']}` {check['detail']} below {check['limit']}"
    return f"`{check['name']}` = {_value(check)} (limit {check['limit']})"
