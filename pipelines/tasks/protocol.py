"""The protocol of a task kind's implementation: check and fit an estimator, split, vectors
for the index, scoring, the baseline and the served model's example rows.

What the spec and the reports read about a kind without importing it (metrics, data
roles, the baseline's name, what its target holds, its server) is its `Kind` record in
`pipelines.kinds`.

Optional methods, looked up with `getattr` where they are used (a kind without them gets
the default named):
- `input_columns(spec) -> list[InputColumn]`: the served model's input columns (default:
  the spec's feature columns, each required);
- `holdout_units(spec, frame, split) -> HoldoutUnits`: what the bootstrap resamples and
  its strata, so `evalsample` can sample a large holdout (default: no sampling);
- `exact_queries`, `copies_of_training`, `trained_on` (see `RetrievalTask`, `TabularTask`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pipelines.spec import LoadedSpec
    from pipelines.tasks.base import Bundle, Scores, Searcher, Split


class Task(Protocol):
    """One task kind; registered by name in `pipelines.kinds`."""

    kind: str  # the spec's `task:` value (written into each Bundle)

    def check_estimator(self, loaded: LoadedSpec, instance: Any) -> None:
        """Raise BadInput (`loaded.error`) when `instance` cannot serve this kind."""

    def baseline_estimator(self) -> Any:
        """The unfitted trivial model a candidate must beat."""

    def split(self, loaded: LoadedSpec, frame: pd.DataFrame) -> Split:
        """A deterministic holdout split."""

    def fit(self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split, estimator: Any) -> Bundle:
        """Fit the estimator on the training rows."""

    def index_vectors(self, bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
        """(keys, float32 vectors) to put in the usearch index."""

    def queries(self, bundle: Bundle, frame: pd.DataFrame, split: Split) -> np.ndarray:
        """Realistic float32 query vectors for recall and latency measurement."""

    def score(
        self,
        loaded: LoadedSpec,
        bundle: Bundle,
        frame: pd.DataFrame,
        split: Split,
        searcher: Searcher,
    ) -> Scores:
        """Score `bundle` on the holdout of `split` (the candidate's holdout, for both)."""

    def sample_rows(
        self, loaded: LoadedSpec, frame: pd.DataFrame, split: Split
    ) -> list[dict[str, Any]] | None:
        """A few holdout rows as serving takes them (the served model's example), or None."""
