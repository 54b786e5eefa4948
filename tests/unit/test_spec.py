"""The spec loader: valid examples, and one-line errors naming file, line and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.config import find_root
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


def _write(repo: Path, text: str, folder: str = "bad") -> Path:
    """Write a spec under model_specs/<folder>/, named after its `name:` (the file stem)."""
    named = re.search(r"^name: ([a-z0-9-]+)$", text, flags=re.MULTILINE)
    path = repo / "model_specs" / folder / f"{named.group(1) if named else 'bad'}.yaml"
    path.parent.mkdir(exist_ok=True)
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


def test_spec_name_must_equal_the_file_stem(scratch_repo: Path) -> None:
    """`model_specs/bc-v2.yaml` cannot claim `name: breast-cancer` (two files, one model)."""
    source = scratch_repo / "model_specs" / "breast-cancer.yaml"
    claimant = scratch_repo / "model_specs" / "bc-v2.yaml"
    claimant.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    error = _error(claimant)
    assert error.field == "name" and error.line == 4  # after the header comments
    assert error.file is not None and error.file.endswith("bc-v2.yaml")
    assert "must equal the file name 'bc-v2'" in str(error)


@pytest.mark.parametrize("nested", ["model_specs", "data"])
def test_configuration_comes_from_the_repository_root_only(scratch_repo: Path, nested: str) -> None:
    """A pull request that adds `<folder>/pyproject.toml` widening the allow-list (plus a
    module in data/) changes nothing: the root's `[tool.pipelines]` still decides."""
    from pipelines.config import load_config

    (scratch_repo / ".git").mkdir()  # a checkout, as in CI
    (scratch_repo / nested / "pyproject.toml").write_text(
        '[tool.pipelines]\nallowed_estimator_prefixes = ["data."]\n', encoding="utf-8"
    )
    (scratch_repo / "data" / "evil.py").write_text("class Model: ...\n", encoding="utf-8")
    spec = _edit(scratch_repo, "sklearn.decomposition.TruncatedSVD", "data.evil.Model")
    final = spec.parent.parent / "item-recs.yaml"
    final.write_text(spec.read_text(encoding="utf-8"), encoding="utf-8")
    load_config.cache_clear()
    try:
        error = _error(final)
        assert "allowed prefixes: sklearn." in str(error)
        assert load_config(find_root(final.parent)).allowed_estimator_prefixes == ("sklearn.",)
        in_nested = scratch_repo / nested / "item-recs.yaml"
        in_nested.write_text(spec.read_text(encoding="utf-8"), encoding="utf-8")
        assert "allowed prefixes: sklearn." in str(_error(in_nested))
    finally:
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


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  item: item_id\n", "  item: user_id\n", "data.item"),
        ("  weight: rating\n", "  weight: item_id\n", "data.weight"),
    ],
)
def test_one_column_in_two_roles_is_refused(
    scratch_repo: Path, old: str, new: str, field: str
) -> None:
    """A user column that is also the item (or weight) column: refused at validate."""
    path = _edit(scratch_repo, old, new)
    error = _error(path)
    assert error.field == field
    assert "is already the" in str(error) and "each role needs its own column" in str(error)
    assert error.line == _line_of(path, new.strip())
