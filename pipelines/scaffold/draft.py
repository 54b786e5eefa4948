"""Drafting a spec from a frame: the columns, roles, split, default estimator, primary
metric and index per task kind. `new-spec` writes specs for the kinds in `DRAFTERS`.

The split: with a time column (`infer.find_time_column`) a temporal split holding out the
newest `TEST_FRACTION` of rows, else a hash split of the rows' key columns."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import BadInput
from pipelines.kinds import get_kind
from pipelines.scaffold.infer import (
    TimeColumn,
    find_time_column,
    infer_dtype,
    observed,
    propose_checks,
    propose_range,
    unusable_feature,
)

log = logging.getLogger("pipelines")

# Role columns given on the command line (`target`, `user`, `item`, `weight`); None: guess.
Flags = dict[str, str | None]
SEED = 7
TEST_FRACTION = 0.2
CONFIDENCE = 0.95
RESAMPLES = 1000
THRESHOLD_METRICS = {
    "classification": ("accuracy", "log_loss"),
    "regression": ("mae",),
    "retrieval": ("ndcg_at_10", "recall_at_10"),
}
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
    split_why: str = ""  # the comment above `split:`: why this split
    margin_why: str = ""  # the comment above `champion:`: how the margin was derived


def make_draft(
    name: str, task: str, source: str, sha256: str | None, frame: pd.DataFrame, flags: Flags
) -> Draft:
    """The draft of a `task` spec for `frame`; `flags` are the role columns given on the
    command line (`target`, `user`, `item`, `weight`), None where to guess."""
    for role, value in flags.items():
        if value is not None and value not in frame.columns:
            raise BadInput(f"--{role} '{value}' is not a column of {source}")
    common = {"name": name, "task": task, "source": source, "sha256": sha256, "rows": len(frame)}
    return DRAFTERS[task](common, frame, flags)


def _draft_tabular(common: dict[str, Any], frame: pd.DataFrame, flags: Flags) -> Draft:
    """Classification or regression: the target, numeric features, a linear model."""
    classes = get_kind(common["task"]).target == "class"
    target = flags["target"] or _guess_target(frame)
    labels = frame[target]
    if labels.isna().any():
        raise BadInput(f"target '{target}' has {int(labels.isna().sum())} missing values")
    target_dtype = infer_dtype(labels)
    if not classes and target_dtype not in {"int64", "float64"}:
        raise BadInput(f"target '{target}' is {target_dtype}: {common['task']} needs numbers")
    if classes:
        _check_classes(target, labels, target_dtype)
    time = find_time_column(frame, skip=(target,))
    columns, excluded = _features(frame, target, time.name if time else None)
    if not columns:
        raise BadInput(f"no usable numeric feature columns besides '{target}'")
    if classes:
        low, high = (
            (float(labels.min()), float(labels.max())) if target_dtype == "int64" else (None, None)
        )
        note = f"{labels.nunique()} classes"
    else:
        low, high = propose_range(labels, target_dtype)
        note = observed(labels, target_dtype)
    if time is not None:
        columns.append(_time_column(time, "the split's time, not a feature"))
    columns.append(Column(target, target_dtype, 0, low, high, note))
    stratified = classes and int(labels.value_counts().min()) >= 2
    strategy = "stratified" if stratified else "random"
    if classes:
        estimator, params = "sklearn.linear_model.LogisticRegression", {"C": 1.0, "max_iter": 1000}
        primary, champion_metric = "accuracy", "log_loss"
    else:
        estimator, params = "sklearn.linear_model.Ridge", {"alpha": 1.0}
        primary, champion_metric = "mae", "mae"
    used = [c.name for c in columns]
    key = "every column above (the row's content: identical rows stay on one side)"
    split, split_why = _split(time, strategy, key)
    return Draft(
        **common,
        columns=columns,
        roles={"target": target},
        checks=propose_checks(frame[used]),
        split=split,
        split_why=split_why,
        estimator=estimator,
        params=params,
        primary=primary,
        champion={"metric": champion_metric},
        index={"metric": "l2sq", "dtype": "f32", "connectivity": 16},
        excluded=excluded,
    )


def _features(
    frame: pd.DataFrame, target: str, time: str | None
) -> tuple[list[Column], dict[str, str]]:
    """The usable feature columns, and why each other column but the target and the
    split's time column is left out."""
    excluded: dict[str, str] = {}
    columns: list[Column] = []
    for column in frame.columns:
        if column in (target, time):
            continue
        why = unusable_feature(frame[column])
        if why:
            excluded[column] = why
            continue
        dtype = infer_dtype(frame[column])
        low, high = propose_range(frame[column], dtype)
        columns.append(Column(column, dtype, 0, low, high, observed(frame[column], dtype)))
    return columns, excluded


def _time_column(time: TimeColumn, role: str) -> Column:
    """The spec column of the split's time column: a lower bound only, as times grow."""
    low = 0.0 if time.dtype in {"int64", "float64"} else None
    return Column(time.name, time.dtype, 0, low, None, f"{role}: {time.describe()}")


def _split(time: TimeColumn | None, strategy: str, key: str) -> tuple[dict[str, Any], str]:
    """The proposed split and the comment saying why: temporal on a time column, else
    `strategy` (random or stratified) by a hash of `key`."""
    share = f"{TEST_FRACTION:.0%}"
    if time is not None:
        return (
            {"strategy": "temporal", "column": time.name, "test_fraction": TEST_FRACTION},
            f"time column '{time.name}' found ({time.describe()}): the newest {share} of "
            "rows are held out, as production sees them (trained on the past, scored on "
            "what came after)",
        )
    classes = ", every class on both sides" if strategy == "stratified" else ""
    return (
        {"strategy": strategy, "test_fraction": TEST_FRACTION, "seed": SEED},
        f"no time column found: {strategy} split, a row is held out when the hash of its key "
        f"(seed {SEED}) falls in the lowest {share}{classes}; key: {key}; appended rows "
        "never move a row to the other side",
    )


def _draft_retrieval(common: dict[str, Any], frame: pd.DataFrame, flags: Flags) -> Draft:
    """Retrieval: user, item and (optional) weight columns, a TruncatedSVD."""
    roles = _retrieval_roles(frame, flags)
    columns = [_role_column(frame[column], role) for role, column in roles.items()]
    time = find_time_column(frame, skip=tuple(roles.values()))
    if time is not None:
        columns.append(_time_column(time, "the split's time"))
    used = [c.name for c in columns]
    excluded = {
        c: "not a user, item, weight or time column" for c in frame.columns if c not in used
    }
    users, items = frame[roles["user"]].nunique(), frame[roles["item"]].nunique()
    if items < 3 or users < 3:
        raise BadInput(f"retrieval needs at least 3 users and 3 items ({users} and {items} found)")
    components = max(1, min(32, items - 1, users - 1))
    split, split_why = _split(
        time, "random", f"({roles['user']}, {roles['item']}): a pair's rows stay on one side"
    )
    return Draft(
        **common,
        columns=columns,
        roles=roles,
        checks=propose_checks(frame[used]),
        split=split,
        split_why=split_why,
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


def _retrieval_roles(frame: pd.DataFrame, flags: Flags) -> dict[str, str]:
    """The user, item and weight columns: as flagged, else guessed from their names."""
    user = flags["user"] or _find(frame, _USER_WORDS, "user", "--user")
    item = flags["item"] or _find(frame, _ITEM_WORDS, "item", "--item", exclude=(user,))
    if user == item:
        raise BadInput("the user and item columns must differ")
    weight = flags["weight"]
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
    return {"user": user, "item": item} | ({"weight": weight} if weight else {})


def _role_column(series: pd.Series, role: str) -> Column:
    """The spec column of a user, item or weight column (ids as strings or ints)."""
    column = str(series.name)
    if series.isna().any():
        raise BadInput(f"{role} column '{column}' has {int(series.isna().sum())} missing values")
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
    note = f"{series.nunique()} distinct" if role != "weight" else observed(series, dtype)
    return Column(column, dtype, 0, low, high, note)


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


def _find(
    frame: pd.DataFrame, words: tuple[str, ...], role: str, flag: str, exclude: tuple[str, ...] = ()
) -> str:
    for column in frame.columns:
        if column not in exclude and any(w in str(column).lower() for w in words):
            log.info("%s column: '%s' (pass %s to choose another)", role, column, flag)
            return str(column)
    raise BadInput(f"cannot tell which column holds the {role}s: pass {flag} COLUMN")


# The task kinds `new-spec` drafts, in the order the CLI lists them.
DRAFTERS: dict[str, Callable[[dict[str, Any], pd.DataFrame, Flags], Draft]] = {
    "classification": _draft_tabular,
    "regression": _draft_tabular,
    "retrieval": _draft_retrieval,
}
