"""`serve NAME[@ALIAS]`: serve a registered version over HTTP, from files checked first.

The alias is resolved to a version, the version's files are downloaded and checked against
the digests the release recorded for it (a mismatch is exit 3 and no server starts), and
`mlflow models serve` then serves that checked local copy, replacing this process (so a
signal sent to it reaches the server).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipelines.config import find_root, load_config
from pipelines.errors import BadInput, InfraError
from pipelines.registry import CHAMPION

log = logging.getLogger("pipelines")

TARGET = re.compile(r"(?P<name>[a-z0-9][a-z0-9-]*)(?:@(?P<alias>[a-z0-9_-]+))?")


def serve(args: argparse.Namespace) -> int:
    """Resolve, fetch and check the version; then exec `mlflow models serve` on it."""
    found = TARGET.fullmatch(args.target)
    if found is None:
        raise BadInput(f"serve target {args.target!r} is not NAME or NAME@ALIAS", field="target")
    name, alias = found["name"], found["alias"] or CHAMPION
    from pipelines.registry import Registry, seed_sqlite_store, tracking_uri

    root = find_root(Path.cwd())
    config = load_config(root)
    seed_sqlite_store(tracking_uri(root))
    registry = Registry(root, config.experiment_prefix, config.model_prefix)
    version = registry.version_by_alias(name, alias)
    if version is None:
        raise BadInput(f"{name} has no alias '{alias}' to serve", field="target")
    folder = Path(args.to) if args.to else Path(tempfile.mkdtemp(prefix=f"serve-{name}-"))
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
    if args.check_only:
        return 0
    mlflow = shutil.which("mlflow")
    if mlflow is None:
        raise InfraError("the `mlflow` command is not on PATH: install the project first")
    options = list(args.options)
    if options[:1] == ["--"]:
        options = options[1:]
    if "--host" not in options and "-h" not in options:
        options = ["--host", "127.0.0.1", *options]
    command = [mlflow, "models", "serve", "-m", str(local), "--env-manager", "local", *options]
    # The server replaces this process: signals sent to `serve` reach it directly.
    os.execv(mlflow, command)  # noqa: S606  # pragma: no cover
    return 0  # pragma: no cover


def register(subparsers: Any) -> None:
    """Add the `serve` command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="Serve a registered model, checked against its recorded digests.",
        description="Serve NAME@ALIAS (default alias champion) with `mlflow models serve`, "
        "from a local copy whose files match the digests the release recorded.",
    )
    parser.add_argument("target", metavar="NAME[@ALIAS]", help="model and alias to serve")
    parser.add_argument("--to", default=None, help="an empty folder for the checked copy")
    parser.add_argument(
        "--check-only", action="store_true", help="fetch and check, then exit without serving"
    )
    parser.add_argument(
        "options", nargs=argparse.REMAINDER, help="options for `mlflow models serve`"
    )
    parser.set_defaults(handler=serve)
