"""`validate`: the spec parses, its keys are known, its estimator is allowed and importable,
and a `sklearn:` source names a bundled-data loader."""

from __future__ import annotations

import argparse
import logging

from pipelines.data.sources import check_sklearn_source
from pipelines.spec.estimators import resolve_estimator
from pipelines.state import ModelState

log = logging.getLogger("pipelines")


def validate(state: ModelState, args: argparse.Namespace | None = None) -> int:
    """Check the spec beyond its schema: the estimator, its parameters, a sklearn: loader."""
    resolve_estimator(state.loaded)
    check_sklearn_source(state.loaded)
    log.info("%s: spec %s is valid", state.spec.name, state.loaded.display)
    return 0
