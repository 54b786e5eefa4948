"""`train`: a deterministic split, then fit the allow-listed estimator."""

from __future__ import annotations

import argparse
import logging

import pipelines
from pipelines.contracts import DATA_REPORT, TrainMeta
from pipelines.spec.estimators import build_estimator
from pipelines.state import ModelState
from pipelines.tasks.limits import fit_within_budget

log = logging.getLogger("pipelines")


def train(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Split, fit and save the bundle into `model/`."""
    state.run.require(DATA_REPORT)
    frame = state.data().frame
    split = state.task.split(state.loaded, frame)
    estimator = build_estimator(state.loaded)
    bundle = fit_within_budget(
        state.loaded, lambda: state.task.fit(state.loaded, frame, split, estimator)
    )
    meta = TrainMeta(
        model=state.spec.name,
        task=state.spec.task,
        estimator=state.spec.model.estimator,
        params=state.spec.model.params,
        data_sha256=state.data_sha256,
        holdout_fingerprint=split.fingerprint(state.data_sha256),
        train_rows=len(split.train),
        holdout_rows=len(split.test),
        split=split.rule,
        content_hash=state.content_hash,
        pipelines_version=pipelines.__version__,
        sample_rows=state.task.sample_rows(state.loaded, frame, split),
    )
    state.save_model(bundle, split, meta)
    log.info(
        "%s: trained on %d rows, %d held out", state.spec.name, len(split.train), len(split.test)
    )
    return 0
