"""Every task kind's metrics are listed in README 'Metrics', as the metric registry has them,
and a spec naming another one is refused with the names its task accepts."""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

import pytest

from pipelines.errors import BadInput
from pipelines.kinds import METRICS
from pipelines.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- metrics: generated from pipelines.kinds.METRICS -->", "<!-- /metrics -->"


def metrics_table() -> str:
    """The README block, rendered from the registry."""
    lines = [
        "| task | metric | better | champion comparison | what it is |",
        "|---|---|---|---|---|",
    ]
    for task in sorted(METRICS):
        for name, info in sorted(METRICS[task].items()):
            better = "higher" if info.greater_is_better else "lower"
            paired = "yes (per unit)" if info.per_unit else "no: whole holdout"
            lines.append(f"| {task} | `{name}` | {better} | {paired} | {info.description} |")
    return "\n".join(lines)


def test_the_readme_lists_every_metric_of_every_task() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in text and END in text, "README.md lost its metrics block"
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == metrics_table(), f"README.md's metrics block should be:\n{metrics_table()}"


def _regression_spec(tmp_path: Path, evaluation: str) -> Path:
    data = tmp_path / "data.csv"
    data.write_text("x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(40)))
    spec = tmp_path / "model_specs" / "reg.yaml"
    spec.parent.mkdir()
    spec.write_text(
        "name: reg\ntask: regression\n"
        f"data:\n  source: data.csv\n  sha256: {sha256(data.read_bytes()).hexdigest()}\n"
        "  target: y\n"
        "  columns: {x: {dtype: int64}, y: {dtype: int64}}\n"
        "model:\n  estimator: sklearn.linear_model.LinearRegression\n"
        f"evaluation:\n{evaluation}"
    )
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    return spec


@pytest.mark.parametrize(
    ("evaluation", "field", "names"),
    [
        ("  primary: rmsle\n", "evaluation.primary", "known: mae, mse, r2, rmse"),
        ("  primary: rmse\n", "evaluation.primary", "one of: mae, mse"),
        (
            "  primary: mae\n  champion: {metric: r2}\n",
            "evaluation.champion.metric",
            "one of: mae, mse",
        ),
    ],
)
def test_a_refused_metric_names_the_task_s_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluation: str, field: str, names: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput) as refused:
        load_spec(_regression_spec(tmp_path, evaluation))
    message = str(refused.value)
    assert field in message and names in message, message
    assert "README 'Metrics'" in message, message


def test_rmse_is_accepted_with_a_per_row_champion_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec(_regression_spec(tmp_path, "  primary: rmse\n  champion: {metric: mse}\n"))
    assert spec.spec.evaluation.primary == "rmse"
