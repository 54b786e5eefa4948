"""Models-from-code entry point of the logged pyfunc (no pickled Python object).

MLflow copies this file into the logged model and runs it at load time. It serves with the
`serving.py` logged beside it (the model's `code/` folder), so a model is always served by
the code it was published with, whatever version of the package is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow.models
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST
from mlflow.pyfunc import PythonModel


def _serving_module() -> ModuleType:
    """The logged `code/serving.py`, under a name of its own; the package's outside a model."""
    logged = Path(__file__).resolve().parent / "code" / "serving.py"
    if not logged.is_file():
        from pipelines import serving

        return serving
    name = "pipelines_serving_" + hashlib.sha256(logged.read_bytes()).hexdigest()[:16]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, logged)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


class NeighboursModel(PythonModel):
    """The pyfunc: loads the serving payload and index, delegates queries to them."""

    server: Any
    serving: ModuleType

    def load_context(self, context: Any) -> None:
        """Open the payload and the index (memory-mapped) from the model's artifacts."""
        self.serving = serving = _serving_module()
        self.server = serving.load(
            Path(context.artifacts["serving"]), Path(context.artifacts["index"])
        )

    @property
    def bundle(self) -> Any:
        """Estimator and arrays (what `evaluate` scores a champion with)."""
        return self.server.bundle

    @property
    def index(self) -> Any:
        """The usearch index."""
        return self.server.index

    def sample_input(self) -> pd.DataFrame:
        """A small valid query (known users, or feature rows)."""
        return self.server.sample_input()

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Answer the query frame (see `pipelines/serving.py` for the contract); a bad
        request (ValueError, OverflowError) is an MLflow BAD_REQUEST error carrying our
        message on one bounded line, which the scoring server answers with HTTP 400. An
        answer never holds NaN or Infinity (refused the same way)."""
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        try:
            return self.server.answer(model_input, params)
        except (ValueError, OverflowError) as exc:
            raise MlflowException(self.serving.one_line(str(exc)), error_code=BAD_REQUEST) from exc


mlflow.models.set_model(NeighboursModel())
