"""The PR comment's mermaid chart renders with the mermaid CLI in headless Chromium.

Needs node, `mmdc` (@mermaid-js/mermaid-cli from the npm registry) and Debian's chromium:
`scripts/ci/install-mermaid.sh` installs them. Skips, naming what is missing, without them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.report.context import chart

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EVALUATION = {
    "primary": "ndcg_at_10",
    "candidate": {"ndcg_at_10": 0.2723},
    "candidate_interval": {"metric": "ndcg_at_10", "low": 0.2641, "high": 0.2807},
    "champion": {"version": "3", "comparable": True},
    "champion_metrics": {"ndcg_at_10": 0.2588},
    "baseline_metrics": {"ndcg_at_10": 0.122},
    "history": [
        {"version": "1", "value": 0.241},
        {"version": "2", "value": 0.2502},
        {"version": "3", "value": 0.2611},
    ],
}


def _tools() -> tuple[str, str]:
    missing = []
    if shutil.which("node") is None:
        missing.append("node")
    prefix = Path(os.environ.get("MERMAID_CLI_PREFIX", Path.home() / ".cache" / "mermaid-cli"))
    mmdc = os.environ.get("MMDC") or shutil.which("mmdc") or str(prefix / "node_modules/.bin/mmdc")
    if not Path(mmdc).is_file():
        missing.append("mmdc (@mermaid-js/mermaid-cli)")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).is_file():
        missing.append(f"chromium at {chromium}")
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: run scripts/ci/install-mermaid.sh")
    return mmdc, chromium


def _render(source: str, folder: Path) -> subprocess.CompletedProcess[str]:
    mmdc, chromium = _tools()
    config = folder / "puppeteer.json"
    config.write_text(json.dumps({"executablePath": chromium, "args": CHROMIUM_FLAGS}))
    (folder / "chart.mmd").write_text(source, encoding="utf-8")
    return subprocess.run(
        [mmdc, "-q", "-i", "chart.mmd", "-o", "chart.svg", "-p", str(config)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
    )


def _comment_block(source: str) -> str:
    """The chart as the PR comment template wraps it."""
    from pipelines.report import environment

    template = environment().get_template("pr_comment.md.j2")
    text = "".join(template.blocks["chart"](template.new_context({"chart": source})))
    return text


def test_the_report_chart_renders_without_error(tmp_path: Path) -> None:
    source = chart(EVALUATION)
    assert source is not None
    text = _comment_block(source)
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block is not None, "the comment carries a mermaid block"
    done = _render(block.group(1), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    svg = (tmp_path / "chart.svg").read_text(encoding="utf-8")
    assert "Syntax error" not in svg
    assert "candidate high" in svg and "baseline" in svg
    plot = svg.split('<g class="bar-plot-0">', 1)[1].split("</g>", 1)[0]
    assert plot.count("<rect") == len(EVALUATION["history"]) + 5  # one bar per category


def test_a_broken_chart_fails_to_render(tmp_path: Path) -> None:
    source = chart(EVALUATION)
    assert source is not None
    broken = _render(source.replace("x-axis [", "x-axis [[").replace("bar [", "bars ("), tmp_path)
    assert broken.returncode != 0 or "Syntax error" in (tmp_path / "chart.svg").read_text()
