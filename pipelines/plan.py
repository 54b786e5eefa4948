"""`plan`: which model specs a change touches, as a JSON list for a CI matrix.

A spec runs when its own file changed, or when a data file it reads changed. Every spec
runs when shared code changed (the `pipelines` package, pyproject.toml, the lock file,
the spec schema), when the base commit is unknown (a new branch), or with `--all`.

Beside the list, `matrix` is a whole job matrix (`{"include": [...]}`): for each spec its
path, model name and the runner labels its jobs run on (`resources.runs_on` in the spec,
else `--default-runs-on`), so a heavy model runs on a bigger machine while the others stay
on hosted runners.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from pipelines.config import find_root
from pipelines.console import emit
from pipelines.errors import BadInput
from pipelines.github_output import write_github_output

log = logging.getLogger("pipelines")

SPEC_DIR = "model_specs"
# Changing any of these can change every model: run them all.
SHARED_PATTERNS: tuple[str, ...] = (
    "pipelines/*",
    "pyproject.toml",
    "uv.lock",
    f"{SPEC_DIR}/spec.schema.json",
)
NULL_SHA = "0" * 40
DEFAULT_RUNS_ON = "ubuntu-latest"
_LABEL = re.compile(r"^[^\s,]{1,100}$")


def all_specs(root: Path) -> list[str]:
    """Every spec file under `model_specs/`, as repository-relative POSIX paths."""
    folder = root / SPEC_DIR
    found = [*folder.glob("*.yaml"), *folder.glob("*.yml")] if folder.is_dir() else []
    return sorted(p.relative_to(root).as_posix() for p in found if p.is_file())


def _data_source(root: Path, spec_path: str) -> str | None:
    """The repository-relative data path a spec reads: None for a non-file source
    (URL, `sklearn:...`), `*` when the spec cannot be read (so it runs and reports why)."""
    try:
        document: Any = yaml.safe_load((root / spec_path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        log.warning("plan: cannot read %s (%s); it runs anyway", spec_path, exc)
        return "*"
    data = document.get("data") if isinstance(document, dict) else None
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(source, str) or "://" in source or ":" in source.split("/")[0]:
        return None
    return PurePosixPath(source).as_posix()


def _is_shared(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in SHARED_PATTERNS)


def plan(root: Path, changed: Iterable[str]) -> list[str]:
    """Spec paths to run for the changed repository-relative `changed` paths."""
    paths = sorted({PurePosixPath(p.strip()).as_posix() for p in changed if p.strip()})
    specs = all_specs(root)
    if any(_is_shared(p) for p in paths):
        log.info("plan: shared code changed; every spec runs")
        return specs
    changed_set = set(paths)
    selected = {s for s in specs if s in changed_set}
    changed_data = {p for p in paths if not p.startswith(f"{SPEC_DIR}/")}
    if changed_data:
        for spec in specs:
            source = _data_source(root, spec)
            if source is not None and any(fnmatch.fnmatchcase(p, source) for p in changed_data):
                selected.add(spec)
    return sorted(selected)


def runner_labels(text: str) -> list[str]:
    """Runner labels from a comma-separated string (`self-hosted, gpu`) or a JSON array."""
    stripped = text.strip()
    labels: Any
    if stripped.startswith("["):
        try:
            labels = json.loads(stripped)
        except ValueError as exc:
            raise BadInput(f"runner labels: not a JSON array: {exc}") from exc
    else:
        labels = [part.strip() for part in stripped.split(",") if part.strip()]
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(x, str) and _LABEL.match(x) for x in labels)
    ):
        raise BadInput(f"runner labels: give one or more labels, got {text!r}")
    return list(labels)


def job_matrix(root: Path, specs: Iterable[str], default_runs_on: list[str]) -> dict[str, Any]:
    """A job matrix, one entry per spec: `spec` (its path), `model` (the file stem) and
    `runs_on` (the runner labels its jobs use).

    The labels are the spec's `resources.runs_on` when it is a list of labels, else the
    default. A spec that cannot be read gets the default and fails in its own `validate`
    step, which says why (validation also rejects malformed labels).
    """
    include: list[dict[str, Any]] = []
    for spec in specs:
        labels = default_runs_on
        try:
            document: Any = yaml.safe_load((root / spec).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            document = None
        resources = document.get("resources") if isinstance(document, dict) else None
        wanted = resources.get("runs_on") if isinstance(resources, dict) else None
        if (
            isinstance(wanted, list)
            and wanted
            and all(isinstance(x, str) and _LABEL.match(x) for x in wanted)
        ):
            labels = list(wanted)
        include.append({"spec": spec, "model": PurePosixPath(spec).stem, "runs_on": labels})
    return {"include": include}


def changed_files(root: Path, base: str, head: str) -> list[str] | None:
    """`git diff --name-only BASE...HEAD`; None when the base is unknown (new branch)."""
    if not base or base == NULL_SHA:
        return None
    command = ["git", "-C", str(root), "diff", "--name-only", f"{base}...{head or 'HEAD'}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log.warning("plan: %s failed: %s", " ".join(command), result.stderr.strip())
        return None
    return result.stdout.splitlines()


def handle(args: argparse.Namespace) -> int:
    """Print the JSON list of specs to run and hand it to the workflow."""
    root = find_root(Path(args.root))
    files: Sequence[str] | None
    if args.all:
        files = None
    elif args.files is not None:
        files = args.files
    elif args.base is not None:
        files = changed_files(root, args.base, args.head)
    else:
        raise BadInput("give --files, --base (with optional --head) or --all")
    if files is None:
        log.info("plan: no usable base; every spec runs")
        specs = all_specs(root)
    else:
        specs = plan(root, files)
    log.info("plan: %d spec(s) to run: %s", len(specs), ", ".join(specs) or "none")
    payload = json.dumps(specs, separators=(",", ":"))
    default_runs_on = runner_labels(args.default_runs_on)
    matrix = job_matrix(root, specs, default_runs_on)
    for entry in matrix["include"]:
        if entry["runs_on"] != default_runs_on:
            log.info("plan: %s runs on %s", entry["spec"], ", ".join(entry["runs_on"]))
    write_github_output(
        {
            "specs": payload,
            "count": str(len(specs)),
            "matrix": json.dumps(matrix, separators=(",", ":")),
        }
    )
    emit(payload + "\n")
    return 0


def register(subparsers: Any) -> None:
    """Add the `plan` command."""
    parser = subparsers.add_parser(
        "plan",
        help="list the specs a change touches (JSON, for a CI matrix)",
        description=__doc__,
    )
    parser.add_argument("--files", nargs="*", help="changed paths, relative to the repository")
    parser.add_argument("--base", help="base commit: diff BASE...HEAD with git")
    parser.add_argument("--head", default="HEAD", help="head commit (default: HEAD)")
    parser.add_argument("--all", action="store_true", help="every spec")
    parser.add_argument("--root", default=".", help="repository root (default: .)")
    parser.add_argument(
        "--default-runs-on",
        default=DEFAULT_RUNS_ON,
        help="runner labels of a spec that names none: comma-separated or a JSON array "
        f"(default: {DEFAULT_RUNS_ON})",
    )
    parser.set_defaults(handler=handle)
