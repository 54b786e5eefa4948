"""`monitor`: score the champion on the spec's fresh data; exit 1 on an alert.

Checks, against `models:/<name>@champion` and its logged training profile: drift per
column (PSI; unseen-id share for id columns), prediction drift, live quality (the primary
metric on the fresh data with a bootstrap interval, vs the champion's holdout value) and
the index's recall@10 against exact search on fresh queries. Each pass is logged to the
model's experiment, tagged with the champion version, with a plot of the series so far.
Writes `<runs>/_monitor/<model>/report.json`, `report.md` and `history.png`.

`--plan` lists the monitored specs instead (JSON, for the workflow's matrix).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from pipelines.console import emit
from pipelines.errors import EXIT_GATE_FAILED, EXIT_OK, BadInput, PipelineError
from pipelines.github_output import write_github_output
from pipelines.monitor.detectors import Check
from pipelines.monitor.fresh import FreshData, check_measurable, load_fresh
from pipelines.monitor.record import MonitorReport
from pipelines.monitor.report import render
from pipelines.monitor.score import Outcome, quality_metric, score_champion
from pipelines.provenance import git_sha
from pipelines.registry import CHAMPION, PROFILE_ARTIFACT, TAG_GIT_SHA
from pipelines.spec import LoadedSpec, load_spec
from pipelines.state import ModelState

log = logging.getLogger("pipelines")

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PLOT = "history.png"


def output_dir(loaded: LoadedSpec) -> Path:
    """`<runs>/_monitor/<model>`: beside the run directories, never one of them."""
    return loaded.run_dir.parent / "_monitor" / loaded.spec.name


def monitor(loaded: LoadedSpec, *, log_run: bool = True, out: Path | None = None) -> int:
    """One monitoring pass of one spec; returns 0 healthy, 1 alert."""
    spec = loaded.spec
    if spec.monitoring is None:
        raise loaded.error(
            "the spec has no monitoring section (see README: Monitoring)", "monitoring"
        )
    out = out or output_dir(loaded)
    out.mkdir(parents=True, exist_ok=True)
    fresh = load_fresh(loaded)
    check_measurable(loaded, fresh)
    state = ModelState(loaded)
    registry = state.registry()
    version = registry.version_by_alias(spec.name, CHAMPION)
    if version is None or not version.run_id:
        log.warning("%s: no champion version: nothing to monitor", spec.name)
        _write(out, MonitorReport(model=spec.name, status="no-champion", checks=[]))
        return EXIT_OK
    from pipelines.registry import monitoring as runs

    profile = registry.download_json(version.run_id, PROFILE_ARTIFACT)
    holdout = runs.holdout_metrics(registry, version.run_id)
    champion = registry.load_version(spec.name, version).server
    try:
        outcome = score_champion(
            loaded, champion, profile, fresh.frame, labelled=fresh.labelled, holdout=holdout
        )
    except (KeyError, ValueError) as exc:
        raise loaded.error(
            f"{fresh.origin}: the champion cannot be scored on this data: {exc}",
            "monitoring",
            "source",
        ) from exc
    unmeasured = unmeasured_reason(outcome)
    if unmeasured and not outcome.alerts:  # nothing measured is never healthy
        raise loaded.error(f"{fresh.origin}: {unmeasured}", "monitoring", "source")
    status = "alert" if outcome.alerts else "healthy"
    report = _report(loaded, version.version, fresh, outcome, status)
    json_path = _write(out, report)
    if log_run:
        from pipelines.monitor.plot import plot_history

        run_id = runs.log_monitoring_run(
            registry,
            version,
            status=status,
            tags={TAG_GIT_SHA: git_sha(loaded.config.root), runs.TAG_FRESH_SHA: fresh.sha256},
            metrics=metrics_of(outcome),
            artifacts=[json_path],
        )
        history = runs.monitoring_history(registry, spec.name)
        logged: dict[str, Any] = {
            "run_id": run_id,
            "run_url": registry.run_url(registry.experiment_id(spec.name, release=False), run_id),
            "history_points": len(history),
        }
        metric = quality_metric(spec.task, spec.evaluation.primary, spec.champion_metric)
        plot = plot_history(history, metric, holdout.get(metric), out / PLOT)
        if plot is not None:
            runs.attach_artifact(registry, run_id, plot)
            # Relative to the report's folder (report.md sits beside it), never a machine path.
            logged["plot"] = plot.name
        report = MonitorReport.model_validate({**report.model_dump(), **logged})
        _write(out, report)
    _log_verdict(spec.name, report, outcome)
    return EXIT_GATE_FAILED if outcome.alerts else EXIT_OK


def metrics_of(outcome: Outcome) -> dict[str, float]:
    """The figures logged to MLflow: each check's value, the interval, the alert count."""
    metrics = {c.name: c.value for c in outcome.checks if c.value is not None and _finite(c.value)}
    if outcome.quality is not None:
        key = f"quality.{outcome.quality.metric}"
        for suffix, value in (
            ("ci_low", outcome.quality.ci_low),
            ("ci_high", outcome.quality.ci_high),
        ):
            if _finite(value):
                metrics[f"{key}.{suffix}"] = value
    metrics["alerts"] = float(len(outcome.alerts))
    return metrics


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def unmeasured_reason(outcome: Outcome) -> str | None:
    """Why the pass measured too little to call the champion healthy, or None: the live
    quality of a labelled batch scored no unit, or no check has a value."""
    quality = outcome.quality
    if quality is not None and not quality.measured:
        new = outcome.facts.get("new_users")
        known = f" ({new} of its users are new to the champion)" if new is not None else ""
        return (
            f"live {quality.metric} could not be measured: no user or row of the batch "
            f"could be scored{known}"
        )
    if not any(_finite(c.value) for c in outcome.checks):
        return "no check could be measured on this batch"
    return None


def _number(value: float | None) -> str:
    """A measured value with 4 decimals; 'n/a' for None or a non-finite number."""
    return f"{value:.4f}" if _finite(value) else "n/a"


def _report(
    loaded: LoadedSpec, version: str, fresh: FreshData, outcome: Outcome, status: str
) -> MonitorReport:
    quality = outcome.quality
    return MonitorReport.model_validate(
        {
            "model": loaded.spec.name,
            "spec": loaded.display,
            "status": status,
            "version": version,
            "fresh": {
                "origin": fresh.origin,
                "sha256": fresh.sha256,
                "rows": len(fresh.frame),
                "path": fresh.path.relative_to(loaded.config.root.resolve()).as_posix()
                if fresh.path
                else None,
            },
            "checks": [c.as_dict() for c in outcome.checks],
            "alerts": [c.name for c in outcome.alerts],
            "drifted_columns": drifted_columns(outcome.checks),
            "quality": None
            if quality is None
            else {
                "metric": quality.metric,
                "measured": quality.measured,
                "value": quality.value if quality.measured else None,
                "ci_low": quality.ci_low if quality.measured else None,
                "ci_high": quality.ci_high if quality.measured else None,
                "confidence": quality.confidence,
                "units": quality.units,
                "holdout": quality.holdout,
                "max_drop": quality.max_drop,
                "degraded": quality.degraded,
            },
            "facts": outcome.facts,
            "on_alert": list(loaded.spec.monitoring.on_alert) if loaded.spec.monitoring else [],
        }
    )


def drifted_columns(checks: list[Check]) -> list[str]:
    """Columns whose drift or unseen-id check alerts."""
    return [c.name.split(".", 1)[1] for c in checks if c.alert and c.kind in {"psi", "unseen"}]


def _write(out: Path, report: MonitorReport) -> Path:
    path = out / REPORT_JSON
    plain = report.model_dump()
    path.write_text(json.dumps(plain, indent=1, default=str) + "\n", encoding="utf-8")
    (out / REPORT_MD).write_text(render(plain), encoding="utf-8")
    write_github_output(
        {"status": report.status, "report": str(path), "report-md": str(out / REPORT_MD)}
    )
    return path


def _log_verdict(name: str, report: MonitorReport, outcome: Outcome) -> None:
    quality = outcome.quality
    if quality is None:
        live = "no live quality (no labels)"
    elif not quality.measured:
        live = f"live {quality.metric} not measured (no unit could be scored)"
    else:
        live = (
            f"live {quality.metric} {_number(quality.value)} "
            f"[{_number(quality.ci_low)}, {_number(quality.ci_high)}]"
            + (f" vs holdout {_number(quality.holdout)}" if quality.holdout is not None else "")
        )
    if not outcome.alerts:
        log.info("%s: healthy; %s", name, live)
        return
    drifted = ", ".join(report.drifted_columns) or "none"
    others = ", ".join(c.name for c in outcome.alerts if c.kind not in {"psi", "unseen"})
    log.warning(
        "%s: ALERT: drifted columns: %s; other alerts: %s; %s",
        name,
        drifted,
        others or "none",
        live,
    )


def monitored_specs(root: Path, schedule: str | None, only: str | None) -> list[dict[str, Any]]:
    """Specs with a monitoring section (whose schedule is `schedule` when one is given):
    spec path, model name, and whether an alert opens an issue and a retrain PR."""
    from pipelines.plan import all_specs

    found: list[dict[str, Any]] = []
    for path in all_specs(root):
        loaded = load_spec(root / path)
        monitoring = loaded.spec.monitoring
        if monitoring is None or (only and loaded.spec.name != only):
            continue
        if schedule and monitoring.schedule != schedule.strip():
            continue
        found.append(
            {
                "spec": path,
                "model": loaded.spec.name,
                "issue": "issue" in monitoring.on_alert,
                "retrain": "retrain-pr" in monitoring.on_alert,
            }
        )
    return found


def handle(args: argparse.Namespace) -> int:
    """Monitor each spec (or print the plan); the worst exit code wins."""
    if args.plan:
        from pipelines.config import find_root

        models = monitored_specs(find_root(Path.cwd()), args.schedule or None, args.model or None)
        payload = json.dumps(models, separators=(",", ":"))
        log.info("monitor plan: %s", ", ".join(m["model"] for m in models) or "none")
        write_github_output({"models": payload, "count": str(len(models))})
        emit(payload + "\n")
        return EXIT_OK
    if not args.specs:
        raise BadInput("give one or more spec files (or --plan)")
    worst = EXIT_OK
    for path in args.specs:
        try:
            code = monitor(load_spec(path), log_run=not args.no_log, out=args.out)
        except PipelineError as exc:
            sys.stderr.write(f"error: {exc}\n")
            code = exc.exit_code
        worst = max(worst, code)
    return worst


def register(subparsers: Any) -> None:
    """Add the `monitor` command."""
    parser = subparsers.add_parser(
        "monitor", help="score the champion on fresh data; exit 1 on an alert", description=__doc__
    )
    parser.add_argument("specs", nargs="*", type=Path, metavar="SPEC", help="model spec files")
    parser.add_argument("--out", type=Path, default=None, help="report folder (one spec only)")
    parser.add_argument("--no-log", action="store_true", help="do not log the pass to MLflow")
    parser.add_argument("--plan", action="store_true", help="list the monitored specs as JSON")
    parser.add_argument("--schedule", default="", help="with --plan: only specs on this cron")
    parser.add_argument("--model", default="", help="with --plan: only this model")
    parser.set_defaults(handler=handle)
