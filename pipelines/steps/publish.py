"""`publish`: one MLflow run per verdict with params, metrics, tags, reports and the model.

The model (one pyfunc holding estimator and index) is logged once per content hash and
reused; the verdict is recorded per evaluation. Publishing the same verdict twice logs
nothing new.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pipelines
from pipelines.registry import (
    GATE_FAILED,
    GATE_PASSED,
    NO_CHAMPION,
    TAG_COMPARED_WITH,
    TAG_CONTENT,
    TAG_DATA_SHA,
    TAG_GATE,
    TAG_GIT_SHA,
    TAG_HOLDOUT,
    TAG_PR,
    TAG_SPEC_SHA,
    TAG_VERSION,
    PublishedRun,
)
from pipelines.rundir import DATA_REPORT, EVALUATION, INDEX_FILE, INDEX_REPORT, PUBLISH
from pipelines.state import ModelState
from pipelines.steps.check_data import PROFILE_ARTIFACT
from pipelines.steps.common import add_step_parser

log = logging.getLogger("pipelines")

REQUIREMENTS = ("mlflow", "usearch", "scikit-learn", "numpy", "pandas", "scipy")


def publish(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Log this verdict as a run (reusing the logged model of the same content); write
    publish.json.

    The verdict is never reused: a run is reused only when it recorded the same verdict
    against the same champion on the same holdout, so a re-run after a flaky failure
    records its own verdict, and the model artifacts are logged once per content hash.
    """
    evaluation = state.run.read_json(EVALUATION)
    index_report = state.run.read_json(INDEX_REPORT)
    data_report = state.run.read_json(DATA_REPORT)
    gate = GATE_PASSED if evaluation["passed"] and index_report["passed"] else GATE_FAILED
    champion = evaluation.get("champion") or {}
    compared_with = str(champion.get("version") or NO_CHAMPION)
    holdout = str(evaluation["holdout_fingerprint"])
    registry = state.registry()
    name, content_hash = state.spec.name, state.content_hash
    experiment_id = registry.experiment_id(name)
    existing = registry.latest_verdict(name, content_hash)
    if existing is not None and _same_verdict(existing, gate, compared_with, holdout):
        log.info(
            "%s: verdict of content %s already published as run %s",
            name,
            content_hash[:12],
            existing.run_id,
        )
        published, reused = existing, True
    else:
        model_uri = registry.logged_model_uri(name, content_hash)
        if model_uri is not None:
            log.info(
                "%s: reusing the logged model %s of content %s", name, model_uri, content_hash[:12]
            )
        published = _log_run(
            state,
            experiment_id,
            evaluation,
            index_report,
            data_report,
            gate=gate,
            compared_with=compared_with,
            model_uri=model_uri,
        )
        reused = False
    payload = {
        "model": name,
        "run_id": published.run_id,
        "experiment_id": experiment_id,
        "model_uri": published.model_uri,
        "content_hash": content_hash,
        "gate": published.gate,
        "compared_with": published.compared_with,
        "reused": reused,
        "tracking_uri": registry.server,
        "run_url": registry.run_url(experiment_id, published.run_id),
    }
    state.run.write_json(PUBLISH, payload)
    return 0


def _same_verdict(run: PublishedRun, gate: str, compared_with: str, holdout: str) -> bool:
    return (
        run.gate == gate
        and run.compared_with == compared_with
        and run.tags.get(TAG_HOLDOUT) == holdout
    )


def run_tags(state: ModelState, holdout: str) -> dict[str, str]:
    """The provenance tags (README, "The registry") carried by every run and model version."""
    return {
        TAG_GIT_SHA: git_sha(state.loaded.config.root),
        TAG_PR: pr_number(),
        TAG_SPEC_SHA: state.loaded.sha256,
        TAG_DATA_SHA: state.data_sha256,
        TAG_CONTENT: state.content_hash,
        TAG_HOLDOUT: holdout,
        TAG_VERSION: pipelines.__version__,
    }


def _log_run(
    state: ModelState,
    experiment_id: str,
    evaluation: dict[str, Any],
    index_report: dict[str, Any],
    data_report: dict[str, Any],
    *,
    gate: str,
    compared_with: str,
    model_uri: str | None,
) -> PublishedRun:
    registry = state.registry()
    metrics = {f"candidate.{k}": v for k, v in evaluation["candidate"].items() if _finite(v)}
    metrics.update({f"index.{k}": v for k, v in index_report["measured"].items() if _finite(v)})
    if evaluation.get("champion_metrics"):
        metrics.update(
            {f"champion.{k}": v for k, v in evaluation["champion_metrics"].items() if _finite(v)}
        )
    metrics.update(
        {f"baseline.{k}": v for k, v in (evaluation.get("baseline_metrics") or {}).items()}
    )
    for against in ("champion", "baseline"):
        comparison = evaluation["gate"].get(against) or {}
        for key in ("delta", "ci_low", "ci_high", "margin", "resolution"):
            if key in comparison:
                metrics[f"gate.{against}.{key}"] = comparison[key]
    metrics = {k: v for k, v in metrics.items() if _finite(v)}
    from pipelines.report import render_report
    from pipelines.steps.report import build_context

    # The review as the pull request shows it, minus the link to this run.
    review = render_report(build_context(state, with_publish=False))
    tags = run_tags(state, evaluation["holdout_fingerprint"])
    if state.spec.description:
        tags["mlflow.note.content"] = state.spec.description  # the run's description
    published = registry.publish_run(
        experiment_id=experiment_id,
        run_name=f"{state.spec.name}-{state.content_hash[:8]}",
        tags=tags,
        final_tags={TAG_GATE: gate, TAG_COMPARED_WITH: compared_with},
        params=_params(state, index_report),
        metrics=metrics,
        artifacts=[
            *((state.run.file(n), "reports") for n in (DATA_REPORT, EVALUATION, INDEX_REPORT)),
            (state.loaded.path, "spec"),
        ],
        dicts={PROFILE_ARTIFACT: data_report["profile"]},
        texts={"reports/report.md": review},
        model_uri=model_uri,
        log_model=lambda mlflow: _log_model(state, mlflow),
    )
    log.info("%s: published run %s (%s)", state.spec.name, published.run_id, published.model_uri)
    return published


def _log_model(state: ModelState, mlflow: Any) -> Any:
    """Log the pyfunc: the serving module alone as code, the serving payload and the index as
    artifacts, the spec-named signature (with params `k`, `exclude_seen`) and an example."""
    import tempfile

    from pipelines import serving
    from pipelines.signature import signature

    package_dir = Path(pipelines.__file__).parent
    bundle = state.bundle()
    index = state.run.file(INDEX_FILE)
    with tempfile.TemporaryDirectory(prefix="serving-") as tmp:
        payload = Path(tmp) / "serving"
        serving.write_payload(
            payload,
            bundle.task,
            bundle.estimator,
            bundle.index_metric,
            bundle.extras,
            sample_rows=state.meta().get("sample_rows"),
        )
        example = serving.load(payload, index).sample_input()
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(package_dir / "serving_entry.py"),
            artifacts={"serving": str(payload), "index": str(index)},
            code_paths=[str(package_dir / "serving.py")],
            pip_requirements=requirements(),
            signature=signature(state.spec),
            input_example=example,
        )


def requirements() -> list[str]:
    """Pinned requirements of the served model, declared (no slow inference): what
    `pipelines/serving.py`, its entry point and the pickled estimator import."""
    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _params(state: ModelState, index_report: dict[str, Any]) -> dict[str, Any]:
    spec = state.spec
    params: dict[str, Any] = {
        "task": spec.task,
        "estimator": spec.model.estimator,
        "data.source": spec.data.source,
    }
    params.update({f"model.{k}": v for k, v in spec.model.params.items()})
    params.update({f"index.{k}": v for k, v in index_report["settings"].items()})
    params["split.seed"] = spec.data.split.seed
    params["split.test_fraction"] = spec.data.split.test_fraction
    return {k: str(v)[:500] for k, v in params.items()}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and value == value and abs(value) != float("inf")


def git_sha(root: Path) -> str:
    """The commit being built: GITHUB_SHA in Actions, else git, else 'unknown'."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def pr_number() -> str:
    """The pull request number, from PIPELINES_PR_NUMBER or GITHUB_REF (refs/pull/N/...)."""
    explicit = os.environ.get("PIPELINES_PR_NUMBER")
    if explicit:
        return explicit
    ref = os.environ.get("GITHUB_REF", "")
    parts = ref.split("/")
    if len(parts) >= 3 and parts[1] == "pull":
        return parts[2]
    return "none"


def register(subparsers: Any) -> None:
    """Add the `publish` command."""
    add_step_parser(subparsers, "publish", "Log the run and model to MLflow.", publish)
