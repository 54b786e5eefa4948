"""`schema`: write (or check) the JSON schema of model specs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pipelines.spec.model import Spec

log = logging.getLogger("pipelines")
DEFAULT_PATH = Path("model_specs/spec.schema.json")


def schema_text() -> str:
    """The generated schema, formatted as committed."""
    schema = Spec.model_json_schema()
    schema["title"] = "Model spec"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def handle(args: argparse.Namespace) -> int:
    """Write the schema, or with --check exit 1 when the committed one is stale."""
    path: Path = args.path
    text = schema_text()
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            sys.stderr.write(f"error: {path} is stale: run `python -m pipelines schema`\n")
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    log.info("wrote %s", path)
    return 0


def register(subparsers: Any) -> None:
    """Add the `schema` command."""
    parser = subparsers.add_parser("schema", help="Write the model spec JSON schema.")
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    parser.set_defaults(handler=handle)
