"""Fit under the spec's resource budget: wall time and memory, enforced in a child process.

On Linux the fit runs in a forked child whose address space is capped with
`resource.setrlimit(RLIMIT_AS)` at what it already maps plus `resources.max_memory_mb`;
the parent kills it after `resources.max_fit_seconds`. Either way the outcome is a
BadInput naming `model.params`, never a hang, an "out of memory" infrastructure error or a
machine that swaps. Elsewhere the fit runs in-process, unbounded (logged as a warning).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from pipelines.errors import BadInput
from pipelines.spec import LoadedSpec

log = logging.getLogger(__name__)
T = TypeVar("T")
_MB = 1024 * 1024


class FitCrashed(RuntimeError):
    """The fit raised an unexpected exception in the child (a bug: exit 4)."""


def fit_within_budget(loaded: LoadedSpec, fit: Callable[[], T]) -> T:
    """Run `fit` under the spec's budget and return its result."""
    budget = loaded.spec.resources
    if not sys.platform.startswith("linux"):
        log.warning("resource limits are enforced on Linux only; fitting without them")
        return fit()
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(
        target=_child, args=(writer, fit, budget.max_memory_mb * _MB), daemon=True
    )
    started = time.monotonic()
    child.start()
    writer.close()
    try:
        if not reader.poll(budget.max_fit_seconds):
            child.kill()
            child.join()
            raise loaded.error(
                f"fit did not finish within resources.max_fit_seconds "
                f"({budget.max_fit_seconds:g} s); stopped after "
                f"{time.monotonic() - started:.1f} s: lower the sizes or iterations",
                "model",
                "params",
            )
        try:
            kind, payload = reader.recv()
        except EOFError:
            kind, payload = "died", None
    finally:
        reader.close()
    child.join(10)
    if child.is_alive():
        child.kill()
        child.join()
    return _outcome(loaded, kind, payload, child.exitcode)


def _outcome(loaded: LoadedSpec, kind: str, payload: Any, exitcode: int | None) -> Any:
    budget = loaded.spec.resources
    if kind == "ok":
        return payload
    if kind == "bad":
        message, file, line, field = payload
        raise BadInput(message, file=file, line=line, field=field)
    if kind == "memory":
        raise loaded.error(
            f"fit ran out of its memory budget (resources.max_memory_mb = "
            f"{budget.max_memory_mb}): lower the sizes in model.params",
            "model",
            "params",
        )
    if kind == "error":
        raise FitCrashed(f"the fit raised an unexpected error in its child process:\n{payload}")
    raise loaded.error(
        f"the fit process died (exit {exitcode}), most likely over its memory budget "
        f"(resources.max_memory_mb = {budget.max_memory_mb})",
        "model",
        "params",
    )


def _child(conn: Connection, fit: Callable[[], Any], memory_bytes: int) -> None:
    """Cap the address space, fit, send (kind, payload) back; never return to the caller."""
    import resource

    result: tuple[str, Any]
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        cap = _mapped_bytes() + memory_bytes
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        result = ("ok", fit())
    except BadInput as exc:
        result = ("bad", (exc.message, exc.file, exc.line, exc.field))
    except MemoryError:
        result = ("memory", None)
    except BaseException:
        result = ("error", traceback.format_exc())
    # if even this fails, the parent sees EOF and reports the exit code
    with contextlib.suppress(BaseException):
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))  # room to send the result
        conn.send(result)
    conn.close()
    os._exit(0)


def _mapped_bytes() -> int:
    """The process's current virtual size (VmSize), from /proc."""
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0
