"""Render the PR comment / job summary markdown from the run directory with jinja2."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pipelines.spec.model import RELATIVE_MARGIN

MARKER = "<!-- pipelines-report:{name} -->"


def environment() -> Environment:
    """The template environment (markdown: no HTML autoescape)."""
    env = Environment(
        loader=PackageLoader("pipelines", "report/templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - markdown output, values are numbers and our own names
    )
    env.filters["num"] = _num
    env.filters["signed"] = _signed
    env.filters["small"] = _small
    env.filters["mark"] = lambda ok: "✅" if ok else "❌"
    env.globals["relative_margin"] = RELATIVE_MARGIN  # the bound of a margin from noise
    return env


def render_report(context: dict[str, Any]) -> str:
    """The PR comment markdown for one model (first line: the hidden marker)."""
    text = (
        environment()
        .get_template("pr_comment.md.j2")
        .render(marker=MARKER.format(name=context["model"]), **context)
    )
    return text


def _small(value: float) -> str:
    """A positive figure in 4 decimals, or 2 significant digits when those would read 0."""
    return f"{value:.4f}" if value >= 0.00005 else f"{value:.2g}"


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.{digits}f}"
    return str(value)


def _signed(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}"
