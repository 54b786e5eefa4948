"""The bridge for models logged before serving.py: it imports nothing of the package, and
it still loads a bundle and index as such models hold them and answers from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.contracts import BUNDLE_FILE, INDEX_FILE
from pipelines.serving import search_index
from pipelines.serving_legacy import NeighboursModel
from pipelines.serving_legacy import search_index as legacy_search

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_bridge_imports_nothing_of_the_package() -> None:
    code = (
        "import sys, pipelines.serving_legacy; "
        "print(sorted(m for m in sys.modules if m.startswith('pipelines.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(out.stdout.replace("'", '"')) == ["pipelines.serving_legacy"]


@pytest.mark.slow
def test_an_old_style_model_loads_and_answers_similar_items(mlflow_store: str) -> None:
    spec = str(ROOT / "model_specs" / "item-recs.yaml")
    for step in ("check-data", "train", "build-index"):
        assert main([step, spec]) == 0, step
    run = Path(os.environ["PIPELINES_RUNS_DIR"]) / "item-recs"
    meta = run / "legacy-meta.json"
    meta.write_text(json.dumps({"sample_rows": None}), encoding="utf-8")
    model = NeighboursModel()
    model.load_files(run / BUNDLE_FILE, run / INDEX_FILE, meta)
    items = np.asarray(model.bundle.extras["item_ids"])
    vectors = np.asarray(model.bundle.extras["item_vectors"], dtype=np.float32)
    # its own search answers what serving's does
    keys, _ = legacy_search(model.index, vectors[:5], 4)
    expected, _ = search_index(model.index, vectors[:5], 4)
    assert np.array_equal(keys, expected)
    answer = model.predict(None, pd.DataFrame({"item_id": items[:2]}), params={"k": 3})
    assert answer["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    for query in (0, 1):
        rows = answer[answer["query"] == query]
        assert items[query] not in rows["neighbour"].tolist()  # an item is not its own match
    assert model.sample_input()["item_id"].tolist() == items[:2].tolist()
