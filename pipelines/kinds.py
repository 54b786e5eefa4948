"""Task kinds by name: the one place kinds are registered and looked up.

A `Kind` holds what the spec model, the reports and the other stages read (data roles,
metrics, the baseline's name, what its target is) and where its parts live: the `Task`
(the object itself, or for the built-in kinds an import path imported on first use, so
validating a spec imports no scikit-learn), the server that answers its queries when it
is not one of `serving.py`'s own, and what `monitor` scores a champion with. Another kind
registers its `Kind` with `register` (from its own module, a plug-in, or a test). Nothing
outside a kind's own modules compares a spec's `task` with a kind's name
(`tests/unit/test_kind_branches.py`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pipelines.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    RETRIEVAL_METRICS,
    MetricInfo,
)

if TYPE_CHECKING:
    from pipelines.tasks.protocol import Task

T = TypeVar("T")


@dataclass(frozen=True)
class InputColumn:
    """One input column of the served model's signature (`Task.input_columns`)."""

    name: str
    dtype: str  # a spec dtype: int64, float64, bool, string, category
    array: bool = False  # a list of such values per row
    required: bool = True


@dataclass
class Kind:
    """One registered task kind."""

    name: str  # the spec's `task:` value
    roles: tuple[str, ...]  # data roles a spec of this kind must name (`target`, `user`...)
    metrics: tuple[MetricInfo, ...]  # what its `score` reports and a spec may gate on
    baseline_name: str  # how reports name the trivial model of `Task.baseline_estimator`
    task: Task | str  # the implementation, or "module:Class" imported on first use
    # What the `target` role holds: classes (leakage by accuracy, strata and drift by
    # label) or numbers (R², deciles, numeric drift); None when the kind has no target.
    target: Literal["class", "number"] | None = None
    # "module:Class" answering this kind's queries in the logged model, or None for the
    # server `pipelines/serving.py` has for it (a feature table unless it lists the kind).
    # The module's top-level package or file is logged as model code beside serving.py.
    server: str | None = None
    # "module:function" scoring a champion on fresh data for `monitor`
    # (`pipelines.monitor.score.Scorer`); None: monitoring checks the data only.
    monitor: str | None = None


_KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "retrieval",
            ("user", "item"),
            RETRIEVAL_METRICS,
            "most popular items",
            "pipelines.tasks.retrieval:RetrievalTask",
            monitor="pipelines.monitor.score:score_retrieval",
        ),
        Kind(
            "classification",
            ("target",),
            CLASSIFICATION_METRICS,
            "class prior",
            "pipelines.tasks.classification:ClassificationTask",
            target="class",
            monitor="pipelines.monitor.score:score_tabular",
        ),
        Kind(
            "regression",
            ("target",),
            REGRESSION_METRICS,
            "training mean",
            "pipelines.tasks.regression:RegressionTask",
            target="number",
            monitor="pipelines.monitor.score:score_tabular",
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
        kind.task = imported(kind.task)()
    assert not isinstance(kind.task, str)
    return kind.task


def imported(path: str) -> Any:
    """The attribute named by "module:attribute"."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def model_code(kind: Kind) -> list[Path]:
    """What `publish` logs as model code beside serving.py for `kind`: the top-level
    package (or single-file module) of its `server`, so the logged model imports it by the
    same name wherever it is loaded. Empty for the kinds serving.py serves itself."""
    if kind.server is None:
        return []
    top = kind.server.partition(":")[0].partition(".")[0]
    if top == "pipelines":
        raise ValueError(
            f"task kind {kind.name!r}: its server {kind.server!r} must live outside "
            "the pipelines package (it is logged with the model)"
        )
    found = importlib.util.find_spec(top)
    if found is None or (found.origin is None and not found.submodule_search_locations):
        raise ValueError(f"task kind {kind.name!r}: cannot find the module of {kind.server!r}")
    if found.submodule_search_locations:
        return [Path(next(iter(found.submodule_search_locations)))]
    assert found.origin is not None
    return [Path(found.origin)]


def kind_sources(kind: Kind) -> list[Path]:
    """The source files of `kind` that live outside the pipelines package (its `Task`'s
    module, its server's module or package), sorted: part of a model's content hash, so
    a plug-in kind's edited code is a new model. Empty for the built-in kinds."""
    package = Path(__file__).resolve().parent
    found: set[Path] = set()
    roots = list(model_code(kind))
    if not isinstance(kind.task, str):
        module = sys.modules.get(type(kind.task).__module__)
        if module is not None and getattr(module, "__file__", None):
            roots.append(Path(str(module.__file__)))
    for root in roots:
        root = root.resolve()
        if root == package or package in root.parents:
            continue
        found.update(root.rglob("*.py") if root.is_dir() else [root])
    return sorted(found)


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
