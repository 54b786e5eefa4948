"""`smoke`: load `models:/<name>@<alias>` as users will and answer a real query."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from pipelines.errors import BadInput, GateFailed
from pipelines.registry import CHAMPION, STAGING
from pipelines.state import ModelState
from pipelines.steps.common import add_step_parser

log = logging.getLogger("pipelines")


def smoke(state: ModelState, args: argparse.Namespace) -> int:
    """Query the aliased model with its own sample input; exit 1 if it does not answer."""
    name, alias = state.spec.name, args.alias
    registry = state.registry()
    if registry.version_by_alias(name, alias) is None:
        raise BadInput(f"{name} has no alias '{alias}' to smoke-test", file=state.loaded.display)
    model = registry.load_model(f"models:/{name}@{alias}")
    python_model = model.unwrap_python_model()
    sample = python_model.sample_input()
    try:
        answer = model.predict(sample, params={"k": 5})
    except Exception as exc:
        raise GateFailed(f"models:/{name}@{alias} failed to answer: {exc}") from exc
    if len(answer) == 0 or "neighbour" not in answer.columns:
        raise GateFailed(f"models:/{name}@{alias} answered no neighbours")
    log.info(
        "%s@%s answered %d neighbour rows for %d queries", name, alias, len(answer), len(sample)
    )
    return 0


def register(subparsers: Any) -> None:
    """Add the `smoke` command."""
    parser = add_step_parser(subparsers, "smoke", "Smoke-test the model behind an alias.", smoke)
    parser.add_argument("--alias", choices=[STAGING, CHAMPION], default=STAGING)
