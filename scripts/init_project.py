"""Make this clone (or a new folder) a project of its own: `nox -s init -- --name N --owner O`.

Renders the identity fields listed in scripts/template/manifest.toml (project name, README
title and badges, CODEOWNERS, workflow names, MLflow experiment prefix), drops the
template's own tests (and the examples with --no-examples), and records the template
version and the answers in .template-answers.json so `nox -s update-template` can merge
later template versions. Running it again with the same answers changes nothing.

    python scripts/init_project.py --name churn-models --owner acme [--no-examples] [--dest DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from templating import (
    ANSWERS_FILE,
    Answers,
    TemplateError,
    head_commit,
    load_manifest,
    read_answers_file,
    render_tree,
    write_answers_file,
)

ROOT = Path(__file__).resolve().parents[1]


def init(source: Path, answers: Answers, dest: Path | None = None) -> tuple[list[str], list[str]]:
    """Render `source` with `answers` into `dest` (default: in place); (written, removed)."""
    source = source.resolve()
    dest = (dest or source).resolve()
    if dest != source and dest.is_relative_to(source):
        raise TemplateError(f"--dest {dest} is inside the template; choose a folder outside it")
    manifest = load_manifest(source)
    recorded = read_answers_file(source)
    if recorded is not None and answers.examples and not recorded["answers"].get("examples", True):
        raise TemplateError(
            "the examples were dropped when this project was made; keep --no-examples"
        )
    template = (
        recorded["template"]
        if recorded is not None
        else {
            "name": manifest.name,
            "version": manifest.version,
            "commit": head_commit(source),
            "url": manifest.url,
        }
    )
    rendered = render_tree(source, answers)
    written: list[str] = []
    for path, file in rendered.files.items():
        target = dest / path
        if target.is_file() and target.read_bytes() == file.data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data)
        target.chmod(file.mode)
        written.append(path)
    removed: list[str] = []
    if dest == source:
        for path in rendered.dropped:
            (dest / path).unlink()
            removed.append(path)
            _prune(dest, (dest / path).parent)
    if write_answers_file(dest, template, answers):
        written.append(ANSWERS_FILE)
    return written, removed


def _prune(root: Path, folder: Path) -> None:
    """Remove folders left empty by dropped files, up to the root."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def main(argv: list[str] | None = None) -> int:
    """Parse the answers and render; exit 2 on bad answers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="project (repository) name")
    parser.add_argument("--owner", required=True, help="GitHub organisation or user")
    parser.add_argument("--title", default="", help="README title (default: the name)")
    parser.add_argument(
        "--reviewers",
        default="",
        help="owners of every .github/CODEOWNERS rule (default @OWNER/ml-reviewers)",
    )
    parser.add_argument(
        "--experiment-prefix", default="", help="MLflow experiment prefix (default NAME/)"
    )
    parser.add_argument("--no-examples", action="store_true", help="drop the example models")
    parser.add_argument("--dest", type=Path, help="render into this folder instead of in place")
    parser.add_argument("--source", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        answers = Answers(
            name=args.name,
            owner=args.owner,
            title=args.title,
            reviewers=args.reviewers,
            experiment_prefix=args.experiment_prefix,
            examples=not args.no_examples,
        )
        written, removed = init(args.source, answers, args.dest)
    except TemplateError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    where = args.dest or args.source
    if not written and not removed:
        print(f"init: {where} already matches these answers; nothing changed")
        return 0
    for path in written:
        print(f"  wrote   {path}")
    for path in removed:
        print(f"  removed {path}")
    print(f"init: {len(written)} written, {len(removed)} removed in {where}")
    print("next: review `git status`, commit, then see docs/fork.md for the GitHub settings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
