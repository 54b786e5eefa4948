"""`report`: render report.md (the PR comment) and append it to the job summary."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipelines.contracts import REPORT_MD, DataReport, Evaluation, IndexReport, Publish
from pipelines.report import render_report
from pipelines.report.context import build_context
from pipelines.settings import settings
from pipelines.state import ModelState

log = logging.getLogger("pipelines")


def report(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Write report.md; append to $GITHUB_STEP_SUMMARY when set."""
    run = state.run
    published = run.read(Publish) if run.file(Publish.FILE).exists() else None
    context = build_context(
        state.spec.name,
        state.spec.task,
        run.read(Evaluation),
        run.read(IndexReport),
        run.read(DataReport),
        published,
    )
    text = render_report(context)
    path = run.write_text(REPORT_MD, text)
    summary = settings().text("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    log.info("%s: report written to %s", state.spec.name, path)
    return 0
