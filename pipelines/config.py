"""Project configuration from `[tool.pipelines]` in the repository's pyproject.toml."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipelines.errors import BadInput
from pipelines.settings import settings

DEFAULT_ALLOWED_PREFIXES = ("sklearn.",)
# A registered model name prefix: empty, or a short slug ending in a separator. MLflow
# refuses '/' and ':' in registered model names (mlflow.utils.validation).
_MODEL_PREFIX = re.compile(r"(?:[a-z0-9][a-z0-9._-]{0,39}[-_.])?")
# MLflow allows experiment names up to 500 characters; the prefix leaves room for
# `<model name (63)>.pull-requests`.
MAX_EXPERIMENT_PREFIX = 200


@dataclass(frozen=True)
class ProjectConfig:
    """Settings a repository can change without touching code."""

    root: Path
    allowed_estimator_prefixes: tuple[str, ...] = DEFAULT_ALLOWED_PREFIXES
    experiment_prefix: str = "gitops-ml/"
    # Prefix of every registered model name (`<model_prefix><spec name>`), so two projects
    # can share one tracking server; empty by default.
    model_prefix: str = ""
    runs_dir: Path = field(default=Path(".runs"))

    def run_dir(self, model_name: str) -> Path:
        """Where the steps of one model read and write (`PIPELINES_RUNS_DIR` overrides)."""
        root = settings().runs_dir or self.root / self.runs_dir
        return root / model_name


def find_root(start: Path) -> Path:
    """The repository root: the nearest folder at or above `start` holding `.git`.

    Outside a git repository, the nearest folder holding `model_specs/`, else the nearest
    holding a pyproject.toml. Configuration is read from the root only, so a
    pyproject.toml that a pull request adds under `model_specs/` or `data/` is ignored.
    """
    start = start.resolve()
    folders = [start, *start.parents] if start.is_dir() else list(start.parents)
    for marker in (".git", "model_specs"):
        for folder in folders:
            if (folder / marker).exists():
                return folder
    for folder in folders:
        if (folder / "pyproject.toml").is_file():
            return folder
    return folders[0]


@lru_cache(maxsize=8)
def load_config(root: Path) -> ProjectConfig:
    """Read `[tool.pipelines]`; a missing table gives the defaults."""
    pyproject = root / "pyproject.toml"
    table: dict[str, object] = {}
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(str(exc), file=pyproject) from exc
        table = data.get("tool", {}).get("pipelines", {})
    prefixes = table.get("allowed_estimator_prefixes", list(DEFAULT_ALLOWED_PREFIXES))
    if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
        raise BadInput(
            "must be a list of strings",
            file=pyproject,
            field="tool.pipelines.allowed_estimator_prefixes",
        )
    model_prefix = table.get("model_prefix", "")
    if not isinstance(model_prefix, str) or not _MODEL_PREFIX.fullmatch(model_prefix):
        raise BadInput(
            "must be a string of lowercase letters, digits, '-', '_' or '.', ending in one of "
            "'-', '_', '.' (e.g. 'acme-'), or empty: MLflow refuses '/' and ':' in "
            "registered model names",
            file=pyproject,
            field="tool.pipelines.model_prefix",
        )
    experiment_prefix = table.get("experiment_prefix", "gitops-ml/")
    problem = experiment_prefix_problem(experiment_prefix)
    if problem:
        raise BadInput(problem, file=pyproject, field="tool.pipelines.experiment_prefix")
    return ProjectConfig(
        root=root,
        allowed_estimator_prefixes=tuple(prefixes),
        experiment_prefix=str(experiment_prefix),
        runs_dir=Path(str(table.get("runs_dir", ".runs"))),
        model_prefix=model_prefix,
    )


def experiment_prefix_problem(value: object) -> str | None:
    """Why `value` cannot prefix MLflow experiment names, or None: it must be a string of
    at most `MAX_EXPERIMENT_PREFIX` characters without control or line-break characters."""
    if not isinstance(value, str):
        return "must be a string (e.g. 'acme/')"
    if len(value) > MAX_EXPERIMENT_PREFIX:
        return f"is {len(value)} characters long; at most {MAX_EXPERIMENT_PREFIX}"
    bad = next((c for c in value if is_control(c)), None)
    if bad is not None:
        return f"must not contain control or line-break characters (found U+{ord(bad):04X})"
    return None


def is_control(char: str) -> bool:
    """A control character (C0, DEL, C1), a line or paragraph separator, or a bidi control."""
    return unicodedata.category(char) in {"Cc", "Zl", "Zp"} or char in _BIDI_CONTROLS


_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
