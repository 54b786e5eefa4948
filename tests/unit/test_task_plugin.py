"""A task kind registered from the test suite runs validate → check-data → train →
build-index → evaluate → publish through the real CLI, and its logged model loads back and
answers, with no package module edited: a new kind is one module (plus its server, logged
as model code) and one `register`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.kinds import METRICS, get_kind, kind_sources, unregister
from pipelines.metrics import MetricInfo
from pipelines.spec import LoadedSpec
from pipelines.tasks import Bundle, Kind, Scores, Searcher, Split, get_task, kinds, register

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["x1", "x2"]
SERVER = Path(__file__).parent / "plugin" / "toy_server.py"


class ToyTask:
    """A toy kind: predict `target` from the features; every fourth row is held out."""

    kind = "toy"

    def check_estimator(self, loaded: LoadedSpec, instance: Any) -> None:
        if not hasattr(instance, "predict"):
            raise loaded.error("the toy kind needs an estimator with predict", "model")

    def baseline_estimator(self) -> Any:
        from sklearn.dummy import DummyRegressor

        return DummyRegressor(strategy="constant", constant=0.0)

    def split(self, loaded: LoadedSpec, frame: pd.DataFrame) -> Split:
        rows = np.arange(len(frame))
        return Split(train=rows[rows % 4 != 0], test=rows[rows % 4 == 0])

    def fit(self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split, estimator: Any) -> Bundle:
        train = frame.iloc[split.train]
        estimator.fit(train[FEATURES].to_numpy(), train["target"].to_numpy())
        vectors = np.ascontiguousarray(train[FEATURES].to_numpy(), dtype=np.float32)
        return Bundle(self.kind, estimator, loaded.spec.index.metric, {"vectors": vectors})

    def index_vectors(self, bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
        vectors = bundle.extras["vectors"]
        return np.arange(len(vectors), dtype=np.int64), vectors

    def queries(self, bundle: Bundle, frame: pd.DataFrame, split: Split) -> np.ndarray:
        return np.ascontiguousarray(frame.iloc[split.test][FEATURES].to_numpy(), dtype=np.float32)

    def score(
        self,
        loaded: LoadedSpec,
        bundle: Bundle,
        frame: pd.DataFrame,
        split: Split,
        searcher: Searcher,
    ) -> Scores:
        test = frame.iloc[split.test]
        error = np.abs(bundle.estimator.predict(test[FEATURES].to_numpy()) - test["target"])
        error = error.to_numpy(dtype=np.float64)
        return Scores({"abs_error": float(error.mean())}, {"abs_error": error}, split.test)

    def sample_rows(
        self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split
    ) -> list[dict[str, Any]] | None:
        return None


TOY = Kind(
    name="toy",
    roles=("target",),
    metrics=(MetricInfo("abs_error", False, True, "absolute error per row"),),
    baseline_name="zero",
    task=ToyTask(),
    target="number",
    server="toy_server:ToyServer",
)


@pytest.fixture
def toy_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kind]:
    """The toy kind registered, its server module importable from a folder of its own."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    shutil.copy(SERVER, plugin / SERVER.name)
    monkeypatch.syspath_prepend(str(plugin))
    register(TOY)
    yield TOY
    unregister(TOY.name)
    sys.modules.pop("toy_server", None)


def _repo(root: Path) -> Path:
    (root / "model_specs").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})
    frame["target"] = 3 * frame["x1"] - 2 * frame["x2"] + rng.normal(scale=0.1, size=400)
    csv = root / "data" / "toy.csv"
    frame.to_csv(csv, index=False)
    spec = root / "model_specs" / "toy-model.yaml"
    spec.write_text(
        f"""name: toy-model
task: toy
data:
  source: data/toy.csv
  sha256: {hashlib.sha256(csv.read_bytes()).hexdigest()}
  target: target
  columns:
    x1: {{dtype: float64}}
    x2: {{dtype: float64}}
    target: {{dtype: float64}}
  checks: {{max_leakage_score: null}}
model:
  estimator: sklearn.linear_model.LinearRegression
evaluation:
  primary: abs_error
  thresholds: {{abs_error: {{max: 0.5}}}}
index:
  metric: l2sq
""",
        encoding="utf-8",
    )
    return spec


def test_a_kind_registered_from_the_tests_runs_end_to_end(
    toy_kind: Kind, mlflow_store: str, tmp_path: Path
) -> None:
    assert "toy" in kinds() and get_task("toy") is TOY.task
    assert set(METRICS["toy"]) == {"abs_error"}
    spec = str(_repo(tmp_path / "repo"))
    for step in ("validate", "check-data", "train", "build-index", "evaluate"):
        assert main([step, spec]) == 0, step
    run = Path(os.environ["PIPELINES_RUNS_DIR"]) / "toy-model"
    evaluation = json.loads((run / "evaluation.json").read_text(encoding="utf-8"))
    assert evaluation["passed"] is True
    assert evaluation["baseline"] == "zero"
    assert evaluation["candidate"]["abs_error"] < 0.2 < evaluation["baseline_metrics"]["abs_error"]


@pytest.mark.slow
def test_a_plugin_kind_publishes_a_model_that_loads_and_answers_with_its_own_server(
    toy_kind: Kind, mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.pyfunc

    spec = str(_repo(tmp_path / "repo"))
    for step in ("check-data", "train", "build-index", "evaluate", "publish"):
        assert main([step, spec]) == 0, step
    run = Path(os.environ["PIPELINES_RUNS_DIR"]) / "toy-model"
    published = json.loads((run / "publish.json").read_text(encoding="utf-8"))
    # Only the logged copy of the server module can answer from here on.
    shutil.rmtree(tmp_path / "plugin")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path / "plugin")])
    sys.modules.pop("toy_server", None)
    model = mlflow.pyfunc.load_model(published["model_uri"])
    logged = Path(sys.modules["toy_server"].__file__ or "")
    assert logged.name == "toy_server.py" and logged.parent.name == "code"
    server = model.unwrap_python_model().server  # type: ignore[attr-defined]
    assert type(server).__name__ == "ToyServer"
    answer = model.predict(pd.DataFrame({"x1": [1.0, 0.0], "x2": [0.0, 1.0]}), params={"k": 3})
    assert answer["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    # target = 3 x1 - 2 x2 (+ noise): the fitted line answers, not the baseline's zero
    first, second = answer.groupby("query")["prediction"].first().tolist()
    assert first == pytest.approx(3.0, abs=0.1) and second == pytest.approx(-2.0, abs=0.1)
    # the signature is the kind's default input columns: the spec's features, required
    with pytest.raises(Exception, match=r"missing inputs \['x2'\]"):
        model.predict(pd.DataFrame({"x1": [1.0]}))


def test_a_plugin_kind_s_own_code_is_part_of_the_content_hash(
    toy_kind: Kind, tmp_path: Path
) -> None:
    from pipelines.spec import load_spec
    from pipelines.state import ModelState

    loaded = load_spec(_repo(tmp_path / "repo"))
    server = tmp_path / "plugin" / SERVER.name
    sources = {p.name for p in kind_sources(TOY)}
    assert sources == {SERVER.name, Path(__file__).name}  # its server and its task
    before = ModelState(loaded).content_hash
    server.write_text(server.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert ModelState(loaded).content_hash != before
    assert kind_sources(get_kind("classification")) == []  # built-ins: the package's hash


def test_an_unregistered_kind_is_a_spec_error(tmp_path: Path) -> None:
    spec = _repo(tmp_path / "repo")
    assert main(["validate", str(spec)]) == 2
