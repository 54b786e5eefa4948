"""`smoke`: load `models:/<name>@<alias>` as users will and answer a real query.

The version's files are checked against the digests the release recorded. Its answer to
the example it was logged with must equal the answer recorded when it was logged
(`expected_answer.json`, covered by the digests). Retrieval: known users' recommendations
must have k rows each, ranked 1..k, and hold none of the user's training items. Tabular:
each feature row gets a prediction and k similar cases.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import BadInput, GateFailed
from pipelines.registry import CHAMPION, STAGING
from pipelines.serving import EXPECTED_ANSWER, EXPECTED_K
from pipelines.state import ModelState

log = logging.getLogger("pipelines")

SMOKE_K = EXPECTED_K
COLUMNS = ("query", "rank", "neighbour", "distance")


def smoke(state: ModelState, args: argparse.Namespace) -> int:
    """Query the aliased model with its own sample input; exit 1 if the answer is wrong."""
    name, alias = state.spec.name, args.alias
    registry = state.registry()
    version = registry.version_by_alias(name, alias)
    if version is None:
        raise BadInput(f"{name} has no alias '{alias}' to smoke-test", file=state.loaded.display)
    model = registry.load_version(name, version)
    sample = model.server.sample_input()
    try:
        answer = model.predict(sample, params={"k": SMOKE_K})
    except Exception as exc:
        raise GateFailed(f"models:/{name}@{alias} failed to answer: {exc}") from exc
    if not isinstance(answer, pd.DataFrame):
        raise GateFailed(f"models:/{name}@{alias} answered a {type(answer).__name__}, not a table")
    problems = answer_problems(model.server, sample, answer, SMOKE_K)
    problems += differences_from_recorded(model.path, sample, answer)
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


def differences_from_recorded(
    model_dir: Path, sample: pd.DataFrame, answer: pd.DataFrame
) -> list[str]:
    """How `answer` to `sample` differs from the answer recorded when the model was logged
    (empty when it is the same: ids and ranks equal, distances and scores within 1e-5)."""
    found = sorted(model_dir.rglob(EXPECTED_ANSWER))
    if not found:
        return [f"no recorded answer ({EXPECTED_ANSWER}) in the model: re-release it"]
    record = json.loads(found[0].read_text(encoding="utf-8"))
    recorded_input = pd.DataFrame(record["input"]["data"], columns=record["input"]["columns"])
    if recorded_input.astype(str).values.tolist() != sample.astype(str).values.tolist():
        return ["the model's example is not the one its answer was recorded for"]
    expected = pd.DataFrame(record["answer"]["data"], columns=record["answer"]["columns"])
    if list(expected.columns) != list(answer.columns) or len(expected) != len(answer):
        return [
            f"answer of shape {answer.shape} with columns {list(answer.columns)[:8]}, recorded "
            f"{expected.shape} with {list(expected.columns)[:8]}"
        ]
    problems = []
    for column in expected.columns:
        got, want = answer[column], expected[column]
        if pd.api.types.is_float_dtype(got) or pd.api.types.is_float_dtype(want):
            same = np.allclose(
                pd.to_numeric(got, errors="coerce").to_numpy(dtype=np.float64),
                pd.to_numeric(want, errors="coerce").to_numpy(dtype=np.float64),
                rtol=1e-5,
                atol=1e-5,
                equal_nan=True,
            )
        else:
            same = got.astype(str).tolist() == want.astype(str).tolist()
        if not same:
            problems.append(f"column {column!r} differs from the answer recorded at publish")
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `smoke` command's own options."""
    parser.add_argument("--alias", choices=[STAGING, CHAMPION], default=STAGING)
