"""`smoke`: load `models:/<name>@<alias>` as users will and answer a real query.

Retrieval: known users' recommendations must have k rows each, ranked 1..k, and hold none of
the user's training items. Tabular: each feature row gets a prediction and k similar cases.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import BadInput, GateFailed
from pipelines.registry import CHAMPION, STAGING
from pipelines.state import ModelState

log = logging.getLogger("pipelines")

SMOKE_K = 5
COLUMNS = ("query", "rank", "neighbour", "distance")


def smoke(state: ModelState, args: argparse.Namespace) -> int:
    """Query the aliased model with its own sample input; exit 1 if the answer is wrong."""
    name, alias = state.spec.name, args.alias
    registry = state.registry()
    if registry.version_by_alias(name, alias) is None:
        raise BadInput(f"{name} has no alias '{alias}' to smoke-test", file=state.loaded.display)
    model = registry.load_model(f"models:/{name}@{alias}")
    sample = model.server.sample_input()
    try:
        answer = model.predict(sample, params={"k": SMOKE_K})
    except Exception as exc:
        raise GateFailed(f"models:/{name}@{alias} failed to answer: {exc}") from exc
    if not isinstance(answer, pd.DataFrame):
        raise GateFailed(f"models:/{name}@{alias} answered a {type(answer).__name__}, not a table")
    problems = answer_problems(model.server, sample, answer, SMOKE_K)
    if problems:
        raise GateFailed(f"models:/{name}@{alias} answered wrongly: {'; '.join(problems[:3])}")
    log.info("%s@%s answered %d rows for %d queries", name, alias, len(answer), len(sample))
    return 0


def answer_problems(server: Any, sample: pd.DataFrame, answer: pd.DataFrame, k: int) -> list[str]:
    """What is wrong with `answer` to `sample` (empty when it is right)."""
    missing = [c for c in COLUMNS if c not in answer.columns]
    if missing:
        return [f"no column(s) {missing} in {list(answer.columns)}"]
    problems = []
    retrieval = server.bundle.task == "retrieval"
    for query in range(len(sample)):
        rows = answer[answer["query"] == query]
        if rows["rank"].tolist() != list(range(1, k + 1)):
            problems.append(f"query {query}: ranks {rows['rank'].tolist()}, expected 1..{k}")
        if retrieval:
            user = sample[server.user].iat[query]
            seen = np.intersect1d(rows["neighbour"].to_numpy(), server.seen(user))
            if len(seen):
                problems.append(f"{server.user} {user}: seen item(s) {seen[:5].tolist()} returned")
        elif "prediction" not in rows.columns or rows["prediction"].isna().any():
            problems.append(f"query {query}: no prediction")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `smoke` command's own options."""
    parser.add_argument("--alias", choices=[STAGING, CHAMPION], default=STAGING)
