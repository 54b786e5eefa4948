"""Safe YAML reading that remembers the line of every key.

No aliases (alias bombs), no duplicate keys, no custom tags, bounded size and depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import BadInput

MAX_SPEC_BYTES = 256 * 1024
MAX_DEPTH = 16

Path_ = tuple[str | int, ...]


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases before they are expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise BadInput(
                "YAML aliases (*name) are not allowed in a spec",
                file=getattr(self, "_spec_file", None),
                line=event.start_mark.line + 1,
            )
        return super().compose_node(parent, index)


def read_yaml(path: Path, display: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    """Parse `path` into plain data and a map from key path to 1-based line."""
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise BadInput(f"spec is {size} bytes; the limit is {MAX_SPEC_BYTES}", file=display)
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise BadInput("spec file not found", file=display) from exc
    except IsADirectoryError as exc:
        raise BadInput("spec path is a folder, not a file", file=display) from exc
    except OSError as exc:
        raise BadInput(f"cannot read spec: {exc.strerror}", file=display) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput("spec is not valid UTF-8", file=display, line=line) from exc
    return parse_yaml_text(text, display)


def parse_yaml_text(text: str, display: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    """Parse YAML text (see `read_yaml`)."""
    loader = _NoAliasLoader(text)
    loader._spec_file = display  # type: ignore[attr-defined]
    try:
        node = loader.get_single_node()
    except BadInput:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise BadInput(f"invalid YAML: {problem}", file=display, line=line) from exc
    except yaml.YAMLError as exc:
        raise BadInput(f"invalid YAML: {exc}", file=display) from exc
    finally:
        loader.dispose()
    if node is None:
        raise BadInput("spec is empty", file=display, line=1)
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    data = _build(node, (), lines, loader, display)
    if not isinstance(data, dict):
        raise BadInput("a spec must be a mapping of keys", file=display, line=lines[()])
    return data, lines


def _build(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], loader: yaml.SafeLoader, display: str
) -> Any:
    line = node.start_mark.line + 1
    if len(path) > MAX_DEPTH:
        raise BadInput("spec is nested too deeply", file=display, line=line)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise BadInput("keys must be plain strings", file=display, line=key_line)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise BadInput("YAML merge keys (<<) are not allowed", file=display, line=key_line)
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            dotted = ".".join(str(p) for p in (*path, key))
            if key in out:
                raise BadInput(
                    f"duplicate key '{key}' (first at line {lines[(*path, key)]})",
                    file=display,
                    line=key_line,
                    field=dotted,
                )
            lines[(*path, key)] = key_line
            out[key] = _build(value_node, (*path, key), lines, loader, display)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            items.append(_build(item, (*path, i), lines, loader, display))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        field = ".".join(str(p) for p in path) or None
        raise BadInput(f"invalid value: {exc}", file=display, line=line, field=field) from exc
