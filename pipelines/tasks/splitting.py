"""Which side of the holdout split each row is on, decided so that refreshed data is fair.

- `random` / `stratified`: a row is held out when a salted hash of its key columns falls
  below `test_fraction`. The side depends on the row's own values only, so appending rows
  never moves an old row, and rows sharing a key (duplicates, a group) never straddle.
- `temporal`: rows strictly newer than a time cut, the cut leaving about `test_fraction`
  of the rows newer than it; ties stay in training.
- `leave-last`: each user's `last` newest interactions, for users with more than that.

`SplitRule` is what publish records of a split, so a later evaluation can say which rule
produced the champion's training rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.spec import LoadedSpec
from pipelines.tasks.base import Split

# Fewest holdout units (retrieval: users; otherwise rows) a verdict is reached on.
MIN_HOLDOUT_UNITS = 20
# The row hash's definition; a change of it is a change of every split.
HASH_VERSION = 1
_UNIT = float(2**-53)


@dataclass(frozen=True)
class SplitRule:
    """How a split was drawn: enough to name it in a report and to record it at publish."""

    strategy: str
    test_fraction: float
    seed: int | None = None
    key: tuple[str, ...] | None = None
    column: str | None = None
    cut: str | None = None  # temporal: the newest training time, as text
    last: int | None = None
    hash_version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The rule without its empty fields (JSON-ready)."""
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
            if v is not None
        }

    @classmethod
    def of(cls, recorded: dict[str, Any]) -> SplitRule:
        """A rule from its recorded dict."""
        fields = dict(recorded)
        if fields.get("key") is not None:
            fields["key"] = tuple(fields["key"])
        return cls(**fields)

    def describe(self) -> str:
        """One phrase for reports and logs."""
        if self.strategy == "temporal":
            return f"temporal on '{self.column}': rows after {self.cut} held out"
        if self.strategy == "leave-last":
            return f"leave-last on '{self.column}': each user's {self.last} newest held out"
        key = ", ".join(self.key or ())
        return (
            f"{self.strategy} by hash of ({key}), seed {self.seed}, {self.test_fraction:g} held out"
        )


def row_hashes(frame: pd.DataFrame, columns: list[str], seed: int) -> np.ndarray:
    """A 64-bit hash of each row's values in `columns`, salted by `seed`."""
    salt = f"{seed:016x}"[-16:]
    hashed = pd.util.hash_pandas_object(frame[columns], index=False, hash_key=salt)
    return hashed.to_numpy(dtype=np.uint64)


def held_out_by_hash(
    frame: pd.DataFrame, columns: list[str], seed: int, fraction: float
) -> np.ndarray:
    """Whether each row is in the holdout: its hash, as a number in [0, 1), below `fraction`."""
    unit = (row_hashes(frame, columns, seed) >> np.uint64(11)).astype(np.float64) * _UNIT
    return np.asarray(unit < fraction)


def split_rows(
    loaded: LoadedSpec,
    frame: pd.DataFrame,
    default_key: list[str],
    *,
    labels: str | None = None,
    user: str | None = None,
) -> Split:
    """The spec's split of `frame`, its rule recorded on it. `labels` names the class column a
    stratified split checks; `user` the column a leave-last split groups by."""
    split = loaded.spec.data.split
    if split.strategy in ("random", "stratified"):
        if split.strategy == "stratified" and labels is None:
            raise loaded.error(
                "a stratified split needs a classification task", "data", "split", "strategy"
            )
        key = list(split.key or default_key)
        test = held_out_by_hash(frame, key, split.seed, split.test_fraction)
        rule = SplitRule(
            split.strategy, split.test_fraction, split.seed, tuple(key), hash_version=HASH_VERSION
        )
        if labels is not None and split.strategy == "stratified":
            _every_class_on_both_sides(loaded, frame[labels].to_numpy(), test)
    elif split.strategy == "temporal":
        assert split.column is not None  # the spec model requires it
        test, cut = _after_cut(loaded, _times(loaded, frame, split.column), split.test_fraction)
        rule = SplitRule("temporal", split.test_fraction, column=split.column, cut=cut)
    else:
        assert split.column is not None
        if user is None:
            raise loaded.error(
                "a leave-last split needs users: it is for retrieval", "data", "split", "strategy"
            )
        times = _times(loaded, frame, split.column)
        test = _newest_per_user(frame[user].to_numpy(), times, split.last)
        rule = SplitRule("leave-last", split.test_fraction, column=split.column, last=split.last)
    positions = np.arange(len(frame))
    train, held = positions[~test], positions[test]
    if len(held) == 0 or len(train) == 0:
        side = "holdout" if len(held) == 0 else "training split"
        raise loaded.error(
            f"cannot split: the {side} is empty ({rule.describe()}, {len(frame)} rows)",
            "data",
            "split",
        )
    _enough_to_judge(loaded, frame, held, rule, labels=labels, user=user)
    return Split(train=train, test=held, rule=rule.as_dict())


def _enough_to_judge(
    loaded: LoadedSpec,
    frame: pd.DataFrame,
    held: np.ndarray,
    rule: SplitRule,
    *,
    labels: str | None,
    user: str | None,
) -> None:
    """A verdict needs a holdout of MIN_HOLDOUT_UNITS units (users for retrieval, rows
    otherwise) and, for classification, every class in it; below that, one line."""
    units = int(frame[user].iloc[held].nunique()) if user is not None else len(held)
    name = "users" if user is not None else "rows"
    if units < MIN_HOLDOUT_UNITS:
        raise loaded.error(
            f"the holdout has {units} {name}, fewer than the {MIN_HOLDOUT_UNITS} a verdict "
            f"needs ({rule.describe()}, {len(frame)} rows): raise test_fraction or add rows",
            "data",
            "split",
            "test_fraction",
        )
    if labels is None:
        return
    present = set(pd.unique(frame[labels].iloc[held]).tolist())
    missing = [v for v in pd.unique(frame[labels]).tolist() if v not in present]
    if missing:
        raise loaded.error(
            f"the holdout has no row of class {missing[0]!r}: a verdict needs every class in "
            f"it ({rule.describe()}): raise test_fraction or add rows of it",
            "data",
            "split",
            "test_fraction",
        )


def _every_class_on_both_sides(loaded: LoadedSpec, labels: np.ndarray, test: np.ndarray) -> None:
    for found in pd.unique(labels):
        rows = labels == found
        value = found.item() if isinstance(found, np.generic) else found
        if not test[rows].any() or test[rows].all():
            side = "holdout" if not test[rows].any() else "training split"
            raise loaded.error(
                f"cannot split: class {value!r} ({int(rows.sum())} rows) has no row in the "
                f"{side}; raise test_fraction or add rows of it",
                "data",
                "split",
            )


def _times(loaded: LoadedSpec, frame: pd.DataFrame, column: str) -> np.ndarray:
    """The time column as an orderable array (numbers, or datetimes parsed from text)."""
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        if values.isna().any():
            raise loaded.error(f"column '{column}' has missing times", "data", "split", "column")
        return values.to_numpy()
    try:
        parsed = pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise loaded.error(
            f"column '{column}' is not a time: {' '.join(str(exc).split())[:200]}",
            "data",
            "split",
            "column",
        ) from exc
    if parsed.isna().any():
        raise loaded.error(f"column '{column}' has missing times", "data", "split", "column")
    return parsed.to_numpy()


def _after_cut(loaded: LoadedSpec, times: np.ndarray, fraction: float) -> tuple[np.ndarray, str]:
    """Rows strictly newer than the cut, and the cut (the newest training time) as text."""
    ordered = np.sort(times)
    n_train = len(ordered) - max(1, round(len(ordered) * fraction))
    cut = ordered[max(n_train - 1, 0)]
    return np.asarray(times > cut), str(
        pd.Timestamp(cut) if isinstance(cut, np.datetime64) else cut
    )


def _newest_per_user(users: np.ndarray, times: np.ndarray, last: int) -> np.ndarray:
    """Each user's `last` newest rows (ties broken by row order), when they have more."""
    user_codes = pd.factorize(users)[0]
    order = np.lexsort((np.arange(len(users)), times, user_codes))
    codes = user_codes[order]
    counts = np.bincount(codes)
    # position of each sorted row counted from its user's newest row (0 = newest)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    from_newest = starts[codes] + counts[codes] - 1 - np.arange(len(order))
    held = (from_newest < last) & (counts[codes] > last)
    test = np.zeros(len(users), dtype=bool)
    test[order[held]] = True
    return test
