"""`publish`: one MLflow run with params, metrics, tags, reports and the logged model.

Idempotent on the content hash: a finished run of the same content is reused, so
publishing twice logs nothing new. The model is one pyfunc holding estimator and index.
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
    TAG_CONTENT,
    TAG_DATA_SHA,
    TAG_GATE,
    TAG_GIT_SHA,
    TAG_HOLDOUT,
    TAG_MODEL_URI,
    TAG_PR,
    TAG_SPEC_SHA,
)
from pipelines.rundir import DATA_REPORT, EVALUATION, INDEX_FILE, INDEX_REPORT, PUBLISH
from pipelines.state import BUNDLE_FILE, META_FILE, ModelState
from pipelines.steps.check_data import PROFILE_ARTIFACT
from pipelines.steps.common import add_step_parser

log = logging.getLogger("pipelines")

REQUIREMENTS = (
    "mlflow",
    "usearch",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "pydantic",
    "pyyaml",
    "jinja2",
    "tqdm",
)


def publish(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Log the run and model (or reuse the run of the same content); write publish.json."""
    evaluation = state.run.read_json(EVALUATION)
    index_report = state.run.read_json(INDEX_REPORT)
    data_report = state.run.read_json(DATA_REPORT)
    gate_passed = bool(evaluation["passed"] and index_report["passed"])
    registry = state.registry()
    experiment_id = registry.experiment_id(state.spec.name)
    content_hash = state.content_hash
    existing = registry.find_published_run(state.spec.name, content_hash)
    if existing is not None:
        log.info(
            "%s: content %s already published as run %s",
            state.spec.name,
            content_hash[:12],
            existing.info.run_id,
        )
        run_id = existing.info.run_id
        model_uri = existing.data.tags[TAG_MODEL_URI]
        gate_tag = existing.data.tags.get(TAG_GATE, "unknown")
        reused = True
    else:
        run_id, model_uri = _log_run(
            state, registry, experiment_id, evaluation, index_report, data_report, gate_passed
        )
        gate_tag = "passed" if gate_passed else "failed"
        reused = False
    payload = {
        "model": state.spec.name,
        "run_id": run_id,
        "experiment_id": experiment_id,
        "model_uri": model_uri,
        "content_hash": content_hash,
        "gate": gate_tag,
        "reused": reused,
        "tracking_uri": registry.uri,
        "run_url": registry.run_url(experiment_id, run_id),
    }
    state.run.write_json(PUBLISH, payload)
    return 0


def run_tags(state: ModelState, gate_passed: bool, holdout: str) -> dict[str, str]:
    """The tags of DESIGN.md carried by every run and model version."""
    return {
        TAG_GIT_SHA: git_sha(state.loaded.config.root),
        TAG_PR: pr_number(),
        TAG_SPEC_SHA: state.loaded.sha256,
        TAG_DATA_SHA: state.data_sha256,
        TAG_CONTENT: state.content_hash,
        TAG_GATE: "passed" if gate_passed else "failed",
        TAG_HOLDOUT: holdout,
        "pipelines.version": pipelines.__version__,
    }


def _log_run(
    state: ModelState,
    registry: Any,
    experiment_id: str,
    evaluation: dict[str, Any],
    index_report: dict[str, Any],
    data_report: dict[str, Any],
    gate_passed: bool,
) -> tuple[str, str]:
    mlflow = registry.mlflow
    tags = run_tags(state, gate_passed, evaluation["holdout_fingerprint"])
    tags.pop(TAG_GATE)  # set last: a run killed half-way never looks gated
    params = _params(state, index_report)
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
    if state.spec.description:
        tags["mlflow.note.content"] = state.spec.description  # the run's description

    def log_all() -> tuple[str, str]:
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=f"{state.spec.name}-{state.content_hash[:8]}",
            tags=tags,
        ) as run:
            mlflow.log_params(params)
            mlflow.log_dict(data_report["profile"], PROFILE_ARTIFACT)
            for name in (DATA_REPORT, EVALUATION, INDEX_REPORT):
                mlflow.log_artifact(str(state.run.file(name)), artifact_path="reports")
            mlflow.log_artifact(str(state.loaded.path), artifact_path="spec")
            mlflow.log_text(review, "reports/report.md")
            info = _log_model(state, mlflow)
            # After the model, linked to it in the same batch: logged before, `log_model`
            # would copy each metric to the model with one history query per metric.
            mlflow.log_metrics(metrics, model_id=info.model_id)
            mlflow.set_tags(
                {TAG_MODEL_URI: info.model_uri, TAG_GATE: "passed" if gate_passed else "failed"}
            )
            return run.info.run_id, info.model_uri

    run_id, model_uri = registry.call("publish", log_all)
    log.info("%s: published run %s (%s)", state.spec.name, run_id, model_uri)
    return run_id, model_uri


def _log_model(state: ModelState, mlflow: Any) -> Any:
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    from pipelines.serving import DEFAULT_K

    package_dir = Path(pipelines.__file__).parent
    # Declaring `k` lets `mlflow models serve` pass it through from /invocations requests.
    signature = ModelSignature(params=ParamSchema([ParamSpec("k", "long", DEFAULT_K)]))
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(package_dir / "serving_entry.py"),
        artifacts={
            "bundle": str(state.run.file(BUNDLE_FILE)),
            "index": str(state.run.file(INDEX_FILE)),
            "meta": str(state.run.file(META_FILE)),
        },
        code_paths=[str(package_dir)],
        pip_requirements=requirements(),
        signature=signature,
    )


def requirements() -> list[str]:
    """Pinned requirements of the logged model, declared (no slow inference)."""
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
