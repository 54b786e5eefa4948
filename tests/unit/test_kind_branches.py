"""No code outside a kind's own modules branches on the task kind: what differs between
kinds sits behind `pipelines.kinds.Kind` and the `Task` protocol (pipelines/tasks/)."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.kinds import kinds

PACKAGE = Path(__file__).resolve().parents[2] / "pipelines"
# Where kinds live: their modules, and the registry that names them.
OWN = ("tasks/", "kinds.py")
NAMES = "|".join(kinds())
BRANCH = re.compile(
    rf"""(?<!dtype\.)\b(task|kind)\s*(==|!=)"""  # task == ..., bundle.task != ..., kind == ...
    rf"""|\.task\s+(not\s+)?in\b"""  # spec.task in (...)
    rf"""|(==|!=)\s*["']({NAMES})["']|["']({NAMES})["']\s*(==|!=)"""  # x == "retrieval"
    rf"""|get_(task|kind)\(\s*["']"""  # get_task("retrieval"): one kind by name
)
# path: (number of branches, why they stay)
ALLOWED = {
    "serving_legacy.py": (
        2,
        "the frozen pyfunc of models logged before serving.py: only the built-in kinds were "
        "ever logged that way, and no new model uses it",
    ),
    "steps/smoke.py": (
        1,
        "smoke checks a retrieval answer excludes the user's seen items; owned by the serving "
        "rework, which is to ask the server for it",
    ),
}


def _branches() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name.startswith(OWN):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if BRANCH.search(code):
                found.setdefault(name, []).append(f"{name}:{number}: {line.strip()}")
    return found


def test_the_pattern_sees_a_branch_on_the_kind() -> None:
    for line in (
        'if spec.task == "retrieval":',
        "retrieval = server.bundle.task == 'retrieval'",
        'if loaded.spec.task in ("classification", "regression"):',
        'classify = "classification" == task',
        'task = get_task("retrieval")',
        "if kind == 'regression':",
    ):
        assert BRANCH.search(line), line
    for line in (
        "task = get_task(loaded.spec.task)",
        'if kind.target == "class":',
        "if values.dtype.kind != 'f':",
    ):
        assert not BRANCH.search(line), line


def test_no_module_outside_the_kinds_branches_on_the_kind() -> None:
    found = _branches()
    unexpected = {
        name: lines
        for name, lines in found.items()
        if name not in ALLOWED or len(lines) != ALLOWED[name][0]
    }
    assert not unexpected, (
        "put what differs between kinds behind pipelines.kinds.Kind or the Task protocol: "
        + "; ".join(line for lines in unexpected.values() for line in lines)
    )
    stale = sorted(set(ALLOWED) - set(found))
    assert not stale, f"allowed branches that are gone (drop them from ALLOWED): {stale}"
