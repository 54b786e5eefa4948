"""The PR comment's context: what `report.md` shows, from the run directory's records.

Used by `report` (with publish.json, for the pull request) and by `publish` (without it,
for the review logged with the run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from pipelines.gate import VERDICTS
from pipelines.kinds import METRICS
from pipelines.tasks.splitting import SplitRule

if TYPE_CHECKING:
    from pipelines.contracts import DataReport, Evaluation, IndexReport, Publish


def build_context(
    model: str,
    task: str,
    evaluation: Evaluation,
    index: IndexReport,
    data: DataReport,
    published: Publish | None = None,
) -> dict[str, Any]:
    """Everything the template shows, from the run directory's records of model `model`
    of task kind `task`. Without `published` the review has no link to its run (what
    `publish` logs with the run itself, before publish.json exists)."""
    publish = published.model_dump() if published is not None else None
    gate = evaluation.gate
    known = METRICS[task]
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
        "model": model,
        "task": task,
        "primary": evaluation.primary,
        "passed": evaluation.verdict.passed,
        "summary": evaluation.verdict.summary,
        "comparison": _plain(gate.champion),
        "baseline": _plain(gate.baseline),
        "baseline_name": evaluation.baseline,
        "verdicts": VERDICTS,
        "champion": _plain(evaluation.champion),
        "override": gate.override,
        "champion_unavailable": gate.champion_unavailable,
        "metric_rows": rows,
        "thresholds": [t.model_dump() for t in gate.thresholds],
        "index_gate": [c.model_dump() for c in index.gate],
        "index": index.model_dump(),
        "size_text": _size(index.measured.size_bytes),
        "data": data.model_dump(),
        "data_failed": [c.model_dump() for c in data.checks if not c.passed],
        "publish": publish,
        "chart": chart(evaluation.model_dump()),
        "sample": _plain(evaluation.sample),  # only when the holdout was sampled
        "split_text": SplitRule.of(evaluation.split).describe() if evaluation.split else None,
        "holdout_copies": _plain(evaluation.holdout_copies),
    }


def _plain(record: BaseModel | None) -> dict[str, Any] | None:
    """A record as the template reads it (its JSON shape), or None."""
    return None if record is None else record.model_dump()


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
