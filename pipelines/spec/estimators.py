"""Estimator import paths: allow-list first, then import, then parameter names."""

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
