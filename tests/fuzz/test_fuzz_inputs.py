"""Hypothesis fuzzes the spec loader and the data checks: whatever the input, the outcome
is a value or a one-line BadInput, never another exception (a traceback for the user)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.data.checks import run_checks
from pipelines.data.sources import load_data
from pipelines.errors import BadInput
from pipelines.spec import load_spec
from pipelines.spec.estimators import resolve_estimator
from tests.conftest import ROOT

FAST = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every CI run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
BASE_SPEC = yaml.safe_load((ROOT / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch repository shared by the examples of one module."""
    root = tmp_path_factory.mktemp("fuzz") / "repo"
    (root / "model_specs").mkdir(parents=True)
    (root / "data").mkdir()
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def outcome(fn: Callable[[], Any]) -> str:
    """'ok' or 'bad-input'; anything else propagates and fails the test."""
    try:
        fn()
    except BadInput as exc:
        text = str(exc)
        assert "\n" not in text and text.strip(), repr(text)
        return "bad-input"
    return "ok"


def load_and_resolve(path: Path) -> None:
    """What `validate` does."""
    resolve_estimator(load_spec(path))


# -- raw text ---------------------------------------------------------------------------------
YAML_PIECES = st.sampled_from(
    ["name:", " item-recs", "\n", "  ", "\t", "- ", "&a ", "*a", "<<: ", "!!python/name:os.system",
     "{", "}", "[", "]", ": ", "'", '"', "#", "---", "...", "? ", "|", ">", "%YAML 1.1", "\x00",
     "data:", "source:", "estimator: os.system", "1e999", ".nan", "~", "\u2028", "\ufeff"]
)  # fmt: skip


@FAST
@given(st.one_of(st.text(max_size=400), st.lists(YAML_PIECES, max_size=60).map("".join)))
def test_any_text_is_a_spec_or_a_bad_input(repo: Path, text: str) -> None:
    path = repo / "model_specs" / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome(lambda: load_and_resolve(path))


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_are_a_spec_or_a_bad_input(repo: Path, raw: bytes) -> None:
    path = repo / "model_specs" / "fuzz.yaml"
    path.write_bytes(raw)
    outcome(lambda: load_and_resolve(path))


# -- structured mutations of a valid spec --------------------------------------------------
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["os.system", "sklearn.svm.SVC", "../../etc/passwd", "/etc/passwd", "", "-"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    return out


PATHS = [p for p in _paths(BASE_SPEC) if p]


@FAST
@given(
    st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(VALUES, st.just(KeyError))),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_spec_is_valid_or_a_bad_input(
    repo: Path, edits: list[tuple[tuple[Any, ...], Any]]
) -> None:
    spec = yaml.safe_load(yaml.safe_dump(BASE_SPEC))
    for path, value in edits:
        node = spec
        for key in path[:-1]:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            if isinstance(node, dict):
                if value is KeyError:
                    node.pop(path[-1], None)
                else:
                    node[path[-1]] = value
    target = repo / "model_specs" / "mutated.yaml"
    target.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    outcome(lambda: load_and_resolve(target))


# -- data files through the data checks ---------------------------------------------------
CELLS = st.one_of(
    st.integers(min_value=-(2**66), max_value=2**66).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "NULL", "n/a", "True", "1e400", "0x10",
                     '"1,2"', '"', "5", "3.5", "é", "\x00", " 7 "]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6),
)  # fmt: skip


def _spec_for(repo: Path, name: str, raw: bytes, checks: str) -> Path:
    (repo / "data" / f"{name}.csv").write_bytes(raw)
    text = (ROOT / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8")
    text = text.replace("data/interactions.csv", f"data/{name}.csv")
    text = text.replace(
        "9eb609e8b3f35f39bd821e9bbda3422a44d9dab4fa2cfe721a1f3430c89cde57",
        hashlib.sha256(raw).hexdigest(),
    )
    text = text.replace("min_rows: 10000", checks)
    path = repo / "model_specs" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def check_data(path: Path) -> None:
    """What `check-data` does, without a champion to compare with."""
    loaded = load_spec(path)
    run_checks(loaded, load_data(loaded), None)


@FAST
@given(
    header=st.lists(
        st.sampled_from(["user_id", "item_id", "rating", "extra", "", "user_id "]),
        min_size=0,
        max_size=5,
    ),
    rows=st.lists(st.lists(CELLS, min_size=0, max_size=5), max_size=25),
    min_rows=st.sampled_from(["min_rows: 1", "min_rows: 1000000000"]),
)
def test_any_csv_passes_fails_or_is_a_bad_input(
    repo: Path, header: list[str], rows: list[list[str]], min_rows: str
) -> None:
    lines = [",".join(header), *(",".join(row) for row in rows)]
    raw = ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")
    path = _spec_for(repo, "fuzz", raw, min_rows)
    outcome(lambda: check_data(path))


@FAST
@given(st.binary(max_size=400))
def test_any_bytes_as_csv_are_a_bad_input_or_checked(repo: Path, raw: bytes) -> None:
    path = _spec_for(repo, "bytes", b"user_id,item_id,rating\n" + raw, "min_rows: 1")
    outcome(lambda: check_data(path))
