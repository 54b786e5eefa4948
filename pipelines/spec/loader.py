"""Load a spec file into a validated `Spec`, with file:line:field errors."""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipelines.config import ProjectConfig, find_root, load_config
from pipelines.errors import BadInput
from pipelines.spec.model import LocatedError, Spec
from pipelines.spec.yaml_source import Path_, parse_yaml_bytes, read_spec_bytes


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with where it came from."""

    spec: Spec
    path: Path
    display: str
    lines: dict[Path_, int]
    sha256: str
    config: ProjectConfig

    def line_of(self, *loc: str | int) -> int | None:
        """The line of the deepest known key on `loc`."""
        return line_for(self.lines, tuple(loc))

    def error(self, message: str, *loc: str | int) -> BadInput:
        """A BadInput located at field `loc` of this spec."""
        return BadInput(
            message,
            file=self.display,
            line=self.line_of(*loc),
            field=".".join(str(p) for p in loc) or None,
        )

    @property
    def run_dir(self) -> Path:
        """This model's run directory."""
        return self.config.run_dir(self.spec.name)


def display_path(path: Path) -> str:
    """The path as a user typed it (symlinks not followed), relative to the working folder
    when inside it."""
    absolute = os.path.abspath(path)  # noqa: PTH100 - unlike resolve(), keeps symlinks
    try:
        relative = os.path.relpath(absolute, Path.cwd())
    except (OSError, ValueError):
        return absolute
    return absolute if relative.startswith("..") else relative


def load_spec(path: str | Path, config: ProjectConfig | None = None) -> LoadedSpec:
    """Read, parse and validate one spec file.

    Without `config`, the spec must resolve inside the repository found from its folder.
    A caller passing `config` vouches for the path (`new-spec` validates a draft it wrote
    to a temporary folder).
    """
    path = Path(path)
    display = display_path(path)
    if path.suffix not in {".yaml", ".yml"}:
        raise BadInput("a spec must be a .yaml or .yml file", file=display)
    if config is None:  # a user's spec: it must live in the repository it configures
        config = load_config(find_root(path.parent))
        _check_inside(path, config.root, display)
    raw = read_spec_bytes(path, display)
    data, lines = parse_yaml_bytes(raw, display)
    context = {"allowed_prefixes": config.allowed_estimator_prefixes}
    try:
        spec = Spec.model_validate(data, context=context)
    except ValidationError as exc:
        error = _first_error(exc, lines, display, data)
        if error.field == "data.columns" and "required key is missing" in error.message:
            error = _with_columns_hint(error, data, config.root)
        raise error from None
    if spec.name != path.stem:
        raise BadInput(
            f"'{spec.name}' must equal the file name '{path.stem}' (the workflows, the run "
            f"directory and the registered model all go by the file name): rename the file "
            f"to {spec.name}{path.suffix} or set name: {path.stem}",
            file=display,
            line=line_for(lines, ("name",)),
            field="name",
        )
    rival = _another_file_of_the_model(path)
    if rival is not None:
        raise BadInput(
            f"{display_path(rival)} claims model '{spec.name}' too: one file per model name "
            "in a folder, whatever its extension or case; remove one",
            file=display,
            line=line_for(lines, ("name",)),
            field="name",
        )
    digest = hashlib.sha256(raw).hexdigest()
    return LoadedSpec(spec, path.resolve(), display, lines, digest, config)


def _another_file_of_the_model(path: Path) -> Path | None:
    """A spec file beside `path` whose name differs from it only in extension or case."""
    try:
        siblings = sorted(path.parent.iterdir())
    except OSError:
        return None
    for sibling in siblings:
        if (
            sibling.name != path.name
            and sibling.suffix.lower() in {".yaml", ".yml"}
            and sibling.stem.lower() == path.stem.lower()
            and sibling.is_file()
        ):
            return sibling
    return None


def _with_columns_hint(error: BadInput, data: dict[str, Any], root: Path) -> BadInput:
    """A missing `data.columns` error, naming the columns the source has."""
    from pipelines.data.sources import source_columns

    source = (data.get("data") or {}).get("source") if isinstance(data.get("data"), dict) else None
    columns = source_columns(source, root) if isinstance(source, str) else None
    if not columns:
        return error
    shown = ", ".join(columns[:40]) + (
        f", ... ({len(columns)} in all)" if len(columns) > 40 else ""
    )
    message = f"{error.message} (the columns of {source}: {shown})"
    return BadInput(message, file=error.file, line=error.line, field=error.field)


def _check_inside(path: Path, root: Path, display: str) -> None:
    """Refuse a spec that is, or links to, a file outside the repository root."""
    try:
        resolved = path.resolve()
        inside = resolved.is_relative_to(root.resolve())
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise BadInput("spec path is a symlink loop or cannot be resolved", file=display) from exc
    if not inside:
        raise BadInput(
            f"spec resolves outside the repository ({root}): a spec must live in the "
            "repository it configures",
            file=display,
        )


def line_for(lines: dict[Path_, int], loc: Path_) -> int | None:
    """Line of `loc`, or of its nearest ancestor that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _first_error(
    exc: ValidationError, lines: dict[Path_, int], display: str, data: dict[str, Any]
) -> BadInput:
    errors = sorted(
        exc.errors(),
        key=lambda e: (e["type"] != "extra_forbidden", line_for(lines, tuple(e["loc"])) or 0),
    )
    error = errors[0]
    loc: Path_ = tuple(p for p in error["loc"] if not _is_union_branch(p))
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, LocatedError):
        loc = original.loc
        message = str(original)
    elif error["type"] == "extra_forbidden":
        message = _unknown_key_message(loc, data)
    elif error["type"] == "missing":
        message = "required key is missing"
    else:
        message = _clean(error["msg"])
        if "input" in error and error["type"] not in {"value_error", "assertion_error"}:
            message += f" (got {_short(error['input'])})"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    field = ".".join(str(p) for p in loc)
    return BadInput(message + more, file=display, line=line_for(lines, loc), field=field)


def _is_union_branch(part: str | int) -> bool:
    return isinstance(part, str) and ("[" in part or part in _UNION_TAGS)


_UNION_TAGS = {"str", "int", "float", "bool", "none", "list", "dict", "TuneSpec", "function-after"}


def _unknown_key_message(loc: Path_, data: dict[str, Any]) -> str:
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1], data)
    hint = ""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean '{close[0]}'?)"
    elif allowed:
        hint = f" (allowed: {', '.join(sorted(allowed))})"
    return f"unknown key '{key}'{hint}"


def _allowed_keys(parent: Path_, data: dict[str, Any]) -> list[str]:
    """Field names of the model that sits at `parent`."""
    model: type[BaseModel] | None = Spec
    skip_key = False
    for part in parent:
        if skip_key:  # the key of a dict of models (columns, thresholds)
            skip_key = False
            continue
        if model is None:
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        skip_key = getattr(field.annotation, "__origin__", None) is dict
        model = _model_of(field.annotation)
    return list(model.model_fields) if model is not None else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _clean(message: str) -> str:
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message[:1].lower() + message[1:]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
