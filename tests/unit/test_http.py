"""The one retry policy, met from outside: a loopback HTTP server answers 429 with
Retry-After, 5xx or a rate-limited 403, and the real clients (the GitHub REST client of
`comment`/`monitor-alert`, MLflow's health check, the CLI) wait, retry or fail closed."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.comment import GitHub
from pipelines.errors import InfraError
from pipelines.http import retry_after
from pipelines.registry.store import ping

ROOT = Path(__file__).resolve().parents[2]
# status, headers, body
Answer = tuple[int, dict[str, str], bytes]
OK: Answer = (200, {"Content-Type": "application/json"}, b'{"ok": true}')


@dataclass
class Scripted:
    """Answers requests in order from `answers` (the last one repeats); records each."""

    answers: list[Answer]
    seen: list[tuple[str, str, float]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def gaps(self) -> list[float]:
        times = [t for _, _, t in self.seen]
        return [b - a for a, b in itertools.pairwise(times)]


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    box = Scripted([OK])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            box.seen.append((self.command, self.path, time.monotonic()))
            status, headers, body = box.answers[min(len(box.seen), len(box.answers)) - 1]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = _handle

    box.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.server.daemon_threads = True
    threading.Thread(target=box.server.serve_forever, daemon=True).start()
    yield box
    box.server.shutdown()
    box.server.server_close()


def _github(box: Scripted) -> GitHub:
    return GitHub(box.url, "o/r", "t0ken", timeout=5)


def test_a_429_is_retried_after_the_servers_retry_after(scripted: Scripted) -> None:
    scripted.answers = [(429, {"Retry-After": "1"}, b"slow down"), OK]
    assert _github(scripted).request("POST", "/repos/o/r/issues/1/comments", {"body": "x"}) == {
        "ok": True
    }
    assert [m for m, _, _ in scripted.seen] == ["POST", "POST"]  # refused, so sent again
    assert scripted.gaps()[0] >= 0.9  # waited what the server asked, not the 0.5 s backoff


def test_a_rate_limited_403_with_an_http_date_is_retried(scripted: Scripted) -> None:
    later = formatdate(time.time() + 1, usegmt=True)
    scripted.answers = [(403, {"Retry-After": later}, b"secondary rate limit"), OK]
    assert _github(scripted).request("GET", "/repos/o/r") == {"ok": True}
    assert len(scripted.seen) == 2


def test_a_403_without_retry_after_is_one_line_at_once(scripted: Scripted) -> None:
    scripted.answers = [(403, {}, b'{"message": "Resource not accessible"}')]
    with pytest.raises(InfraError, match=r"^GitHub API GET /user: 403 .*not accessible"):
        _github(scripted).request("GET", "/user")
    assert len(scripted.seen) == 1


def test_a_5xx_is_retried_for_a_get_then_fails_closed_naming_the_server(
    scripted: Scripted,
) -> None:
    scripted.answers = [(502, {}, b"bad gateway")]
    with pytest.raises(InfraError) as caught:
        _github(scripted).request("GET", "/repos/o/r/issues?page=1")
    line = str(caught.value)
    assert line == (
        f"GitHub API GET /repos/o/r/issues?page=1 at {scripted.url.removeprefix('http://')} "
        "gave up after 3 attempts: HTTP 502"
    )
    assert len(scripted.seen) == 3


def test_a_5xx_on_a_post_is_never_sent_twice(scripted: Scripted) -> None:
    """A POST that may have created the comment is not repeated: one line, exit 3."""
    scripted.answers = [(502, {}, b"bad gateway"), OK]
    with pytest.raises(InfraError, match=r"POST /repos/o/r/issues/1/comments: 502"):
        _github(scripted).request("POST", "/repos/o/r/issues/1/comments", {"body": "x"})
    assert len(scripted.seen) == 1


def test_a_retry_after_beyond_the_bound_is_not_waited_for(scripted: Scripted) -> None:
    scripted.answers = [(429, {"Retry-After": "3600"}, b"")]
    started = time.monotonic()
    with pytest.raises(InfraError, match=r"HTTP 429, asked to wait 3600s \(more than 60s\)"):
        _github(scripted).request("GET", "/repos/o/r")
    assert len(scripted.seen) == 1 and time.monotonic() - started < 5


def test_the_mlflow_health_check_honours_retry_after(scripted: Scripted) -> None:
    scripted.answers = [(429, {"Retry-After": "1"}, b""), (503, {}, b""), (200, {}, b"OK")]
    ping(scripted.url, attempts=4, first_delay=0.05)
    assert [p for _, p, _ in scripted.seen] == ["/health"] * 3
    assert scripted.gaps()[0] >= 0.9 and scripted.gaps()[1] < 0.9


def test_the_cli_fails_closed_after_the_budget_with_one_line(
    scripted: Scripted, tmp_path: Path
) -> None:
    """`promote` against a server that keeps answering 429: it waits Retry-After between
    attempts, then exit 3 with one line naming the operation and the server."""
    scripted.answers = [(429, {"Retry-After": "1"}, b"")]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": scripted.url,
        "PIPELINES_MLFLOW_RETRIES": "2",
        "PIPELINES_RUNS_DIR": str(tmp_path / "runs"),
    }
    spec = "model_specs/breast-cancer.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "promote", spec, "--alias", "staging"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 3, result.stderr
    assert errors == [
        f"error: MLflow health check at {scripted.url} gave up after 2 attempts: HTTP 429"
    ]
    assert "retry 1 in 1.0s" in result.stderr
    assert len(scripted.seen) == 2 and scripted.gaps()[0] >= 0.9


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(None) is None and retry_after("soon") is None
    assert retry_after(formatdate(1000.0, usegmt=True), now=990.0) == pytest.approx(10.0)
    assert retry_after(formatdate(1000.0, usegmt=True), now=2000.0) == 0.0
