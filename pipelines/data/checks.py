"""The spec's data checks: schema, dtypes, ranges, nulls, duplicates, rows, drift."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.profile import profile_frame, psi, unseen_fraction
from pipelines.data.sources import LoadedData
from pipelines.spec import LoadedSpec


@dataclass(frozen=True)
class CheckResult:
    """One check: what was measured against what was allowed."""

    name: str
    field: str  # the spec field the check comes from
    passed: bool
    detail: str
    blocking: bool = True


def run_checks(
    loaded: LoadedSpec, data: LoadedData, reference_profile: dict[str, Any] | None
) -> tuple[list[CheckResult], dict[str, Any]]:
    """All checks in spec order, and the profile of this data."""
    spec_data = loaded.spec.data
    frame = data.frame
    results: list[CheckResult] = [
        CheckResult("sha256", "data.sha256", True, f"{data.origin} sha256 {data.sha256[:12]}…"),
    ]
    results += _row_checks(loaded, frame)
    for name, column in spec_data.columns.items():
        results += _column_checks(
            name, column.dtype, column.min, column.max, column.nullable, frame[name]
        )
    results.append(_null_fraction(loaded, frame))
    results.append(_duplicates(loaded, frame))
    if all(r.passed for r in results if r.blocking):  # on data that passed the checks so far
        from pipelines.data.leakage import leakage_checks

        results += leakage_checks(loaded, frame)
    profile = profile_frame(frame, loaded.spec.id_columns())
    results += _drift(loaded, frame, reference_profile)
    return results, profile


def _row_checks(loaded: LoadedSpec, frame: pd.DataFrame) -> list[CheckResult]:
    checks = loaded.spec.data.checks
    rows = len(frame)
    return [
        CheckResult(
            "min_rows",
            "data.checks.min_rows",
            rows >= checks.min_rows,
            f"{rows} rows (at least {checks.min_rows})",
        ),
        CheckResult(
            "max_rows",
            "data.checks.max_rows",
            rows <= checks.max_rows,
            f"{rows} rows (at most {checks.max_rows})",
        ),
    ]


def _column_checks(
    name: str, dtype: str, low: float | None, high: float | None, nullable: bool, series: pd.Series
) -> list[CheckResult]:
    field = f"data.columns.{name}"
    out: list[CheckResult] = []
    ok, detail = _dtype_ok(dtype, series)
    out.append(CheckResult(f"{name}.dtype", f"{field}.dtype", ok, detail))
    if not ok:
        return out
    nulls = int(series.isna().sum())
    if not nullable:
        out.append(
            CheckResult(f"{name}.nulls", f"{field}.nullable", nulls == 0, f"{nulls} missing")
        )
    if dtype in {"int64", "float64"}:
        values = series.dropna().to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        bad = int((~finite).sum())
        out.append(CheckResult(f"{name}.finite", f"{field}.dtype", bad == 0, f"{bad} infinite"))
        values = values[finite]
        if low is not None:
            below = int((values < low).sum())
            lo_seen = f"{values.min():g}" if len(values) else "n/a"
            out.append(
                CheckResult(
                    f"{name}.min",
                    f"{field}.min",
                    below == 0,
                    f"{below} below {low:g} (min {lo_seen})",
                )
            )
        if high is not None:
            above = int((values > high).sum())
            hi_seen = f"{values.max():g}" if len(values) else "n/a"
            out.append(
                CheckResult(
                    f"{name}.max",
                    f"{field}.max",
                    above == 0,
                    f"{above} above {high:g} (max {hi_seen})",
                )
            )
    return out


def _dtype_ok(dtype: str, series: pd.Series) -> tuple[bool, str]:
    found = str(series.dtype)
    if dtype == "int64":
        if pd.api.types.is_integer_dtype(series):
            if series.dtype.kind == "u" and len(series) and int(series.max()) > _INT64_MAX:
                return False, f"expected int64, found {found} up to {int(series.max())}"
            return True, found
        if pd.api.types.is_float_dtype(series):
            values = series.dropna()
            whole = np.isfinite(values).all() and (values == np.round(values)).all()
            if whole and (values.abs() < 2.0**63).all():
                return True, f"{found} holding whole numbers"
        return False, f"expected int64, found {_describe(series)}"
    if dtype == "float64":
        ok = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        return ok, found if ok else f"expected float64, found {_describe(series)}"
    if dtype == "bool":
        ok = pd.api.types.is_bool_dtype(series)
        return ok, found if ok else f"expected bool, found {_describe(series)}"
    return True, found


_INT64_MAX = 2**63 - 1


def _describe(series: pd.Series) -> str:
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        sample = next((v for v in series.dropna() if not _is_number(v)), None)
        return f"text (e.g. {sample!r})" if sample is not None else "text"
    return str(series.dtype)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _null_fraction(loaded: LoadedSpec, frame: pd.DataFrame) -> CheckResult:
    limit = loaded.spec.data.checks.max_null_fraction
    cells = frame.size or 1
    fraction = float(frame.isna().to_numpy().sum() / cells)
    return CheckResult(
        "null_fraction",
        "data.checks.max_null_fraction",
        fraction <= limit,
        f"{fraction:.4f} of cells missing (at most {limit:g})",
    )


def _duplicates(loaded: LoadedSpec, frame: pd.DataFrame) -> CheckResult:
    limit = loaded.spec.data.checks.max_duplicate_fraction
    fraction = float(frame.duplicated().mean()) if len(frame) else 0.0
    return CheckResult(
        "duplicate_fraction",
        "data.checks.max_duplicate_fraction",
        fraction <= limit,
        f"{fraction:.4f} of rows duplicated (at most {limit:g})",
    )


def _drift(
    loaded: LoadedSpec, frame: pd.DataFrame, reference: dict[str, Any] | None
) -> list[CheckResult]:
    limit = loaded.spec.data.checks.max_drift_psi
    if reference is None or limit is None:
        why = "no champion profile to compare" if reference is None else "drift check off"
        return [CheckResult("drift", "data.checks.max_drift_psi", True, why, blocking=False)]
    out = []
    ids = loaded.spec.id_columns()
    time = loaded.spec.data.split.column
    for name in frame.columns:
        if name not in reference:
            continue
        if name == time:  # refreshed data is newer by design: its times always drift
            why = "the split's time column: newer times are expected, not compared"
            out.append(CheckResult(f"{name}.drift", "data.split.column", True, why, blocking=False))
            continue
        if name in ids:
            out.append(_unseen(loaded, name, reference[name], frame[name]))
            continue
        value = psi(reference[name], frame[name])
        if value is None:
            continue
        out.append(
            CheckResult(
                f"{name}.drift",
                "data.checks.max_drift_psi",
                value <= limit,
                f"PSI {value:.4f} (at most {limit:g})",
            )
        )
    return out


def _unseen(
    loaded: LoadedSpec, name: str, reference: dict[str, Any], series: pd.Series
) -> CheckResult:
    """An id column: the share of rows with a value the champion's data did not have."""
    limit = loaded.spec.data.checks.max_unseen_id_fraction
    field = "data.checks.max_unseen_id_fraction"
    rate = unseen_fraction(reference, series)
    if rate is None:
        why = "the champion's profile has no id set for this column: not compared"
        return CheckResult(f"{name}.unseen", field, True, why, blocking=False)
    bound = "report only" if limit is None else f"at most {limit:g}"
    return CheckResult(
        f"{name}.unseen",
        field,
        limit is None or rate <= limit,
        f"{rate:.4f} of rows have an id the champion's data lacks ({bound})",
        blocking=limit is not None,
    )


def as_dicts(results: list[CheckResult]) -> list[dict[str, Any]]:
    """JSON-ready check results."""
    return [asdict(r) for r in results]
