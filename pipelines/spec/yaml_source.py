"""Safe YAML reading that remembers the line of every key.

No aliases (alias bombs), no duplicate keys, no custom tags, bounded size and depth. Only
regular files are read (never a FIFO or a device), at most `MAX_SPEC_BYTES` of them, and
the nesting depth is estimated by a cheap scan before the (recursive) YAML composer runs.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import BadInput

MAX_SPEC_BYTES = 256 * 1024
MAX_DEPTH = 16
# The pre-parse scan refuses anything deeper than this; PyYAML's composer recurses about
# three frames per level and hits Python's recursion limit near 300 levels.
MAX_SCAN_DEPTH = 64
# Tags a plain spec resolves to; anything else (!!python/..., !custom) is refused.
PLAIN_TAGS = frozenset(
    "tag:yaml.org,2002:" + name
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
)
# What PyYAML's reader refuses (its NON_PRINTABLE set), found up front to report a line.
_SPECIAL = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_KEY_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:- )?(?P<key>[A-Za-z_][\w\-]*)[ \t]*:(?:[ \t]|$)")

Path_ = tuple[str | int, ...]


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases before they are expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            line = event.start_mark.line + 1
            raise BadInput(
                "YAML aliases (*name) are not allowed in a spec",
                file=getattr(self, "_spec_file", None),
                line=line,
                field=field_at(getattr(self, "_spec_text", ""), line),
            )
        return super().compose_node(parent, index)


def read_yaml(path: Path, display: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    """Parse `path` into plain data and a map from key path to 1-based line."""
    return parse_yaml_bytes(read_spec_bytes(path, display), display)


def read_spec_bytes(path: Path, display: str) -> bytes:
    """The bytes of a spec: a regular file of at most `MAX_SPEC_BYTES`, read once.

    FIFOs, devices and sockets are refused from `os.stat` before anything opens them; the
    open itself is non-blocking and re-checked with `fstat`, so a file swapped for a FIFO
    in between cannot hang the read either.
    """
    try:
        info = path.stat()
        _check_regular(info, display, "spec")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            _check_regular(os.fstat(handle.fileno()), display, "spec")
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError as exc:
        raise BadInput("spec file not found", file=display) from exc
    except IsADirectoryError as exc:
        raise BadInput("spec path is a folder, not a file", file=display) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInput("spec path is a symlink loop", file=display) from exc
        raise BadInput(f"cannot read spec: {exc.strerror}", file=display) from exc
    if len(raw) > MAX_SPEC_BYTES:
        raise BadInput(
            f"spec is over {MAX_SPEC_BYTES} bytes; the limit is {MAX_SPEC_BYTES}",
            file=display,
            line=1,
        )
    return raw


def _check_regular(info: os.stat_result, display: str, what: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise BadInput(f"{what} path is a folder, not a file", file=display)
    if not stat.S_ISREG(info.st_mode):
        raise BadInput(f"{what} is not a regular file (a FIFO, device or socket)", file=display)
    if info.st_size > MAX_SPEC_BYTES:
        raise BadInput(
            f"{what} is {info.st_size} bytes; the limit is {MAX_SPEC_BYTES}", file=display, line=1
        )


def parse_yaml_bytes(raw: bytes, display: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    """Decode UTF-8 spec bytes and parse them (see `parse_yaml_text`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput("spec is not valid UTF-8", file=display, line=line) from exc
    return parse_yaml_text(text, display)


def parse_yaml_text(text: str, display: str) -> tuple[dict[str, Any], dict[Path_, int]]:
    """Parse YAML text (see `read_yaml`)."""
    bad = _SPECIAL.search(text)
    if bad:  # YAML refuses these; say where, before the reader fails without a line
        bad_line = text.count("\n", 0, bad.start()) + 1
        raise BadInput(
            f"control character U+{ord(bad.group()):04X} is not allowed in YAML",
            file=display,
            line=bad_line,
            field=field_at(text, bad_line),
        )
    _check_depth(text, display)
    loader = _NoAliasLoader(text)
    loader._spec_file = display  # type: ignore[attr-defined]
    loader._spec_text = text  # type: ignore[attr-defined]
    try:
        node = loader.get_single_node()
    except BadInput:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark and "end of stream" in (exc.problem or ""):
            mark = exc.context_mark  # where the unclosed quote or bracket opened
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        field = field_at(text, line) if line else None
        raise BadInput(f"invalid YAML: {problem}", file=display, line=line, field=field) from exc
    except yaml.YAMLError as exc:
        raise BadInput(f"invalid YAML: {' '.join(str(exc).split())}", file=display) from exc
    except RecursionError as exc:  # the scan above should have refused it: a backstop
        raise BadInput("spec is nested too deeply", file=display) from exc
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
    here = ".".join(str(p) for p in path) or None
    if len(path) > MAX_DEPTH:
        raise BadInput("spec is nested too deeply", file=display, line=line, field=here)
    if node.tag not in PLAIN_TAGS and node.tag != "tag:yaml.org,2002:merge":
        raise BadInput(
            f"YAML tag {node.tag} is not allowed in a spec", file=display, line=line, field=here
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise BadInput(
                    "keys must be plain strings", file=display, line=key_line, field=here
                )
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise BadInput(
                    "YAML merge keys (<<) are not allowed", file=display, line=key_line, field=here
                )
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


def _check_depth(text: str, display: str) -> None:
    """Refuse text nested deeper than `MAX_SCAN_DEPTH`, judged without parsing."""
    depth, line = nesting_depth(text, MAX_SCAN_DEPTH)
    if depth > MAX_SCAN_DEPTH:
        field = field_at(text, line)
        if field is not None:  # name where it starts to go deep, not all 5,000 keys
            field = ".".join(field.split(".")[:MAX_DEPTH])
        raise BadInput(
            f"spec is nested too deeply (over {MAX_SCAN_DEPTH} levels)",
            file=display,
            line=line,
            field=field,
        )


def nesting_depth(text: str, limit: int) -> tuple[int, int]:
    """An upper estimate of the nesting depth of YAML text, and the line where it is
    deepest (or where it first goes past `limit`).

    Counts block indentation levels, `- ` entries opened on one line, and `[`/`{` outside
    quotes and comments. Over-estimates some odd documents (a block scalar whose lines keep
    indenting); never under-estimates what the composer will recurse into.
    """
    indents: list[int] = []
    flow = 0
    worst, worst_line = 0, 1
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        if flow == 0:
            indent = len(raw) - len(body)
            while indents and indents[-1] >= indent:
                indents.pop()
            indents.append(indent)
        dashes = 0
        while flow == 0 and (body.startswith(("- ", "? ", ": ")) or body in {"-", "?"}):
            dashes += 1
            body = body[2:].lstrip(" ")
        deepest = flow
        quote = ""
        for i, char in enumerate(body):
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"" and (flow or i == 0 or body[i - 1] in " :,[{"):
                quote = char
            elif char == "#" and (i == 0 or body[i - 1] in " \t"):
                break
            elif char in "[{":
                flow += 1
                deepest = max(deepest, flow)
            elif char in "]}":
                flow = max(flow - 1, 0)
        depth = len(indents) + dashes + deepest
        if depth > worst:
            worst, worst_line = depth, number
            if depth > limit:
                break
    return worst, worst_line


def field_at(text: str, line: int) -> str | None:
    """The dotted key path in force at 1-based `line`, judged by indentation.

    For errors found before the document has a tree (syntax errors, aliases). Keys with
    an inline scalar value cannot hold children; lines indented with tabs are skipped.
    """
    stack: list[tuple[int, str, bool]] = []  # indent, key, may hold children
    lines = text.splitlines()[:line]
    for number, raw in enumerate(lines, start=1):
        match = _KEY_LINE.match(raw)
        if not match or "\t" in match["indent"]:
            continue
        indent = len(match["indent"])
        while stack and (stack[-1][0] >= indent or not stack[-1][2]):
            stack.pop()
        rest = raw[match.end() :].split("#", 1)[0].strip()
        parent = rest == "" or rest[0] in "{[&!|>"
        stack.append((indent, match["key"], parent or number == line))
    if stack and not stack[-1][2]:
        stack.pop()  # a scalar key above the error line: the error is not inside it
    return ".".join(key for _, key, _ in stack) or None
