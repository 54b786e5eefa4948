"""The fresh data named by a spec's `monitoring.source`, loaded with the spec's dtypes."""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.data.sources import load_data, sha256_file
from pipelines.errors import BadInput
from pipelines.spec import LoadedSpec

FIELD = ("monitoring", "source")


@dataclass(frozen=True)
class FreshData:
    """A fresh batch: the frame, the bytes' sha256, what to call it, and the repo file."""

    frame: pd.DataFrame
    sha256: str
    origin: str
    path: Path | None  # the file in the repository, when the source is one
    labelled: bool  # the target (tabular) is present


def resolve_glob(loaded: LoadedSpec, pattern: str) -> Path:
    """The last file (by name) matching a repo-relative path or glob, confined to the repo."""
    root = loaded.config.root.resolve()
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise loaded.error("must be a path or glob inside the repository", *FIELD)
    matches = sorted(p for p in root.glob(pattern) if p.is_file())
    matches = [p for p in matches if p.resolve().is_relative_to(root)]
    if not matches:
        raise loaded.error(f"no fresh data matches {pattern}", *FIELD)
    return matches[-1]


def load_fresh(loaded: LoadedSpec) -> FreshData:
    """Load the fresh batch; the target column may be absent (no live quality then)."""
    monitoring = loaded.spec.monitoring
    if monitoring is None:
        raise loaded.error("the spec has no monitoring section", "monitoring")
    source, pin, path = monitoring.source, monitoring.sha256, None
    columns = dict(loaded.spec.data.columns)
    target = loaded.spec.data.target
    if not source.startswith(("sklearn:", "https://", "http://")):
        path = resolve_glob(loaded, source)
        source = path.relative_to(loaded.config.root.resolve()).as_posix()
        pin = sha256_file(path)
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        if target is not None and target not in header:
            columns.pop(target, None)
    data_spec = loaded.spec.data.model_copy(
        update={"source": source, "sha256": pin, "columns": columns}
    )
    fresh_spec = loaded.spec.model_copy(update={"data": data_spec})
    try:
        data = load_data(dataclasses.replace(loaded, spec=fresh_spec))
    except BadInput as exc:
        raise loaded.error(f"{source}: {exc.message}", *FIELD) from exc
    labelled = target is None or target in data.frame.columns
    return FreshData(data.frame, data.sha256, data.origin, path, labelled)


def check_measurable(loaded: LoadedSpec, fresh: FreshData) -> None:
    """Refuse a batch that measures nothing: no rows, or a spec column that is null on
    every row (BadInput naming the spec's `monitoring.source` and the batch file)."""
    frame = fresh.frame
    if len(frame) == 0:
        raise loaded.error(f"{fresh.origin}: the batch has no rows: nothing to measure", *FIELD)
    for name in loaded.spec.data.columns:
        if name in frame.columns and not frame[name].notna().any():
            raise loaded.error(
                f"{fresh.origin}: column '{name}' is empty (null) on every one of the "
                f"{len(frame)} rows: nothing to measure",
                *FIELD,
            )
