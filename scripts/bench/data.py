"""Benchmark workspaces: long-tail interactions at a given catalogue size, and a spec.

The generator follows `scripts/make_example_data.py` (Zipf popularity, taste clusters, 85%
of a user's items from their clusters) but draws every interaction at once with inverse-CDF
sampling, so a million items take seconds. Each workspace is a tiny repository
(pyproject.toml, model_specs/, data/) so the pipeline runs on it exactly as on this one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_SPEC = REPO / "model_specs" / "item-recs.yaml"
DIMENSIONS = 64
TUNE_BUILD_SECONDS = 120.0
TUNE_ABOVE_ITEMS = 50_000  # the tuner's sample size: above it, it tunes on a sample


def users_for(items: int) -> int:
    """Users to match a catalogue: one per 20 items, at least 2,000."""
    return max(2_000, items // 20)


def make_interactions(
    items: int,
    users: int | None = None,
    clusters: int = 32,
    mean_per_user: float = 60.0,
    seed: int = 7,
) -> pd.DataFrame:
    """Deterministic implicit feedback (user_id, item_id, rating), vectorised."""
    users = users or users_for(items)
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.5
    rng.shuffle(popularity)
    item_cluster = rng.integers(0, clusters, size=items)
    counts = np.clip(
        rng.lognormal(np.log(mean_per_user) - 0.3, 0.8, size=users).astype(np.int64),
        3,
        min(items // 4, int(5 * mean_per_user)),
    )
    user_of = np.repeat(np.arange(users), counts)
    draws = len(user_of)
    liked = rng.integers(0, clusters, size=(users, 2))
    # items of each cluster, with their cumulative popularity inside the cluster
    by_cluster = np.argsort(item_cluster, kind="stable")
    bounds = np.searchsorted(item_cluster[by_cluster], np.arange(clusters + 1))
    weights = popularity[by_cluster]
    cum = np.cumsum(weights)
    starts = np.concatenate([[0.0], cum[bounds[1:-1] - 1]])
    totals = cum[bounds[1:] - 1] - starts
    cluster = liked[user_of, rng.integers(0, 2, size=draws)]
    target = starts[cluster] + rng.random(draws) * totals[cluster]
    in_cluster = by_cluster[np.minimum(np.searchsorted(cum, target), items - 1)]
    global_cum = np.cumsum(popularity)
    anywhere = np.minimum(
        np.searchsorted(global_cum, rng.random(draws) * global_cum[-1]), items - 1
    )
    item = np.where(rng.random(draws) < 0.85, in_cluster, anywhere)
    in_taste = (item_cluster[item] == liked[user_of, 0]) | (item_cluster[item] == liked[user_of, 1])
    base = np.where(in_taste, 4.0, 2.5) + rng.normal(0, 0.7, size=draws)
    rating = np.clip(np.round(base * 2) / 2, 0.5, 5.0)
    frame = pd.DataFrame(
        {
            "user_id": (user_of + 1).astype(np.int64),
            "item_id": (item + 1001).astype(np.int64),
            "rating": rating.astype(np.float64),
        }
    )
    frame = frame.drop_duplicates(["user_id", "item_id"], keep="first")
    return frame.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Workspace:
    """One benchmark repository on disk."""

    root: Path
    items: int
    rows: int
    users: int

    def spec(self, name: str = "bench") -> Path:
        """Path of the spec called `name` (see `add_spec`)."""
        return self.root / "model_specs" / f"{name}.yaml"

    @property
    def tracking_uri(self) -> str:
        """The workspace's own sqlite MLflow store."""
        return f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}"

    @property
    def runs_dir(self) -> Path:
        """Where the pipeline writes run directories."""
        return self.root / "runs"


def make_workspace(root: Path, items: int, users: int | None = None, seed: int = 7) -> Workspace:
    """Write data, pyproject.toml and the `bench` spec under `root` (reused when present)."""
    csv = root / "data" / "interactions.csv"
    if not csv.is_file():
        frame = make_interactions(items, users=users, seed=seed)
        csv.parent.mkdir(parents=True, exist_ok=True)
        tmp = csv.with_suffix(".tmp")
        frame.to_csv(tmp, index=False, float_format="%.1f", lineterminator="\n")
        tmp.replace(csv)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "bench"\nversion = "0"\n\n[tool.pipelines]\n'
        'experiment_prefix = "bench/"\n',
        encoding="utf-8",
    )
    (root / "mlflow").mkdir(exist_ok=True)
    frame = pd.read_csv(csv, usecols=["user_id", "item_id"])
    workspace = Workspace(
        root=root,
        items=int(frame["item_id"].nunique()),
        rows=len(frame),
        users=int(frame["user_id"].nunique()),
    )
    add_spec(workspace, "bench")
    return workspace


def add_spec(workspace: Workspace, name: str) -> Path:
    """A copy of item-recs.yaml named `name`, pinned to the workspace's data."""
    spec = yaml.safe_load(TEMPLATE_SPEC.read_text(encoding="utf-8"))
    csv = workspace.root / "data" / "interactions.csv"
    spec["name"] = name
    spec["description"] = f"benchmark: {workspace.items} items, {workspace.rows} interactions"
    spec["data"]["sha256"] = hashlib.sha256(csv.read_bytes()).hexdigest()
    spec["data"]["checks"]["min_rows"] = min(spec["data"]["checks"]["min_rows"], workspace.rows)
    # the reference figures are for 64-dimensional vectors
    spec["model"]["params"]["n_components"] = DIMENSIONS
    # synthetic data: keep the gate passable at every size so promotion is measured too
    spec["evaluation"]["thresholds"] = {"ndcg_at_10": {"min": 0.01}}
    # the index as a large catalogue should run it: settings chosen by the tuner (f16 where
    # the recall gate holds), a build budget a 1M-item catalogue fits on 2 cores; small
    # catalogues (and the fixed-cost runs) keep the spec's settings: tuning there is only cost
    if workspace.items > TUNE_ABOVE_ITEMS:
        spec["index"]["tune"] = {"max_build_seconds": TUNE_BUILD_SECONDS}
    path = workspace.spec(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path
