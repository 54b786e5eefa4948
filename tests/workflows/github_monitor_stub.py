"""The GitHub stub plus what monitoring calls: issues, pull requests, refs, contents and
workflow dispatches.

A token is the workflow's bot (`github-actions[bot]`) unless `state.tokens` names its user;
issues seeded by a test may name another author. Files written through the contents API are
kept per branch. `POST /actions/workflows/{id}/dispatches` answers 204 with no body, as
GitHub documents, 404 for a workflow it does not know and 422 for a ref that is no branch.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from github_stub import BOT_USER, GitHubState, GitHubStub, _Handler

BOT = BOT_USER["login"]


@dataclass
class MonitorState(GitHubState):
    """Issues, pull requests, branches (name -> sha) and files per branch."""

    issues: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    branches: dict[str, str] = field(default_factory=lambda: {"main": "0" * 40})
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # branch -> path -> bytes
    # workflow files that declare `workflow_dispatch`, and the dispatches received
    workflows: set[str] = field(default_factory=lambda: {"pull-request.yml"})
    dispatches: list[dict[str, Any]] = field(default_factory=list)

    def seed_issue(self, title: str, body: str, author: str) -> dict[str, Any]:
        issue = {
            "number": self.new_id(),
            "title": title,
            "body": body,
            "state": "open",
            "user": {"login": author, "type": "Bot" if author.endswith("[bot]") else "User"},
            "labels": [],
        }
        self.issues.append(issue)
        return issue


class _MonitorHandler(_Handler):
    state: MonitorState

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path.removeprefix("/api/v3"))
        repo = f"/repos/{self.state.repository}"
        rest = path.removeprefix(repo) if path.startswith(repo + "/") else None
        if rest is None or not re.match(r"/(issues|pulls|git|contents|actions)\b", rest):
            super()._dispatch(method)
            return
        if re.fullmatch(r"/issues/(\d+/comments|comments/\d+)", rest):  # the base stub's
            super()._dispatch(method)
            return
        body: Any = self._body() if method in {"POST", "PATCH", "PUT"} else None
        self.state.requests.append((method, path, body))
        if not self._authorized(method, path):
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self._monitor(method, rest, query, body)

    def _monitor(self, method: str, rest: str, query: dict[str, str], body: Any) -> None:
        state = self.state
        if rest == "/issues" and method == "GET":
            found = [
                i
                for i in state.issues
                if i["state"] == query.get("state", "open")
                and ("creator" not in query or i["user"]["login"] == query["creator"])
            ]
            self._send(200, found)
        elif rest == "/issues" and method == "POST":
            issue = {
                "number": state.new_id(),
                "title": body["title"],
                "body": body["body"],
                "state": "open",
                "user": self._caller(),
                "labels": [{"name": n} for n in body.get("labels", [])],
            }
            state.issues.append(issue)
            self._send(201, issue)
        elif (m := re.fullmatch(r"/issues/(\d+)", rest)) and method == "PATCH":
            issue = next((i for i in state.issues if i["number"] == int(m.group(1))), None)
            if issue is None:
                self._send(404, {"message": "Not Found"})
                return
            issue.update({k: v for k, v in body.items() if k in {"body", "state", "title"}})
            self._send(200, issue)
        elif (m := re.fullmatch(r"/git/ref/heads/(.+)", rest)) and method == "GET":
            sha = state.branches.get(m.group(1))
            self._send(
                *((200, {"object": {"sha": sha}}) if sha else (404, {"message": "Not Found"}))
            )
        elif rest == "/git/refs" and method == "POST":
            name = body["ref"].removeprefix("refs/heads/")
            if name in state.branches:
                self._send(422, {"message": "Reference already exists"})
                return
            state.branches[name] = body["sha"]
            state.files[name] = dict(state.files.get("main", {}))
            self._send(201, {"ref": body["ref"], "object": {"sha": body["sha"]}})
        elif (m := re.fullmatch(r"/git/refs/heads/(.+)", rest)) and method == "PATCH":
            state.branches[m.group(1)] = body["sha"]
            state.files[m.group(1)] = dict(state.files.get("main", {}))
            self._send(200, {"object": {"sha": body["sha"]}})
        elif (m := re.fullmatch(r"/contents/(.+)", rest)) and method == "GET":
            content = state.files.get(query.get("ref", "main"), {}).get(m.group(1))
            if content is None:
                self._send(404, {"message": "Not Found"})
                return
            self._send(200, {"sha": f"blob-{len(content)}", "path": m.group(1)})
        elif (m := re.fullmatch(r"/contents/(.+)", rest)) and method == "PUT":
            branch = body["branch"]
            if branch not in state.branches:
                self._send(404, {"message": "Branch not found"})
                return
            files = state.files.setdefault(branch, {})
            if m.group(1) in files and body.get("sha") != f"blob-{len(files[m.group(1)])}":
                self._send(409, {"message": "sha does not match"})
                return
            files[m.group(1)] = base64.b64decode(body["content"])
            state.branches[branch] = f"{state.new_id():040d}"  # each write is a new commit
            self._send(200, {"content": {"path": m.group(1)}})
        elif rest == "/pulls" and method == "GET":
            head = query.get("head", "")
            found = [
                p
                for p in state.pulls
                if p["state"] == "open" and f"{p['owner']}:{p['head']['ref']}" == head
            ]
            self._send(200, found)
        elif rest == "/pulls" and method == "POST":
            pull = {
                "number": state.new_id(),
                "title": body["title"],
                "body": body["body"],
                "state": "open",
                "head": {"ref": body["head"]},
                "base": {"ref": body["base"]},
                "owner": state.repository.split("/")[0],
                "user": self._caller(),
            }
            state.pulls.append(pull)
            self._send(201, pull)
        elif (m := re.fullmatch(r"/pulls/(\d+)", rest)) and method == "PATCH":
            pull = next((p for p in state.pulls if p["number"] == int(m.group(1))), None)
            if pull is None:
                self._send(404, {"message": "Not Found"})
                return
            pull.update({k: v for k, v in body.items() if k in {"body", "title", "state"}})
            self._send(200, pull)
        elif (m := re.fullmatch(r"/actions/workflows/([^/]+)/dispatches", rest)) and (
            method == "POST"
        ):
            if m.group(1) not in state.workflows:
                self._send(404, {"message": "Not Found"})
                return
            ref = str((body or {}).get("ref", "")).removeprefix("refs/heads/")
            if ref not in state.branches:
                self._send(422, {"message": f"No ref found for: {ref}"})
                return
            state.dispatches.append(
                {
                    "workflow": m.group(1),
                    "ref": ref,
                    "sha": state.branches[ref],
                    "inputs": dict((body or {}).get("inputs") or {}),
                    "by": self._caller()["login"],
                }
            )
            self._send(204)
        else:
            self._send(404, {"message": "Not Found"})


class MonitorStub(GitHubStub):
    """`with MonitorStub() as gh:` the stub with issues, pulls, refs and contents."""

    def __init__(self, state: MonitorState | None = None) -> None:
        import threading
        from http.server import ThreadingHTTPServer

        self.state = state or MonitorState()
        handler = type("Handler", (_MonitorHandler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
