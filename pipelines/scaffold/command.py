"""`new-spec`: the command, and the order of its jobs: read, draft, fit, render, validate,
write (never over an existing spec)."""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

from pipelines.config import find_root, load_config
from pipelines.errors import BadInput
from pipelines.scaffold.baseline import fit_baseline
from pipelines.scaffold.draft import DRAFTERS, make_draft
from pipelines.scaffold.render import render
from pipelines.scaffold.source import inside, read_csv, read_sklearn

log = logging.getLogger("pipelines")

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TASKS = tuple(DRAFTERS)


def new_spec(
    name: str,
    task: str,
    data: Path,
    *,
    target: str | None = None,
    user: str | None = None,
    item: str | None = None,
    weight: str | None = None,
    root: Path | None = None,
) -> Path:
    """Write `model_specs/<name>.yaml` for the CSV at `data` (or `sklearn:<loader>`)."""
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"model name '{name}' must be lowercase letters, digits and '-' (at most 63)"
        )
    if task not in TASKS:
        raise BadInput(f"unknown task '{task}' (known: {', '.join(TASKS)})")
    root = (root or find_root(Path.cwd())).resolve()
    spec_path = root / "model_specs" / f"{name}.yaml"
    if spec_path.exists():
        raise BadInput(f"{spec_path.relative_to(root)} exists; refusing to overwrite it")
    if str(data).startswith("sklearn:"):
        source, sha256 = str(data), None
        frame = read_sklearn(source)
    else:
        from pipelines.data.sources import sha256_file

        csv_path = inside(root, data)
        frame = read_csv(csv_path)
        source, sha256 = csv_path.relative_to(root).as_posix(), sha256_file(csv_path)
    flags = {"target": target, "user": user, "item": item, "weight": weight}
    draft = make_draft(name, task, source, sha256, frame, flags)
    log.info("split: %s", draft.split_why)
    fit_baseline(draft, root)
    text = render(draft)
    _validate(text, root, spec_path.name)
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    with spec_path.open("x", encoding="utf-8") as handle:  # never overwrite, even in a race
        handle.write(text)
    log.info("wrote %s (%s on %s)", spec_path.relative_to(root), task, draft.source)
    for column, why in draft.excluded.items():
        log.warning("left out column '%s': %s", column, why)
    return spec_path


def _validate(text: str, root: Path, filename: str) -> None:
    from pipelines.spec import load_spec
    from pipelines.spec.estimators import resolve_estimator

    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / filename
        probe.write_text(text, encoding="utf-8")
        resolve_estimator(load_spec(probe, config=load_config(root)))


def handle(args: argparse.Namespace) -> int:
    """Write the spec and say what to do next."""
    path = new_spec(
        args.name,
        args.task,
        args.data,
        target=args.target,
        user=args.user,
        item=args.item,
        weight=args.weight,
    )
    log.info("next: nox -s pipeline -- %s", path.relative_to(find_root(path.parent)).as_posix())
    return 0


def register(subparsers: Any) -> None:
    """Add the `new-spec` command."""
    parser = subparsers.add_parser(
        "new-spec",
        help="Write a first spec for a CSV file.",
        description="Write model_specs/<name>.yaml for a CSV inside the repository.",
    )
    parser.add_argument("name", help="model name (lowercase, digits, '-')")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="CSV file inside the repository, or sklearn:<loader> (e.g. sklearn:load_wine)",
    )
    parser.add_argument("--target", help="label column (classification, regression)")
    parser.add_argument("--user", help="user column (retrieval; guessed from names if omitted)")
    parser.add_argument("--item", help="item column (retrieval; guessed from names if omitted)")
    parser.add_argument("--weight", help="interaction strength column (retrieval, optional)")
    parser.set_defaults(handler=handle)
