"""Logged models: what `publish` logs (a pyfunc from code) and what steps load back.

Steps describe a model with `PyfuncPackage` and receive a `LoadedModel`; neither exposes
MLflow's own classes beyond the signature the package carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.models.model import ModelInfo
    from mlflow.models.signature import ModelSignature
    from mlflow.pyfunc import PyFuncModel

    from pipelines.serving import Server


@dataclass(frozen=True)
class PyfuncPackage:
    """A models-from-code pyfunc: the entry file, its artifacts and code, declared pins."""

    python_model: Path
    artifacts: Mapping[str, Path]
    code_paths: Sequence[Path]
    pip_requirements: Sequence[str]
    signature: ModelSignature
    input_example: pd.DataFrame

    def log(self, mlflow: Any) -> ModelInfo:
        """Log it as `model` in the active run (`mlflow` is the imported module)."""
        info: ModelInfo = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(self.python_model),
            artifacts={key: str(path) for key, path in self.artifacts.items()},
            code_paths=[str(path) for path in self.code_paths],
            pip_requirements=list(self.pip_requirements),
            signature=self.signature,
            input_example=self.input_example,
        )
        return info


@dataclass(frozen=True)
class LoadedModel:
    """A logged model loaded from a verified local copy of its files: the server inside
    it, and `predict` as MLflow serves it (through the pyfunc's input checks)."""

    uri: str
    pyfunc: PyFuncModel
    path: Path  # the verified local copy it was loaded from

    @property
    def server(self) -> Server:
        """The served payload: bundle, index, `sample_input()`, `predict()`."""
        server: Server = self.pyfunc.unwrap_python_model().server
        return server

    def predict(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        """The pyfunc's answer to `frame`."""
        return self.pyfunc.predict(frame, params=params)
