"""`nox -s update-template`: a three-way merge of template changes into a fork.

A small synthetic template (its own manifest) keeps these fast and exact: version 1 is
forked and edited, version 2 changes the same files, and the update must merge what it
can, mark what it cannot, and never drop the fork's own lines.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from init_project import init
from templating import ANSWERS_FILE, Answers, load_manifest
from update_template import main, update

ROOT = Path(__file__).resolve().parents[2]

MANIFEST = """\
[template]
name = "tpl"
version = "{version}"
url = "https://example.invalid/tpl"

[defaults]
name = "tpl"
owner = "tpl-org"

[[fields]]
files = ["pyproject.toml"]
pattern = 'name = "{{{{ name }}}}"'

[[fields]]
files = ["README.md"]
pattern = "# {{{{ title }}}}"
lines = "^# "

[examples]
paths = ["model_specs/example.yaml"]

[template_only]
paths = ["tests/template/**"]
"""
README = "# tpl\n\nIntro.\n\n## Usage\n\nRun it.\n\n## Help\n\nAsk.\n"
PYPROJECT = '[project]\nname = "tpl"\nversion = "0.1.0"\ndependencies = [\n  "numpy",\n]\n'
ANSWERS = Answers(name="fork", owner="acme")


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    return _git(root, "rev-parse", "HEAD")


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """Version 1 of a tiny template, committed."""
    root = tmp_path / "template"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _write(
        root,
        {
            "scripts/template/manifest.toml": MANIFEST.format(version="1.0.0"),
            "README.md": README,
            "pyproject.toml": PYPROJECT,
            "model_specs/example.yaml": "name: example\n",
            "noxfile.py": "SESSIONS = ['lint']\n",
            "old.txt": "to be removed upstream\n",
            "tests/template/test_x.py": "x = 1\n",
        },
    )
    _commit(root, "v1")
    return root


@pytest.fixture
def fork(template: Path, tmp_path: Path) -> Path:
    """`init` of version 1, committed as the fork's first commit."""
    root = tmp_path / "fork"
    init(template, ANSWERS, root)
    _git(root, "init", "-q", "-b", "main")
    _commit(root, "init")
    return root


def _release_v2(template: Path, **changes: str) -> str:
    _write(template, {"scripts/template/manifest.toml": MANIFEST.format(version="2.0.0")})
    _write(template, changes)
    (template / "old.txt").unlink()
    return _commit(template, "v2")


def test_init_of_the_synthetic_template(fork: Path, template: Path) -> None:
    assert (fork / "pyproject.toml").read_text().startswith('[project]\nname = "fork"')
    assert (fork / "README.md").read_text().startswith("# fork\n")
    assert not (fork / "tests").exists()
    recorded = json.loads((fork / ANSWERS_FILE).read_text())
    assert recorded["template"]["commit"] == _git(template, "rev-parse", "HEAD")


def test_clean_merge_keeps_the_forks_edits_and_takes_the_templates(
    fork: Path, template: Path
) -> None:
    # The fork edits the intro and adds a dependency; the template edits other lines.
    _write(fork, {"README.md": README.replace("# tpl", "# fork").replace("Intro.", "Our intro.")})
    pyproject = (fork / "pyproject.toml").read_text().replace('"numpy",', '"numpy",\n  "polars",')
    _write(fork, {"pyproject.toml": pyproject, "model_specs/mine.yaml": "name: mine\n"})
    _commit(fork, "our changes")
    new = _release_v2(
        template,
        **{
            "README.md": README.replace("Ask.", "Ask in discussions."),
            "noxfile.py": "SESSIONS = ['lint', 'tests']\n",
            "actions/new/action.yml": "name: new\n",
        },
    )
    outcome = update(fork, str(template), None)
    assert outcome.conflicts == {}
    assert outcome.new == new
    readme = (fork / "README.md").read_text()
    assert (
        readme.startswith("# fork\n") and "Our intro." in readme and "Ask in discussions." in readme
    )
    assert outcome.merged == ["README.md"]
    assert (fork / "noxfile.py").read_text() == "SESSIONS = ['lint', 'tests']\n"
    assert (fork / "actions/new/action.yml").is_file()
    assert not (fork / "old.txt").exists()
    assert '"polars"' in (fork / "pyproject.toml").read_text()
    assert (fork / "model_specs/mine.yaml").is_file()
    assert not (fork / "tests").exists()  # template-only files stay out
    recorded = json.loads((fork / ANSWERS_FILE).read_text())
    assert recorded["template"] == {**recorded["template"], "commit": new, "version": "2.0.0"}
    assert recorded["answers"]["name"] == "fork"
    _commit(fork, "update")
    assert update(fork, str(template), None).conflicts == {}  # at the new version: a no-op
    assert _git(fork, "status", "--porcelain") == ""


def test_conflicts_are_marked_listed_and_exit_1(
    fork: Path, template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(fork, {"noxfile.py": "SESSIONS = ['lint', 'ours']\n"})
    _write(fork, {"old.txt": "we changed this\n"})
    _commit(fork, "our changes")
    new = _release_v2(template, **{"noxfile.py": "SESSIONS = ['lint', 'theirs']\n"})
    code = main(["--from", str(template), "--project", str(fork)])
    assert code == 1
    merged = (fork / "noxfile.py").read_text()
    assert "<<<<<<< yours" in merged and "'ours'" in merged and "'theirs'" in merged
    assert f">>>>>>> template {new[:9]}" in merged
    assert (fork / "old.txt").read_text() == "we changed this\n"  # kept, not deleted
    out = capsys.readouterr().out
    assert "CONFLICT noxfile.py" in out and "CONFLICT old.txt" in out


def test_refuses_a_dirty_tree_and_a_project_without_answers(
    fork: Path, template: Path, tmp_path: Path
) -> None:
    _write(fork, {"README.md": "uncommitted\n"})
    with pytest.raises(Exception, match="uncommitted"):
        update(fork, str(template), None)
    assert main(["--from", str(template), "--project", str(tmp_path)]) == 2


FORK_README = "scripts/template/README.fork.md"


def test_update_to_a_tag_from_the_real_template(tmp_path: Path) -> None:
    """The real manifest renders at two template commits (base and theirs) into a fork."""
    template = tmp_path / "real"
    init(ROOT, Answers.from_dict(load_manifest(ROOT).defaults), template)
    (template / ANSWERS_FILE).unlink()  # a template tree carries no answers
    _git(template, "init", "-q", "-b", "main")
    _commit(template, "v1")
    fork = tmp_path / "fork"
    init(template, Answers(name="acme-models", owner="acme", examples=False), fork)
    _git(fork, "init", "-q", "-b", "main")
    _commit(fork, "init")
    # A fork's README: the fork README template, then the template README's manual (what
    # follows its marker); the template's own introduction never reaches the fork.
    own = (template / "README.md").read_text()
    own = own.replace("## Quickstart\n", "## About the template\n\n## Quickstart\n")
    fork_readme = (
        (template / FORK_README)
        .read_text()
        .replace("## Start here\n", "## New section\n\n## Start here\n")
    )
    _write(template, {"README.md": own + "\n## New manual section\n", FORK_README: fork_readme})
    _commit(template, "docs")
    _git(template, "tag", "v9")
    outcome = update(fork, str(template), "v9")
    assert outcome.conflicts == {} and outcome.updated == ["README.md", FORK_README]
    text = (fork / "README.md").read_text()
    assert "## New section\n" in text and text.endswith("## New manual section\n")
    assert "About the template" not in text
    assert 'name = "acme-models"' in (fork / "pyproject.toml").read_text()
