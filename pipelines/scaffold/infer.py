"""What the data says about a column: its spec dtype, a proposed range, whether it can be a
feature, and the data checks proposed for a frame."""

from __future__ import annotations

import math
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
    return float((math.floor if down else math.ceil)(value / step) * step)


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
