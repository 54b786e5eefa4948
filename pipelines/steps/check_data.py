"""`check-data`: pin, schema, dtypes, ranges, nulls, duplicates, rows, drift vs champion."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pipelines.contracts import DataCheck, DataReport
from pipelines.data.checks import as_dicts, run_checks
from pipelines.errors import BadInput
from pipelines.registry import CHAMPION, PROFILE_ARTIFACT, no_store_yet
from pipelines.state import ModelState

log = logging.getLogger("pipelines")


def check_data(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Run the checks, write data_report.json, stop on the first blocking failure."""
    data = state.data()
    reference, champion_version = _champion_profile(state)
    results, profile = run_checks(state.loaded, data, reference)
    failed = [r for r in results if r.blocking and not r.passed]
    state.run.write(
        DataReport(
            model=state.spec.name,
            source=data.origin,
            sha256=data.sha256,
            rows=len(data.frame),
            columns=list(data.frame.columns),
            checks=[DataCheck.model_validate(c) for c in as_dicts(results)],
            passed=not failed,
            drift_reference=champion_version,
            profile=profile,
        )
    )
    if failed:
        first = failed[0]
        extra = f" (+{len(failed) - 1} more failed checks)" if len(failed) > 1 else ""
        loc = tuple(first.field.split("."))
        raise BadInput(
            f"{data.origin}: {first.name} failed: {first.detail}{extra}",
            file=state.loaded.display,
            line=state.loaded.line_of(*loc),
            field=first.field,
        )
    log.info("%s: %d data checks passed on %d rows", state.spec.name, len(results), len(data.frame))
    return 0


def _champion_profile(state: ModelState) -> tuple[dict[str, Any] | None, str | None]:
    """The champion's training-data profile, when there is a champion and drift is checked."""
    if state.spec.data.checks.max_drift_psi is None:
        return None, None
    if no_store_yet(state.loaded.config.root):  # a first run: no champion, MLflow not imported
        log.info(
            "%s: no MLflow store yet, so no champion to compare the data with", state.spec.name
        )
        return None, None
    registry = state.registry()
    version = registry.version_by_alias(state.spec.name, CHAMPION)
    if version is None or not version.run_id:
        return None, None
    profile = registry.download_json(version.run_id, PROFILE_ARTIFACT)
    return profile, version.version
