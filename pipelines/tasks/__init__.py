"""Task kinds: retrieval, classification, regression. A new kind is one module that
implements `Task` (`pipelines.tasks.protocol`) plus one `register` (`pipelines.kinds`).

The data types are imported on first use, so importing this package (or the registry of
kinds, `pipelines.kinds`, which the spec model reads) costs no numpy import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipelines.kinds import Kind, get_kind, get_task, kinds, register

if TYPE_CHECKING:
    from pipelines.tasks.base import Bundle, Scores, Searcher, Split
    from pipelines.tasks.protocol import Task

__all__ = [
    "Bundle",
    "Kind",
    "Scores",
    "Searcher",
    "Split",
    "Task",
    "get_kind",
    "get_task",
    "kinds",
    "register",
]
_LAZY = {
    "Bundle": "pipelines.tasks.base",
    "Scores": "pipelines.tasks.base",
    "Searcher": "pipelines.tasks.base",
    "Split": "pipelines.tasks.base",
    "Task": "pipelines.tasks.protocol",
}


def __getattr__(name: str) -> Any:
    """The data types and the protocol, imported when first asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
