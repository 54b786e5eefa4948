"""A loopback HTTP proxy in front of a real `mlflow server` that adds latency and injects
errors, so the CLI meets a slow or refusing server exactly as it would in production.

Rules match on method and a path substring, answer with a status and MLflow's JSON error
shape, and can be limited to a number of hits. Everything else is forwarded unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass
class Fault:
    """Answer `status` with MLflow's error body to requests matching method and path."""

    path: str
    status: int
    error_code: str
    method: str | None = None
    times: int | None = None  # None: every match
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault answers the request (and counts the hit)."""
        if self.method not in (None, method) or self.path not in path:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass
class FaultProxy:
    """Forward 127.0.0.1:<port> to `target`, with `latency` seconds per request and `faults`."""

    target: str
    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The tracking URI clients use."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        """Listen on a free loopback port, serving from a daemon thread."""
        proxy = self
        target = urlsplit(self.target)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                    fault = next(
                        (f for f in proxy.faults if f.matches(self.command, self.path)), None
                    )
                if proxy.latency:
                    time.sleep(proxy.latency)
                if fault is not None:
                    payload = json.dumps(
                        {"error_code": fault.error_code, "message": f"injected {fault.status}"}
                    ).encode()
                    self._reply(fault.status, {"Content-Type": "application/json"}, payload)
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                out = {
                    k: v
                    for k, v in response.getheaders()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                }
                conn.close()
                self._reply(response.status, out, data)

            def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
