"""Estimator import paths: allow-list first, then import, then parameters and task fit.

Parameters are checked before anything is fitted: names, booleans where a number is
expected, sane upper bounds on sizes and iterations, then scikit-learn's own
`_parameter_constraints`. The estimator must suit the task kind, and must offer
`predict_proba` when a metric of the spec needs probabilities.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from pipelines.spec.loader import LoadedSpec

# Allow-listed prefixes can still hold classes that run code named by a parameter or
# that load files; these are refused whatever the allow-list says.
DENIED_PREFIXES = (
    "sklearn.preprocessing.FunctionTransformer",
    "sklearn.compose.TransformedTargetRegressor",
    "sklearn.datasets",
    "sklearn.externals",
    "sklearn.utils",
    "sklearn.base",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.experimental",
)
# Upper bounds on parameters that size a fit: past these, a spec is a time or memory bomb
# whatever the budget in `resources`.
SANE_MAX: dict[str, int] = {
    "max_iter": 100_000,
    "n_iter": 100_000,
    "max_fun": 1_000_000,
    "n_estimators": 10_000,
    "n_components": 10_000,
    "n_neighbors": 10_000,
    "n_init": 1_000,
    "max_depth": 1_000,
    "max_leaf_nodes": 1_000_000,
    "batch_size": 1_000_000,
}
MAX_LAYERS = 100
MAX_LAYER_WIDTH = 100_000


def resolve_estimator(loaded: LoadedSpec) -> type[Any]:
    """Import the spec's estimator class after checking it is allowed, and check params."""
    path = loaded.spec.model.estimator
    if path.startswith(DENIED_PREFIXES):
        raise loaded.error(
            f"'{path}' is not allowed: it can run arbitrary code", "model", "estimator"
        )
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise loaded.error(f"cannot import module '{module_name}'", "model", "estimator") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise loaded.error(f"module '{module_name}' has no '{class_name}'", "model", "estimator")
    from sklearn.base import BaseEstimator

    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise loaded.error(f"'{path}' is not a scikit-learn estimator class", "model", "estimator")
    _check_params(loaded, cls)
    _check_values(loaded, cls)
    if _constructible(cls):
        try:
            instance = cls(**loaded.spec.model.params)
        except (TypeError, ValueError) as exc:
            raise loaded.error(str(exc), "model", "params") from exc
        from pipelines.kinds import get_task

        get_task(loaded.spec.task).check_estimator(loaded, instance)
    return cls


def _check_params(loaded: LoadedSpec, cls: type[Any]) -> None:
    known = set(cls().get_params(deep=False)) if _constructible(cls) else None
    if known is None:
        return
    for name in loaded.spec.model.params:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise loaded.error(
                f"'{cls.__name__}' has no parameter '{name}'{hint}", "model", "params", name
            )


def _check_values(loaded: LoadedSpec, cls: type[Any]) -> None:
    """Booleans, sane bounds and scikit-learn's constraints, one parameter at a time."""
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    constraints: dict[str, Any] = getattr(cls, "_parameter_constraints", {}) or {}
    defaults = cls().get_params(deep=False) if _constructible(cls) else {}
    for name, value in loaded.spec.model.params.items():
        where = ("model", "params", name)
        if isinstance(value, bool) and not _takes_bool(constraints.get(name), defaults.get(name)):
            raise loaded.error(
                f"{value!r} is a boolean; '{name}' of {cls.__name__} takes a number or a name, "
                "not true/false",
                *where,
            )
        _check_bound(loaded, name, value)
        if name in constraints:
            try:
                validate_parameter_constraints(
                    {name: constraints[name]}, {name: value}, caller_name=cls.__name__
                )
            except InvalidParameterError as exc:
                raise loaded.error(str(exc), *where) from exc


def _takes_bool(constraints: list[Any] | str | None, default: Any) -> bool:
    if isinstance(default, bool):
        return True
    if constraints is None:
        return default is None  # no constraints and no default to judge by
    if isinstance(constraints, str):  # "no_validation"
        return True
    return any(
        c in ("boolean", "verbose") or (isinstance(c, type) and issubclass(c, bool))
        for c in constraints
        if isinstance(c, str | type)
    )


def _check_bound(loaded: LoadedSpec, name: str, value: Any) -> None:
    where = ("model", "params", name)
    if name == "hidden_layer_sizes":
        layers = value if isinstance(value, list) else [value]
        if len(layers) > MAX_LAYERS:
            raise loaded.error(f"{len(layers)} layers; at most {MAX_LAYERS}", *where)
        for width in layers:
            if _number(width) and width > MAX_LAYER_WIDTH:
                raise loaded.error(f"a layer of {width} units; at most {MAX_LAYER_WIDTH}", *where)
        return
    limit = SANE_MAX.get(name)
    if limit is not None and _number(value) and value > limit:
        raise loaded.error(f"{value} is above this template's limit of {limit} for {name}", *where)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _constructible(cls: type[Any]) -> bool:
    try:
        cls()
    except TypeError:
        return False
    return True


def build_estimator(loaded: LoadedSpec) -> Any:
    """An unfitted estimator configured from the spec; bad values are BadInput."""
    cls = resolve_estimator(loaded)
    params = dict(loaded.spec.model.params)
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as exc:
        raise loaded.error(str(exc), "model", "params") from exc
    return estimator
