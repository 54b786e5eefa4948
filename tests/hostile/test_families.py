"""Hostile inputs by class, not by case: each test is a generator (a parametrised family or
a hypothesis strategy) over one class of hostile input, so the next unseen member of the
class is covered too. Every member ends as one BadInput line (exit 2) naming file and field,
never a traceback, a hang or another exit code."""

from __future__ import annotations

import csv
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from pipelines.data.checks import run_checks
from pipelines.data.sources import load_data
from pipelines.errors import MAX_MESSAGE_CHARS, BadInput
from pipelines.spec import load_spec
from pipelines.spec.estimators import SANE_MAX, resolve_estimator
from pipelines.spec.yaml_source import MAX_SCAN_DEPTH
from pipelines.tasks.classification import PROBA_METRICS
from tests.hostile.support import (
    bad_input,
    csv_spec,
    deadline,
    one_error_line,
    tabular,
    write_spec,
)

FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- class: YAML nested past the composer's recursion ----------------------------------------
def _nested(style: str, depth: int) -> str:
    head = "name: hostile\ntask: classification\n"
    if style == "flow-list":
        return head + "description: " + "[" * depth + "]" * depth + "\n"
    if style == "flow-map":
        return head + "description: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if style == "block-map":
        return head + "description:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(depth))
    if style == "dash-chain":
        return head + "description:\n" + "- " * depth + "x\n"
    if style == "block-list":
        return head + "description:\n" + "".join(" " * i + "-\n" for i in range(depth)) + "x\n"
    raise AssertionError(style)


@pytest.mark.parametrize("depth", [MAX_SCAN_DEPTH + 1, 300, 1000, 20_000])
@pytest.mark.parametrize(
    "style", ["flow-list", "flow-map", "block-map", "dash-chain", "block-list"]
)
def test_deep_yaml_is_refused_before_the_composer(
    scratch_repo: Path, style: str, depth: int
) -> None:
    text = _nested(style, depth)
    if len(text.encode()) > 256 * 1024:
        pytest.skip("over the size limit: refused by size first")
    path = write_spec(scratch_repo, text)
    started = time.perf_counter()
    error = bad_input(lambda: load_spec(path))
    assert "nested too deeply" in error.message
    assert (
        error.line is not None and error.field is not None and error.field.startswith("description")
    )
    assert time.perf_counter() - started < 2


@FAST
@given(
    st.lists(
        st.sampled_from(["[", "{a: ", "- ", "\n  ", "]", "}", "'[", "#[", '"{"']), max_size=400
    )
)
def test_any_bracket_soup_is_a_spec_or_a_bad_input(scratch_repo: Path, pieces: list[str]) -> None:
    path = write_spec(scratch_repo, "name: hostile\ndescription: " + "".join(pieces) + "\n")
    try:
        load_spec(path)
    except BadInput as exc:
        assert "\n" not in str(exc)


# -- class: spec paths that are not a regular file inside the repository --------------------
def _fifo(repo: Path, link: Path) -> None:
    os.mkfifo(link)


SPEC_PATHS = {
    "fifo": (_fifo, "not a regular file"),
    "dev-zero": (lambda repo, link: link.symlink_to("/dev/zero"), "outside the repository"),
    "dev-null": (lambda repo, link: link.symlink_to("/dev/null"), "outside the repository"),
    "loop": (lambda repo, link: link.symlink_to(link.name), "symlink loop"),
    "loop-pair": (
        lambda repo, link: (
            link.symlink_to(link.with_name("other.yaml")),
            link.with_name("other.yaml").symlink_to(link.name),
        ),
        "symlink loop",
    ),
    "outside": (
        lambda repo, link: link.symlink_to(repo.parent / "outside.yaml"),
        "outside the repository",
    ),
    "folder": (lambda repo, link: link.mkdir(), "folder"),
    "inside-fifo": (
        lambda repo, link: (
            os.mkfifo(repo / "data" / "pipe"),
            link.symlink_to(repo / "data" / "pipe"),
        ),
        "not a regular file",
    ),
}


@pytest.mark.parametrize("kind", sorted(SPEC_PATHS))
def test_spec_path_that_is_not_a_regular_file_in_the_repo(
    scratch_repo: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (scratch_repo.parent / "outside.yaml").write_text(
        (scratch_repo / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    make, message = SPEC_PATHS[kind]
    link = scratch_repo / "model_specs" / "hostile.yaml"
    make(scratch_repo, link)
    capsys.readouterr()
    with deadline(20):
        code = main(["-q", "validate", str(link)])
    match = one_error_line(code, capsys.readouterr().err)
    assert match["file"].endswith("hostile.yaml") and message in match["msg"]


DATA_PATHS = {
    "fifo": (lambda repo, p: os.mkfifo(p), "not a regular file"),
    "dev-zero": (lambda repo, p: p.symlink_to("/dev/zero"), "outside the repository"),
    "loop": (lambda repo, p: p.symlink_to(p.name), "symlink loop"),
    "inside-device-link": (
        lambda repo, p: (os.mkfifo(repo / "pipe"), p.symlink_to(repo / "pipe")),
        "not a regular file",
    ),
}


@pytest.mark.parametrize("kind", sorted(DATA_PATHS))
def test_data_path_that_is_not_a_regular_file_in_the_repo(scratch_repo: Path, kind: str) -> None:
    path = csv_spec(
        scratch_repo, b"a,label\n1,0\n", {"a": {"dtype": "float64"}, "label": {"dtype": "int64"}}
    )
    data = scratch_repo / "data" / "hostile.csv"
    data.unlink()
    make, message = DATA_PATHS[kind]
    make(scratch_repo, data)
    loaded = load_spec(path)
    with deadline(20):
        error = bad_input(lambda: load_data(loaded))
    assert error.field == "data.source" and message in error.message


# -- class: malformed https URLs, and credentials never echoed ---------------------------------
SECRET = "s3cr3tPw"
HOSTS = st.sampled_from(
    ["[::1", "[zz]", "exa mple.com", "h:99999", "h:x", "", "-bad-", "a..b", "[::1]x", "h\t1",
     "example.com:0", "ex%20ample.com", "[::1]:-1", "h:1:2"]
)  # fmt: skip


@FAST
@given(
    host=HOSTS,
    creds=st.booleans(),
    path=st.sampled_from(["/d.csv", "", "/a b", "?token=" + SECRET]),
)
def test_malformed_url_is_a_bad_input_without_secrets(
    scratch_repo: Path, host: str, creds: bool, path: str
) -> None:
    url = "https://" + (f"user:{SECRET}@" if creds else "") + host + path
    spec = tabular()
    spec["data"]["source"] = url
    spec["data"]["sha256"] = "ab" * 32
    spec_path = write_spec(scratch_repo, spec)
    error = bad_input(lambda: load_spec(spec_path))
    assert error.field == "data.source" and error.line is not None
    assert SECRET not in str(error)


@pytest.mark.parametrize(
    "url", [f"https://user:{SECRET}@example.com/d.csv", f"https://{SECRET}@example.com/d.csv"]
)
def test_credentials_in_a_url_are_refused_and_not_echoed(scratch_repo: Path, url: str) -> None:
    spec = tabular()
    spec["data"]["source"] = url
    spec["data"]["sha256"] = "ab" * 32
    error = bad_input(lambda: load_spec(write_spec(scratch_repo, spec)))
    assert "credentials" in error.message and SECRET not in str(error)


def test_a_download_failure_does_not_echo_the_query(
    scratch_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(url: str, timeout: float) -> Any:
        raise urllib.error.URLError(f"refused {url}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    spec = tabular()
    spec["data"]["source"] = f"https://example.com/d.csv?sig={SECRET}"
    spec["data"]["sha256"] = "ab" * 32
    loaded = load_spec(write_spec(scratch_repo, spec))
    with pytest.raises(Exception) as info:
        load_data(loaded)
    assert "cannot download https://example.com/d.csv?***" in str(info.value)
    assert SECRET not in str(info.value).split(": refused")[0]


# -- class: CSV bytes that the csv module or pandas mis-locate --------------------------------
COLUMNS = {"a": {"dtype": "float64"}, "label": {"dtype": "int64"}}


@pytest.mark.parametrize("where", ["header", "body", "quoted-body"])
@pytest.mark.parametrize("size", [csv.field_size_limit() + 1, 4 * csv.field_size_limit()])
def test_a_field_over_the_csv_limit(scratch_repo: Path, where: str, size: int) -> None:
    big = "x" * size
    lines = ["a,label", "1,0", "2,1"]
    if where == "header":
        lines[0] = f"a,label,{big}"
        lines[1:] = ["1,0,1", "2,1,1"]
    elif where == "body":
        lines.append(f"{big},1")
    else:
        lines.append(f'"{big}",1')
    path = csv_spec(scratch_repo, ("\n".join(lines) + "\n").encode(), COLUMNS)
    loaded = load_spec(path)
    error = bad_input(lambda: load_data(loaded))
    assert error.field is not None and error.field.startswith("data.")
    assert len(str(error)) < MAX_MESSAGE_CHARS + 200
    if where != "header":
        assert error.line == 4, str(error)


@pytest.mark.parametrize("newlines", [0, 1, 3, 10])
@pytest.mark.parametrize("fault", ["ragged", "text-in-float"])
def test_csv_errors_name_the_physical_line(scratch_repo: Path, newlines: int, fault: str) -> None:
    quoted = '"' + "\n" * newlines + 'x"'
    lines = ["a,label,note", f"1,0,{quoted}", "2,1,y", "3,0,z"]
    bad_line = 5 + newlines  # header, the quoted record, two rows, then the bad one
    lines.append("4,1,z,extra" if fault == "ragged" else "oops,1,z")
    columns = {**COLUMNS, "note": {"dtype": "string"}}
    path = csv_spec(scratch_repo, ("\n".join(lines) + "\n").encode(), columns)
    loaded = load_spec(path)
    error = bad_input(lambda: load_data(loaded))
    assert error.line == bad_line, str(error)


@pytest.mark.parametrize(
    "rest", [b"a,label\n1,0\n", b"label,a\n0,1\n", b"\xef\xbb\xbfa,label\n1,0\n"]
)
def test_a_utf8_bom_is_named(scratch_repo: Path, rest: bytes) -> None:
    path = csv_spec(scratch_repo, b"\xef\xbb\xbf" + rest, COLUMNS)
    loaded = load_spec(path)
    error = bad_input(lambda: load_data(loaded))
    assert "byte-order mark" in error.message and error.line == 1


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 2**64, 10**30, -(2**63) - 1])
@pytest.mark.parametrize("nulls", [False, True])
def test_integers_outside_int64_fail_the_dtype_check(
    scratch_repo: Path, value: int, nulls: bool
) -> None:
    rows = ["a,label", f"1,{value}", "2,1"] + (["3,"] if nulls else [])
    columns = {"a": {"dtype": "float64"}, "label": {"dtype": "int64", "nullable": nulls}}
    path = csv_spec(scratch_repo, ("\n".join(rows) + "\n").encode(), columns)
    loaded = load_spec(path)
    results, _ = run_checks(loaded, load_data(loaded), None)
    dtype = next(r for r in results if r.name == "label.dtype")
    assert not dtype.passed and dtype.blocking, dtype


@pytest.mark.parametrize("length", [MAX_MESSAGE_CHARS, 5_000, 100_000])
def test_a_long_bad_cell_is_cut_and_still_names_file_and_field(
    scratch_repo: Path, length: int
) -> None:
    raw = ("a,label\n1,0\n" + "z" * length + ",1\n").encode()
    loaded = load_spec(csv_spec(scratch_repo, raw, COLUMNS))
    error = bad_input(lambda: load_data(loaded))
    text = str(error)
    assert len(text) < MAX_MESSAGE_CHARS + 120, len(text)
    assert text.startswith("data/hostile.csv:3: data.columns.a: ")


# -- class: estimators that do not suit the task, or cannot give what the metrics need --------
NOT_CLASSIFIERS = [
    "sklearn.linear_model.Ridge", "sklearn.ensemble.RandomForestRegressor",
    "sklearn.neighbors.KNeighborsRegressor", "sklearn.svm.SVR", "sklearn.decomposition.PCA",
    "sklearn.decomposition.TruncatedSVD", "sklearn.preprocessing.StandardScaler",
    "sklearn.cluster.KMeans", "sklearn.neural_network.MLPRegressor",
]  # fmt: skip
NOT_REGRESSORS = [
    "sklearn.linear_model.LogisticRegression", "sklearn.svm.SVC", "sklearn.decomposition.NMF",
    "sklearn.cluster.KMeans", "sklearn.neighbors.KNeighborsClassifier",
]  # fmt: skip
NO_PROBA = [
    ("sklearn.svm.LinearSVC", {}), ("sklearn.svm.SVC", {"probability": False}),
    ("sklearn.linear_model.RidgeClassifier", {}), ("sklearn.linear_model.Perceptron", {}),
    ("sklearn.linear_model.SGDClassifier", {"loss": "hinge"}),
]  # fmt: skip


def _resolve(repo: Path, spec: dict[str, Any]) -> BadInput:
    path = write_spec(repo, spec)
    return bad_input(lambda: resolve_estimator(load_spec(path)))


@pytest.mark.parametrize("estimator", NOT_CLASSIFIERS)
def test_a_non_classifier_for_classification(scratch_repo: Path, estimator: str) -> None:
    error = _resolve(scratch_repo, tabular(model={"estimator": estimator}))
    assert error.field == "model.estimator" and "needs a classifier" in error.message


@pytest.mark.parametrize("estimator", NOT_REGRESSORS)
def test_a_non_regressor_for_regression(scratch_repo: Path, estimator: str) -> None:
    spec = tabular(task="regression", model={"estimator": estimator}, evaluation={"primary": "mse"})
    error = _resolve(scratch_repo, spec)
    assert error.field == "model.estimator" and "needs a regressor" in error.message


@pytest.mark.parametrize("where", ["primary", "threshold", "champion"])
@pytest.mark.parametrize(("estimator", "params"), NO_PROBA)
def test_no_predict_proba_when_a_metric_needs_it(
    scratch_repo: Path, estimator: str, params: dict[str, Any], where: str
) -> None:
    evaluation: dict[str, Any] = {"primary": "accuracy"}
    metric = sorted(PROBA_METRICS)[0] if where != "champion" else "log_loss"
    if where == "primary":
        evaluation["primary"] = metric
        evaluation["champion"] = {"metric": "accuracy"}
    elif where == "threshold":
        evaluation["thresholds"] = {metric: {"min": 0.5}}
    else:
        evaluation["champion"] = {"metric": metric}
    spec = tabular(model={"estimator": estimator, "params": params}, evaluation=evaluation)
    error = _resolve(scratch_repo, spec)
    assert error.field is not None and error.field.startswith("evaluation.")
    assert "predict_proba" in error.message


# -- class: parameter values: booleans, bombs, and scikit-learn's own constraints -------------
ESTIMATORS = {
    "classification": [
        "sklearn.linear_model.LogisticRegression", "sklearn.ensemble.RandomForestClassifier",
        "sklearn.neural_network.MLPClassifier", "sklearn.neighbors.KNeighborsClassifier",
        "sklearn.ensemble.GradientBoostingClassifier", "sklearn.tree.DecisionTreeClassifier",
    ],
    "retrieval": ["sklearn.decomposition.TruncatedSVD", "sklearn.decomposition.NMF"],
}  # fmt: skip


def _integer_params(path: str) -> list[str]:
    """Parameters whose constraints take integers but not booleans."""
    import importlib

    from sklearn.utils._param_validation import Interval

    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    out = []
    for param, constraints in cls._parameter_constraints.items():
        if (
            not isinstance(constraints, list)
            or "boolean" in constraints
            or "verbose" in constraints
        ):
            continue
        if any(isinstance(c, Interval) and c.type is not float for c in constraints):
            out.append(param)
    return out


BOOL_CASES = [
    (task, est, param)
    for task, ests in ESTIMATORS.items()
    for est in ests
    for param in _integer_params(est)
]


def _spec_for(task: str, estimator: str, params: dict[str, Any]) -> dict[str, Any]:
    if task == "retrieval":
        from tests.hostile.support import RETRIEVAL

        spec = {**RETRIEVAL}
        spec["model"] = {"estimator": estimator, "params": params}
        return spec
    return tabular(model={"estimator": estimator, "params": params})


@pytest.mark.parametrize(("task", "estimator", "param"), BOOL_CASES)
def test_a_boolean_is_not_a_number(
    scratch_repo: Path, task: str, estimator: str, param: str
) -> None:
    error = _resolve(scratch_repo, _spec_for(task, estimator, {param: True}))
    assert error.field == f"model.params.{param}", str(error)


BOUND_CASES = [
    (task, est, param) for task, ests in ESTIMATORS.items() for est in ests
    for param in _integer_params(est) if param in SANE_MAX
]  # fmt: skip


@pytest.mark.parametrize("factor", [1, 10**7])
@pytest.mark.parametrize(("task", "estimator", "param"), BOUND_CASES)
def test_size_and_iteration_bombs_are_refused_before_fitting(
    scratch_repo: Path, task: str, estimator: str, param: str, factor: int
) -> None:
    value = SANE_MAX[param] * factor + 1
    error = _resolve(scratch_repo, _spec_for(task, estimator, {param: value}))
    assert error.field == f"model.params.{param}" and "limit" in error.message


@pytest.mark.parametrize("layers", [[10**6], [100] * 101, [10, 10**9]])
def test_giant_mlp_layers_are_refused(scratch_repo: Path, layers: list[int]) -> None:
    spec = tabular(
        model={
            "estimator": "sklearn.neural_network.MLPClassifier",
            "params": {"hidden_layer_sizes": layers},
        }
    )
    assert _resolve(scratch_repo, spec).field == "model.params.hidden_layer_sizes"


@FAST
@given(
    estimator=st.sampled_from(ESTIMATORS["classification"]),
    value=st.one_of(st.integers(-(2**40), 0), st.floats(-1e9, -1e-9), st.text(max_size=8)),
)
def test_values_outside_sklearn_constraints_are_bad_input(
    scratch_repo: Path, estimator: str, value: Any
) -> None:
    params = _integer_params(estimator)
    spec = tabular(model={"estimator": estimator, "params": {params[0]: value}})
    path = write_spec(scratch_repo, spec)
    try:
        resolve_estimator(load_spec(path))
    except BadInput as exc:
        assert exc.field is not None and exc.field.startswith("model.params")


# -- class: kNN asking for more neighbours than rows -----------------------------------------
@pytest.mark.parametrize("estimator", ["KNeighborsClassifier", "KNeighborsRegressor"])
@pytest.mark.parametrize("extra", [1, 1000])
def test_more_neighbours_than_training_rows(scratch_repo: Path, estimator: str, extra: int) -> None:
    from pipelines.spec.estimators import build_estimator
    from pipelines.tasks import get_task

    rows = 100  # a holdout of at least MIN_HOLDOUT_UNITS rows
    rng = np.random.default_rng(0)
    lines = ["a,label"] + [f"{rng.normal():.4f},{i % 2}" for i in range(rows)]
    task = "classification" if "Classifier" in estimator else "regression"
    path = csv_spec(scratch_repo, ("\n".join(lines) + "\n").encode(), COLUMNS)
    text = path.read_text(encoding="utf-8")
    spec: dict[str, Any] = __import__("yaml").safe_load(text)
    spec["task"] = task
    spec["evaluation"] = {"primary": "accuracy" if task == "classification" else "mse"}
    spec["data"]["split"] = {"strategy": "random", "test_fraction": 0.25, "seed": 1}
    spec["model"] = {"estimator": f"sklearn.neighbors.{estimator}", "params": {}}
    loaded = load_spec(write_spec(scratch_repo, spec))
    frame = load_data(loaded).frame
    kind = get_task(task)
    split = kind.split(loaded, frame)
    # the split does not depend on the model: ask for `extra` more than it trains on
    spec["model"]["params"] = {"n_neighbors": len(split.train) + extra}
    loaded = load_spec(write_spec(scratch_repo, spec))
    error = bad_input(lambda: kind.fit(loaded, frame, split, build_estimator(loaded)))
    assert error.field == "model.params.n_neighbors"
