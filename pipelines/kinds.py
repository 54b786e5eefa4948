"""Task kinds by name: the one place kinds are registered and looked up.

A `Kind` holds what the spec model and the reports read (data roles, metrics, the
baseline's name) and the kind's `Task`: the object itself, or for the built-in kinds an
import path imported on first use, so validating a spec imports no scikit-learn. Another
kind registers its `Kind` with `register` (from its own module, a plug-in, or a test).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from pipelines.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    RETRIEVAL_METRICS,
    MetricInfo,
)

if TYPE_CHECKING:
    from pipelines.tasks.protocol import Task

T = TypeVar("T")


@dataclass
class Kind:
    """One registered task kind."""

    name: str  # the spec's `task:` value
    roles: tuple[str, ...]  # data roles a spec of this kind must name (`target`, `user`...)
    metrics: tuple[MetricInfo, ...]  # what its `score` reports and a spec may gate on
    baseline_name: str  # how reports name the trivial model of `Task.baseline_estimator`
    task: Task | str  # the implementation, or "module:Class" imported on first use


_KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "retrieval",
            ("user", "item"),
            RETRIEVAL_METRICS,
            "most popular items",
            "pipelines.tasks.retrieval:RetrievalTask",
        ),
        Kind(
            "classification",
            ("target",),
            CLASSIFICATION_METRICS,
            "class prior",
            "pipelines.tasks.classification:ClassificationTask",
        ),
        Kind(
            "regression",
            ("target",),
            REGRESSION_METRICS,
            "training mean",
            "pipelines.tasks.regression:RegressionTask",
        ),
    )
}


def register(kind: Kind, *, replace: bool = False) -> None:
    """Add `kind`; a name already registered needs `replace=True`."""
    if kind.name in _KINDS and not replace:
        raise ValueError(f"task kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind


def unregister(name: str) -> None:
    """Forget a kind (a test's toy kind, after the test)."""
    _KINDS.pop(name, None)


def kinds() -> tuple[str, ...]:
    """The registered kind names, in registration order (built-ins first)."""
    return tuple(_KINDS)


def get_kind(name: str) -> Kind:
    """The registered kind `name`; ValueError when there is none."""
    kind = _KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown task kind {name!r}")
    return kind


def get_task(name: str) -> Task:
    """The implementation of the spec's `task:` (imported on first use)."""
    kind = get_kind(name)
    if isinstance(kind.task, str):
        module, _, attribute = kind.task.partition(":")
        kind.task = getattr(importlib.import_module(module), attribute)()
    assert not isinstance(kind.task, str)
    return kind.task


# {kind name: Kind}, read-only: change it with `register` / `unregister`.
KINDS: Mapping[str, Kind] = MappingProxyType(_KINDS)


class KindTable(Mapping[str, T]):
    """A read-only view {kind name: one fact of that kind}, read at lookup time."""

    def __init__(self, read: Callable[[Kind], T]) -> None:
        self._read = read

    def __getitem__(self, name: str) -> T:
        return self._read(_KINDS[name])

    def __iter__(self) -> Iterator[str]:
        return iter(_KINDS)

    def __len__(self) -> int:
        return len(_KINDS)


class _KindMetrics(Mapping[str, dict[str, MetricInfo]]):
    """{kind: {metric name: info}} of every registered task kind, read at each use."""

    def __getitem__(self, kind: str) -> dict[str, MetricInfo]:
        return {m.name: m for m in KINDS[kind].metrics}

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


METRICS: Mapping[str, dict[str, MetricInfo]] = _KindMetrics()


def metric_info(task: str, name: str) -> MetricInfo:
    """The metric `name` of task kind `task`; KeyError when unknown."""
    return METRICS[task][name]
