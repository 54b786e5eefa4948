"""Write the example interactions for `model_specs/item-recs.yaml`, deterministically.

Items have long-tail (Zipf) popularity and belong to taste clusters; each user prefers one
or two clusters and draws most of their items there, the rest from global popularity.

    python scripts/make_example_data.py [--users 3000 --items 1500 --out data/interactions.csv]
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
    for user in range(users):
        liked = rng.choice(clusters, size=rng.integers(1, 3), replace=False)
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
    return frame.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def main() -> None:
    """Write the CSV and print its sha256 for the spec's pin."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("data/interactions.csv"))
    args = parser.parse_args()
    frame = make_interactions(args.users, args.items, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False, float_format="%.1f", lineterminator="\n")
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"{args.out}: {len(frame)} rows, sha256 {digest}")


if __name__ == "__main__":
    main()
