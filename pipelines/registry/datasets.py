"""Datasets a run read, as MLflow dataset inputs (`mlflow.log_input`): the lineage from a
logged model back to the rows it was fitted and scored on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# MLflow's tracking store holds a dataset digest in 36 characters (`datasets.digest`).
MAX_DIGEST = 36


@dataclass(frozen=True)
class DatasetInput:
    """One dataset a run read: its rows, name, where they come from and their identity.

    `source` is the spec's data source: a repository path, an http(s) URL or
    `sklearn:<loader>`. `digest` is cut to MLflow's 36 characters; `tags` keep the full one.
    """

    frame: pd.DataFrame
    name: str
    source: str
    digest: str
    context: str
    tags: dict[str, str] = field(default_factory=dict)

    def to_mlflow(self) -> Any:
        """The MLflow dataset (`mlflow.data.from_pandas`) with an explicit source, so MLflow
        never guesses what the string names."""
        from mlflow.data.code_dataset_source import CodeDatasetSource
        from mlflow.data.dataset_source_registry import get_registered_sources
        from mlflow.data.http_dataset_source import HTTPDatasetSource
        from mlflow.data.pandas_dataset import from_pandas

        source: Any
        if self.source.startswith(("https://", "http://")):
            source = HTTPDatasetSource(self.source)
        elif ":" in self.source.split("/", 1)[0]:  # sklearn:load_x, a loader, not a file
            source = CodeDatasetSource(tags={"loader": self.source})
        else:  # a repository path: MLflow's local source (two schemes share its class)
            local: Any = next(
                s for s in get_registered_sources() if s._get_source_type() == "local"
            )
            source = local(self.source)
        return from_pandas(
            self.frame, source=source, name=self.name, digest=self.digest[:MAX_DIGEST]
        )
