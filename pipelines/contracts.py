"""Run-directory contracts: every file name, and one pydantic model per JSON file.

Each model names its file (`FILE`) and carries `schema_version`; `RunDir.write` and
`RunDir.read` are the only way steps write and read these files, so a file has one shape.
Nested figures that come straight from a library (profiles, measurements) stay free-form
dictionaries; the fields steps act on are typed.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

# -- file names, the only place they are spelled -----------------------------------------
DATA_REPORT = "data_report.json"
MODEL_DIR = "model"
BUNDLE_FILE = f"{MODEL_DIR}/bundle.pkl"
SPLIT_FILE = f"{MODEL_DIR}/split.npz"
META_FILE = f"{MODEL_DIR}/meta.json"
INDEX_FILE = "index.usearch"
INDEX_REPORT = "index_report.json"
EXACT_FILE = "exact_topk.npz"  # build-index's exact search, reused by evaluate (a cache)
EVALUATION = "evaluation.json"
PUBLISH = "publish.json"
PROMOTE = "promote.json"
REPORT_MD = "report.md"
MANIFEST = "manifest.json"


class Contract(BaseModel):
    """A JSON file of the run directory: one shape, one version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    FILE: ClassVar[str]
    schema_version: Literal[1] = 1


class DataReport(Contract):
    """`check-data`: the data's origin and pin, each check's result, the training profile."""

    FILE: ClassVar[str] = DATA_REPORT

    model: str
    source: str
    sha256: str
    rows: int
    columns: list[str]
    checks: list[dict[str, Any]]
    passed: bool
    drift_reference: str | None
    profile: dict[str, Any]


class TrainMeta(Contract):
    """`train` (model/meta.json): what was fitted on which rows, and sample feature rows."""

    FILE: ClassVar[str] = META_FILE

    model: str
    task: str
    estimator: str
    params: dict[str, Any]
    data_sha256: str
    holdout_fingerprint: str
    train_rows: int
    holdout_rows: int
    split: dict[str, Any] | None = None  # the split's rule (`splitting.SplitRule`)
    content_hash: str
    pipelines_version: str
    sample_rows: list[dict[str, Any]] | None


class IndexReport(Contract):
    """`build-index`: the settings used, what was measured, the index gate's checks."""

    FILE: ClassVar[str] = INDEX_REPORT

    settings: dict[str, Any]
    measured: dict[str, Any]
    gate: list[dict[str, Any]]
    passed: bool
    tuning: dict[str, Any] | None


class Verdict(BaseModel):
    """The pull request's verdict: evaluation gate and index gate together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    passed: bool
    summary: str

    @classmethod
    def of(cls, evaluation_passed: bool, summary: str, index: IndexReport) -> Verdict:
        """Both gates must pass; a failed index gate is named in the summary."""
        if not index.passed:
            summary += "; index gate failed"
        return cls(passed=evaluation_passed and index.passed, summary=summary)


class Evaluation(Contract):
    """`evaluate`: candidate, champion and baseline on one holdout, the gate's decision
    (`gate`, `passed`) and the verdict every later step reads (`verdict`)."""

    FILE: ClassVar[str] = EVALUATION

    model: str
    primary: str
    holdout_fingerprint: str
    candidate: dict[str, float]
    champion: dict[str, Any] | None
    champion_metrics: dict[str, float] | None
    baseline: str
    baseline_metrics: dict[str, float]
    candidate_interval: dict[str, Any] | None
    history: list[dict[str, Any]]
    gate: dict[str, Any]
    passed: bool
    verdict: Verdict
    sample: dict[str, Any] | None = None  # the holdout sample, above evaluation.max_units
    split: dict[str, Any] | None = None  # the split's rule (`splitting.SplitRule`)
    # The candidate on the holdout rows the champion was compared on (those the champion
    # was not fitted on), when some were excluded; else None (the same as `candidate`).
    compared_candidate: dict[str, float] | None = None
    # Holdout rows that copy a training row: {"rows": n, "of": holdout rows}.
    holdout_copies: dict[str, int] | None = None


class Publish(Contract):
    """`publish` (or `run --reuse`): the MLflow run holding this verdict and its model."""

    FILE: ClassVar[str] = PUBLISH

    model: str
    run_id: str
    experiment_id: str
    model_uri: str | None
    content_hash: str
    gate: str
    compared_with: str
    reused: bool
    tracking_uri: str
    run_url: str | None
    # Published where only the release writes (the release experiment), or for a pull request.
    release: bool = False
    # One sha256 over the logged model's file digests (what a promotion is handed).
    digest: str | None = None


class Promote(Contract):
    """`promote`: which alias now points at which version, and whether it moved."""

    FILE: ClassVar[str] = PROMOTE

    model: str
    alias: str
    version: str
    previous: str | None
    moved: bool
    run_id: str | None = None  # the verdict it was promoted on
    digest: str | None = None  # the version's tree digest, checked against its files
