"""The spec as YAML text: the values dumped by PyYAML, with comments saying where each
proposal came from (PyYAML writes no comments, so each commented part is dumped alone and
the comments placed between the parts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import yaml

from pipelines.scaffold.draft import CONFIDENCE, RESAMPLES, SEED, Draft
from pipelines.scaffold.number_text import fmt

GATE = {"min_recall_at_10": 0.9, "max_p99_ms": 10}


def render(draft: Draft) -> str:
    """The spec of `draft` as YAML text."""
    lines = [
        "# yaml-language-server: $schema=spec.schema.json",
        f"# Written by `nox -s new-spec` from {draft.source} ({draft.rows} rows). Ranges, checks",
        "# and thresholds are proposals from that data: review them in the pull request.",
        *_dump(
            {
                "name": draft.name,
                "task": draft.task,
                "description": f"{draft.task.capitalize()} on {draft.source}.",
            }
        ),
        "data:",
        *_data(draft),
        "model:",
        *_dump({"estimator": draft.estimator, "params": draft.params}, indent=2),
        "evaluation:",
        *_evaluation(draft),
        "index:",
        *_dump(draft.index, indent=2),
        *_dump({"gate": GATE}, indent=2),
    ]
    return "\n".join(lines) + "\n"


def _data(draft: Draft) -> list[str]:
    """The `data:` section: source, pin, roles, left-out columns, columns, checks, split."""
    head = {"source": draft.source}
    if draft.sha256:
        head["sha256"] = draft.sha256
    lines = _dump(head | draft.roles, indent=2)
    if draft.excluded:
        lines.append("  # left out of the spec:")
        lines += [f"  #   {column}: {why}" for column, why in draft.excluded.items()]
    lines.append("  columns:")
    for column in draft.columns:
        fields: dict[str, Any] = {"dtype": column.dtype}
        for key, bound in (("min", column.low), ("max", column.high)):
            if bound is not None:
                fields[key] = int(bound) if column.dtype == "int64" else bound
        (line,) = _dump({column.name: fields}, indent=4)
        lines.append(f"{line}  # {column.note}" if column.note else line)
    lines.append("  checks:")
    lines += _dump(draft.checks, indent=4)
    lines += _comment(f"split: {draft.split_why}", indent=2) if draft.split_why else []
    lines += _dump({"split": draft.split}, indent=2)
    return lines


def _evaluation(draft: Draft) -> list[str]:
    """The `evaluation:` section, with where the thresholds and the margin came from."""
    lines = _dump({"primary": draft.primary}, indent=2)
    if draft.baseline:
        seen = ", ".join(f"{k} {fmt(v, 4)}" for k, v in sorted(draft.baseline.items()))
        lines.append(f"  # the first fit on the holdout when this spec was written: {seen}")
    if draft.thresholds:
        lines.append(
            f"  # thresholds: the far end of each metric's {CONFIDENCE:.0%} bootstrap interval "
            f"({RESAMPLES} resamples of the holdout units), rounded away"
        )
        thresholds = {metric: {bound: value} for metric, (bound, value) in draft.thresholds.items()}
        lines += _dump({"thresholds": thresholds}, indent=2)
    champion = {**draft.champion, "confidence": CONFIDENCE, "resamples": RESAMPLES, "seed": SEED}
    if draft.margin_why:
        lines += _comment(f"margin: {draft.margin_why}", indent=2)
    lines += _dump({"champion": champion}, indent=2)
    return lines


def _comment(text: str, *, indent: int, width: int = 96) -> list[str]:
    """`text` as comment lines of at most `width` characters (a word longer stays whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(" " * indent + "# " + current + " " + word) > width:
            lines.append(" " * indent + "# " + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*lines, " " * indent + "# " + current] if current else lines


def _dump(mapping: dict[str, Any], *, indent: int = 0) -> list[str]:
    """`mapping` as block-style YAML lines, indented; innermost mappings on one line."""
    lines = []
    for key, value in _rounded(mapping).items():
        text = yaml.safe_dump(
            {key: value},
            sort_keys=False,
            allow_unicode=True,
            width=math.inf,
            # None: a collection of scalars in flow style; False: all block (a scalar entry)
            default_flow_style=None if isinstance(value, dict | list) else False,
        )
        lines += [" " * indent + line for line in text.splitlines()]
    return lines


def _rounded(value: Any) -> Any:
    """`value` with every float at most six significant decimals, as the spec shows them."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    if isinstance(value, float | np.floating) and not isinstance(value, bool):
        return float(fmt(float(value)))
    return value
