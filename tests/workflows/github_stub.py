"""A tiny in-memory fake of the GitHub REST API endpoints the template calls.

github.com cannot be reached from tests; this serves issue comments, environments,
deployment branch policies, branch protection, users and teams on 127.0.0.1.

Who calls: a token listed in `GitHubState.tokens` is that user (a PAT: `GET /user` answers
with its login); any other token is the workflow's `GITHUB_TOKEN`, acting as
`github-actions[bot]` (type Bot), for which `GET /user` answers 403 as GitHub does. Every
comment carries its author as `user: {login, type}`, as GitHub's API returns it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT_USER: dict[str, str] = {"login": "github-actions[bot]", "type": "Bot"}
NO_REVIEWERS_MESSAGE = (
    "Failed to create the environment protection rule: required reviewers are not "
    "available for this repository's plan"
)


@dataclass
class GitHubState:
    """Everything the fake remembers; tests read and seed it directly."""

    repository: str = "acme/models"
    default_branch: str = "main"
    reviewers_allowed: bool = True
    visibility: str = "public"
    # GET /orgs/{org} shows `plan` to the organization's owners only: None = not shown.
    plan: str | None = None
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    branch_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    protections: dict[str, dict[str, Any]] = field(default_factory=dict)
    rulesets: dict[int, dict[str, Any]] = field(default_factory=dict)
    # secret names: "" for the repository's, else the environment's name (values never kept)
    secrets: dict[str, set[str]] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=lambda: {"alice": 101, "bob": 102})
    teams: dict[str, int] = field(default_factory=lambda: {"acme/ml": 201})
    # token -> the user it belongs to (`{"login", "type"}`); unlisted: github-actions[bot]
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    # (login of the caller, method, path) of every authenticated request
    callers: list[tuple[str, str, str]] = field(default_factory=list)
    edited_by_others: list[int] = field(default_factory=list)  # comment ids
    next_id: int = 1000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class _Handler(BaseHTTPRequestHandler):
    state: GitHubState

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, payload: Any = None) -> None:
        raw = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _caller(self) -> dict[str, str]:
        """The user behind the request's token (the workflow's bot when unlisted)."""
        token = (self.headers.get("Authorization") or "").split(" ", 1)[-1]
        return dict(self.state.tokens.get(token, BOT_USER))

    def _authorized(self, method: str, path: str) -> bool:
        """False (401 sent) without a token; else the caller is recorded."""
        if not (self.headers.get("Authorization") or "").startswith(("Bearer ", "token ")):
            self._send(401, {"message": "Requires authentication"})
            return False
        self.state.callers.append((self._caller()["login"], method, path))
        return True

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.removeprefix("/api/v3")
        body: Any = self._body() if method in {"POST", "PATCH", "PUT"} else None
        state = self.state
        state.requests.append((method, path, body))
        if not self._authorized(method, path):
            return
        repo = f"/repos/{state.repository}"
        owner = state.repository.split("/")[0]
        if method == "GET" and path == repo:
            self._send(
                200,
                {
                    "full_name": state.repository,
                    "default_branch": state.default_branch,
                    "private": state.visibility != "public",
                    "visibility": state.visibility,
                    "owner": {"login": owner, "type": "Organization"},
                },
            )
            return
        if method == "GET" and path == "/user":
            caller = self._caller()
            if caller == BOT_USER:  # an installation token (GITHUB_TOKEN) has no user
                self._send(403, {"message": "Resource not accessible by integration"})
            else:
                self._send(200, caller)
            return
        if method == "GET" and path == f"/orgs/{owner}":
            org: dict[str, Any] = {"login": owner, "type": "Organization"}
            if state.plan is not None:
                org["plan"] = {"name": state.plan, "seats": 5, "filled_seats": 3}
            self._send(200, org)
            return
        if match := re.fullmatch(r"/users/([^/]+)", path):
            user_id = state.users.get(match.group(1))
            self._send(
                *(
                    (200, {"login": match.group(1), "id": user_id})
                    if user_id
                    else (404, {"message": "Not Found"})
                )
            )
            return
        if match := re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)", path):
            team_id = state.teams.get(f"{match.group(1)}/{match.group(2)}")
            self._send(
                *(
                    (200, {"slug": match.group(2), "id": team_id})
                    if team_id
                    else (404, {"message": "Not Found"})
                )
            )
            return
        if not path.startswith(repo + "/"):
            self._send(404, {"message": "Not Found"})
            return
        rest = path.removeprefix(repo)
        if match := re.fullmatch(r"/issues/(\d+)/comments", rest):
            pr = int(match.group(1))
            thread = state.comments.setdefault(pr, [])
            if method == "GET":
                query = parse_qs(url.query)
                per_page = int(query.get("per_page", ["30"])[0])
                page = int(query.get("page", ["1"])[0])
                self._send(200, thread[(page - 1) * per_page : page * per_page])
            else:
                comment = {"id": state.new_id(), "body": body["body"], "user": self._caller()}
                thread.append(comment)
                self._send(201, comment)
            return
        if (match := re.fullmatch(r"/issues/comments/(\d+)", rest)) and method == "PATCH":
            for thread in state.comments.values():
                for comment in thread:
                    if comment["id"] == int(match.group(1)):
                        if comment.get("user", {}).get("login") != self._caller()["login"]:
                            # GitHub lets a repository writer edit anyone's comment: record it
                            state.edited_by_others.append(comment["id"])
                        comment["body"] = body["body"]
                        self._send(200, comment)
                        return
            self._send(404, {"message": "Not Found"})
            return
        if match := re.fullmatch(r"/environments/([^/]+)", rest):
            self._environment(method, match.group(1), body)
            return
        if match := re.fullmatch(r"/environments/([^/]+)/deployment-branch-policies", rest):
            policies = state.branch_policies.setdefault(match.group(1), [])
            if method == "GET":
                self._send(200, {"total_count": len(policies), "branch_policies": policies})
            else:
                policy = {
                    "id": state.new_id(),
                    "name": body["name"],
                    "type": body.get("type", "branch"),
                }
                policies.append(policy)
                self._send(200, policy)
            return
        if (match := re.fullmatch(r"(?:/environments/([^/]+))?(?:/actions)?/secrets", rest)) and (
            method == "GET"
        ):
            names = sorted(state.secrets.get(match.group(1) or "", set()))
            self._send(200, {"total_count": len(names), "secrets": [{"name": n} for n in names]})
            return
        if rest == "/rulesets" or rest.startswith("/rulesets?"):
            if method == "GET":
                self._send(200, list(state.rulesets.values()))
            else:
                ruleset = {"id": state.new_id(), **body}
                state.rulesets[ruleset["id"]] = ruleset
                self._send(201, ruleset)
            return
        if (match := re.fullmatch(r"/rulesets/(\d+)", rest)) and method == "PUT":
            ruleset = {"id": int(match.group(1)), **body}
            state.rulesets[ruleset["id"]] = ruleset
            self._send(200, ruleset)
            return
        if (match := re.fullmatch(r"/branches/(.+)/protection", rest)) and method == "PUT":
            state.protections[match.group(1)] = body
            self._send(200, body)
            return
        self._send(404, {"message": "Not Found"})

    def _environment(self, method: str, name: str, body: Any) -> None:
        state = self.state
        if method == "GET":
            env = state.environments.get(name)
            self._send(*((200, env) if env else (404, {"message": "Not Found"})))
            return
        reviewers = (body or {}).get("reviewers") or []
        if reviewers and not state.reviewers_allowed:
            self._send(422, {"message": NO_REVIEWERS_MESSAGE})
            return
        rules: list[dict[str, Any]] = []
        if reviewers:
            rules.append(
                {
                    "type": "required_reviewers",
                    "reviewers": [
                        {"type": r["type"], "reviewer": {"id": r["id"]}} for r in reviewers
                    ],
                }
            )
        env = {
            "name": name,
            "protection_rules": rules,
            "deployment_branch_policy": (body or {}).get("deployment_branch_policy"),
            "prevent_self_review": bool((body or {}).get("prevent_self_review")),
        }
        state.environments[name] = env
        self._send(200, env)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")


class GitHubStub:
    """`with GitHubStub() as gh:` serves on `gh.url` until the block ends."""

    def __init__(self, state: GitHubState | None = None) -> None:
        self.state = state or GitHubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> GitHubStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
