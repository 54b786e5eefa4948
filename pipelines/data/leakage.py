"""Target leakage: a feature that alone predicts the target almost perfectly.

Each numeric feature is given a small decision tree (at most two leaves per class, or
`REGRESSION_LEAVES` for regression), fitted on one half of the training split and scored
on the other half (accuracy; for regression R² on the rows inside the fitted half's range,
since a tree cannot extrapolate). A score at or above `data.checks.max_leakage_score` is a
blocking failure naming the column: such a feature is usually a copy or an encoding of
the label, and a model trained on it is perfect in evaluation and useless in production.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from pipelines.data.checks import CheckResult
from pipelines.spec import LoadedSpec

MAX_ROWS = 20_000  # a sample of the training split is plenty to see a copy of the label
MIN_ROWS = 20
# Leaves of the regression tree.
REGRESSION_LEAVES = 64


def leakage_checks(loaded: LoadedSpec, frame: pd.DataFrame) -> list[CheckResult]:
    """One result per numeric feature of a spec whose kind has a target (none when off)."""
    from pipelines.kinds import get_kind, get_task

    spec = loaded.spec
    limit = spec.data.checks.max_leakage_score
    target = spec.data.target
    kind = get_kind(spec.task)
    if kind.target is None or target is None or limit is None:
        return []

    train = frame.iloc[get_task(spec.task).split(loaded, frame).train]
    rng = np.random.default_rng(spec.data.split.seed)
    train = train.iloc[rng.permutation(len(train))[:MAX_ROWS]]
    train = train[train[target].notna()]
    if len(train) < MIN_ROWS:
        return []
    half = len(train) // 2
    labels = train[target].to_numpy()
    classify = kind.target == "class"
    if classify:
        labels = labels.astype(str)
        _, counts = np.unique(labels[half:], return_counts=True)
        baseline = counts.max() / counts.sum()
        if baseline >= limit:  # one class is nearly everything: accuracy says nothing
            return []
    out = []
    for column in spec.feature_columns():
        series = train[column]
        if not pd.api.types.is_numeric_dtype(series):
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
        score = _score(values, labels, half, classify)
        if score is None:
            continue
        metric = "accuracy" if classify else "R²"
        out.append(
            CheckResult(
                f"{column}.leakage",
                f"data.columns.{column}",
                score < limit,
                f"column '{column}' alone predicts '{target}' with {metric} {score:.4f} on the "
                f"training split (below {limit:g} required; a copy of the label? set "
                "data.checks.max_leakage_score to allow it)",
            )
        )
    return out


def _score(values: np.ndarray, labels: np.ndarray, half: int, classify: bool) -> float | None:
    keep = np.isfinite(values[:, 0])
    fit_rows = keep.copy()
    fit_rows[half:] = False
    test_rows = keep.copy()
    test_rows[:half] = False
    if fit_rows.sum() < MIN_ROWS // 2 or test_rows.sum() < MIN_ROWS // 2:
        return None
    if classify:
        classes = len(np.unique(labels[fit_rows]))
        model = DecisionTreeClassifier(max_leaf_nodes=max(2, min(2 * classes, 256)), random_state=0)
        model.fit(values[fit_rows], labels[fit_rows])
        return float(np.mean(model.predict(values[test_rows]) == labels[test_rows]))
    target = labels.astype(np.float64)
    model_r = DecisionTreeRegressor(max_leaf_nodes=REGRESSION_LEAVES, random_state=0)
    model_r.fit(values[fit_rows], target[fit_rows])
    # Scored inside the fitted range only: a tree cannot extrapolate, and a copy of the
    # target would otherwise lose R² on whichever tail the other half happens to reach.
    low, high = values[fit_rows, 0].min(), values[fit_rows, 0].max()
    test_rows &= (values[:, 0] >= low) & (values[:, 0] <= high)
    if test_rows.sum() < MIN_ROWS // 2:
        return None
    truth = target[test_rows]
    variance = float(((truth - truth.mean()) ** 2).sum())
    if variance == 0:
        return None
    residual = float(((model_r.predict(values[test_rows]) - truth) ** 2).sum())
    return 1 - residual / variance
