"""`comment`: one PR comment per model, found by its hidden marker, against a fake GitHub."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pipelines import comment
from pipelines.cli import main


def _load_stub() -> ModuleType:
    path = Path(__file__).parents[1] / "workflows" / "github_stub.py"
    spec = importlib.util.spec_from_file_location("github_stub", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["github_stub"] = module
    spec.loader.exec_module(module)
    return module


stub = _load_stub()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with stub.GitHubStub() as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", server.state.repository)
        monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
        monkeypatch.delenv("PR_NUMBER", raising=False)
        monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
        yield server


def _report(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.md"
    path.write_text(f"{comment.marker(name)}\n## {name}\n{text}\n")
    return path


def test_created_once_then_updated_in_place(github: Any, tmp_path: Path) -> None:
    github.state.comments[7] = [{"id": 1, "body": "a human comment"}]
    first = _report(tmp_path, "item-recs", "ndcg 0.10")
    other = _report(tmp_path, "wine", "f1 0.9")
    assert main(["comment", str(first), str(other), "--pr", "7"]) == 0
    assert main(["comment", str(_report(tmp_path, "item-recs", "ndcg 0.12")), "--pr", "7"]) == 0
    bodies = [c["body"] for c in github.state.comments[7]]
    assert len(bodies) == 3
    assert bodies[0] == "a human comment"
    assert "ndcg 0.12" in bodies[1] and "ndcg 0.10" not in bodies[1]
    assert bodies[1].startswith("<!-- pipelines-report:item-recs -->")
    methods = [m for m, *_ in github.state.requests if m != "GET"]
    assert methods == ["POST", "POST", "PATCH"]


def test_finds_marker_on_a_later_page(github: Any, tmp_path: Path) -> None:
    thread = [{"id": i, "body": f"noise {i}"} for i in range(150)]
    thread.append({"id": 999, "body": comment.marker("wine") + "\nold"})
    github.state.comments[3] = thread
    assert main(["comment", str(_report(tmp_path, "wine", "new")), "--pr", "3"]) == 0
    assert github.state.comments[3][-1]["body"].endswith("new\n")
    assert len(github.state.comments[3]) == 151


def test_pr_number_from_event(github: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 12, "pull_request": {"number": 12}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert main(["comment", str(_report(tmp_path, "wine", "x"))]) == 0
    assert len(github.state.comments[12]) == 1


def test_report_without_marker_is_bad_input(github: Any, tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("no marker")
    assert main(["comment", str(path), "--pr", "1"]) == 2


def test_api_error_is_infra(github: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/else")
    assert main(["comment", str(_report(tmp_path, "wine", "x")), "--pr", "1"]) == 3


def test_missing_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert main(["comment", str(_report(tmp_path, "wine", "x")), "--pr", "1"]) == 2


def test_long_body_is_cut_keeping_marker() -> None:
    body = comment.marker("m") + "\n" + "x" * 70_000
    cut = comment.fit_body(body)
    assert len(cut) <= comment.MAX_BODY
    assert comment.marker_name(cut) == "m"


def test_glob_of_reports(github: Any, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.md").write_text(comment.marker(name) + "\nx\n")
    assert main(["comment", str(tmp_path / "*" / "report.md"), "--pr", "4"]) == 0
    assert len(github.state.comments[4]) == 2
    assert main(["comment", str(tmp_path / "none" / "*.md"), "--pr", "4"]) == 0
    assert len(github.state.comments[4]) == 2
