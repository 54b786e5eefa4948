"""Bring a later template version into this fork: `nox -s update-template -- --from URL`.

A three-way merge per file, like copier and cruft do it:
  base   = the template at the version this fork records, rendered with the fork's answers
  theirs = the template at --to (default: its default branch), rendered the same way
  ours   = the fork's file as it is now
Files the template did not change are left alone; files only the template changed are
taken; files both changed go through `git merge-file`, which leaves conflict markers where
the two disagree. Conflicts are listed and the exit code is 1, so nothing of the fork's is
silently overwritten. .template-answers.json then records the new version.

    python scripts/update_template.py --from https://github.com/ORG/TEMPLATE [--to v0.2.0]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from templating import (
    Answers,
    File,
    TemplateError,
    git,
    load_manifest,
    read_answers_file,
    render_tree,
    write_answers_file,
)

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    """What the update did to each file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    old: str = ""
    new: str = ""


def update(project: Path, source: str, to: str | None, allow_dirty: bool = False) -> Outcome:
    """Merge template changes between the recorded commit and `to` into `project`."""
    project = project.resolve()
    recorded = read_answers_file(project)
    if recorded is None:
        raise TemplateError(f"{project} has no .template-answers.json: run `nox -s init` first")
    dirty = (project / ".git").exists() and git(project, "status", "--porcelain").strip()
    if dirty and not allow_dirty:
        raise TemplateError("uncommitted changes: commit them first (or --allow-dirty)")
    answers = Answers.from_dict(recorded["answers"])
    template = dict(recorded["template"])
    with tempfile.TemporaryDirectory(prefix="template-update-") as folder:
        work = Path(folder)
        clone = work / "template"
        _clone(source, clone)
        old = _resolve(clone, template.get("commit"), f"v{template.get('version')}")
        new = _resolve(clone, to or "HEAD")
        outcome = Outcome(old=old, new=new)
        if old == new:
            return outcome
        base = render_tree(_export(clone, old, work / "base"), answers)
        theirs_root = _export(clone, new, work / "theirs")
        theirs = render_tree(theirs_root, answers)
        labels = ("yours", f"template {old[:9]}", f"template {new[:9]}")
        for path in sorted(base.files.keys() | theirs.files.keys()):
            _merge_one(project, path, base.files.get(path), theirs.files.get(path), labels, outcome)
        manifest = load_manifest(theirs_root)
    template.update({"name": manifest.name, "version": manifest.version, "commit": new})
    template["url"] = source if "://" in source else template.get("url", manifest.url)
    write_answers_file(project, template, answers)
    return outcome


def _clone(source: str, clone: Path) -> None:
    result = subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", source, str(clone)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise TemplateError(f"cannot clone the template from {source}: {message}")


def _resolve(clone: Path, *refs: str | None) -> str:
    """The first of `refs` (or origin/<ref>) that names a commit in the clone."""
    for ref in refs:
        if not ref or ref == "vNone":
            continue
        for candidate in (ref, f"origin/{ref}", f"refs/tags/{ref}"):
            try:
                return git(
                    clone, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"
                ).strip()
            except TemplateError:
                continue
    wanted = " or ".join(r for r in refs if r and r != "vNone")
    raise TemplateError(f"the template has no commit {wanted or '(none recorded)'}")


def _export(clone: Path, commit: str, folder: Path) -> Path:
    """The files of `commit`, without git metadata."""
    archive = subprocess.run(
        ["git", "-C", str(clone), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    folder.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _merge_one(
    project: Path,
    path: str,
    base: File | None,
    theirs: File | None,
    labels: tuple[str, str, str],
    outcome: Outcome,
) -> None:
    if base is not None and theirs is not None and base.data == theirs.data:
        return  # the template did not change this file
    target = project / path
    ours = target.read_bytes() if target.is_file() else None
    if theirs is None:  # the template removed it
        if ours is None:
            return
        if base is not None and ours == base.data:
            target.unlink()
            outcome.removed.append(path)
        else:
            outcome.conflicts[path] = "removed by the template, changed here: kept yours"
        return
    if ours is None:
        if base is None:
            _write(target, theirs.data, theirs.mode)
            outcome.added.append(path)
        else:
            outcome.conflicts[path] = "changed by the template, deleted here: left deleted"
        return
    if ours == theirs.data:
        return
    if base is not None and ours == base.data:
        _write(target, theirs.data, None)
        outcome.updated.append(path)
        return
    merged, conflicts = _merge_text(ours, base.data if base else b"", theirs.data, labels)
    if merged is None:
        outcome.conflicts[path] = "binary file changed on both sides: kept yours"
        return
    _write(target, merged, None)
    if conflicts:
        outcome.conflicts[path] = f"{conflicts} conflict(s): resolve the markers"
    else:
        outcome.merged.append(path)


def _merge_text(
    ours: bytes, base: bytes, theirs: bytes, labels: tuple[str, str, str]
) -> tuple[bytes | None, int]:
    """`git merge-file` of three versions: (result, number of conflicts); None for binary."""
    if any(b"\0" in blob for blob in (ours, base, theirs)):
        return None, 0
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / name for name in ("ours", "base", "theirs")]
        for file, blob in zip(paths, (ours, base, theirs), strict=True):
            file.write_bytes(blob)
        command = ["git", "merge-file", "-L", labels[0], "-L", labels[1], "-L", labels[2]]
        result = subprocess.run([*command, *map(str, paths)], capture_output=True, check=False)
        if result.returncode < 0 or result.returncode > 127:
            raise TemplateError(f"git merge-file failed: {result.stderr.decode(errors='replace')}")
        return paths[0].read_bytes(), result.returncode


def _write(target: Path, data: bytes, mode: int | None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if mode is not None:
        target.chmod(mode)


def main(argv: list[str] | None = None) -> int:
    """Run the update and print what happened; exit 1 on conflicts, 2 on bad input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from",
        dest="source",
        help="template repository: a git URL or a local path (default: the recorded url)",
    )
    parser.add_argument("--to", help="template branch, tag or commit (default: its HEAD)")
    parser.add_argument("--allow-dirty", action="store_true", help="skip the clean-tree check")
    parser.add_argument("--project", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        recorded = read_answers_file(args.project.resolve()) or {}
        source = args.source or recorded.get("template", {}).get("url")
        if not source:
            raise TemplateError("pass --from with the template's git URL or path")
        if "://" not in source and Path(source).exists():
            source = str(Path(source).resolve())
        outcome = update(args.project, source, args.to, args.allow_dirty)
    except TemplateError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if outcome.old == outcome.new:
        print(f"update-template: already at {outcome.new[:9]}; nothing to do")
        return 0
    for label, paths in (
        ("added", outcome.added),
        ("updated", outcome.updated),
        ("merged", outcome.merged),
        ("removed", outcome.removed),
    ):
        for path in paths:
            print(f"  {label:<8} {path}")
    for path, why in outcome.conflicts.items():
        print(f"  CONFLICT {path}: {why}")
    print(f"update-template: {outcome.old[:9]} -> {outcome.new[:9]}")
    if outcome.conflicts:
        print(
            f"{len(outcome.conflicts)} file(s) need you: resolve them (search for '<<<<<<<'), "
            "run the tests, then commit. `git diff` shows everything the update changed."
        )
        return 1
    print("review `git diff`, run the tests, then commit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
