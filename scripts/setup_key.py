#!/usr/bin/env python3
"""The key of the setup action's virtual environment (standard library only).

    python3 scripts/setup_key.py [GROUP...]

prints `pipelines-venv-<os>-<implementation><X.Y.Z>-<arch>-<groups>-<hash>`: the resolved
interpreter that runs this script (not the requested `3.11`, so a runner image that moves
3.11.x gets a new environment), the dependency groups, and a hash of the template's
pyproject.toml and uv.lock (the files beside this script's folder). The setup action and
the offline workflow harness both call it, so they agree on the key.
"""

from __future__ import annotations

import hashlib
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK_FILES = ("pyproject.toml", "uv.lock")


def interpreter() -> str:
    """`cpython3.11.7-x86_64`: what a venv made from this interpreter depends on."""
    return f"{sys.implementation.name}{platform.python_version()}-{platform.machine()}"


def setup_key(groups: list[str], root: Path = ROOT) -> str:
    """The environment key for these dependency groups."""
    digest = hashlib.sha256()
    for name in LOCK_FILES:
        path = root / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    label = "+".join(groups) or "runtime"
    system = platform.system() or "unknown"
    return f"pipelines-venv-{system}-{interpreter()}-{label}-{digest.hexdigest()[:16]}"


if __name__ == "__main__":
    print(setup_key([g for arg in sys.argv[1:] for g in arg.split()]))
