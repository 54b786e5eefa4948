"""Helpers of the hostile families: write specs and data into a scratch repository and run
them, in-process, through the loader, the data checks or the CLI."""

from __future__ import annotations

import hashlib
import re
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.errors import BadInput
from tests.conftest import ROOT

ERROR = re.compile(
    r"^error: (?P<file>[^:]+)(?::(?P<line>\d+))?: (?:(?P<field>[\w.\-]+): )?(?P<msg>.+)$"
)
TABULAR = yaml.safe_load((ROOT / "model_specs" / "breast-cancer.yaml").read_text(encoding="utf-8"))
RETRIEVAL = yaml.safe_load((ROOT / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8"))


def tabular(**changes: Any) -> dict[str, Any]:
    """The breast-cancer spec with top-level `changes` (a fresh copy)."""
    spec: dict[str, Any] = yaml.safe_load(yaml.safe_dump(TABULAR))
    spec.update(changes)
    return spec


def write_spec(repo: Path, spec: dict[str, Any] | str, name: str = "hostile") -> Path:
    """`model_specs/<name>.yaml` holding `spec` (a mapping, or raw text), name set to match."""
    path = repo / "model_specs" / f"{name}.yaml"
    if isinstance(spec, dict):
        spec = {**spec, "name": name}
        spec = yaml.safe_dump(spec, sort_keys=False)
    path.write_text(spec, encoding="utf-8")
    return path


def csv_spec(
    repo: Path,
    raw: bytes,
    columns: dict[str, dict[str, Any]],
    name: str = "hostile",
    **data: Any,
) -> Path:
    """A classification spec over `data/<name>.csv` holding `raw`, pinned."""
    (repo / "data" / f"{name}.csv").write_bytes(raw)
    section = {
        "source": f"data/{name}.csv",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "target": "label",
        "columns": columns,
        "checks": {"min_rows": 1, "max_duplicate_fraction": 1, "max_drift_psi": None},
        **data,
    }
    spec = tabular(data=section, evaluation={"primary": "accuracy"})
    return write_spec(repo, spec, name)


def bad_input(fn: Callable[[], Any]) -> BadInput:
    """The BadInput `fn` raises; it must be one line naming a file."""
    with pytest.raises(BadInput) as info:
        fn()
    text = str(info.value)
    assert "\n" not in text and info.value.file, text
    return info.value


def one_error_line(code: int, stderr: str) -> re.Match[str]:
    """Exit 2 and exactly one `error: file[:line][: field]: message` line, no traceback."""
    assert "Traceback" not in stderr, stderr
    assert code == 2, (code, stderr)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    match = ERROR.match(errors[0])
    assert match, errors[0]
    return match


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging CI) if the block runs longer than `seconds`."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def asgi_post(app: Any, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    """POST `body` to `/invocations` of an ASGI `app` in-process: (status, response body).

    An exception the app lets out after answering (Starlette answers 500 and re-raises, as
    uvicorn then logs it) is swallowed; one raised before any answer fails the test."""
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    status: list[int] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        asyncio.run(app(scope, receive, send))
    except Exception:
        if not status:
            raise
    assert len(status) == 1, status
    return status[0], b"".join(chunks)
