"""Write the example interactions for `model_specs/item-recs.yaml`, deterministically.

Items have long-tail (Zipf) popularity and belong to taste clusters; each user prefers one
or two clusters and draws most of their items there, the rest from global popularity.

    python scripts/make_example_data.py [--users 3000 --items 1500 --out data/interactions.csv]

`--next-period stable|drifted` writes the next fresh batch for monitoring instead
(`data/fresh/interactions-NNNN.csv`, numbered after the last one): `stable` draws new
interactions of the same users from the same tastes (a few new users), `drifted` shifts
tastes to other clusters, brings new items and new users, and lowers the ratings.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd


def make_interactions(
    users: int = 3000,
    items: int = 1500,
    clusters: int = 8,
    mean_per_user: float = 20.0,
    seed: int = 7,
) -> pd.DataFrame:
    """A deterministic implicit-feedback table: user_id, item_id, rating."""
    return _world(users, items, clusters, mean_per_user, seed)[0]


def _world(
    users: int, items: int, clusters: int, mean_per_user: float, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[np.ndarray]]:
    """The table, plus item popularity, item clusters and each user's liked clusters."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    rng.shuffle(popularity)
    item_cluster = rng.integers(0, clusters, size=items)
    counts = np.clip(
        rng.lognormal(np.log(mean_per_user) - 0.3, 0.8, size=users).astype(int), 3, items // 4
    )
    rows_user, rows_item, rows_rating = [], [], []
    global_p = popularity / popularity.sum()
    cluster_p = []
    for c in range(clusters):
        p = np.where(item_cluster == c, popularity, 0.0)
        cluster_p.append(p / p.sum())
    likes = []
    for user in range(users):
        liked = rng.choice(clusters, size=rng.integers(1, 3), replace=False)
        likes.append(liked)
        mix = np.mean([cluster_p[c] for c in liked], axis=0)
        p = 0.85 * mix + 0.15 * global_p
        chosen = rng.choice(items, size=counts[user], replace=False, p=p)
        in_taste = np.isin(item_cluster[chosen], liked)
        base = np.where(in_taste, 4.0, 2.5) + rng.normal(0, 0.7, size=len(chosen))
        rating = np.clip(np.round(base * 2) / 2, 0.5, 5.0)
        rows_user.append(np.full(len(chosen), user + 1))
        rows_item.append(chosen + 1001)
        rows_rating.append(rating)
    frame = pd.DataFrame(
        {
            "user_id": np.concatenate(rows_user).astype(np.int64),
            "item_id": np.concatenate(rows_item).astype(np.int64),
            "rating": np.concatenate(rows_rating).astype(np.float64),
        }
    )
    frame = frame.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    return frame, popularity, item_cluster, likes


def make_next_period(
    kind: str,
    period: int = 1,
    users: int = 3000,
    items: int = 1500,
    clusters: int = 8,
    seed: int = 7,
    share_active: float = 0.6,
) -> pd.DataFrame:
    """A fresh batch after the training data: `stable` or `drifted` (see the module doc)."""
    if kind not in {"stable", "drifted"}:
        raise ValueError("kind must be stable or drifted")
    base, popularity, item_cluster, likes = _world(users, items, clusters, 20.0, seed)
    drifted = kind == "drifted"
    rng = np.random.default_rng([seed, period, int(drifted)])
    new_items = items // 3 if drifted else 0
    all_pop = np.concatenate([popularity, rng.permutation(popularity)[:new_items] * 3.0])
    all_cluster = np.concatenate([item_cluster, rng.integers(0, clusters, size=new_items)])
    global_p = all_pop / all_pop.sum()
    cluster_p = []
    for c in range(clusters):
        p = np.where(all_cluster == c, all_pop, 0.0)
        cluster_p.append(p / p.sum())
    had = base.groupby("user_id")["item_id"].apply(lambda s: set(s.to_numpy() - 1001))
    active = np.sort(rng.choice(users, size=int(users * share_active), replace=False))
    n_new_users = int(len(active) * (0.35 if drifted else 0.03))
    rows_user, rows_item, rows_rating = [], [], []
    people = [(int(u), likes[u]) for u in active]
    for extra in range(n_new_users):
        people.append((users + 1000 * period + extra, rng.choice(clusters, size=1)))
    for user, liked in people:
        if drifted:  # tastes move to clusters the user did not like
            others = np.setdiff1d(np.arange(clusters), liked)
            liked = rng.choice(others, size=len(liked), replace=False)
        mix = np.mean([cluster_p[c] for c in liked], axis=0)
        p = 0.85 * mix + 0.15 * global_p
        seen = had.get(user + 1, set())
        if seen:
            p = p.copy()
            p[list(seen)] = 0.0
            p /= p.sum()
        count = int(np.clip(rng.lognormal(np.log(6.0), 0.5), 2, 30))
        chosen = rng.choice(len(p), size=count, replace=False, p=p)
        in_taste = np.isin(all_cluster[chosen], liked)
        base_rating = np.where(in_taste, 3.0 if drifted else 4.0, 2.5)
        rating = np.clip(np.round((base_rating + rng.normal(0, 0.7, count)) * 2) / 2, 0.5, 5.0)
        rows_user.append(np.full(count, user + 1))
        rows_item.append(chosen + 1001)
        rows_rating.append(rating)
    frame = pd.DataFrame(
        {
            "user_id": np.concatenate(rows_user).astype(np.int64),
            "item_id": np.concatenate(rows_item).astype(np.int64),
            "rating": np.concatenate(rows_rating).astype(np.float64),
        }
    )
    return frame.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def next_period_path(folder: Path) -> tuple[int, Path]:
    """The number and path of the batch after the last one in `folder`."""
    numbers = [
        int(p.stem.rsplit("-", 1)[1]) for p in folder.glob("interactions-[0-9][0-9][0-9][0-9].csv")
    ]
    period = max(numbers, default=0) + 1
    return period, folder / f"interactions-{period:04d}.csv"


def write_csv(frame: pd.DataFrame, path: Path) -> str:
    """Write the CSV as the examples are written; return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.1f", lineterminator="\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    """Write the CSV and print its sha256 for the spec's pin."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--next-period",
        choices=["stable", "drifted"],
        help="write the next fresh batch for monitoring (default folder data/fresh)",
    )
    args = parser.parse_args()
    if args.next_period:
        folder = args.out or Path("data/fresh")
        period, out = next_period_path(folder)
        frame = make_next_period(args.next_period, period, args.users, args.items, seed=args.seed)
    else:
        out = args.out or Path("data/interactions.csv")
        frame = make_interactions(args.users, args.items, seed=args.seed)
    digest = write_csv(frame, out)
    print(f"{out}: {len(frame)} rows, sha256 {digest}")


if __name__ == "__main__":
    main()
