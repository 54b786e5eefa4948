"""The spec loader: valid examples, and one-line errors naming file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.errors import BadInput
from pipelines.spec import load_spec
from pipelines.spec.estimators import resolve_estimator
from pipelines.steps.schema import schema_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["item-recs", "breast-cancer"])
def test_example_specs_are_valid(name: str) -> None:
    loaded = load_spec(ROOT / "model_specs" / f"{name}.yaml")
    assert loaded.spec.name == name
    assert resolve_estimator(loaded).__module__.startswith("sklearn.")


def test_committed_schema_is_current() -> None:
    committed = (ROOT / "model_specs" / "spec.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "run `python -m pipelines schema`"
    assert json.loads(committed)["additionalProperties"] is False


def _write(repo: Path, text: str, name: str = "bad.yaml") -> Path:
    path = repo / "model_specs" / name
    path.write_text(text, encoding="utf-8")
    return path


def _edit(repo: Path, old: str, new: str) -> Path:
    source = (repo / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8")
    assert old in source
    return _write(repo, source.replace(old, new, 1))


def _error(path: Path) -> BadInput:
    with pytest.raises(BadInput) as caught:
        loaded = load_spec(path)
        resolve_estimator(loaded)
    return caught.value


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_misspelt_key_names_file_line_field_and_suggestion(scratch_repo: Path) -> None:
    path = _edit(scratch_repo, "  source: data", "  sorce: data")
    error = _error(path)
    assert error.line == _line_of(path, "sorce:")
    assert error.field == "data.sorce"
    assert "did you mean 'source'" in str(error)
    assert str(error).startswith(f"{error.file}:{error.line}: data.sorce: ")
    assert "\n" not in str(error)


def test_unknown_key_inside_a_column_suggests_sibling(scratch_repo: Path) -> None:
    path = _edit(
        scratch_repo, "rating: {dtype: float64, min: 0.5", "rating: {dtype: float64, mn: 0.5"
    )
    error = _error(path)
    assert error.field == "data.columns.rating.mn"
    assert "did you mean 'min'" in str(error)


def test_forbidden_estimator_is_refused_before_import(scratch_repo: Path) -> None:
    path = _edit(scratch_repo, "sklearn.decomposition.TruncatedSVD", "os.system")
    error = _error(path)
    assert error.field == "model.estimator"
    assert error.line == _line_of(path, "estimator:")
    assert "not allow-listed" in str(error)


@pytest.mark.parametrize(
    ("estimator", "message"),
    [
        ("sklearn.preprocessing.FunctionTransformer", "arbitrary code"),
        ("sklearn.decomposition._truncated_svd.TruncatedSVD", "private"),
        ("sklearn.decomposition.NoSuchThing", "has no 'NoSuchThing'"),
        ("sklearn.nosuchmodule.Thing", "cannot import"),
        ("sklearn.metrics.accuracy_score", "not a scikit-learn estimator"),
    ],
)
def test_estimator_paths_are_checked(scratch_repo: Path, estimator: str, message: str) -> None:
    path = _edit(scratch_repo, "sklearn.decomposition.TruncatedSVD", estimator)
    assert message in str(_error(path))


def test_unknown_estimator_parameter_is_located(scratch_repo: Path) -> None:
    path = _edit(scratch_repo, "n_components: 8", "n_compnents: 48")
    error = _error(path)
    assert error.field == "model.params.n_compnents"
    assert "did you mean 'n_components'" in str(error)


@pytest.mark.parametrize(
    ("text", "needle", "field"),
    [
        ("name: a\nname: b\n", "duplicate key 'name'", "name"),
        ("name: &x item\ntask: *x\n", "aliases", "task"),
        ("name: x\n\ttask: retrieval\n", "invalid YAML", None),
        ("- just\n- a list\n", "must be a mapping", None),
        ("", "empty", None),
    ],
)
def test_yaml_level_errors(scratch_repo: Path, text: str, needle: str, field: str | None) -> None:
    error = _error(_write(scratch_repo, text))
    assert needle in str(error)
    assert error.line is not None
    assert error.field == field


def test_wrong_type_is_reported_with_value(scratch_repo: Path) -> None:
    path = _edit(scratch_repo, "seed: 7}", 'seed: "seven"}')
    error = _error(path)
    assert error.field == "data.split.seed"
    assert "'seven'" in str(error)


def test_cross_field_error_points_at_the_field(scratch_repo: Path) -> None:
    path = _edit(scratch_repo, "primary: ndcg_at_10", "primary: accuracy")
    error = _error(path)
    assert error.field == "evaluation.primary"
    assert error.line == _line_of(path, "primary:")
    assert "unknown metric 'accuracy' for retrieval" in str(error)


def test_missing_pin_for_file_source(scratch_repo: Path) -> None:
    path = _edit(scratch_repo, "  sha256: 9eb6", "  # sha256: 9eb6")
    error = _error(path)
    assert error.field == "data"
    assert "sha256 is required" in str(error)


def test_allow_list_comes_from_pyproject(scratch_repo: Path) -> None:
    pyproject = scratch_repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(
            'allowed_estimator_prefixes = ["sklearn."]',
            'allowed_estimator_prefixes = ["sklearn.linear_model."]',
        ),
        encoding="utf-8",
    )
    from pipelines.config import load_config

    load_config.cache_clear()
    error = _error(scratch_repo / "model_specs" / "item-recs.yaml")
    assert "allowed prefixes: sklearn.linear_model." in str(error)
    load_config.cache_clear()


def test_turning_the_baseline_check_off_needs_a_reason(scratch_repo: Path) -> None:
    old = "  champion: {margin: 0.005"
    path = _edit(scratch_repo, old, "  baseline: {check: false}\n" + old)
    error = _error(path)
    assert error.field == "evaluation.baseline.reason"
    assert error.line == _line_of(path, "baseline:")
    assert "written reason" in str(error)
    path = _edit(
        scratch_repo, old, "  baseline: {check: false, reason: popularity is the goal}\n" + old
    )
    assert not load_spec(path).spec.evaluation.baseline.check
