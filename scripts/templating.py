"""Render the template into a project: shared by init_project.py and update_template.py.

The repository is its own template (see scripts/template/manifest.toml). Rendering a tree
means: list its files, drop the template-only files (and the examples if asked), and in
the identity fields replace what the tree says now by what the answers say. The result is
a mapping path -> file, so the same function gives init its output and gives a template
update both sides of its three-way merge.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tomllib
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jinja2

MANIFEST = Path("scripts/template/manifest.toml")
ANSWERS_FILE = ".template-answers.json"
# A new fork's first release tag: the callers' pins in its docs name it (its README says how).
FORK_FIRST_TAG = "v0.1.0"
# In the template's README: what follows this line (its manual) a fork's README keeps.
FORK_MANUAL = "<!-- fork-readme: a fork's README keeps what follows"
# Never part of a project's files, whether or not git knows about them.
SKIP_DIRS = {
    ".git",
    ".venv",
    ".nox",
    ".runs",
    ".mlflow",
    "mlruns",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "build",
    "dist",
}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,98}[a-z0-9])?$")
_OWNER = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")
_REVIEWER = re.compile(r"^@[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9._-]+)?$")


MAX_ANSWER_CHARS = 200  # README title, experiment prefix (as [tool.pipelines] allows)
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


class TemplateError(Exception):
    """Bad answers, a missing manifest, or a git failure: reported as one line, exit 2."""


def control_character(text: str) -> str | None:
    """The first control character (C0 such as CR or ESC, DEL, C1), line or paragraph
    separator or bidi control in `text`, as its code point (U+000D for a carriage return);
    None when there is none."""
    for char in text:
        if unicodedata.category(char) in {"Cc", "Zl", "Zp"} or char in _BIDI_CONTROLS:
            return f"U+{ord(char):04X}"
    return None


def toml_string(value: object) -> str:
    """`value` as a TOML basic string: quoted, with backslash, quote and every control
    character escaped, so any text renders as valid TOML."""
    out = ['"']
    for char in str(value):
        if char in {'"', "\\"}:
            out.append("\\" + char)
        elif unicodedata.category(char) == "Cc":
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


@dataclass(frozen=True)
class Answers:
    """What a project answered; the defaults follow from name and owner."""

    name: str
    owner: str
    title: str = ""
    reviewers: str = ""
    experiment_prefix: str = ""
    examples: bool = True

    def __post_init__(self) -> None:
        for option, value in (
            ("--name", self.name),
            ("--owner", self.owner),
            ("--title", self.title),
            ("--reviewers", self.reviewers),
            ("--experiment-prefix", self.experiment_prefix),
        ):
            if not isinstance(value, str):
                raise TemplateError(f"{option} must be text")
            found = control_character(value)
            if found:
                raise TemplateError(f"{option} must not contain control characters ({found})")
            if option in {"--title", "--experiment-prefix"} and len(value) > MAX_ANSWER_CHARS:
                raise TemplateError(f"{option} is longer than {MAX_ANSWER_CHARS} characters")
        if not _NAME.fullmatch(self.name):
            raise TemplateError(
                f"--name '{self.name}': use lowercase letters, digits, '.', '_' and '-'"
            )
        if not _OWNER.fullmatch(self.owner):
            raise TemplateError(f"--owner '{self.owner}' is not a GitHub user or organisation")
        if not self.title:
            object.__setattr__(self, "title", self.name)
        if "\n" in self.title or not self.title.strip():
            raise TemplateError("--title must be one line of text")
        if not self.reviewers:
            object.__setattr__(self, "reviewers", f"@{self.owner}/ml-reviewers")
        for reviewer in self.reviewers.split():
            if not _REVIEWER.fullmatch(reviewer):
                raise TemplateError(f"--reviewers '{reviewer}': use @user or @org/team")
        if not self.experiment_prefix:
            object.__setattr__(self, "experiment_prefix", f"{self.name}/")
        if any(c in self.experiment_prefix for c in "\"'\\"):
            raise TemplateError("--experiment-prefix must not contain quotes or backslashes")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answers:
        """Answers from a file; keys a newer template added take their defaults."""
        known = {
            k: data[k]
            for k in ("name", "owner", "title", "reviewers", "experiment_prefix")
            if k in data
        }
        return cls(**known, examples=bool(data.get("examples", True)))

    def context(self) -> dict[str, Any]:
        """Variables for the patterns."""
        return asdict(self)


@dataclass(frozen=True)
class Field:
    """One identity field: a jinja2 pattern, the files it lives in, optionally which lines."""

    files: tuple[str, ...]
    pattern: str
    lines: str | None = None
    required: bool = True


@dataclass(frozen=True)
class Manifest:
    """scripts/template/manifest.toml of one template tree."""

    name: str
    version: str
    url: str
    defaults: dict[str, Any]
    fields: tuple[Field, ...]
    examples: tuple[str, ...]
    tests_naming: tuple[str, ...]
    template_only: tuple[str, ...]
    fork_readme: str = ""  # a jinja2 template of the README a new fork gets
    fork_readme_target: str = "README.md"
    fork_pins: tuple[str, ...] = ()  # files whose callers' version pins a new fork moves


@dataclass(frozen=True)
class File:
    """One rendered file."""

    data: bytes
    mode: int = 0o644


@dataclass
class Rendered:
    """A rendered tree, and how often each field matched (to catch a stale manifest)."""

    files: dict[str, File]
    matches: dict[int, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def load_manifest(root: Path) -> Manifest:
    """The manifest of the template tree at `root`."""
    path = root / MANIFEST
    if not path.is_file():
        raise TemplateError(f"{path} not found: is {root} the template (or a fork of it)?")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    template = data["template"]
    return Manifest(
        name=str(template["name"]),
        version=str(template["version"]),
        url=str(template.get("url", "")),
        defaults=dict(data["defaults"]),
        fields=tuple(
            Field(
                files=tuple(f["files"]),
                pattern=str(f["pattern"]),
                lines=f.get("lines"),
                required=bool(f.get("required", True)),
            )
            for f in data.get("fields", [])
        ),
        examples=tuple(data.get("examples", {}).get("paths", [])),
        tests_naming=tuple(data.get("examples", {}).get("tests_naming", [])),
        template_only=tuple(data.get("template_only", {}).get("paths", [])),
        fork_readme=str(data.get("fork", {}).get("readme", "")),
        fork_pins=tuple(data.get("fork", {}).get("pins", [])),
    )


def read_answers_file(root: Path) -> dict[str, Any] | None:
    """The fork's recorded template version and answers, or None for the template itself."""
    path = root / ANSWERS_FILE
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: not valid JSON ({exc})") from exc
    if "answers" not in data or "template" not in data:
        raise TemplateError(f"{path}: needs 'template' and 'answers'")
    return data


def write_answers_file(root: Path, template: dict[str, Any], answers: Answers) -> bool:
    """Record template version and answers; True when the file changed."""
    text = json.dumps({"template": template, "answers": answers.context()}, indent=2) + "\n"
    path = root / ANSWERS_FILE
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def current_answers(root: Path, manifest: Manifest) -> Answers:
    """What the files of `root` say now: a fork's recorded answers, else the template's."""
    recorded = read_answers_file(root)
    if recorded is not None:
        return Answers.from_dict(recorded["answers"])
    return Answers.from_dict(manifest.defaults)


def list_files(root: Path) -> list[str]:
    """The tree's files, as POSIX paths: git's view when it is a work tree, else a walk."""
    if (root / ".git").exists() and shutil.which("git"):
        out = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        names = [n for n in out.split("\0") if n]
        return sorted(
            n
            for n in names
            if not set(Path(n).parts) & SKIP_DIRS
            and (root / n).is_file()
            and not (root / n).is_symlink()
        )
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Glob match; `dir/**` matches everything below dir."""
    for pattern in patterns:
        if pattern.endswith("/**") and path.startswith(pattern[:-2]):
            return True
        if fnmatch.fnmatchcase(path, pattern):
            return True
    return False


def render_tree(root: Path, answers: Answers, source: Answers | None = None) -> Rendered:
    """The project `answers` describe, made from the template (or fork) tree at `root`."""
    manifest = load_manifest(root)
    source = source or current_answers(root, manifest)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    env.filters["toml"] = toml_string
    pairs = []
    for number, spec in enumerate(manifest.fields):
        template = env.from_string(spec.pattern)
        old, new = template.render(source.context()), template.render(answers.context())
        pairs.append((number, spec, old, new))
    dropped = manifest.template_only + (() if answers.examples else manifest.examples)
    # Made from the template itself into a project of its own: a fork README, and the
    # callers' version pins moved to the fork's own first tag (the template's tags are not
    # the fork's). A fork rendered again keeps its own files (the fields still apply).
    fork = read_answers_file(root) is None and (answers.name, answers.owner) != (
        source.name,
        source.owner,
    )
    rendered = Rendered(files={}, matches={n: 0 for n, *_ in pairs})
    for path in list_files(root):
        if path == ANSWERS_FILE:
            continue
        if matches(path, dropped):
            rendered.dropped.append(path)
            continue
        full = root / path
        data = full.read_bytes()
        if not answers.examples and _example_test(path, data, manifest.tests_naming):
            rendered.dropped.append(path)
            continue
        if fork and path == manifest.fork_readme_target and manifest.fork_readme:
            own = data.decode("utf-8")
            # the lines after the marker's line
            manual = own.split(FORK_MANUAL, 1)[1].partition("\n")[2] if FORK_MANUAL in own else ""
            context = {
                **answers.context(),
                "template_version": manifest.version,
                "manual": manual.strip("\n"),
            }
            readme = env.from_string((root / manifest.fork_readme).read_text(encoding="utf-8"))
            data = (readme.render(context).rstrip("\n") + "\n").encode("utf-8")
        elif fork and matches(path, manifest.fork_pins):
            data = _pin_fork_tag(data, manifest.version)
        fields = [(n, s, o, w) for n, s, o, w in pairs if matches(path, s.files)]
        if fields:
            data = _substitute(data, fields, rendered.matches)
        rendered.files[path] = File(data, 0o755 if os.access(full, os.X_OK) else 0o644)
    return rendered


def _pin_fork_tag(data: bytes, version: str) -> bytes:
    """Callers' pins of the template's tag (`@vX.Y.Z`, `template-ref: vX.Y.Z`) moved to the
    fork's own first tag, FORK_FIRST_TAG."""
    text = data.decode("utf-8")
    tag = re.escape(f"v{version}")
    text = re.sub(rf"(@|template-ref: ){tag}\b", rf"\g<1>{FORK_FIRST_TAG}", text)
    return text.encode("utf-8")


def _example_test(path: str, data: bytes, names: tuple[str, ...]) -> bool:
    """A test module that uses the examples (dropped with them)."""
    if not (path.startswith("tests/") and fnmatch.fnmatchcase(Path(path).name, "test_*.py")):
        return False
    return any(name.encode() in data for name in names)


def _substitute(
    data: bytes, fields: list[tuple[int, Field, str, str]], counts: dict[int, int]
) -> bytes:
    """Replace each field's old text by its new text in one pass (no chained replacements)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    out = []
    for line in text.splitlines(keepends=True):
        active = [
            (n, old, new)
            for n, spec, old, new in fields
            if old and (spec.lines is None or re.search(spec.lines, line))
        ]
        hits = [(n, old, new) for n, old, new in active if old in line]
        if not hits:
            out.append(line)
            continue
        hits.sort(key=lambda hit: -len(hit[1]))
        table = {old: new for _, old, new in reversed(hits)}
        for n, old, _ in hits:
            counts[n] += line.count(old)
        pattern = re.compile("|".join(re.escape(old) for _, old, _ in hits))
        out.append(pattern.sub(partial(_lookup, table), line))
    return "".join(out).encode("utf-8")


def _lookup(table: dict[str, str], match: re.Match[str]) -> str:
    return table[match.group(0)]


def git(root: Path, *args: str, input_bytes: bytes | None = None) -> str:
    """Run git in `root`; a failure is a TemplateError with git's message."""
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, input=input_bytes, check=False
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TemplateError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return result.stdout.decode("utf-8", "replace")


def head_commit(root: Path) -> str | None:
    """The commit checked out at `root`, if it is a git work tree."""
    if not (root / ".git").exists() or not shutil.which("git"):
        return None
    try:
        return git(root, "rev-parse", "HEAD").strip()
    except TemplateError:
        return None
