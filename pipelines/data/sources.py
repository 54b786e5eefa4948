"""Load a spec's data source into a DataFrame, checking the sha256 pin first.

Sources: a path inside the repository, `sklearn:<loader>` for datasets that ship with
scikit-learn (every `load_*` loader that can return a data frame; never the `fetch_*` ones,
which download), or an https URL (always pinned by sha256).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import http.client
import inspect
import io
import logging
import re
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.errors import BadInput, InfraError
from pipelines.spec import LoadedSpec
from pipelines.spec.urls import redact_url, url_problem

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 2 * 1024**3
MAX_FILE_BYTES = MAX_DOWNLOAD_BYTES  # a repository data file
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20
SOURCE = "data.source"  # the spec field named by errors about the file's bytes


@dataclass(frozen=True)
class LoadedData:
    """A frame with the identity of the bytes it came from."""

    frame: pd.DataFrame
    sha256: str
    origin: str  # what to name in messages: a repo path, sklearn:..., or a URL


def load_data(loaded: LoadedSpec) -> LoadedData:
    """Read the spec's source; raise BadInput naming the spec field on any problem."""
    source = loaded.spec.data.source
    if source.startswith("sklearn:"):
        return _load_sklearn(loaded, source.removeprefix("sklearn:"))
    if source.startswith(("https://", "http://")):
        path = _download(loaded, source)
        return _load_csv(loaded, path, origin=redact_url(source))
    if "://" in source:
        raise loaded.error("only repository paths, sklearn: and https URLs", "data", "source")
    path = resolve_in_repo(loaded, source)
    return _load_csv(loaded, path, origin=source)


@functools.cache
def sklearn_loaders() -> tuple[str, ...]:
    """scikit-learn's loaders of bundled datasets that return a frame (`as_frame=True`)."""
    from sklearn import datasets

    return tuple(
        sorted(
            name
            for name in datasets.__all__
            if name.startswith("load_")
            and "as_frame" in inspect.signature(getattr(datasets, name)).parameters
        )
    )


def check_sklearn_source(loaded: LoadedSpec) -> None:
    """Refuse a `sklearn:` source that names no bundled-data loader (before loading)."""
    source = loaded.spec.data.source
    if not source.startswith("sklearn:"):
        return
    name = source.removeprefix("sklearn:")
    if name not in sklearn_loaders():
        allowed = ", ".join(f"sklearn:{n}" for n in sklearn_loaders())
        raise loaded.error(f"unknown dataset '{name}' (known: {allowed})", "data", "source")


def sklearn_frame(loader_name: str) -> pd.DataFrame:
    """A bundled scikit-learn dataset as one frame, with scikit-learn's column names."""
    if loader_name not in sklearn_loaders():
        raise ValueError(f"unknown dataset '{loader_name}'")
    from sklearn import datasets

    bunch = getattr(datasets, loader_name)(as_frame=True)
    frame: pd.DataFrame = bunch.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(str)
        elif pd.api.types.is_integer_dtype(frame[name]):
            frame[name] = frame[name].astype("int64")
    return frame


def source_columns(source: str, root: Path) -> list[str] | None:
    """The column names of a source, for hints in error messages; None when unreadable.

    Reads a scikit-learn dataset or the header of a CSV inside `root`; never downloads.
    """
    try:
        if source.startswith("sklearn:"):
            return list(sklearn_frame(source.removeprefix("sklearn:")).columns)
        if "://" in source or Path(source).is_absolute() or ".." in Path(source).parts:
            return None
        path = (root / source).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            return None
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error):
        return None
    return list(header) if header else None


def data_sha256(loaded: LoadedSpec) -> str:
    """The spec's sha256 pin; without one, the sha256 `load_data` computes (it loads and
    parses the data). For the content hash."""
    spec_data = loaded.spec.data
    if spec_data.sha256 is not None:
        return spec_data.sha256
    return load_data(loaded).sha256


def resolve_in_repo(loaded: LoadedSpec, source: str) -> Path:
    """Resolve a repo-relative path; refuse absolute paths, `..` and symlink escapes."""
    root = loaded.config.root.resolve()
    raw = Path(source)
    if raw.is_absolute():
        raise loaded.error("must be a path inside the repository, not absolute", "data", "source")
    if ".." in raw.parts:
        raise loaded.error("must not leave the repository ('..')", "data", "source")
    candidate = root / raw
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise loaded.error("is a symlink loop or cannot be resolved", "data", "source") from exc
    if not resolved.is_relative_to(root):
        raise loaded.error("resolves outside the repository (symlink)", "data", "source")
    try:
        info = resolved.stat()
    except OSError as exc:
        raise loaded.error(f"data file not found: {source}", "data", "source") from exc
    if stat.S_ISDIR(info.st_mode):
        raise loaded.error(f"data file not found: {source} is a folder", "data", "source")
    if not stat.S_ISREG(info.st_mode):  # never opened: a FIFO would hang, a device never ends
        raise loaded.error("is not a regular file (a FIFO, device or socket)", "data", "source")
    if info.st_size > MAX_FILE_BYTES:
        raise loaded.error(
            f"is {info.st_size} bytes; the limit is {MAX_FILE_BYTES}", "data", "source"
        )
    return resolved


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file (`hashlib.file_digest`, which reads it in chunks)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_pin(loaded: LoadedSpec, actual: str, origin: str) -> None:
    expected = loaded.spec.data.sha256
    if expected is not None and expected != actual:
        raise loaded.error(
            f"sha256 of {origin} is {actual}, the spec pins {expected}", "data", "sha256"
        )


def _load_csv(loaded: LoadedSpec, path: Path, origin: str) -> LoadedData:
    actual = sha256_file(path)
    _check_pin(loaded, actual, origin)
    header = _read_header(loaded, path, origin)
    columns = loaded.spec.data.columns
    missing = [c for c in columns if c not in header]
    if missing:
        raise loaded.error(
            f"{origin} has no column '{missing[0]}' (its columns: {', '.join(header)})",
            "data",
            "columns",
            missing[0],
        )
    dtypes = {name: _pandas_dtype(col.dtype) for name, col in columns.items()}
    try:
        # every column is read, not `usecols`: with it, pandas silently drops the extra
        # fields of a ragged row instead of refusing the file
        frame = pd.read_csv(
            path,
            dtype={k: v for k, v in dtypes.items() if v is not None},
            encoding="utf-8",
            keep_default_na=True,
            low_memory=False,
        )
    except UnicodeDecodeError as exc:
        line = _byte_line(path, exc.start)
        raise BadInput("file is not UTF-8 text", file=origin, line=line, field=SOURCE) from exc
    except (ValueError, pd.errors.ParserError) as exc:
        raise _parse_error(loaded, path, origin, exc) from exc
    return LoadedData(frame=frame[list(columns)], sha256=actual, origin=origin)


def _read_header(loaded: LoadedSpec, path: Path, origin: str) -> list[str]:
    with path.open("rb") as handle:
        if handle.read(len(_BOM)) == _BOM:
            raise BadInput(
                "file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM",
                file=origin,
                line=1,
                field=SOURCE,
            )
    try:
        header = next((row for _, row in records(path, origin)), None)
    except UnicodeDecodeError as exc:
        raise BadInput("file is not UTF-8 text", file=origin, line=1, field=SOURCE) from exc
    if not header:
        raise loaded.error(f"{origin} is empty (no header row)", "data", "source")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            field = f"data.columns.{name}" if name in loaded.spec.data.columns else SOURCE
            raise BadInput(
                f"duplicate column '{name}' in the header", file=origin, line=1, field=field
            )
        seen.add(name)
    return header


def _pandas_dtype(dtype: str) -> str | None:
    # Integers and booleans are parsed loosely then checked, so a bad cell can be located.
    return {"string": "string", "category": "category", "float64": "float64"}.get(dtype)


def _parse_error(loaded: LoadedSpec, path: Path, origin: str, exc: Exception) -> BadInput:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for name, column in loaded.spec.data.columns.items():
        if column.dtype != "float64":
            continue
        row = _first_non_number(path, name, origin)
        if row is not None:
            line, value = row
            return BadInput(
                f"column '{name}': {value!r} is not a number (spec says float64)",
                file=origin,
                line=line,
                field=f"data.columns.{name}",
            )
    ragged = _first_ragged(path, origin)
    if ragged is not None:
        line, width, expected = ragged
        return BadInput(
            f"cannot parse CSV: row has {width} fields, the header has {expected}",
            file=origin,
            line=line,
            field=SOURCE,
        )
    # pandas counts records, not lines: its "line N" is wrong after a quoted newline
    message = re.sub(r"\bin line \d+, ", "", message)
    return BadInput(f"cannot parse CSV: {message}", file=origin, field=SOURCE)


def records(path: Path, origin: str) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, fields) of each non-blank CSV record.

    A field over the csv module's size limit is a BadInput naming its line.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        start = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BadInput(
                    f"unreadable CSV record: {exc}", file=origin, line=start, field=SOURCE
                ) from exc
            if row:
                yield start, row
            start = reader.line_num + 1


def _first_ragged(path: Path, origin: str) -> tuple[int, int, int] | None:
    expected: int | None = None
    for line, row in records(path, origin):
        if expected is None:
            expected = len(row)
        elif len(row) != expected:
            return line, len(row), expected
    return None


def _first_non_number(path: Path, column: str, origin: str) -> tuple[int, str] | None:
    rows = records(path, origin)
    _, header = next(rows)
    index = header.index(column)
    for line, row in rows:
        if index >= len(row):
            continue
        cell = row[index].strip()
        if cell == "" or cell.lower() in {"nan", "na", "null", "n/a", "none"}:
            continue
        try:
            float(cell)
        except ValueError:
            return line, cell
    return None


def _byte_line(path: Path, offset: int) -> int:
    with path.open("rb") as handle:
        return handle.read(offset).count(b"\n") + 1


def _load_sklearn(loaded: LoadedSpec, loader_name: str) -> LoadedData:
    check_sklearn_source(loaded)
    frame = sklearn_frame(loader_name)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g")
    digest = hashlib.sha256(buffer.getvalue().encode()).hexdigest()
    _check_pin(loaded, digest, f"sklearn:{loader_name}")
    columns = loaded.spec.data.columns
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise loaded.error(
            f"sklearn:{loader_name} has no column '{missing[0]}' "
            f"(its columns: {', '.join(frame.columns)})",
            "data",
            "columns",
            missing[0],
        )
    return LoadedData(frame=frame[list(columns)], sha256=digest, origin=f"sklearn:{loader_name}")


def _download(loaded: LoadedSpec, url: str) -> Path:
    expected = loaded.spec.data.sha256
    if expected is None:  # the spec model already refuses this; keep the guard for callers
        raise loaded.error("a URL source needs a sha256 pin", "data", "sha256")
    problem = url_problem(url)  # the spec model checks this too; keep the guard for callers
    if problem is not None:
        raise loaded.error(problem, "data", "source")
    shown = redact_url(url)
    cache = loaded.config.root / ".runs" / ".cache"
    target = cache / expected
    if target.is_file() and sha256_file(target) == expected:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:  # noqa: S310
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise loaded.error("download exceeds 2 GiB", "data", "source")
                out.write(chunk)
    except urllib.error.URLError as exc:
        partial.unlink(missing_ok=True)
        raise InfraError(f"cannot download {shown}: {exc.reason}") from exc
    except (ValueError, http.client.InvalidURL) as exc:
        partial.unlink(missing_ok=True)
        raise loaded.error(f"cannot download {shown}: malformed URL", "data", "source") from exc
    partial.replace(target)
    return target
