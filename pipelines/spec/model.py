"""The model spec: the desired state of one model, as a strict pydantic model.

The generated JSON schema (`model_specs/spec.schema.json`) comes from these classes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipelines.kinds import METRICS, get_kind, kinds
from pipelines.spec.urls import url_problem


def _known_kind(value: Any) -> Any:
    """A registered task kind, else the error (and message) a Literal of the kinds gives."""
    if isinstance(value, str) and value in kinds():
        return value
    names = [repr(kind) for kind in kinds()]
    expected = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
    raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


def _kinds_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = list(kinds())


# The spec's `task:`: a kind registered in `pipelines.kinds`.
TaskKind = Annotated[str, BeforeValidator(_known_kind), Field(json_schema_extra=_kinds_enum)]
ColumnDtype = Literal["int64", "float64", "bool", "string", "category"]
JsonScalar = str | int | float | bool | None
ParamValue = JsonScalar | list[JsonScalar] | dict[str, JsonScalar]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


class Strict(BaseModel):
    """Base: unknown keys are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class ColumnSpec(Strict):
    """Expected dtype and range of one column."""

    dtype: ColumnDtype
    min: float | None = Field(default=None, description="smallest allowed value")
    max: float | None = Field(default=None, description="largest allowed value")
    nullable: bool = Field(default=False, description="allow missing values in this column")
    id: bool = Field(
        default=False,
        description="values are identifiers: drift is their unseen-value rate, not PSI "
        "(the user and item roles are ids without this flag)",
    )

    @field_validator("min", "max", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        return float(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _ordered(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ChecksSpec(Strict):
    """Blocking data checks."""

    min_rows: int = Field(default=1, ge=1, description="fewest rows accepted")
    max_rows: int = Field(default=50_000_000, ge=1, description="most rows accepted")
    max_null_fraction: float = Field(default=0.0, ge=0, le=1)
    max_duplicate_fraction: float = Field(default=0.0, ge=0, le=1)
    max_drift_psi: float | None = Field(
        default=0.2, ge=0, description="largest PSI of any column against the champion's data"
    )
    max_unseen_id_fraction: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="largest share of rows whose id the champion's data never had; "
        "null reports the rate without blocking",
    )
    max_leakage_score: float | None = Field(
        default=0.99,
        gt=0,
        le=1,
        description="target leakage: a feature whose score alone (accuracy, or R² for "
        "regression, on half the training split) reaches this fails; null turns it off",
    )


RELATIVE_MARGIN = 0.05
"""The most a margin taken from holdout noise may allow: 5% of the metric's value.

A margin derived from a bootstrap interval (the gate's when the spec sets none, the one
`new-spec` proposes) is min(the interval's width, 5% of |value|), where value is the
champion's (gate) or the first fit's (`new-spec`) mean of the metric. On a holdout too
noisy to tell a 5% loss apart, the width alone would let a much worse model pass (a log
loss of 0.09 with an interval 0.17 wide); the cap keeps the allowed loss a share of the
value. It is positive whenever the metric is noisy and its value is not 0 (`new-spec`
rounds it up to two significant digits, so never to 0 either)."""


TIMED_STRATEGIES = ("temporal", "leave-last")


class SplitSpec(Strict):
    """Which rows are held out, decided row by row so that appending rows moves none.

    `random` and `stratified`: a row is held out when a salted hash of its `key` columns
    falls below `test_fraction`, so a row keeps its side however many rows are appended
    (`stratified` also needs every class on both sides). `temporal`: the rows after the
    time cut that leaves `test_fraction` of the rows newer than it (ties stay in
    training). `leave-last` (retrieval): each user's `last` newest interactions, for
    users with more than that.
    """

    strategy: Literal["random", "stratified", "temporal", "leave-last"] = "random"
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="salt of the row hash")
    key: list[str] | None = Field(
        default=None,
        min_length=1,
        description="random, stratified: the columns whose values decide a row's side; rows "
        "sharing them stay together (a group id gives a group split). Default: the user "
        "and item columns for retrieval, every spec column (the row's content) otherwise",
    )
    column: str | None = Field(
        default=None, description="temporal, leave-last: the time column that orders the rows"
    )
    last: int = Field(default=1, ge=1, description="leave-last: newest interactions per user")

    @model_validator(mode="after")
    def _fields_of_the_strategy(self) -> SplitSpec:
        timed = self.strategy in TIMED_STRATEGIES
        if timed and self.column is None:
            raise _located(
                ("data", "split", "column"), f"the {self.strategy} strategy needs the time column"
            )
        if not timed and self.column is not None:
            raise _located(
                ("data", "split", "column"),
                f"only temporal and leave-last splits read a column, not {self.strategy}",
            )
        if timed and self.key is not None:
            raise _located(
                ("data", "split", "key"), f"a {self.strategy} split is decided by time, not a key"
            )
        if self.strategy != "leave-last" and "last" in self.model_fields_set:
            raise _located(
                ("data", "split", "last"), "only a leave-last split holds out the last interactions"
            )
        return self


class DataSpec(Strict):
    """Where the data comes from and what it must look like."""

    source: str = Field(description="repo-relative path, `sklearn:<loader>`, or https URL")
    sha256: str | None = Field(default=None, description="pin of the source file's bytes")
    columns: dict[str, ColumnSpec] = Field(min_length=1)
    checks: ChecksSpec = ChecksSpec()
    split: SplitSpec = SplitSpec()
    target: str | None = Field(default=None, description="label column (classification)")
    user: str | None = Field(default=None, description="user column (retrieval)")
    item: str | None = Field(default=None, description="item column (retrieval)")
    weight: str | None = Field(default=None, description="interaction strength (retrieval)")

    @field_validator("source")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.lower().startswith(("https://", "http://")):
            problem = url_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lowercase hex characters")
        return value

    @model_validator(mode="after")
    def _source_pinned(self) -> DataSpec:
        if self.source.startswith("sklearn:"):
            return self
        if self.sha256 is None:
            raise ValueError("sha256 is required for file and URL sources")
        return self


class CategoricalSpec(Strict):
    """How `category` and `string` feature columns become numbers (tabular tasks)."""

    encoding: Literal["onehot", "ordinal"] = Field(
        default="onehot",
        description="onehot: one column per level; ordinal: one column of level codes",
    )
    max_levels: int = Field(
        default=20,
        ge=2,
        le=1000,
        description="levels kept per column (the most frequent); the rest, and levels never "
        "seen in training, share one 'other' level",
    )


class ModelSection(Strict):
    """The estimator to fit, by allow-listed import path."""

    estimator: str = Field(description="import path, e.g. sklearn.decomposition.TruncatedSVD")
    params: dict[str, ParamValue] = Field(default_factory=dict)
    standardize: bool = Field(default=True, description="scale features first (tabular tasks)")
    categorical: CategoricalSpec = CategoricalSpec()

    @field_validator("estimator")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        if not _DOTTED.fullmatch(value):
            raise ValueError("must be a dotted import path like sklearn.linear_model.Ridge")
        if any(part.startswith("_") for part in value.split(".")):
            raise ValueError("private modules and names are not allowed")
        prefixes = (info.context or {}).get("allowed_prefixes", ("sklearn.",))
        if not value.startswith(tuple(prefixes)):
            allowed = ", ".join(prefixes)
            raise ValueError(f"'{value}' is not allow-listed (allowed prefixes: {allowed})")
        return value

    @field_validator("params")
    @classmethod
    def _no_import_paths(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        # scikit-learn resolves some string parameters to callables; a dotted path in a
        # parameter is how a spec would smuggle one in (e.g. `kernel: os.system`).
        for name, param in value.items():
            for item in _strings(param):
                if _DOTTED.fullmatch(item):
                    raise _located(
                        ("model", "params", name),
                        f"'{item}' looks like an import path; parameter values cannot name "
                        "Python objects",
                    )
        return value


class Threshold(Strict):
    """An absolute bound on one metric."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min or max")
        return self


class ChampionSpec(Strict):
    """Non-inferiority against the current champion, by paired bootstrap."""

    metric: str | None = Field(default=None, description="defaults to evaluation.primary")
    margin: float | None = Field(
        default=None,
        ge=0,
        description="allowed loss: no worse than champion - m; null takes the width of the "
        "delta's interval (fail only when significantly worse); new-spec proposes the width "
        f"at most {RELATIVE_MARGIN:.0%} of the metric's value",
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=1000, ge=100, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    replace_incomparable: str | None = Field(
        default=None,
        min_length=1,
        description="a reviewed reason to replace a champion that cannot be scored on this "
        "holdout (new features, labels or task); without it such a candidate fails the gate",
    )


class BaselineSpec(Strict):
    """The candidate must beat a trivial model (most popular, class prior, mean)."""

    check: bool = Field(default=True, description="gate on beating the baseline")
    reason: str | None = Field(
        default=None, min_length=1, description="why the check is off (required with check: false)"
    )

    @model_validator(mode="after")
    def _reason_when_off(self) -> BaselineSpec:
        if not self.check and not (self.reason or "").strip():
            raise _located(
                ("evaluation", "baseline", "reason"),
                "turning the baseline check off needs a written reason",
            )
        return self


class EvaluationSpec(Strict):
    """Metrics, absolute thresholds, the champion and the baseline comparisons."""

    primary: str
    thresholds: dict[str, Threshold] = Field(default_factory=dict)
    champion: ChampionSpec = ChampionSpec()
    baseline: BaselineSpec = BaselineSpec()
    max_units: int = Field(
        default=10_000,
        ge=100,
        description="holdout units (retrieval: users; tabular: rows) scored at most; above "
        "it every model is scored on a fixed, seeded, stratified sample of this size and "
        "the bootstrap runs on the sample (the report says so)",
    )


class IndexGate(Strict):
    """Bounds the built index must meet."""

    min_recall_at_10: float = Field(default=0.9, ge=0, le=1)
    max_p99_ms: float = Field(default=10.0, gt=0)


class TuneSpec(Strict):
    """Search for the fastest usearch settings that meet the recall target."""

    max_build_seconds: float = Field(default=60.0, gt=0)
    target_recall_at_10: float | None = Field(default=None, ge=0, le=1)


class IndexSpec(Strict):
    """The usearch index built over the model's vectors."""

    metric: Literal["cos", "ip", "l2sq"] = "cos"
    dtype: Literal["f32", "f16", "bf16", "i8"] = "f32"
    connectivity: int = Field(default=16, ge=2, le=256)
    expansion_add: int = Field(default=128, ge=1, le=4096)
    expansion_search: int = Field(default=64, ge=1, le=4096)
    gate: IndexGate = IndexGate()
    tune: bool | TuneSpec = False
    reproducible: bool = Field(
        default=True,
        description="build on one thread so the same inputs give the same index; "
        "false builds on every core (faster, recall varies slightly between runs)",
    )


# A GitHub runner label (`ubuntu-latest`, `self-hosted`, `gpu`): no spaces or commas.
RunnerLabel = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s,]+$")]


class ResourcesSpec(Strict):
    """The budget of one fit, enforced in a child process (Linux), and the machine it needs."""

    max_fit_seconds: float = Field(
        default=900.0, gt=0, le=86_400, description="wall-clock limit of the fit, in seconds"
    )
    max_memory_mb: int = Field(
        default=4096,
        ge=64,
        le=1_048_576,
        description="memory the fit may allocate beyond what the process already maps, in MiB",
    )
    runs_on: list[RunnerLabel] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description=(
            "GitHub runner labels this model's CI jobs need, e.g. [self-hosted, gpu] "
            "(default: the workflow's runner)"
        ),
    )


AlertAction = Literal["issue", "retrain-pr"]
_CRON = re.compile(r"^\S+( \S+){4}$")


class DriftLimits(Strict):
    """Drift of fresh data against the champion's training profile."""

    max_psi: float = Field(default=0.2, ge=0, description="largest PSI of a feature column")
    max_unseen_fraction: float = Field(
        default=0.3, ge=0, le=1, description="largest share of rows with an unseen id"
    )
    max_prediction_psi: float | None = Field(
        default=0.25, ge=0, description="largest PSI of the predictions; null reports only"
    )


class QualityLimits(Strict):
    """Live quality: the primary metric on fresh labelled data vs the champion's holdout."""

    max_drop: float = Field(
        default=0.02, ge=0, description="alert when the interval lies below holdout - max_drop"
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=1000, ge=100, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


class MonitorIndexLimits(Strict):
    """The index's recall@10 against exact search on fresh queries."""

    min_recall_at_10: float | None = Field(
        default=None, ge=0, le=1, description="default: index.gate.min_recall_at_10"
    )


class MonitoringSpec(Strict):
    """Scheduled monitoring of the champion on fresh data."""

    source: str = Field(
        description="repo path or glob (the last match by name is the fresh batch), "
        "https URL (with sha256), or `sklearn:<loader>`"
    )
    sha256: str | None = Field(default=None, description="pin of an https source")
    schedule: str = Field(default="17 6 * * 1", description="cron of the scheduled workflow")
    drift: DriftLimits = DriftLimits()
    quality: QualityLimits = QualityLimits()
    index: MonitorIndexLimits = MonitorIndexLimits()
    on_alert: list[AlertAction] = Field(
        default_factory=lambda: list[AlertAction](["issue"]),
        description="what an alert does in monitor.yml",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _CRON.fullmatch(value.strip()):
            raise ValueError("must be a cron expression of five fields, e.g. '17 6 * * 1'")
        return value.strip()

    @model_validator(mode="after")
    def _pinned(self) -> MonitoringSpec:
        if self.source.startswith(("https://", "http://")) and self.sha256 is None:
            raise ValueError("sha256 is required for a URL source")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError("sha256 must be 64 lowercase hex characters")
        return self


class Spec(Strict):
    """One model: data, estimator, evaluation and index."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        allow_inf_nan=False,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    task: TaskKind
    description: str = ""
    data: DataSpec
    model: ModelSection
    evaluation: EvaluationSpec
    index: IndexSpec = IndexSpec()
    resources: ResourcesSpec = ResourcesSpec()
    monitoring: MonitoringSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        known = METRICS[self.task]
        names = ", ".join(sorted(known))
        if self.evaluation.primary not in known:
            raise _located(
                ("evaluation", "primary"),
                f"unknown metric '{self.evaluation.primary}' for {self.task} (known: {names}; "
                "README 'Metrics')",
            )
        for metric in self.evaluation.thresholds:
            if metric not in known:
                raise _located(
                    ("evaluation", "thresholds", metric),
                    f"unknown metric '{metric}' for {self.task} (known: {names})",
                )
        champion_metric = self.champion_metric
        per_unit = sorted(m for m, info in known.items() if info.per_unit)
        if champion_metric not in per_unit:
            loc: tuple[str, ...] = ("evaluation", "champion", "metric")
            if self.evaluation.champion.metric is None:
                loc = ("evaluation", "primary")
            raise _located(
                loc,
                f"'{champion_metric}' is a {self.task} metric of the whole holdout, which the "
                "champion comparison cannot bootstrap per unit; set evaluation.champion.metric "
                f"to one of: {', '.join(per_unit)} (all {self.task} metrics: {names}; "
                "README 'Metrics')",
            )
        self._check_roles()
        return self

    def _check_roles(self) -> None:
        data = self.data
        for role in get_kind(self.task).roles:
            column = getattr(data, role)
            if column is None:
                raise _located(("data", role), f"required for a {self.task} spec")
        for role in ("target", "user", "item", "weight"):
            column = getattr(data, role)
            if column is not None and column not in data.columns:
                raise _located(("data", role), f"column '{column}' is not in data.columns")
        roles = {role: getattr(data, role) for role in ("target", "user", "item", "weight")}
        taken: dict[str, str] = {}
        for role, column in roles.items():
            if column is None:
                continue
            if column in taken:
                raise _located(
                    ("data", role),
                    f"column '{column}' is already the {taken[column]} column: each role needs "
                    "its own column",
                )
            taken[column] = role
        split = data.split
        for position, column in enumerate(split.key or []):
            if column not in data.columns:
                raise _located(
                    ("data", "split", "key", str(position)),
                    f"column '{column}' is not in data.columns",
                )
        if split.column is not None and split.column not in data.columns:
            raise _located(
                ("data", "split", "column"), f"column '{split.column}' is not in data.columns"
            )

    def feature_columns(self) -> list[str]:
        """The columns a tabular model reads: every column but the target and the time column
        of a temporal (or leave-last) split. That column orders the rows; as a feature every
        holdout row would lie past the training times, and served rows later still."""
        data = self.data
        return [c for c in data.columns if c != data.target and c != data.split.column]

    def id_columns(self) -> list[str]:
        """Columns read as identifiers: the user and item roles and columns marked `id`."""
        roles = [self.data.user, self.data.item]
        marked = [name for name, column in self.data.columns.items() if column.id]
        return list(dict.fromkeys(c for c in [*roles, *marked] if c is not None))

    @property
    def champion_metric(self) -> str:
        """The metric compared against the champion."""
        return self.evaluation.champion.metric or self.evaluation.primary


def _strings(param: ParamValue) -> list[str]:
    """The string values in a parameter (itself, or inside a list or mapping)."""
    if isinstance(param, str):
        return [param]
    values = param if isinstance(param, list) else param.values() if isinstance(param, dict) else []
    return [v for v in values if isinstance(v, str)]


class LocatedError(ValueError):
    """A cross-field error that knows which field it belongs to."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _located(loc: tuple[str, ...], message: str) -> LocatedError:
    return LocatedError(loc, message)
