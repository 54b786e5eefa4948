"""The logged model's signature, from the spec's column names and dtypes.

Params `k` and `exclude_seen` are declared so `mlflow models serve` passes them through.
Retrieval's query columns are all optional: a request carries the one it asks with.
"""

from __future__ import annotations

from mlflow.models.signature import ModelSignature
from mlflow.types.schema import Array, ColSpec, DataType, ParamSchema, ParamSpec, Schema

from pipelines.serving import DEFAULT_K, HISTORY
from pipelines.spec import Spec

_TYPES = {
    "int64": DataType.long,
    "float64": DataType.double,
    "bool": DataType.boolean,
    "string": DataType.string,
    "category": DataType.string,
}


def signature(spec: Spec) -> ModelSignature:
    """Inputs named as in the spec (a tabular model's features), plus the `k` and
    `exclude_seen` params."""
    data = spec.data
    dtypes = {name: _TYPES[column.dtype] for name, column in data.columns.items()}
    if spec.task == "retrieval":
        assert data.user is not None and data.item is not None  # the spec model requires them
        columns = [
            ColSpec(dtypes[data.user], data.user, required=False),
            ColSpec(Array(dtypes[data.item]), HISTORY, required=False),
            ColSpec(dtypes[data.item], data.item, required=False),
        ]
        if data.weight:
            columns.insert(2, ColSpec(Array(DataType.double), data.weight, required=False))
    else:
        columns = [ColSpec(dtypes[c], c) for c in spec.feature_columns()]
    params = ParamSchema(
        [
            ParamSpec("k", DataType.long, DEFAULT_K),
            ParamSpec("exclude_seen", DataType.boolean, True),
        ]
    )
    return ModelSignature(inputs=Schema(columns), params=params)  # type: ignore[arg-type]
