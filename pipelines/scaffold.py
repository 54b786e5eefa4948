"""`new-spec`: write a first spec for a CSV file, ready to run to a champion.

It infers column dtypes, proposes ranges and checks from the data, pins the file's sha256,
picks a small default estimator and fits it once on the same split the pipeline uses. It
bootstraps that fit's per-unit metrics on the holdout: each absolute threshold is the low
end of its metric's 95% interval (rounded away), and the champion margin is the width of
the comparison metric's interval, so an equally good retrain passes and a model that breaks
badly does not. It never overwrites a spec.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import find_root, load_config
from pipelines.errors import BadInput
from pipelines.gate import mean_interval
from pipelines.metrics import METRICS

log = logging.getLogger("pipelines")

TASKS = ("classification", "regression", "retrieval")
SEED = 7
CONFIDENCE = 0.95
RESAMPLES = 1000
# Per-unit metrics that get an absolute threshold (their bootstrap interval's far end).
THRESHOLD_METRICS = {
    "classification": ("accuracy", "log_loss"),
    "regression": ("mae",),
    "retrieval": ("ndcg_at_10", "recall_at_10"),
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "~"}
_TARGET_NAMES = ("target", "label", "y", "class", "outcome")
_USER_WORDS = ("user", "customer", "member", "visitor", "account")
_ITEM_WORDS = ("item", "product", "movie", "track", "song", "article", "sku", "video", "book")
_WEIGHT_NAMES = ("rating", "weight", "score", "count", "clicks", "plays", "value", "quantity")


@dataclass
class Column:
    """What the data says about one column, and what the spec proposes for it."""

    name: str
    dtype: str
    nulls: int
    low: float | None = None
    high: float | None = None
    note: str = ""


@dataclass
class Draft:
    """Everything the spec text is made from."""

    name: str
    task: str
    source: str
    sha256: str | None  # None for sklearn: sources (bundled with scikit-learn, not pinned)
    rows: int
    columns: list[Column]
    roles: dict[str, str]
    checks: dict[str, Any]
    split: dict[str, Any]
    estimator: str
    params: dict[str, Any]
    primary: str
    champion: dict[str, Any]
    index: dict[str, Any]
    thresholds: dict[str, tuple[str, float]] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def new_spec(
    name: str,
    task: str,
    data: Path,
    *,
    target: str | None = None,
    user: str | None = None,
    item: str | None = None,
    weight: str | None = None,
    root: Path | None = None,
) -> Path:
    """Write `model_specs/<name>.yaml` for the CSV at `data` (or `sklearn:<loader>`)."""
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"model name '{name}' must be lowercase letters, digits and '-' (at most 63)"
        )
    if task not in TASKS:
        raise BadInput(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    root = (root or find_root(Path.cwd())).resolve()
    spec_path = root / "model_specs" / f"{name}.yaml"
    if spec_path.exists():
        raise BadInput(f"{spec_path.relative_to(root)} exists; refusing to overwrite it")
    if str(data).startswith("sklearn:"):
        source, sha256 = str(data), None
        frame = _read_sklearn(source)
    else:
        from pipelines.data.sources import sha256_file

        csv_path = _inside(root, data)
        frame = _read(csv_path)
        source, sha256 = csv_path.relative_to(root).as_posix(), sha256_file(csv_path)
    draft = _draft(name, task, source, sha256, frame, target, user, item, weight)
    _fit_baseline(draft, root)
    text = render(draft)
    _validate(text, root, spec_path.name)
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    with spec_path.open("x", encoding="utf-8") as handle:  # never overwrite, even in a race
        handle.write(text)
    log.info("wrote %s (%s on %s)", spec_path.relative_to(root), task, draft.source)
    for column, why in draft.excluded.items():
        log.warning("left out column '%s': %s", column, why)
    return spec_path


# -- reading ------------------------------------------------------------------------------


def _inside(root: Path, data: Path) -> Path:
    path = (data if data.is_absolute() else Path.cwd() / data).resolve()
    if not path.is_file():
        raise BadInput(f"data file not found: {data}")
    if not path.is_relative_to(root):
        raise BadInput(
            f"{data} is outside the repository ({root}); copy it under data/ first, "
            "so the spec can pin it"
        )
    return path


def _read_sklearn(source: str) -> pd.DataFrame:
    from pipelines.data.sources import sklearn_frame, sklearn_loaders

    try:
        return sklearn_frame(source.removeprefix("sklearn:"))
    except ValueError:
        known = ", ".join(f"sklearn:{n}" for n in sklearn_loaders())
        raise BadInput(f"unknown dataset '{source}' (known: {known})") from None


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, encoding="utf-8", low_memory=False)
    except UnicodeDecodeError as exc:
        raise BadInput("file is not UTF-8 text", file=str(path)) from exc
    except (ValueError, pd.errors.ParserError) as exc:
        raise BadInput(f"cannot parse CSV: {str(exc).splitlines()[0]}", file=str(path)) from exc
    if frame.empty or len(frame.columns) == 0:
        raise BadInput("the CSV has no data rows", file=str(path))
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise BadInput(f"duplicate column '{duplicated[0]}' in the header", file=str(path))
    return frame


def infer_dtype(series: pd.Series) -> str:
    """The spec dtype of a column as pandas parsed it."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int64"
    if pd.api.types.is_numeric_dtype(series):
        return "float64"
    distinct = series.nunique(dropna=True)
    return "category" if distinct <= max(20, len(series) // 100) else "string"


def propose_range(series: pd.Series, dtype: str) -> tuple[float | None, float | None]:
    """Bounds for a numeric column: 0 for non-negative data, 1 for fractions, else the
    observed range widened by 10% of its span and rounded outwards."""
    if dtype not in {"int64", "float64"}:
        return None, None
    values = series.dropna().to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None, None
    lo, hi = float(values.min()), float(values.max())
    pad = 0.1 * (hi - lo) if hi > lo else 0.1 * max(abs(hi), 1.0)
    low = 0.0 if lo >= 0 else _round_out(lo - pad, down=True)
    high = 1.0 if lo >= 0 and hi <= 1 else _round_out(hi + pad, down=False)
    if dtype == "int64":  # whole-number bounds for whole-number data
        return float(math.floor(low)), float(math.ceil(high))
    return low, high


def _round_out(value: float, *, down: bool) -> float:
    """Round to two significant digits, away from the data."""
    if value == 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(abs(value))) - 1)
    return float((math.floor if down else math.ceil)(value / step) * step)


# -- drafting -----------------------------------------------------------------------------


def _draft(
    name: str,
    task: str,
    source: str,
    sha256: str | None,
    frame: pd.DataFrame,
    target: str | None,
    user: str | None,
    item: str | None,
    weight: str | None,
) -> Draft:
    for flag, value in (("--target", target), ("--user", user), ("--item", item)):
        if value is not None and value not in frame.columns:
            raise BadInput(f"{flag} '{value}' is not a column of {source}")
    if weight is not None and weight not in frame.columns:
        raise BadInput(f"--weight '{weight}' is not a column of {source}")
    common = {"name": name, "task": task, "source": source, "sha256": sha256, "rows": len(frame)}
    if task == "retrieval":
        return _draft_retrieval(common, frame, user, item, weight)
    return _draft_tabular(common, frame, target)


def _draft_tabular(common: dict[str, Any], frame: pd.DataFrame, target: str | None) -> Draft:
    task = common["task"]
    target = target or _guess_target(frame)
    labels = frame[target]
    if labels.isna().any():
        raise BadInput(f"target '{target}' has {int(labels.isna().sum())} missing values")
    target_dtype = infer_dtype(labels)
    if task == "regression" and target_dtype not in {"int64", "float64"}:
        raise BadInput(f"target '{target}' is {target_dtype}: regression needs numbers")
    if task == "classification":
        _check_classes(target, labels, target_dtype)
    excluded: dict[str, str] = {}
    columns: list[Column] = []
    for column in frame.columns:
        if column == target:
            continue
        why = _unusable_feature(frame[column])
        if why:
            excluded[column] = why
            continue
        dtype = infer_dtype(frame[column])
        low, high = propose_range(frame[column], dtype)
        columns.append(Column(column, dtype, 0, low, high, _observed(frame[column], dtype)))
    if not columns:
        raise BadInput(f"no usable numeric feature columns besides '{target}'")
    if task == "classification":
        low, high = (
            (float(labels.min()), float(labels.max())) if target_dtype == "int64" else (None, None)
        )
        note = f"{labels.nunique()} classes"
    else:
        low, high = propose_range(labels, target_dtype)
        note = _observed(labels, target_dtype)
    columns.append(Column(target, target_dtype, 0, low, high, note))
    stratified = task == "classification" and int(labels.value_counts().min()) >= 2
    if task == "classification":
        estimator, params = "sklearn.linear_model.LogisticRegression", {"C": 1.0, "max_iter": 1000}
        primary, champion_metric = "accuracy", "log_loss"
    else:
        estimator, params = "sklearn.linear_model.Ridge", {"alpha": 1.0}
        primary, champion_metric = "mae", "mae"
    used = [c.name for c in columns]
    return Draft(
        **common,
        columns=columns,
        roles={"target": target},
        checks=_checks(frame[used]),
        split={
            "strategy": "stratified" if stratified else "random",
            "test_fraction": 0.2,
            "seed": SEED,
        },
        estimator=estimator,
        params=params,
        primary=primary,
        champion={"metric": champion_metric},
        index={"metric": "l2sq", "dtype": "f32", "connectivity": 16},
        excluded=excluded,
    )


def _draft_retrieval(
    common: dict[str, Any],
    frame: pd.DataFrame,
    user: str | None,
    item: str | None,
    weight: str | None,
) -> Draft:
    user = user or _find(frame, _USER_WORDS, "user", "--user")
    item = item or _find(frame, _ITEM_WORDS, "item", "--item", exclude=(user,))
    if user == item:
        raise BadInput("the user and item columns must differ")
    if weight is None:
        weight = next(
            (
                c
                for c in frame.columns
                if c.lower() in _WEIGHT_NAMES
                and c not in (user, item)
                and infer_dtype(frame[c]) in {"int64", "float64"}
                and not frame[c].isna().any()
            ),
            None,
        )
    roles = {"user": user, "item": item} | ({"weight": weight} if weight else {})
    columns: list[Column] = []
    for role, column in roles.items():
        series = frame[column]
        if series.isna().any():
            raise BadInput(
                f"{role} column '{column}' has {int(series.isna().sum())} missing values"
            )
        dtype = infer_dtype(series)
        if dtype == "category":
            dtype = "string"
        if role == "weight":
            if dtype not in {"int64", "float64"}:
                raise BadInput(f"weight column '{column}' must be numeric, found {dtype}")
            if float(series.min()) < 0:
                raise BadInput(f"weight column '{column}' has negative values")
        low, high = propose_range(series, dtype) if role == "weight" else (None, None)
        if role != "weight" and dtype == "int64":
            low = float(series.min()) if float(series.min()) >= 0 else None
        note = f"{series.nunique()} distinct" if role != "weight" else _observed(series, dtype)
        columns.append(Column(column, dtype, 0, low, high, note))
    excluded = {
        c: "not a user, item or weight column" for c in frame.columns if c not in roles.values()
    }
    users, items = frame[user].nunique(), frame[item].nunique()
    if items < 3 or users < 3:
        raise BadInput(f"retrieval needs at least 3 users and 3 items ({users} and {items} found)")
    components = max(1, min(32, items - 1, users - 1))
    return Draft(
        **common,
        columns=columns,
        roles=roles,
        checks=_checks(frame[list(roles.values())]),
        split={"strategy": "random", "test_fraction": 0.2, "seed": SEED},
        estimator="sklearn.decomposition.TruncatedSVD",
        params={
            "n_components": components,
            "algorithm": "randomized",
            "n_iter": 7,
            "random_state": SEED,
        },
        primary="ndcg_at_10",
        champion={"metric": "ndcg_at_10"},
        index={
            "metric": "ip",
            "dtype": "f32",
            "connectivity": 16,
            "expansion_add": 128,
            "expansion_search": 64,
        },
        excluded=excluded,
    )


def _guess_target(frame: pd.DataFrame) -> str:
    for column in frame.columns:
        if str(column).lower() in _TARGET_NAMES:
            log.info("target column: '%s' (pass --target to choose another)", column)
            return str(column)
    last = str(frame.columns[-1])
    log.info("target column: '%s', the last one (pass --target to choose another)", last)
    return last


def _check_classes(target: str, labels: pd.Series, dtype: str) -> None:
    counts = labels.value_counts()
    if len(counts) < 2:
        raise BadInput(f"target '{target}' has a single class: nothing to classify")
    if dtype == "float64" and not np.all(np.mod(labels.to_numpy(dtype=np.float64), 1) == 0):
        raise BadInput(f"target '{target}' holds fractional numbers: use --task regression")
    if len(counts) > max(50, len(labels) // 10):
        raise BadInput(f"target '{target}' has {len(counts)} classes: is it a regression target?")


def _unusable_feature(series: pd.Series) -> str:
    """Why a column cannot be a feature of the tabular tasks ('' when it can)."""
    dtype = infer_dtype(series)
    if dtype in {"string", "category"}:
        return "text: the tabular tasks take numeric features only (encode it first)"
    if series.isna().any():
        return f"{int(series.isna().sum())} missing values: the pipeline does not impute"
    name = str(series.name).lower()
    if dtype == "int64" and series.is_unique and (name == "id" or name.endswith(("_id", "id"))):
        return "a unique row id, not a feature"
    return ""


def _find(
    frame: pd.DataFrame, words: tuple[str, ...], role: str, flag: str, exclude: tuple[str, ...] = ()
) -> str:
    for column in frame.columns:
        if column not in exclude and any(w in str(column).lower() for w in words):
            log.info("%s column: '%s' (pass %s to choose another)", role, column, flag)
            return str(column)
    raise BadInput(f"cannot tell which column holds the {role}s: pass {flag} COLUMN")


def _observed(series: pd.Series, dtype: str) -> str:
    if dtype not in {"int64", "float64"}:
        return f"{series.nunique()} distinct"
    lo, hi = series.min(), series.max()
    if dtype == "int64":
        return f"seen {int(lo)} .. {int(hi)}"
    return f"seen {_fmt(float(lo), 4)} .. {_fmt(float(hi), 4)}"


def _checks(frame: pd.DataFrame) -> dict[str, Any]:
    rows = len(frame)
    duplicated = float(frame.duplicated().mean()) if rows else 0.0
    return {
        # Half of today's rows: a truncated export fails, normal growth passes.
        "min_rows": max(1, rows // 2),
        "max_null_fraction": 0,
        "max_duplicate_fraction": 0
        if duplicated == 0
        else _round_out(duplicated * 1.2, down=False),
        "max_drift_psi": 0.2,
    }


# -- baseline -----------------------------------------------------------------------------


def _fit_baseline(draft: Draft, root: Path) -> None:
    """Fit the default estimator on the pipeline's split; derive thresholds from its scores."""
    from pipelines.data.checks import run_checks
    from pipelines.data.sources import load_data
    from pipelines.index import exact_topk
    from pipelines.spec import load_spec
    from pipelines.spec.estimators import build_estimator
    from pipelines.tasks import get_task

    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / f"{draft.name}.yaml"
        probe.write_text(render(draft), encoding="utf-8")
        loaded = load_spec(probe, config=load_config(root))
        data = load_data(loaded)
    failed = [r for r in run_checks(loaded, data, None)[0] if r.blocking and not r.passed]
    if failed:
        raise BadInput(f"the proposed data checks fail on the data: {failed[0].detail}")
    task = get_task(draft.task)
    split = task.split(loaded, data.frame)
    bundle = task.fit(loaded, data.frame, split, build_estimator(loaded))
    keys, vectors = task.index_vectors(bundle)

    def searcher(queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        positions, sims = exact_topk(vectors, queries, count, bundle.index_metric)
        return keys[positions], sims

    scored = task.score(loaded, bundle, data.frame, split, searcher)
    scores = scored.metrics
    draft.baseline = {k: v for k, v in scores.items() if k in METRICS[draft.task]}
    draft.intervals = {
        name: mean_interval(values, confidence=CONFIDENCE, resamples=RESAMPLES, seed=SEED)
        for name, values in scored.per_unit.items()
        if name in METRICS[draft.task]
    }
    draft.thresholds = _thresholds(draft.task, draft.intervals)
    metric = draft.champion["metric"]
    low, high = draft.intervals[metric]
    # The margin is the interval's width: an equally good retrain differs from this fit by
    # less than that on this holdout about 97.5% of the time.
    draft.champion["margin"] = _round_out(high - low, down=False) if high > low else 0.0
    if draft.task == "classification":
        majority = float(data.frame[draft.roles["target"]].value_counts(normalize=True).max())
        if scores["accuracy"] <= majority:
            log.warning(
                "the default model's accuracy (%.3f) is no better than always predicting the "
                "most frequent class (%.3f): check the target and features",
                scores["accuracy"],
                majority,
            )


def _thresholds(
    task: str, intervals: dict[str, tuple[float, float]]
) -> dict[str, tuple[str, float]]:
    """Absolute bounds at the far end of each metric's bootstrap interval, rounded away."""
    out: dict[str, tuple[str, float]] = {}
    for metric in THRESHOLD_METRICS[task]:
        if metric not in intervals:
            continue
        low, high = intervals[metric]
        if not (math.isfinite(low) and math.isfinite(high)):
            continue
        if METRICS[task][metric].greater_is_better:
            out[metric] = ("min", _round_out(low, down=True) if low > 0 else 0.0)
        else:
            out[metric] = ("max", _round_out(high, down=False))
    return out


# -- writing ------------------------------------------------------------------------------


def render(draft: Draft) -> str:
    """The spec as YAML text, with comments saying where each proposal came from."""
    lines = [
        "# yaml-language-server: $schema=spec.schema.json",
        f"# Written by `nox -s new-spec` from {draft.source} ({draft.rows} rows). Ranges, checks",
        "# and thresholds are proposals from that data: review them in the pull request.",
        f"name: {draft.name}",
        f"task: {draft.task}",
        f"description: {_scalar(f'{draft.task.capitalize()} on {draft.source}.')}",
        "data:",
        f"  source: {_scalar(draft.source)}",
    ]
    if draft.sha256:
        lines.append(f"  sha256: {draft.sha256}")
    lines += [f"  {role}: {_scalar(column)}" for role, column in draft.roles.items()]
    if draft.excluded:
        lines.append("  # left out of the spec:")
        lines += [f"  #   {column}: {why}" for column, why in draft.excluded.items()]
    lines.append("  columns:")
    for column in draft.columns:
        fields = [f"dtype: {column.dtype}"]
        whole = column.dtype == "int64"
        for key, bound in (("min", column.low), ("max", column.high)):
            if bound is not None:
                fields.append(f"{key}: {_fmt(int(bound) if whole else bound)}")
        note = f"  # {column.note}" if column.note else ""
        lines.append(f"    {_scalar(column.name)}: {{{', '.join(fields)}}}{note}")
    lines.append("  checks:")
    lines += [f"    {key}: {_fmt(value)}" for key, value in draft.checks.items()]
    lines.append(f"  split: {_flow(draft.split)}")
    lines += ["model:", f"  estimator: {draft.estimator}", f"  params: {_flow(draft.params)}"]
    lines += ["evaluation:", f"  primary: {draft.primary}"]
    if draft.baseline:
        seen = ", ".join(f"{k} {_fmt(v, 4)}" for k, v in sorted(draft.baseline.items()))
        lines.append(f"  # the first fit on the holdout when this spec was written: {seen}")
    if draft.thresholds:
        lines.append(
            f"  # thresholds: the far end of each metric's {CONFIDENCE:.0%} bootstrap interval "
            f"({RESAMPLES} resamples of the holdout units), rounded away"
        )
        lines.append("  thresholds:")
        lines += [
            f"    {metric}: {{{bound}: {_fmt(value)}}}"
            for metric, (bound, value) in draft.thresholds.items()
        ]
    champion = {**draft.champion, "confidence": CONFIDENCE, "resamples": RESAMPLES, "seed": SEED}
    metric = draft.champion["metric"]
    if metric in draft.intervals:
        low, high = draft.intervals[metric]
        lines.append(
            f"  # margin: the width of the {CONFIDENCE:.0%} interval of {metric} on this holdout "
            f"[{_fmt(low, 4)}, {_fmt(high, 4)}], rounded up: differences smaller than about "
            "half of it cannot be told apart here"
        )
    lines.append(f"  champion: {_flow(champion)}")
    gate = {"min_recall_at_10": 0.9, "max_p99_ms": 10}
    lines += ["index:"] + [f"  {key}: {_fmt(value)}" for key, value in draft.index.items()]
    lines.append(f"  gate: {_flow(gate)}")
    return "\n".join(lines) + "\n"


def _validate(text: str, root: Path, filename: str) -> None:
    from pipelines.spec import load_spec
    from pipelines.spec.estimators import resolve_estimator

    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / filename
        probe.write_text(text, encoding="utf-8")
        resolve_estimator(load_spec(probe, config=load_config(root)))


def _scalar(value: str) -> str:
    plain = _PLAIN_KEY.fullmatch(value) or re.fullmatch(r"[A-Za-z0-9_./-]+", value)
    if plain and value.lower() not in _YAML_WORDS and not _looks_numeric(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return value.startswith(("0x", "0o", "-", "."))
    return True


def _fmt(value: Any, digits: int = 6) -> str:
    """A YAML number that reads back as the same type (floats always keep a dot)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _scalar(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number)}.0" if digits == 6 else str(int(number))
    if 1e-4 <= abs(number) < 1e15:
        return np.format_float_positional(number, precision=digits, unique=True, trim="-")
    mantissa, exponent = f"{number:.{digits - 1}e}".split("e")
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"


def _flow(mapping: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}: {_fmt(value)}" for key, value in mapping.items()) + "}"


def handle(args: argparse.Namespace) -> int:
    """Write the spec and say what to do next."""
    path = new_spec(
        args.name,
        args.task,
        args.data,
        target=args.target,
        user=args.user,
        item=args.item,
        weight=args.weight,
    )
    log.info("next: nox -s pipeline -- %s", path.relative_to(find_root(path.parent)).as_posix())
    return 0


def register(subparsers: Any) -> None:
    """Add the `new-spec` command."""
    parser = subparsers.add_parser(
        "new-spec",
        help="Write a first spec for a CSV file.",
        description="Write model_specs/<name>.yaml for a CSV inside the repository.",
    )
    parser.add_argument("name", help="model name (lowercase, digits, '-')")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="CSV file inside the repository, or sklearn:<loader> (e.g. sklearn:load_wine)",
    )
    parser.add_argument("--target", help="label column (classification, regression)")
    parser.add_argument("--user", help="user column (retrieval; guessed from names if omitted)")
    parser.add_argument("--item", help="item column (retrieval; guessed from names if omitted)")
    parser.add_argument("--weight", help="interaction strength column (retrieval, optional)")
    parser.set_defaults(handler=handle)
