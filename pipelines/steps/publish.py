"""`publish`: one MLflow run per verdict with params, metrics, tags, reports and the model.

The model (one pyfunc holding estimator and index) is logged once per content hash and
reused; the verdict is recorded per evaluation. Publishing the same verdict twice logs
nothing new.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pipelines
from pipelines.contracts import (
    DATA_REPORT,
    EVALUATION,
    INDEX_FILE,
    INDEX_REPORT,
    DataReport,
    Evaluation,
    IndexReport,
    Publish,
)
from pipelines.registry import (
    GATE_FAILED,
    GATE_PASSED,
    NO_CHAMPION,
    TAG_COMPARED_WITH,
    TAG_CONTENT,
    TAG_DATA_SHA,
    TAG_DIGEST,
    TAG_GATE,
    TAG_GIT_SHA,
    TAG_HOLDOUT,
    TAG_PR,
    TAG_SPEC_SHA,
    TAG_VERSION,
    PublishedRun,
    PyfuncPackage,
)
from pipelines.settings import settings
from pipelines.state import ModelState
from pipelines.steps.check_data import PROFILE_ARTIFACT

log = logging.getLogger("pipelines")

REQUIREMENTS = ("mlflow", "usearch", "scikit-learn", "numpy", "pandas", "scipy")


def publish(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Log this verdict as a run (reusing the logged model of the same content); write
    publish.json.

    With `--release` it goes to the model's release experiment (where only the release
    credential writes, and the only place a promotion takes a run from), otherwise to its
    pull-request experiment. The verdict is never reused: a run is reused only when it
    recorded the same verdict against the same champion on the same holdout, so a re-run
    after a flaky failure records its own verdict, and the model artifacts are logged once
    per content hash and experiment.
    """
    release = bool(getattr(args, "release", False))
    evaluation = state.run.read(Evaluation)
    index_report = state.run.read(IndexReport)
    data_report = state.run.read(DataReport)
    gate = GATE_PASSED if evaluation.verdict.passed else GATE_FAILED
    champion = evaluation.champion or {}
    compared_with = str(champion.get("version") or NO_CHAMPION)
    holdout = evaluation.holdout_fingerprint
    registry = state.registry()
    name, content_hash = state.spec.name, state.content_hash
    existing = registry.latest_verdict(name, content_hash, release=release)
    if existing is not None and _same_verdict(existing, gate, compared_with, holdout):
        log.info(
            "%s: verdict of content %s already published as run %s",
            name,
            content_hash[:12],
            existing.run_id,
        )
        published, reused = existing, True
    else:
        model_uri = registry.logged_model_uri(name, content_hash, release=release)
        if model_uri is not None:
            log.info(
                "%s: reusing the logged model %s of content %s", name, model_uri, content_hash[:12]
            )
        published = _log_run(
            state,
            registry.experiment_id(name, release=release),
            evaluation,
            index_report,
            data_report,
            gate=gate,
            compared_with=compared_with,
            model_uri=model_uri,
        )
        reused = False
    state.run.write(publish_record(state, published, reused=reused, release=release))
    return 0


def publish_record(
    state: ModelState, published: PublishedRun, *, reused: bool, release: bool
) -> Publish:
    """publish.json for a run this step logged, or one it (or `run --reuse`) reuses."""
    registry = state.registry()
    experiment_id = registry.experiment_id(state.spec.name, release=release)
    return Publish(
        model=state.spec.name,
        run_id=published.run_id,
        experiment_id=experiment_id,
        model_uri=published.model_uri,
        content_hash=state.content_hash,
        gate=published.gate,
        compared_with=published.compared_with,
        reused=reused,
        tracking_uri=registry.server,
        run_url=registry.run_url(experiment_id, published.run_id),
        release=release,
        digest=published.tags.get(TAG_DIGEST),
    )


def _same_verdict(run: PublishedRun, gate: str, compared_with: str, holdout: str) -> bool:
    return (
        run.gate == gate
        and run.compared_with == compared_with
        and run.tags.get(TAG_HOLDOUT) == holdout
    )


def run_tags(state: ModelState, holdout: str) -> dict[str, str]:
    """The provenance tags carried by every run and model version (docs/architecture.md)."""
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
    evaluation: Evaluation,
    index_report: IndexReport,
    data_report: DataReport,
    *,
    gate: str,
    compared_with: str,
    model_uri: str | None,
) -> PublishedRun:
    registry = state.registry()
    metrics = {f"candidate.{k}": v for k, v in evaluation.candidate.items() if _finite(v)}
    metrics.update({f"index.{k}": v for k, v in index_report.measured.items() if _finite(v)})
    if evaluation.champion_metrics:
        metrics.update(
            {f"champion.{k}": v for k, v in evaluation.champion_metrics.items() if _finite(v)}
        )
    metrics.update({f"baseline.{k}": v for k, v in evaluation.baseline_metrics.items()})
    for against in ("champion", "baseline"):
        comparison = evaluation.gate.get(against) or {}
        for key in ("delta", "ci_low", "ci_high", "margin", "resolution"):
            if key in comparison:
                metrics[f"gate.{against}.{key}"] = comparison[key]
    metrics = {k: v for k, v in metrics.items() if _finite(v)}
    from pipelines.report import render_report
    from pipelines.steps.report import build_context

    # The review as the pull request shows it, minus the link to this run.
    review = render_report(build_context(state, with_publish=False))
    tags = run_tags(state, evaluation.holdout_fingerprint)
    if state.spec.description:
        tags["mlflow.note.content"] = state.spec.description  # the run's description
    with ExitStack() as stack:
        package = None if model_uri else stack.enter_context(_pyfunc_package(state))
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
            dicts={PROFILE_ARTIFACT: data_report.profile},
            texts={"reports/report.md": review},
            model_uri=model_uri,
            model=package,
        )
    log.info("%s: published run %s (%s)", state.spec.name, published.run_id, published.model_uri)
    return published


@contextmanager
def _pyfunc_package(state: ModelState) -> Iterator[PyfuncPackage]:
    """The pyfunc to log, while its payload exists: the serving module alone as code, the
    serving payload and the index as artifacts, the spec-named signature (with params `k`,
    `exclude_seen`), an example, and the model's own answers to that example (which
    `smoke` expects of it once registered)."""
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
            sample_rows=state.meta().sample_rows,
        )
        server = serving.load(payload, index)
        example = server.sample_input()
        serving.write_expected_answer(payload, server, example)
        yield PyfuncPackage(
            python_model=package_dir / "serving_entry.py",
            artifacts={"serving": payload, "index": index},
            code_paths=[package_dir / "serving.py"],
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


def _params(state: ModelState, index_report: IndexReport) -> dict[str, Any]:
    spec = state.spec
    params: dict[str, Any] = {
        "task": spec.task,
        "estimator": spec.model.estimator,
        "data.source": spec.data.source,
    }
    params.update({f"model.{k}": v for k, v in spec.model.params.items()})
    params.update({f"index.{k}": v for k, v in index_report.settings.items()})
    params["split.seed"] = spec.data.split.seed
    params["split.test_fraction"] = spec.data.split.test_fraction
    params["split.strategy"] = spec.data.split.strategy
    # The rule that chose the training rows (key or time cut), beside the data's sha256 tag.
    params["split.rule"] = json.dumps(state.meta().split, sort_keys=True)
    return {k: str(v)[:MAX_PARAM_CHARS] for k, v in params.items()}


# MLflow's limit on a parameter value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
MAX_PARAM_CHARS = 6000


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and value == value and abs(value) != float("inf")


def git_sha(root: Path) -> str:
    """The commit being built: GITHUB_SHA in Actions, else git, else 'unknown'."""
    if sha := settings().text("GITHUB_SHA"):
        return sha
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `publish` command's own options."""
    parser.add_argument(
        "--release",
        action="store_true",
        help="publish into the release experiment (only with the release credential)",
    )


def pr_number() -> str:
    """The pull request number, from PIPELINES_PR_NUMBER or GITHUB_REF (refs/pull/N/...)."""
    explicit = settings().text("PIPELINES_PR_NUMBER")
    if explicit:
        return explicit
    ref = settings().text("GITHUB_REF")
    parts = ref.split("/")
    if len(parts) >= 3 and parts[1] == "pull":
        return parts[2]
    return "none"
