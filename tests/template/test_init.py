"""`nox -s init`: render the template with answers; the result is a passing project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from init_project import init, main
from templating import ANSWERS_FILE, Answers, load_manifest, render_tree

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load_manifest(ROOT)
TEMPLATE = Answers.from_dict(MANIFEST.defaults)

ANSWER_SETS = {
    "renamed": Answers(name="churn-models", owner="acme"),
    "no-examples": Answers(name="fraud", owner="bank-ml", examples=False),
    "custom": Answers(
        name="recs.v2_team",
        owner="Shop42",
        title="Recommendations for Shop42",
        reviewers="@Shop42/recsys @alice",
        experiment_prefix="shop/recs/",
    ),
}


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def test_the_template_is_its_own_rendering_and_every_field_is_found() -> None:
    rendered = render_tree(ROOT, TEMPLATE)
    for path, file in rendered.files.items():
        assert file.data == (ROOT / path).read_bytes(), path
    for number, field in enumerate(MANIFEST.fields):
        present = any(any(ROOT.glob(pattern)) for pattern in field.files)
        if field.required and present:
            assert rendered.matches[number] > 0, f"manifest field not found: {field.pattern}"
    for path in MANIFEST.examples:
        assert (ROOT / path).is_file(), f"manifest lists a missing example: {path}"


def test_answers_are_validated() -> None:
    for bad in ({"name": "Has Space", "owner": "a"}, {"name": "ok", "owner": "-bad"}):
        with pytest.raises(Exception, match="--"):
            Answers(**bad)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="reviewers"):
        Answers(name="ok", owner="acme", reviewers="not-a-handle")


@pytest.mark.parametrize("key", sorted(ANSWER_SETS))
def test_init_renders_identity_and_is_idempotent(key: str, tmp_path: Path) -> None:
    answers = ANSWER_SETS[key]
    dest = tmp_path / "project"
    written, _ = init(ROOT, answers, dest)
    assert "pyproject.toml" in written and ANSWERS_FILE in written
    pyproject = tomllib.loads((dest / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == answers.name
    assert pyproject["tool"]["pipelines"]["experiment_prefix"] == answers.experiment_prefix
    assert (dest / "README.md").read_text(encoding="utf-8").startswith(f"# {answers.title}\n")
    codeowners = (dest / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    for rule in ("model_specs/", "data/", "pipelines/", ".github/", "/uv.lock"):
        assert f"{rule} {answers.reviewers}\n" in codeowners, rule
    assert TEMPLATE.reviewers not in codeowners
    recorded = json.loads((dest / ANSWERS_FILE).read_text(encoding="utf-8"))
    assert recorded["answers"] == answers.context()
    assert recorded["template"]["version"] == MANIFEST.version
    assert not (dest / "tests" / "template").exists()
    examples = [p for p in MANIFEST.examples if (dest / p).exists()]
    assert examples == ([] if not answers.examples else list(MANIFEST.examples))

    before = _tree(dest)
    assert init(ROOT, answers, dest) == ([], [])  # same answers again: nothing changes
    assert _tree(dest) == before
    assert init(dest, answers) == ([], [])  # in place inside the new project, too
    assert _tree(dest) == before


def test_init_in_place_renames_a_fork_again_and_drops_examples(tmp_path: Path) -> None:
    first = Answers(name="first-name", owner="acme")
    dest = tmp_path / "fork"
    init(ROOT, first, dest)
    second = Answers(name="second-name", owner="other", examples=False)
    written, removed = init(dest, second)
    assert "pyproject.toml" in written
    assert set(MANIFEST.examples) <= set(removed)
    assert all(p in MANIFEST.examples or p.startswith("tests/") for p in removed)
    assert "tests/unit/test_scaffold.py" not in removed
    text = (dest / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "second-name"' in text and "first-name" not in text
    assert "@other/ml-reviewers" in (dest / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    assert init(dest, second) == ([], [])
    with pytest.raises(Exception, match="examples were dropped"):
        init(dest, Answers(name="second-name", owner="other"))


def test_cli_reports_bad_answers_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--name", "Bad Name", "--owner", "acme", "--dest", str(tmp_path / "x")]) == 2
    assert "error: --name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["--name", "ok", "--owner", "acme", "--dest", str(ROOT / "inside")]) == 2


def _run(dest: Path, *command: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(dest), "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("MLFLOW_TRACKING_URI", "PIPELINES_RUNS_DIR", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=dest, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, (
        f"{' '.join(command)}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(ANSWER_SETS))
def test_rendered_project_passes_its_fast_tests_and_lint(key: str, tmp_path: Path) -> None:
    dest = tmp_path / "project"
    init(ROOT, ANSWER_SETS[key], dest)
    _run(dest, "ruff", "check", "--no-cache", ".")
    _run(dest, "ruff", "format", "--no-cache", "--check", ".")
    _run(dest, "pipelines", "schema", "--check")
    specs = sorted(str(p.relative_to(dest)) for p in (dest / "model_specs").glob("*.yaml"))
    if specs:
        _run(dest, "pipelines", "-q", "validate", *specs)
    _run(dest, "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider")


# Where a fork may still name the template: the upstream it records (for updates) and the
# default used only when pyproject.toml has no experiment_prefix (a fork's always has one).
UPSTREAM_RECORDS = {"scripts/template/manifest.toml", ANSWERS_FILE, "pipelines/config.py"}


def _identity_strings(answers: Answers) -> list[str]:
    return [answers.name, answers.owner, answers.experiment_prefix, answers.reviewers]


def test_a_fork_names_the_template_only_where_it_records_its_upstream(tmp_path: Path) -> None:
    """No file of a renamed fork (tests included) hard-codes the template's identity, so no
    test can pass only under the template's name."""
    dest = tmp_path / "project"
    init(ROOT, ANSWER_SETS["custom"], dest)
    leaks = [
        f"{path}: {needle!r}"
        for path, data in _tree(dest).items()
        if path not in UPSTREAM_RECORDS
        for needle in _identity_strings(TEMPLATE)
        if needle.encode() in data
    ]
    assert leaks == []


def _tests_reading_identity(dest: Path) -> list[str]:
    """Test files of the fork that read its configuration or identity at run time."""
    readers = ("load_config", "experiment_prefix", "pipelines.config", "template-answers")
    return sorted(
        str(p.relative_to(dest))
        for p in (dest / "tests").rglob("test_*.py")
        if any(word in p.read_text(encoding="utf-8") for word in readers)
    )


@pytest.mark.slow
def test_a_fork_passes_the_tests_that_read_its_identity(tmp_path: Path) -> None:
    """A fork with new answers (name, owner, experiment prefix) runs, slow ones included,
    every test that reads its identity and the end-to-end suite (which runs the pipeline
    under the fork's configuration), except act runs. The fork's fast suite runs in
    `test_rendered_project_passes_its_fast_tests_and_lint`; the scan above covers the rest."""
    dest = tmp_path / "project"
    init(ROOT, ANSWER_SETS["custom"], dest)
    selected = sorted({*_tests_reading_identity(dest), "tests/e2e"})
    assert "tests/integration/test_faults.py" in selected  # the selection finds its readers
    _run(
        dest,
        "pytest",
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        "-m",
        "not (workflows and slow)",
        *selected,
    )


def test_the_lock_file_follows_a_rename(tmp_path: Path) -> None:
    """`uv sync --locked` (nox, CI, the setup action) needs the lock's own entry renamed."""
    import shutil

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    dest = tmp_path / "project"
    init(ROOT, ANSWER_SETS["custom"], dest)
    assert f'name = "{ANSWER_SETS["custom"].name}"' in (dest / "uv.lock").read_text()
    result = subprocess.run(
        [uv, "lock", "--check", "--offline"], cwd=dest, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_a_fork_gets_its_own_readme_and_pins_its_own_first_tag(tmp_path: Path) -> None:
    """A new fork's README is about the fork (name, owner, how to start), not the template;
    the callers' pins in its workflows and docs name the fork's first tag, which that README
    says how to create, never a template tag the fork does not have."""
    answers = ANSWER_SETS["renamed"]
    dest = tmp_path / "project"
    init(ROOT, answers, dest)
    readme = (dest / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# {answers.title}\n")
    assert f"{answers.owner}/{answers.name}" in readme and "nox -s new-spec" in readme
    assert "Fork the template" not in readme and TEMPLATE.name not in readme
    assert "## Quickstart" not in readme and "### Metrics" in readme  # the manual is kept
    assert f"template version {MANIFEST.version}" in readme
    assert 'git tag -a v0.1.0 -m "churn-models 0.1.0"' in readme
    template_tag = f"v{MANIFEST.version}"
    pins: list[str] = []
    for pattern in (".github/workflows/*.yml", "docs/*.md", "actions/*/README.md"):
        for path in sorted(dest.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            assert f"@{template_tag}" not in text and f"template-ref: {template_tag}" not in text
            pins += [line for line in text.splitlines() if "@v0.1.0" in line]
    assert any(f"uses: {answers.owner}/{answers.name}/.github/workflows/" in p for p in pins)
    # what a fork runs itself refers to its own folders, never to a tag
    for path in sorted((dest / ".github" / "workflows").glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("uses:") and "/actions/" not in line.split("@")[0]:
                assert line.split("uses:")[1].strip().startswith(("./", "actions/")), line
    # update-template names the template's own tag, which the template has
    fork_doc = (dest / "docs" / "fork.md").read_text(encoding="utf-8")
    assert f"--to {template_tag}" in fork_doc
    # rendered again, in place: the fork keeps its own README
    (dest / "README.md").write_text(readme + "\nOur notes.\n", encoding="utf-8")
    assert init(dest, answers) == ([], [])
    assert (dest / "README.md").read_text(encoding="utf-8").endswith("Our notes.\n")
