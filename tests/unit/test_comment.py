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


BOT = {"login": "github-actions[bot]", "type": "Bot"}
HUMAN = {"login": "mallory", "type": "User"}


def test_created_once_then_updated_in_place(github: Any, tmp_path: Path) -> None:
    github.state.comments[7] = [{"id": 1, "body": "a human comment", "user": HUMAN}]
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
    assert github.state.comments[7][1]["user"] == BOT


def test_a_marker_in_a_human_comment_is_left_alone(github: Any, tmp_path: Path) -> None:
    """A marker copied into someone else's comment (or a bot of another name) is never
    edited: the bot posts its own, then updates that one."""
    copied = {"id": 1, "body": comment.marker("wine") + "\nhand-written", "user": HUMAN}
    other_bot = {
        "id": 2,
        "body": comment.marker("wine") + "\nlint",
        "user": {"login": "linter[bot]", "type": "Bot"},
    }
    github.state.comments[5] = [copied, other_bot]
    assert main(["comment", str(_report(tmp_path, "wine", "f1 0.8")), "--pr", "5"]) == 0
    assert main(["comment", str(_report(tmp_path, "wine", "f1 0.9")), "--pr", "5"]) == 0
    thread = github.state.comments[5]
    assert [c["body"].splitlines()[-1] for c in thread[:2]] == ["hand-written", "lint"]
    assert len(thread) == 3 and thread[2]["user"] == BOT and "f1 0.9" in thread[2]["body"]
    assert github.state.edited_by_others == []


def test_a_personal_token_updates_its_own_users_comments(github: Any, tmp_path: Path) -> None:
    """With a token that names its user (`GET /user`), that user's marker comment is the
    bot's; github-actions[bot]'s is still recognised, a human's is not."""
    github.state.tokens["pat"] = {"login": "release-bot", "type": "User"}
    mine: dict[str, Any] = {
        "id": 1,
        "body": comment.marker("a") + "\nold",
        "user": github.state.tokens["pat"],
    }
    github.state.comments[6] = [{"id": 9, "body": comment.marker("a"), "user": HUMAN}, mine]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_TOKEN", "pat")
        assert main(["comment", str(_report(tmp_path, "a", "new")), "--pr", "6"]) == 0
    assert mine["body"].endswith("new\n") and len(github.state.comments[6]) == 2
    assert github.state.comments[6][0]["body"] == comment.marker("a")


def test_an_app_bot_named_by_bot_is_recognised(github: Any, tmp_path: Path) -> None:
    app = {"login": "models-app[bot]", "type": "Bot"}
    github.state.tokens["app"] = app
    ours: dict[str, Any] = {"id": 1, "body": comment.marker("a") + "\nold", "user": app}
    github.state.comments[8] = [ours]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_TOKEN", "app")
        report = str(_report(tmp_path, "a", "new"))
        assert main(["comment", report, "--pr", "8", "--bot", "models-app[bot]"]) == 0
    assert ours["body"].endswith("new\n") and len(github.state.comments[8]) == 1


def test_a_dispatched_run_comments_on_its_branchs_pull_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "workflows"))
    from github_monitor_stub import MonitorStub

    with MonitorStub() as gh:
        gh.state.pulls.append(
            {
                "number": 42,
                "state": "open",
                "head": {"ref": "monitor/retrain-a"},
                "owner": gh.state.repository.split("/")[0],
            }
        )
        for key, value in {
            "GITHUB_API_URL": gh.url,
            "GITHUB_REPOSITORY": gh.state.repository,
            "GITHUB_TOKEN": "t",
            "GITHUB_EVENT_NAME": "workflow_dispatch",
            "GITHUB_REF_NAME": "monitor/retrain-a",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("PR_NUMBER", raising=False)
        monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
        assert main(["comment", str(_report(tmp_path, "a", "x"))]) == 0
        assert [c["user"] for c in gh.state.comments[42]] == [BOT]
        monkeypatch.setenv("GITHUB_REF_NAME", "no-such-branch")
        assert main(["comment", str(_report(tmp_path, "a", "x"))]) == 2


def test_finds_marker_on_a_later_page(github: Any, tmp_path: Path) -> None:
    thread = [{"id": i, "body": f"noise {i}", "user": HUMAN} for i in range(150)]
    thread.append({"id": 999, "body": comment.marker("wine") + "\nold", "user": BOT})
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
