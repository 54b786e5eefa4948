"""The logged model's signature, from the input columns its kind names (`input_columns`).

Params `k` and `exclude_seen` are declared so `mlflow models serve` passes them through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow.models.signature import ModelSignature
from mlflow.types.schema import Array, ColSpec, DataType, ParamSchema, ParamSpec, Schema

from pipelines.kinds import InputColumn
from pipelines.serving import DEFAULT_K
from pipelines.spec import Spec

_TYPES = {
    "int64": DataType.long,
    "float64": DataType.double,
    "bool": DataType.boolean,
    "string": DataType.string,
    "category": DataType.string,
}


def signature(columns: Sequence[InputColumn]) -> ModelSignature:
    """Inputs `columns` (named and typed as in the spec), plus the `k` and `exclude_seen`
    params."""
    specs = [
        ColSpec(Array(_TYPES[c.dtype]) if c.array else _TYPES[c.dtype], c.name, required=c.required)
        for c in columns
    ]
    params = ParamSchema(
        [
            ParamSpec("k", DataType.long, DEFAULT_K),
            ParamSpec("exclude_seen", DataType.boolean, True),
        ]
    )
    return ModelSignature(inputs=Schema(specs), params=params)  # type: ignore[arg-type]


def input_columns(task: Any, spec: Spec) -> list[InputColumn]:
    """The kind's `input_columns(spec)` (a `Task`'s optional method), or by default the
    spec's feature columns, each required."""
    own = getattr(task, "input_columns", None)
    if own is not None:
        return list(own(spec))
    return [InputColumn(c, spec.data.columns[c].dtype) for c in spec.feature_columns()]
