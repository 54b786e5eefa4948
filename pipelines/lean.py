"""The lean HTTP server: a logged model's own `code/serving.py` behind a Starlette app.

`create_app` loads a checked local copy of a logged model once per worker process (its
`MLmodel` names the payload and the index; the index is memory-mapped, so workers share
one copy) and answers `POST /invocations` by calling the logged server's `answer_columns`:
the request's JSON goes into numpy columns and the answer's columns straight into JSON, no
DataFrame on the way. What `evaluate` scores and `mlflow models serve` answers is the same
code, so the answers are the same.

Request (JSON object): exactly one of `dataframe_split` (`{"columns": [...], "data":
[[...], ...]}`) or `dataframe_records` (`[{...}, ...]`), and optionally `params` (`k`,
`exclude_seen`). Answer: `{"predictions": [{...}, ...]}`, one record per (query, rank), as
`mlflow models serve` answers. A bad request is HTTP 400 (413 for a body over the limit)
with `{"error_code": "BAD_REQUEST", "message": "<one line>"}`.

Endpoints: `/invocations`, `/health` and `/ping` (the process answers), `/ready` (the model
is loaded from files whose digests were checked; 503 otherwise), `/metrics` (Prometheus
text format, summed over workers when `PROMETHEUS_MULTIPROC_DIR` is set).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# The settings of a served model, for the worker processes: JSON in this variable.
ENV_SETTINGS = "PIPELINES_SERVE_SETTINGS"
MAX_BODY_BYTES = 1 << 20
MAX_ROWS = 1000
MAX_ANSWER_ROWS = 100_000
REQUEST_KEYS = ("dataframe_split", "dataframe_records")
PARAMS = ("k", "exclude_seen")


class BadRequest(ValueError):
    """A request the server refuses: HTTP `status` with a one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Settings:
    """What one served model is: its checked folder, name, version and limits."""

    model_dir: str
    name: str = ""
    version: str = ""
    alias: str = ""
    digests_checked: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    max_rows: int = MAX_ROWS
    max_answer_rows: int = MAX_ANSWER_ROWS

    def to_env(self) -> str:
        """The settings as the JSON of `ENV_SETTINGS`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the parent process put in `ENV_SETTINGS`."""
        raw = os.environ.get(ENV_SETTINGS)
        if not raw:
            raise RuntimeError(
                f"{ENV_SETTINGS} is not set: start the server with `pipelines serve`"
            )
        return cls(**json.loads(raw))


@dataclass
class Loaded:
    """A logged model, loaded: its own serving module and the server it built."""

    serving: ModuleType
    server: Any


def load_logged(folder: Path) -> Loaded:
    """The model in `folder` (a local copy of a logged model), served by its own
    `code/serving.py`: the payload and index paths are read from its `MLmodel`."""
    import yaml

    mlmodel = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    try:
        artifacts = mlmodel["flavors"]["python_function"]["artifacts"]
        payload, index = artifacts["serving"]["path"], artifacts["index"]["path"]
    except (KeyError, TypeError):
        raise ValueError(f"{folder / 'MLmodel'}: no serving payload and index artifacts") from None
    code = folder / "code" / "serving.py"
    if not code.is_file():
        raise ValueError(f"{code} is missing: a model logged before serving.py is not served lean")
    serving = _module(code)
    return Loaded(serving, serving.load(folder / payload, folder / index))


def _module(code: Path) -> ModuleType:
    """`code` imported under a name of its own (the one the pyfunc entry gives it)."""
    name = "pipelines_serving_" + hashlib.sha256(code.read_bytes()).hexdigest()[:16]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, code)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
    return sys.modules[name]


def parse_request(body: bytes, settings: Settings) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """(columns, params) of a request body; BadRequest naming what is wrong."""
    if len(body) > settings.max_body_bytes:
        raise BadRequest(f"the body has more than {settings.max_body_bytes:,} bytes", 413)
    try:
        request = json.loads(body)
    except RecursionError:
        raise BadRequest("the body is nested too deeply to be a query") from None
    except ValueError as exc:  # not JSON, not UTF-8, an integer of too many digits
        raise BadRequest(f"the body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(request, dict):
        raise BadRequest(f"the body must be a JSON object with one of {list(REQUEST_KEYS)}")
    unknown = sorted(set(request) - {*REQUEST_KEYS, "params"})
    kinds = [key for key in REQUEST_KEYS if key in request]
    if unknown or len(kinds) != 1:
        raise BadRequest(
            f"the body needs exactly one of {list(REQUEST_KEYS)} and optionally 'params'; "
            f"got {_short(sorted(request))}"
        )
    params = request.get("params") or {}
    if not isinstance(params, dict) or set(params) - set(PARAMS):
        raise BadRequest(f"'params' may hold {list(PARAMS)}; got {_short(params)}")
    if kinds[0] == "dataframe_split":
        columns = _split(request["dataframe_split"])
    else:
        columns = _records(request["dataframe_records"])
    rows = len(next(iter(columns.values()))) if columns else 0
    if rows == 0:
        raise BadRequest("the query has no rows")
    if rows > settings.max_rows:
        raise BadRequest(f"the query has {rows:,} rows, at most {settings.max_rows:,} are served")
    k = params.get("k", 10)
    if isinstance(k, int) and rows * k > settings.max_answer_rows:
        raise BadRequest(
            f"{rows:,} rows of k={k} answer more than {settings.max_answer_rows:,} rows: "
            "send fewer rows or a smaller k"
        )
    return columns, params


def _split(split: Any) -> dict[str, list[Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise BadRequest("'dataframe_split' must be an object with 'columns' and 'data'")
    names, data = split["columns"], split.get("data")
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise BadRequest(f"'dataframe_split.columns' must be distinct names; got {_short(names)}")
    if not isinstance(data, list):
        raise BadRequest("'dataframe_split.data' must be a list of rows")
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(names):
            raise BadRequest(f"'dataframe_split.data' row {row} must be a list of {len(names)}")
    return {name: [values[i] for values in data] for i, name in enumerate(names)}


def _records(records: Any) -> dict[str, list[Any]]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BadRequest("'dataframe_records' must be a list of objects")
    names = list(dict.fromkeys(name for record in records for name in record))
    return {name: [record.get(name) for record in records] for name in names}


def encode_answer(answer: dict[str, np.ndarray]) -> bytes:
    """`{"predictions": [...]}`, one record per answer row (as MLflow writes a frame)."""
    names = list(answer)
    values = [answer[name].tolist() for name in names]
    records = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    return json.dumps({"predictions": records}, allow_nan=False).encode()


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} chars)"


def create_app(settings: Settings | None = None) -> Any:
    """The Starlette app serving `settings` (default: from `ENV_SETTINGS`); the model is
    loaded here, once per worker process."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from pipelines.lean_metrics import Metrics

    settings = settings or Settings.from_env()
    loaded = load_logged(Path(settings.model_dir))
    server, serving = loaded.server, loaded.serving
    answer_columns = _answerer(server)
    metrics = Metrics(settings.name, settings.version, settings.alias)
    log.info("loaded %s version %s from %s", settings.name, settings.version, settings.model_dir)

    def error(status: int, message: str) -> Response:
        body = {"error_code": "BAD_REQUEST", "message": serving.one_line(message)}
        return JSONResponse(body, status_code=status)

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        status = 200
        try:
            body = await _body(request, settings.max_body_bytes)
            columns, params = parse_request(body, settings)
            answer = answer_columns(columns, params)
            response: Response = Response(encode_answer(answer), media_type="application/json")
            if "fallback" in answer and len(answer["fallback"]):
                metrics.fallbacks(int(np.count_nonzero(answer["fallback"][answer["rank"] == 1])))
        except BadRequest as exc:
            status = exc.status
            response = error(status, str(exc))
        except (ValueError, OverflowError) as exc:
            status = 400
            response = error(status, str(exc))
        except Exception:
            log.exception("request failed")
            status = 500
            response = JSONResponse(
                {"error_code": "INTERNAL_ERROR", "message": "internal error"}, status_code=500
            )
        metrics.observe(status, time.perf_counter() - started)
        return response

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        body = {
            "name": settings.name,
            "version": settings.version,
            "alias": settings.alias,
            "task": server.bundle.task,
            "digests_checked": settings.digests_checked,
        }
        return JSONResponse(body, status_code=200 if settings.digests_checked else 503)

    async def prometheus(request: Request) -> Response:
        text, media_type = metrics.exposition()
        return Response(text, media_type=media_type)

    routes = [
        Route("/invocations", invocations, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/ping", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _answerer(server: Any) -> Any:
    """The server's `answer_columns`; for a model logged before it existed, its frame
    `answer` with the columns in a frame and the answer's out of one."""
    if hasattr(server, "answer_columns"):
        return server.answer_columns

    def through_frame(columns: dict[str, list[Any]], params: dict[str, Any]) -> dict[str, Any]:
        import pandas as pd

        answer = server.answer(pd.DataFrame(columns), params)
        return {str(name): answer[name].to_numpy() for name in answer.columns}

    return through_frame


async def _body(request: Any, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"the body has more than {limit:,} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"the body has more than {limit:,} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
