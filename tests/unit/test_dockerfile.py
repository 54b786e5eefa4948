"""scripts/docker/Dockerfile runs what `python -m pipelines serve` accepts (docker itself is
not run here): its command line parses as the serve command and its options, it copies
files that exist, installs from the lock, and stops on SIGTERM."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipelines.cli import build_parser
from pipelines.steps.serve import TARGET, parse_options

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "scripts" / "docker" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [tuple(line.split(None, 1)) for line in text.splitlines() if line.strip()]  # type: ignore[misc]


def test_the_dockerfile_command_is_a_serve_command_line() -> None:
    found = dict(_instructions())
    entrypoint, command = json.loads(found["ENTRYPOINT"]), json.loads(found["CMD"])
    assert entrypoint[1:] == ["-m", "pipelines", "serve"]
    assert entrypoint[0].startswith("/app/.venv/bin/")
    args = build_parser().parse_args(["serve", *command])
    assert args.command == "serve" and TARGET.fullmatch(args.target)
    options, rest = parse_options(list(args.options))
    assert rest == [] and not options.mlflow
    assert options.host == "0.0.0.0" and options.workers >= 2
    assert f"EXPOSE {options.port}" in DOCKERFILE.read_text()
    assert found["STOPSIGNAL"] == "SIGTERM"


def test_the_dockerfile_copies_what_exists_and_installs_from_the_lock() -> None:
    steps = _instructions()
    copies = [rest.split() for word, rest in steps if word == "COPY" and "--from" not in rest]
    assert copies
    for *sources, _ in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert "uv sync --locked" in runs
    noxfile = (ROOT / "noxfile.py").read_text()
    python = re.search(r'PYTHON = "([\d.]+)"', noxfile)
    assert python and f"FROM python:{python[1]}-slim" in DOCKERFILE.read_text()
