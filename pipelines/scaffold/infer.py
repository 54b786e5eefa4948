"""What the data says about a column: its spec dtype, a proposed range, whether it can be a
feature, whether it is a time column, and the data checks proposed for a frame."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.scaffold.number_text import fmt


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
    low = 0.0 if lo >= 0 else round_out(lo - pad, down=True)
    high = 1.0 if lo >= 0 and hi <= 1 else round_out(hi + pad, down=False)
    if dtype == "int64":  # whole-number bounds for whole-number data
        return float(math.floor(low)), float(math.ceil(high))
    return low, high


def round_out(value: float, *, down: bool) -> float:
    """Round to two significant digits, away from the data."""
    if value == 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(abs(value))) - 1)
    # a hair of slack: 0.33 - 0.32 (0.010000000000000009) rounds up to 0.01, not 0.011
    steps = value / step + (1e-9 if down else -1e-9)
    return float((math.floor if down else math.ceil)(steps) * step)


def unusable_feature(series: pd.Series) -> str:
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


def observed(series: pd.Series, dtype: str) -> str:
    if dtype not in {"int64", "float64"}:
        return f"{series.nunique()} distinct"
    lo, hi = series.min(), series.max()
    if dtype == "int64":
        return f"seen {int(lo)} .. {int(hi)}"
    return f"seen {fmt(float(lo), 4)} .. {fmt(float(hi), 4)}"


def propose_checks(frame: pd.DataFrame) -> dict[str, Any]:
    rows = len(frame)
    duplicated = float(frame.duplicated().mean()) if rows else 0.0
    return {
        # Half of today's rows: a truncated export fails, normal growth passes.
        "min_rows": max(1, rows // 2),
        "max_null_fraction": 0,
        "max_duplicate_fraction": 0 if duplicated == 0 else round_out(duplicated * 1.2, down=False),
        "max_drift_psi": 0.2,
    }


# Name tokens that say a number is a time (`created_at`, `eventTime`, `order_ts` also match).
TIME_NAME_TOKENS = frozenset({"timestamp", "time", "date", "datetime", "ts", "epoch"})
# Unix seconds from 1973-03-03 (1e8) to 2100-01-01; the same span in milliseconds is x1000.
UNIX_SECONDS = (1e8, 4_102_444_800.0)
_SAMPLE = 1000


@dataclass(frozen=True)
class TimeColumn:
    """A column that orders the rows in time: its name, spec dtype, and how it was read."""

    name: str
    dtype: str  # int64 or float64 for unix times, string for dates (as text or datetimes)
    unit: str  # "unix seconds", "unix milliseconds", "dates as text" or "datetimes"
    first: pd.Timestamp
    last: pd.Timestamp

    def describe(self) -> str:
        """'unix seconds, 1997-09-20 .. 1998-04-22'."""
        return f"{self.unit}, {self.first:%Y-%m-%d} .. {self.last:%Y-%m-%d}"


def find_time_column(frame: pd.DataFrame, skip: tuple[str, ...] = ()) -> TimeColumn | None:
    """The first column (not in `skip`) that is a time: datetimes, text that parses as dates
    (every value, each with a digit, years 1900..2100), or numbers named like a time
    (`TIME_NAME_TOKENS`, or ending in `_at`) whose values are unix seconds or milliseconds.
    Columns with missing values or a single value are never times (they cannot order rows)."""
    for column in frame.columns:
        if column in skip:
            continue
        found = time_column(frame[column])
        if found is not None:
            return found
    return None


def time_column(series: pd.Series) -> TimeColumn | None:
    """`series` read as a time column, or None when it is not one (see `find_time_column`)."""
    name = str(series.name)
    if len(series) == 0 or series.isna().any() or series.nunique() < 2:
        return None
    if pd.api.types.is_datetime64_any_dtype(series):
        times = pd.to_datetime(series, utc=True)
        return TimeColumn(name, "string", "datetimes", times.min(), times.max())
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        if not name_says_time(name):
            return None
        dtype = infer_dtype(series)
        values = series.to_numpy(dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        for unit, scale in (("unix seconds", 1.0), ("unix milliseconds", 1000.0)):
            if UNIX_SECONDS[0] * scale <= low and high <= UNIX_SECONDS[1] * scale:
                first = pd.Timestamp(low / scale, unit="s", tz="UTC")
                last = pd.Timestamp(high / scale, unit="s", tz="UTC")
                return TimeColumn(name, dtype, unit, first, last)
        return None
    text = series.astype(str)
    sample = text.iloc[:_SAMPLE]
    if not sample.str.contains(r"\d", regex=True).all():
        return None
    if _dates(sample) is None:
        return None
    parsed = _dates(text)  # as the temporal split reads it: every value must parse
    if parsed is None:
        return None
    return TimeColumn(name, "string", "dates as text", parsed.min(), parsed.max())


def name_says_time(name: str) -> bool:
    """Whether a column's name says it holds times: a token of `TIME_NAME_TOKENS`
    (snake_case or camelCase), or a last token `at` after another (`created_at`)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    tokens = re.findall(r"[a-z0-9]+", spaced.lower())
    return any(t in TIME_NAME_TOKENS for t in tokens) or (len(tokens) > 1 and tokens[-1] == "at")


def _dates(text: pd.Series) -> pd.Series | None:
    """`text` parsed as the temporal split parses it (UTC, mixed formats), or None when a
    value does not parse or falls outside the years 1900..2100."""
    try:
        times = pd.to_datetime(text, utc=True, format="mixed", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return None
    if times.isna().any():
        return None
    if times.min().year < 1900 or times.max().year > 2100:
        return None
    return times
