"""`serve NAME[@ALIAS]`: serve a registered version over HTTP, from files checked first.

The alias is resolved to a version, the version's files are downloaded and checked against
the digests the release recorded for it (a mismatch is exit 3 and no server starts), then
the lean server (`pipelines/lean.py`, uvicorn with N worker processes sharing the
memory-mapped index) serves that checked copy; with `--mlflow`, `mlflow models serve` does.
SIGTERM or SIGINT stops the server and every process it started, then this one.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from pipelines.config import find_root, load_config
from pipelines.errors import BadInput, InfraError
from pipelines.registry import CHAMPION

log = logging.getLogger("pipelines")

TARGET = re.compile(r"(?P<name>[a-z0-9][a-z0-9-]*)(?:@(?P<alias>[a-z0-9_-]+))?")
# Seconds a stopping server gets to finish its requests before it is killed.
GRACE = 20


def options_parser() -> argparse.ArgumentParser:
    """The options after NAME[@ALIAS] (what the Dockerfile's command passes)."""
    parser = argparse.ArgumentParser(prog="pipelines serve NAME[@ALIAS]", add_help=False)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--max-body-bytes", type=int, default=None)
    parser.add_argument("--max-rows", type=int, default=None)
    parser.add_argument("--to", default=None)
    parser.add_argument("--check-only", action="store_true")
    parser.add_argument(
        "--mlflow", action="store_true", help="serve with `mlflow models serve` instead"
    )
    return parser


def parse_options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(options, the rest for `mlflow models serve`); without `--mlflow`, an option the
    lean server does not know is BadInput naming it."""
    options, rest = options_parser().parse_known_args(argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if rest and not options.mlflow:
        raise BadInput(
            f"serve: unknown option(s) {rest} (options for `mlflow models serve` need --mlflow)",
            field="options",
        )
    if options.workers < 1:
        raise BadInput("serve: --workers must be at least 1", field="workers")
    return options, rest


def serve(args: argparse.Namespace) -> int:
    """Resolve, fetch and check the version; then serve it until SIGTERM or SIGINT."""
    found = TARGET.fullmatch(args.target)
    if found is None:
        raise BadInput(f"serve target {args.target!r} is not NAME or NAME@ALIAS", field="target")
    options, rest = parse_options(list(args.options))
    to = options.to or args.to
    name, alias = found["name"], found["alias"] or CHAMPION
    from pipelines.registry import Registry, seed_sqlite_store, tracking_uri

    root = find_root(Path.cwd())
    config = load_config(root)
    seed_sqlite_store(tracking_uri(root))
    registry = Registry(root, config.experiment_prefix, config.model_prefix)
    version = registry.version_by_alias(name, alias)
    if version is None:
        raise BadInput(f"{name} has no alias '{alias}' to serve", field="target")
    folder = Path(to) if to else Path(tempfile.mkdtemp(prefix=f"serve-{name}-"))
    if folder.exists() and any(folder.iterdir()):
        raise BadInput(f"{folder} is not empty: the checked copy goes into an empty folder")
    local = registry.fetch_version(name, version, folder)
    log.info(
        "%s@%s: version %s, %s: files match the recorded digests",
        name,
        alias,
        version.version,
        local,
    )
    if options.check_only or args.check_only:
        return 0
    if options.mlflow:
        return _mlflow(local, options, rest)
    from pipelines import lean

    settings = lean.Settings(
        model_dir=str(local),
        name=name,
        version=str(version.version),
        alias=alias,
        digests_checked=True,
        max_body_bytes=options.max_body_bytes or lean.MAX_BODY_BYTES,
        max_rows=options.max_rows or lean.MAX_ROWS,
    )
    return run_lean(settings, options.host, options.port, options.workers)


def run_lean(settings: Any, host: str, port: int, workers: int) -> int:
    """uvicorn on the lean app: in this process for one worker, else its supervisor with
    `workers` processes (each loads the model; the index pages are shared). Both
    stop gracefully on SIGTERM/SIGINT, the supervisor stopping its workers first."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from pipelines import lean

    metrics_dir = tempfile.mkdtemp(prefix="serve-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[lean.ENV_SETTINGS] = settings.to_env()
    config = uvicorn.Config(
        "pipelines.lean:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_graceful_shutdown=GRACE,
    )
    # uvicorn re-raises the SIGTERM it stopped on once it has shut down: exiting here, by
    # SystemExit, still runs the clean-up below (the default action would skip it).
    previous = signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        if workers == 1:
            server = uvicorn.Server(config)
            server.run()
            if not server.started:
                raise InfraError(f"the server did not start on {host}:{port}")
            return 0
        try:  # once here, so a model that does not load fails before any worker starts
            lean.load_logged(Path(settings.model_dir))
        except Exception as exc:
            raise InfraError(f"{settings.model_dir}: the model does not load: {exc}") from exc
        Multiprocess(config, sockets=[_bind(host, port)]).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _exit_on_term(signum: int, frame: object) -> None:
    """A SIGTERM after a graceful shutdown ends the command with exit 0."""
    raise SystemExit(0)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket the workers share. Made with protocol TCP (uvicorn's own has
    protocol 0, on which asyncio sets no TCP_NODELAY: every answer then waits ~40 ms for
    the client's delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InfraError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.set_inheritable(True)
    return sock


def _mlflow(local: Path, options: argparse.Namespace, rest: list[str]) -> int:
    """`mlflow models serve` on the checked copy, in a process group of its own that a
    SIGTERM or SIGINT to this process stops whole (mlflow starts uvicorn as a child)."""
    mlflow = shutil.which("mlflow")
    if mlflow is None:
        raise InfraError("the `mlflow` command is not on PATH: install the project first")
    command = [mlflow, "models", "serve", "-m", str(local), "--env-manager", "local"]
    command += ["--host", options.host, "--port", str(options.port)]
    command += ["--workers", str(options.workers), *rest]
    child = subprocess.Popen(command, start_new_session=True)

    def forward(signum: int, frame: FrameType | None) -> None:
        _signal_group(child.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        _signal_group(child.pid, signal.SIGTERM)
        _wait_group(child.pid)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if code in (0, -signal.SIGTERM) else 1


def _signal_group(group: int, signum: int) -> bool:
    """Send `signum` to process group `group`; False when no process of it is left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


def _wait_group(group: int) -> None:
    """Wait until process group `group` is gone (uvicorn may outlive mlflow by a moment);
    SIGKILL what is left of it after GRACE seconds."""
    deadline = time.monotonic() + GRACE
    while _signal_group(group, 0):
        if time.monotonic() > deadline:
            log.warning("mlflow models serve did not stop within %ss: killed", GRACE)
            _signal_group(group, signal.SIGKILL)
            return
        time.sleep(0.1)


def register(subparsers: Any) -> None:
    """Add the `serve` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="Serve a registered model, checked against its recorded digests.",
        description="Serve NAME@ALIAS (default alias champion) from a local copy whose files "
        "match the digests the release recorded: the lean server (options --host, --port, "
        "--workers, --max-body-bytes, --max-rows), or with --mlflow `mlflow models serve` "
        "(further options after `--` go to it). --to DIR: an empty folder for the copy; "
        "--check-only: fetch and check, then exit.",
    )
    parser.add_argument("target", metavar="NAME[@ALIAS]", help="model and alias to serve")
    parser.add_argument("--to", default=None, help="an empty folder for the checked copy")
    parser.add_argument(
        "--check-only", action="store_true", help="fetch and check, then exit without serving"
    )
    parser.add_argument("options", nargs=argparse.REMAINDER, help="serving options (see above)")
    parser.set_defaults(handler=serve)
