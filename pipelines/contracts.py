"""Run-directory contracts: every file name, and one pydantic model per JSON file.

Each model names its file (`FILE`) and carries `schema_version`; `RunDir.write` and
`RunDir.read` are the only way steps write and read these files, so a file has one shape.
The values steps and reports read (checks, gates, measurements, the champion, the
manifest) are typed records; only figures that come straight from a library or the spec
(the data profile, estimator params, the split rule, tuning) stay free-form dictionaries.
Fields added since a file's first shape have defaults, so older run folders still read.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

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


class Record(BaseModel):
    """A typed value inside a contract (no file of its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataCheck(Record):
    """One data check (`data.checks.CheckResult`)."""

    name: str
    field: str  # the spec field the check comes from
    passed: bool
    detail: str
    blocking: bool = True


class DataReport(Contract):
    """`check-data`: the data's origin and pin, each check's result, the training profile."""

    FILE: ClassVar[str] = DATA_REPORT

    model: str
    source: str
    sha256: str
    rows: int
    columns: list[str]
    checks: list[DataCheck]
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


class IndexMeasured(Record):
    """What build-index measured of the index (`index.IndexMeasurement`)."""

    recall_at_10: float
    p50_ms: float
    p99_ms: float
    p99_single_ms: float | None = None  # not in reports written before it was measured
    batch_qps: float
    build_seconds: float
    size_bytes: int
    vectors: int
    dimensions: int
    queries: int


class IndexCheck(Record):
    """One bound of the index gate."""

    name: str
    value: float
    bound: str  # ">= 0.95" or "<= 5"
    passed: bool


class IndexReport(Contract):
    """`build-index`: the settings used, what was measured, the index gate's checks."""

    FILE: ClassVar[str] = INDEX_REPORT

    settings: dict[str, Any]
    measured: IndexMeasured
    gate: list[IndexCheck]
    passed: bool
    tuning: dict[str, Any] | None


class Verdict(Record):
    """The pull request's verdict: evaluation gate and index gate together (the one class
    of that name; `gate.ComparisonVerdict` is one outcome of one comparison)."""

    passed: bool
    summary: str

    @classmethod
    def of(cls, evaluation_passed: bool, summary: str, index: IndexReport) -> Verdict:
        """Both gates must pass; a failed index gate is named in the summary."""
        if not index.passed:
            summary += "; index gate failed"
        return cls(passed=evaluation_passed and index.passed, summary=summary)


class ThresholdCheck(Record):
    """One absolute bound on one metric (`gate.ThresholdResult`)."""

    metric: str
    value: float
    bound: str
    passed: bool


class ComparisonRecord(Record):
    """The candidate against the champion or the baseline (`gate.Comparison`)."""

    metric: str
    candidate: float
    champion: float  # the other model's value (champion or baseline)
    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    margin: float
    units: int
    verdict: str  # one of gate.VERDICTS
    passed: bool
    against: str = "champion"
    margin_source: str = "spec"
    resolution: float = 0.0
    gating: bool = True
    reason: str = ""


class GateRecord(Record):
    """The evaluation gate's decision (`gate.GateDecision`)."""

    thresholds: list[ThresholdCheck]
    champion: ComparisonRecord | None = None
    baseline: ComparisonRecord | None = None
    passed: bool = True
    summary: str = ""
    incomparable: str | None = None
    override: str | None = None
    champion_unavailable: str | None = None
    copies: str | None = None


class ChampionRecord(Record):
    """The champion version the candidate was compared with, and whether it could be.

    Written with the keys it was given (a champion that could not be scored has no row
    counts), as evaluation.json always held it."""

    version: str
    run_id: str | None
    content_hash: str | None
    comparable: bool | None = None
    reason: str | None = None
    holdout_rows: int | None = None
    excluded_rows: int | None = None

    @model_serializer(mode="wrap")
    def _given_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class Interval(Record):
    """The bootstrap interval of the primary metric's mean."""

    metric: str
    low: float
    high: float
    confidence: float


class HistoryPoint(Record):
    """The primary metric a past champion logged."""

    version: str
    value: float


class SampleRecord(Record):
    """The holdout sample evaluate scored on (`evalsample.Sample.as_dict`)."""

    units: int
    size: int
    fraction: float
    seed: int
    strata: int
    stratified_by: str


class HoldoutCopies(Record):
    """Holdout rows that copy a training row."""

    rows: int
    of: int


class Evaluation(Contract):
    """`evaluate`: candidate, champion and baseline on one holdout, the gate's decision
    (`gate`, `passed`) and the verdict every later step reads (`verdict`)."""

    FILE: ClassVar[str] = EVALUATION

    model: str
    primary: str
    holdout_fingerprint: str
    candidate: dict[str, float]
    champion: ChampionRecord | None
    champion_metrics: dict[str, float] | None
    baseline: str
    baseline_metrics: dict[str, float]
    candidate_interval: Interval | None
    history: list[HistoryPoint]
    gate: GateRecord
    passed: bool
    verdict: Verdict
    sample: SampleRecord | None = None  # the holdout sample, above evaluation.max_units
    split: dict[str, Any] | None = None  # the split's rule (`splitting.SplitRule`)
    # The candidate on the holdout rows the champion was compared on (those the champion
    # was not fitted on), when some were excluded; else None (the same as `candidate`).
    compared_candidate: dict[str, float] | None = None
    # Holdout rows that copy a training row: {"rows": n, "of": holdout rows}.
    holdout_copies: HoldoutCopies | None = None


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


class StepRecord(Record):
    """One step's entry in manifest.json: when and for which content it ran, and the
    fingerprint of each input it read and each output it wrote (None: not there). A record
    without inputs (written before they were recorded) counts as stale."""

    seconds: float
    finished_at: str
    content_hash: str
    inputs: dict[str, str | None] = {}
    outputs: dict[str, str | None]


class Manifest(Record):
    """manifest.json: the last run of each step (written and read by `RunDir` only)."""

    FILE: ClassVar[str] = MANIFEST

    steps: dict[str, StepRecord] = {}
