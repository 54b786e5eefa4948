"""One version: `pipelines.__version__` is the source; everything that names a version agrees."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import pipelines

ROOT = Path(__file__).resolve().parents[2]
SEMVER = r"\d+\.\d+\.\d+"


def test_pyproject_reads_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "pipelines.__version__"}
    assert re.fullmatch(SEMVER, pipelines.__version__)


def test_the_installed_metadata_carries_the_same_version() -> None:
    """The environment's editable install (rebuilt on a version change: [tool.uv] cache-keys)."""
    name = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed in this environment")
    assert installed == pipelines.__version__


def test_the_template_manifest_names_the_same_version() -> None:
    path = ROOT / "scripts" / "template" / "manifest.toml"
    if not path.is_file():
        pytest.skip("a fork made by `nox -s init` keeps no template manifest of its own")
    manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    assert manifest["template"]["version"] == pipelines.__version__


def test_the_changelog_latest_release_is_the_version() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    releases = [h.strip() for h in headings if h.strip() != "Unreleased"]
    assert releases, "CHANGELOG.md has no release heading"
    assert releases[0] == pipelines.__version__


def test_every_version_tag_in_the_docs_is_the_version() -> None:
    """Callers are told to pin `@vX.Y.Z` and `template-ref: vX.Y.Z`: only the current tag."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "actions").glob("*/README.md"))
    files += sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    found: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for kind, ref in re.findall(rf"(@|template-ref: |--to )v({SEMVER})\b", text):
            found.setdefault(f"{kind}{ref}" if kind == "--to " else ref, set()).add(
                str(path.relative_to(ROOT))
            )
    if (ROOT / ".template-answers.json").is_file():
        # A fork: its callers pin its own tags (v0.1.0 at first, README), one at a time;
        # `update-template --to` names a template tag.
        assert len({k for k in found if not k.startswith("--to ")}) <= 1, found
        return
    found = {k.removeprefix("--to "): v for k, v in found.items()}
    assert found, "no @vX.Y.Z reference found: the pattern no longer matches the docs"
    assert set(found) == {pipelines.__version__}, found
