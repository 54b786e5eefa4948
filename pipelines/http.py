"""The one retry policy for the package's own HTTP calls (GitHub's REST API, MLflow's /health).

`send` makes one request and retries it while the budget lasts:

- 429 Too Many Requests, and 403 with a `Retry-After` header (GitHub's secondary rate
  limit), for every method: the server refused the request without acting on it;
- 500, 502, 503, 504, a refused or reset connection and a timeout only for safe or
  idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE): a POST or PATCH that may have
  been applied is never sent twice.

The wait is the server's `Retry-After` (seconds or an HTTP date) when it sends one, else
`first_delay` doubling up to `max_delay`. A `Retry-After` longer than `max_retry_after`
is not waited for: the call fails at once. After the last attempt the call fails closed
with one line naming the operation and the server (`InfraError`, exit 3). Any other
status is returned to the caller. MLflow's own client retries with urllib3's `Retry`
(429 and `Retry-After` included), configured by `MLFLOW_HTTP_REQUEST_*`.
"""

from __future__ import annotations

import email.utils
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipelines.errors import InfraError

log = logging.getLogger("pipelines")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
TRANSIENT = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Retry:
    """How many attempts, and how long to wait between them (seconds)."""

    attempts: int = 3
    first_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0


@dataclass(frozen=True)
class Response:
    """A status the policy does not retry, with its body and headers."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (never negative), or None when absent/unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def send(
    request: urllib.request.Request,
    *,
    operation: str,
    server: str,
    retry: Retry,
    timeout: float,
) -> Response:
    """Send `request` under the retry policy; the first response it does not retry."""
    method = request.get_method()
    idempotent = method in IDEMPOTENT
    delay = retry.first_delay
    last = ""
    for attempt in range(1, retry.attempts + 1):
        asked: float | None = None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                return Response(answer.status, answer.read(), dict(answer.headers.items()))
        except urllib.error.HTTPError as exc:
            headers = dict(exc.headers.items()) if exc.headers else {}
            asked = retry_after(headers.get("Retry-After"))
            limited = exc.code == 429 or (exc.code == 403 and asked is not None)
            if not limited and not (idempotent and exc.code in TRANSIENT):
                return Response(exc.code, exc.read(), headers)
            last = f"HTTP {exc.code}"
            if asked is not None and asked > retry.max_retry_after:
                raise InfraError(
                    f"{operation} at {server}: {last}, asked to wait {asked:.0f}s "
                    f"(more than {retry.max_retry_after:.0f}s): gave up"
                ) from exc
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
            last = str(getattr(exc, "reason", None) or exc)
            if not idempotent:
                raise InfraError(
                    f"{operation} at {server} failed: {last} (a {method} is not retried)"
                ) from exc
        if attempt == retry.attempts:
            break
        wait = asked if asked is not None else delay
        log.warning("%s at %s: %s; retry %d in %.1fs", operation, server, last, attempt, wait)
        time.sleep(wait)
        delay = min(delay * 2, retry.max_delay)
    raise InfraError(f"{operation} at {server} gave up after {retry.attempts} attempts: {last}")
