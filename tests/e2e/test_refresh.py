"""A data refresh, as a team makes it: the ratings log grows by a later period (with users
who arrived after the champion was trained), the sha256 pin moves, the pipeline runs again.

Against an embedded MLflow store, through the CLI a workflow calls:
- with a temporal split, the new holdout is newer than anything the champion was fitted
  on, and the honest retrain of the unchanged spec passes the gate;
- when the split rule changes (a hash split over the grown data), the champion is scored
  only on holdout rows it was not fitted on: exactly the rows an independent recount finds,
  reported with their number;
- the served champion answers a user who arrived after training (the popular items,
  flagged) and never recommends an item a known user already has.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main

pytestmark = pytest.mark.slow

MODEL = "item-recs"
SPLIT_LINE = "  split: {strategy: random, test_fraction: 0.2, seed: 7}\n"
DAY = 86_400


def _timed_log(repo: Path) -> pd.DataFrame:
    """The example ratings with a unix `timestamp`: 120 days; a tenth of the users arrive
    in the last 20 days only (after the first period ends)."""
    frame = pd.read_csv(repo / "data" / "interactions.csv")
    rng = np.random.default_rng(11)
    users = frame["user_id"].unique()
    late = set(rng.choice(users, len(users) // 10, replace=False).tolist())
    is_late = frame["user_id"].isin(late).to_numpy()
    start = 1_700_000_000
    times = np.where(
        is_late,
        rng.integers(start + 100 * DAY, start + 120 * DAY, len(frame)),
        rng.integers(start, start + 120 * DAY, len(frame)),
    )
    return frame.assign(timestamp=times).sort_values("timestamp", kind="stable")


def _write_spec(repo: Path, folder: str, data_file: str, frame: pd.DataFrame, split: str) -> Path:
    """The example spec on `data_file` (written from `frame`, pinned), with `split`."""
    path = repo / "data" / data_file
    frame.to_csv(path, index=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    text = (repo / "model_specs" / f"{MODEL}.yaml").read_text(encoding="utf-8")
    assert SPLIT_LINE in text, "the example spec's split line moved"
    text = text.replace(SPLIT_LINE, f"  split: {split}\n")
    text = text.replace("source: data/interactions.csv", f"source: data/{data_file}")
    text = text.replace("  columns:\n", "  columns:\n    timestamp: {dtype: int64, min: 0}\n", 1)
    lines = [
        f"  sha256: {digest}" if line.startswith("  sha256: ") else line
        for line in text.splitlines()
    ]
    text = "\n".join(lines) + "\n"
    # the grown log holds users the champion never saw: the drift gate would stop here
    text = text.replace("max_drift_psi: 0.2", "max_drift_psi: null")
    spec = repo / "model_specs" / folder / f"{MODEL}.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(text, encoding="utf-8")
    return spec


def _runs() -> Path:
    return Path(os.environ["PIPELINES_RUNS_DIR"])


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["user_id"].tolist(), frame["item_id"].tolist(), strict=True))


def test_a_refresh_is_compared_fairly_and_served_to_new_users(
    mlflow_store: str, scratch_repo: Path, tmp_path: Path
) -> None:
    log = _timed_log(scratch_repo)
    first_period = log[log["timestamp"] < log["timestamp"].min() + 90 * DAY]
    temporal = "{strategy: temporal, column: timestamp, test_fraction: 0.2}"
    v1 = _write_spec(scratch_repo, "v1", "ratings-v1.csv", first_period, temporal)
    assert main(["-q", "run", str(v1), "--promote", "champion"]) == 0
    champion_meta = json.loads((_runs() / MODEL / "model" / "meta.json").read_text())
    cut = int(champion_meta["split"]["cut"])
    champion_train = first_period[first_period["timestamp"] <= cut]

    # 1. the refresh, same spec: the holdout is newer than the champion's training rows
    v2 = _write_spec(scratch_repo, "v2", "ratings-v2.csv", log, temporal)
    assert main(["-q", "run", str(v2), "--run-dir", str(tmp_path / "v2")]) == 0
    evaluation = json.loads((tmp_path / "v2" / "evaluation.json").read_text())
    assert evaluation["split"]["strategy"] == "temporal"
    assert int(evaluation["split"]["cut"]) > cut
    assert evaluation["champion"]["comparable"] is True
    assert evaluation["champion"]["excluded_rows"] == 0
    assert evaluation["passed"] is True, evaluation["gate"]["summary"]
    assert evaluation["candidate"]["new_users"] > 0  # late users answered by the fallback
    report = (tmp_path / "v2" / "report.md").read_text(encoding="utf-8")
    assert "Split: temporal on 'timestamp'" in report

    # 2. the split rule changes to a hash split: the champion's training rows that fall
    #    in the new holdout are left out, as an independent recount says
    hashed = "{strategy: random, test_fraction: 0.2, seed: 3}"
    v3 = _write_spec(scratch_repo, "v3", "ratings-v2.csv", log, hashed)
    code = main(["-q", "run", str(v3), "--run-dir", str(tmp_path / "v3")])
    evaluation = json.loads((tmp_path / "v3" / "evaluation.json").read_text())
    assert code in (0, 1), code
    with np.load(tmp_path / "v3" / "model" / "split.npz") as arrays:
        holdout = log.reset_index(drop=True).iloc[arrays["test"]]
    trained = _pairs(champion_train)
    expected = sum(pair in trained for pair in _pairs_list(holdout))
    champion = evaluation["champion"]
    assert champion["comparable"] is True
    assert champion["holdout_rows"] == len(holdout)
    assert champion["excluded_rows"] == expected > 0
    assert evaluation["compared_candidate"] is not None
    report = (tmp_path / "v3" / "report.md").read_text(encoding="utf-8")
    assert f"{expected:,} left out because champion v1 was fitted on them" in report

    # 3. the served champion: a late user gets the popular items, flagged; a known user
    #    gets nothing they already rated (training or holdout rows of the champion's data)
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    late_user = int(log.loc[~log["user_id"].isin(first_period["user_id"]), "user_id"].iloc[0])
    known_user = int(first_period["user_id"].iloc[0])
    answer = model.predict(pd.DataFrame({"user_id": [late_user, known_user]}), params={"k": 10})
    late = answer[answer["query"] == 0]
    known = answer[answer["query"] == 1]
    assert len(late) == 10 and late["fallback"].all()
    assert len(known) == 10 and not known["fallback"].any()
    rated = set(first_period.loc[first_period["user_id"] == known_user, "item_id"].tolist())
    assert not rated & set(known["neighbour"].tolist())


def _pairs_list(frame: pd.DataFrame) -> list[tuple[int, int]]:
    return list(zip(frame["user_id"].tolist(), frame["item_id"].tolist(), strict=True))
