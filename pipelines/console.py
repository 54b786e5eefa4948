"""The process's standard streams: results written to stdout, and stdout that is closed.

A command's result (a JSON plan) goes through `emit`. When stdout is closed (`>&-`) or its
reader went away (a broken pipe), the result is not delivered: `OutputLost`, exit 3 with
one line on stderr. Closed standard descriptors are re-opened on /dev/null first, so no
file or socket the process opens later takes their number and no child writes into it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import sys

from pipelines.errors import InfraError

_closed_at_start: set[int] = set()


class OutputLost(InfraError):
    """stdout is closed or broken: the command's result could not be written."""


def guard_standard_streams() -> None:
    """Put /dev/null on any of descriptors 0-2 that is closed (remembering which), and
    give Python a stream for a closed stdout or stderr, so nothing writes to None."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            _closed_at_start.add(fd)
    if sys.stdout is None or 1 in _closed_at_start:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None or 2 in _closed_at_start:
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115


def stdout_lost() -> bool:
    """stdout was closed when the process started, or it is a pipe nobody reads."""
    if 1 in _closed_at_start or sys.stdout is None:
        return True
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return False  # not a real descriptor (captured by a test): it can be written
    if not hasattr(select, "poll"):  # no poll (Windows): a failed write tells instead
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


def emit(text: str) -> None:
    """Write a result to stdout and flush it; OutputLost when it cannot reach a reader."""
    if stdout_lost():
        raise OutputLost("stdout is closed: the result could not be written")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputLost(f"stdout: {reason}: the result could not be written") from exc


def finish() -> None:
    """Flush stdout and stderr at exit; a broken stdout is pointed at /dev/null (as
    Python's documentation on SIGPIPE recommends) so the interpreter's own final flush
    raises nothing."""
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
            with contextlib.suppress(OSError, ValueError):
                stream.flush()


def is_broken_pipe(exc: BaseException) -> bool:
    """An EPIPE error (the reader of a pipe or socket went away)."""
    return isinstance(exc, OSError) and exc.errno == errno.EPIPE
