"""Task kinds: retrieval, classification, regression. A new kind is one new module."""

from pipelines.tasks.base import Bundle, Scores, Split, Task, get_task

__all__ = ["Bundle", "Scores", "Split", "Task", "get_task"]
