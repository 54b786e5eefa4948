"""The registry boundary holds in the source: only `pipelines/registry/` imports MLflow for
tracking and registry work. Serving (the logged model's own code and its signature) is the
named exception."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pipelines"
ALLOWED = {
    "serving_entry.py": "the logged model's wrapper (serving)",
    "serving_legacy.py": "loads models logged before the serving module (serving)",
    "signature.py": "the logged model's signature (serving)",
}


def _mlflow_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "mlflow"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlflow":
            found.append(str(node.module))
    return found


def test_only_the_registry_package_imports_mlflow() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "registry" or relative.as_posix() in ALLOWED:
            continue
        if imports := _mlflow_imports(path):
            offenders[relative.as_posix()] = imports
    assert offenders == {}, f"MLflow outside pipelines/registry/: {offenders}"


def test_the_registry_package_is_where_mlflow_is_used() -> None:
    """Guard against the test passing because nothing imports MLflow at all."""
    used = [p for p in (PACKAGE / "registry").glob("*.py") if _mlflow_imports(p)]
    assert used, "pipelines/registry/ no longer imports MLflow: update this test"
