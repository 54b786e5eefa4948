"""Reading the data `new-spec` drafts from: a CSV inside the repository, or a scikit-learn
dataset (`sklearn:<loader>`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.errors import BadInput


def inside(root: Path, data: Path) -> Path:
    path = (data if data.is_absolute() else Path.cwd() / data).resolve()
    if not path.is_file():
        raise BadInput(f"data file not found: {data}")
    if not path.is_relative_to(root):
        raise BadInput(
            f"{data} is outside the repository ({root}); copy it under data/ first, "
            "so the spec can pin it"
        )
    return path


def read_sklearn(source: str) -> pd.DataFrame:
    from pipelines.data.sources import sklearn_frame, sklearn_loaders

    try:
        return sklearn_frame(source.removeprefix("sklearn:"))
    except ValueError:
        known = ", ".join(f"sklearn:{n}" for n in sklearn_loaders())
        raise BadInput(f"unknown dataset '{source}' (known: {known})") from None


def read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, encoding="utf-8", low_memory=False)
    except UnicodeDecodeError as exc:
        raise BadInput("file is not UTF-8 text", file=str(path)) from exc
    except (ValueError, pd.errors.ParserError) as exc:
        raise BadInput(f"cannot parse CSV: {str(exc).splitlines()[0]}", file=str(path)) from exc
    if frame.empty or len(frame.columns) == 0:
        raise BadInput("the CSV has no data rows", file=str(path))
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise BadInput(f"duplicate column '{duplicated[0]}' in the header", file=str(path))
    return frame
