#!/usr/bin/env python3
"""Print `spec=model_specs/<model>.yaml` (or `.yml`) for a model name, for $GITHUB_OUTPUT.

    python3 scripts/find_spec.py MODEL [--root DIR]

Exit 2 when the name is not a plain file stem, or when no spec (or both spellings) exist.
Standard library only: the rollback workflow runs it before anything else needs the package.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SPEC_DIR = "model_specs"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def find_spec(model: str, root: Path) -> str:
    """The repository-relative spec path of `model`; ValueError says why there is none."""
    if not NAME_RE.fullmatch(model) or ".." in model:
        raise ValueError(f"{model!r} is not a model name (letters, digits, '.', '_', '-')")
    found = [f"{SPEC_DIR}/{model}{ext}" for ext in (".yaml", ".yml")]
    found = [path for path in found if (root / path).is_file()]
    if not found:
        raise ValueError(f"no spec {SPEC_DIR}/{model}.yaml or .yml under {root}")
    if len(found) > 1:
        raise ValueError(f"both {found[0]} and {found[1]} exist: keep one")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and print the output line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    try:
        print(f"spec={find_spec(args.model, args.root)}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
