"""`comment`: one pull-request comment per model, created once and then updated in place.

Each report starts with a hidden marker `<!-- pipelines-report:<name> -->`; the comment that
carries it is edited on every push instead of adding a new one, provided this bot wrote it:
its author is `--bot` (default `github-actions[bot]`, user type Bot) or the login the token
belongs to (`GET /user`, which a personal token answers and GITHUB_TOKEN refuses). A marker
in anyone else's comment is left alone and the bot posts its own. GitHub REST API through
urllib: `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, `GITHUB_API_URL` and the pull-request number
(`--pr`, else `PR_NUMBER`, else the event payload at `GITHUB_EVENT_PATH`, else, in a
`workflow_dispatch` run, the open pull request from the dispatched branch `GITHUB_REF_NAME`).
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config import find_root, load_config
from pipelines.errors import BadInput, InfraError
from pipelines.http import Retry, send
from pipelines.settings import settings

log = logging.getLogger("pipelines")

BOT = "github-actions[bot]"
MARKER_RE = re.compile(r"<!--\s*pipelines-report:([A-Za-z0-9._-]+)\s*-->")
MAX_BODY = 65_000  # GitHub refuses comment bodies over 65,536 characters
PAGE_SIZE = 100
RETRY = Retry(attempts=3, first_delay=0.5, max_delay=5.0)


def marker(name: str) -> str:
    """The hidden marker that identifies a model's comment."""
    return f"<!-- pipelines-report:{name} -->"


def marker_name(body: str) -> str | None:
    """The model name of the first marker in `body`, if any."""
    found = MARKER_RE.search(body)
    return found.group(1) if found else None


def fit_body(body: str) -> str:
    """Cut a body that GitHub would refuse, keeping its marker line first."""
    if len(body) <= MAX_BODY:
        return body
    note = "\n\n… report truncated; the full report is in the job summary.\n"
    return body[: MAX_BODY - len(note)] + note


@dataclass(frozen=True)
class GitHub:
    """The few REST calls the comment needs."""

    api_url: str
    repository: str
    token: str
    timeout: float = 30.0

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """One JSON request under `pipelines.http`'s retry policy; a 4xx is one line."""
        url = f"{self.api_url.rstrip('/')}{path}"
        if not url.startswith(("https://", "http://")):
            raise BadInput(f"GitHub API URL must be http(s): {self.api_url}")
        data = json.dumps(payload).encode() if payload is not None else None
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "pipelines-comment",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        server = urllib.parse.urlsplit(url).netloc
        response = send(
            req, operation=f"GitHub API {method} {path}", server=server, retry=RETRY,
            timeout=self.timeout,
        )  # fmt: skip
        if response.status >= 400:
            detail = response.body.decode(errors="replace")[:300]
            raise InfraError(f"GitHub API {method} {path}: {response.status} {detail}")
        return json.loads(response.body) if response.body else None

    def comments(self, pr: int) -> list[dict[str, Any]]:
        """All comments of a pull request (issue comments), page by page."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            path = f"/repos/{self.repository}/issues/{pr}/comments?per_page={PAGE_SIZE}&page={page}"
            batch = self.request("GET", path) or []
            found.extend(batch)
            if len(batch) < PAGE_SIZE:
                return found
            page += 1


def token_login(github: GitHub) -> str | None:
    """The login the token belongs to, or None when GitHub will not say (an installation
    token such as GITHUB_TOKEN gets 403 from `GET /user`)."""
    try:
        user = github.request("GET", "/user")
    except InfraError as exc:
        log.debug("comment: the token names no user (%s)", exc)
        return None
    login = user.get("login") if isinstance(user, dict) else None
    return str(login) if login else None


def written_by_us(comment: dict[str, Any], bot: str, login: str | None) -> bool:
    """Whether `comment` was written by the bot (login `bot`, type Bot) or by `login`."""
    user = comment.get("user")
    if not isinstance(user, dict):
        return False
    author = str(user.get("login") or "")
    if login is not None and author == login:
        return True
    return author == bot and user.get("type") == "Bot"


def upsert(
    github: GitHub, pr: int, body: str, *, bot: str = BOT, login: str | None = None
) -> tuple[str, int]:
    """Update this bot's comment with the body's marker, or create it: (action, id).

    Only a comment written by `bot` or by `login` (the token's own user) is updated; a
    marker copied into someone else's comment is ignored."""
    name = marker_name(body)
    if name is None:
        raise BadInput("report has no pipelines-report marker")
    body = fit_body(body)
    tag = marker(name)
    for existing in github.comments(pr):
        if tag in str(existing.get("body") or "") and written_by_us(existing, bot, login):
            comment_id = int(existing["id"])
            path = f"/repos/{github.repository}/issues/comments/{comment_id}"
            github.request("PATCH", path, {"body": body})
            return "updated", comment_id
    created = github.request(
        "POST", f"/repos/{github.repository}/issues/{pr}/comments", {"body": body}
    )
    return "created", int(created["id"])


def branch_pr(github: GitHub, branch: str) -> int | None:
    """The open pull request whose head is `branch` of this repository, if any."""
    owner = github.repository.split("/")[0]
    head = urllib.parse.quote(f"{owner}:{branch}", safe="")
    found = github.request("GET", f"/repos/{github.repository}/pulls?state=open&head={head}")
    numbers = sorted(int(p["number"]) for p in found or [])
    if len(numbers) > 1:
        log.warning(
            "comment: %d open pull requests from %s; using #%d", len(numbers), branch, numbers[0]
        )
    return numbers[0] if numbers else None


def pr_number(explicit: int | None, github: GitHub | None = None) -> int:
    """The pull-request number from `--pr`, `PR_NUMBER`, the event payload or, in a
    `workflow_dispatch` run (with `github`), the open pull request of the branch."""
    if explicit:
        return explicit
    env = settings()
    if env.text("PR_NUMBER").isdigit():
        return int(env.text("PR_NUMBER"))
    event_path = env.text("GITHUB_EVENT_PATH")
    if event_path and Path(event_path).is_file():
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
        if number:
            return int(number)
    if env.text("GITHUB_EVENT_NAME") == "workflow_dispatch" and github is not None:
        branch = env.text("GITHUB_REF_NAME")
        found = branch_pr(github, branch) if branch else None
        if found is not None:
            return found
        raise BadInput(f"no open pull request from branch {branch!r} to comment on")
    raise BadInput(
        "no pull-request number: pass --pr, set PR_NUMBER or run on a pull_request event"
    )


def report_path(source: str) -> Path:
    """A report file as given, or the `report.md` in the run directory of a spec path."""
    path = Path(source)
    if path.suffix == ".md":
        return path
    config = load_config(find_root(path.parent if path.parent.exists() else Path.cwd()))
    return config.run_dir(path.stem) / "report.md"


def expand(sources: list[str]) -> list[str]:
    """Sources as given, with glob patterns (`reports/*/report.md`) expanded and sorted."""
    found: list[str] = []
    for source in sources:
        if glob.has_magic(source):
            path = Path(source)
            base = Path(path.anchor) if path.is_absolute() else Path()
            pattern = str(path.relative_to(base)) if path.is_absolute() else source
            matches = sorted(str(m) for m in base.glob(pattern))
            if not matches:  # e.g. every model failed before its report step
                log.warning("comment: no report matches %s; nothing to post", source)
            found.extend(matches)
        else:
            found.append(source)
    return found


def handle(args: argparse.Namespace) -> int:
    """Create or update one comment per report."""
    env = settings()
    token, repository = env.text("GITHUB_TOKEN"), env.text("GITHUB_REPOSITORY")
    if not token or not repository:
        raise BadInput("GITHUB_TOKEN and GITHUB_REPOSITORY must be set")
    github = GitHub(env.text("GITHUB_API_URL"), repository, token)
    pr = pr_number(args.pr, github)
    login = token_login(github)
    for source in expand(args.sources):
        path = report_path(source)
        if not path.is_file():
            raise BadInput(f"no report at {path} (run `report` first)", file=source)
        text = path.read_text(encoding="utf-8")
        action, comment_id = upsert(github, pr, text, bot=args.bot, login=login)
        log.info("comment: %s comment %d on #%d from %s", action, comment_id, pr, path)
    return 0


def register(subparsers: Any) -> None:
    """Add the `comment` command."""
    parser = subparsers.add_parser(
        "comment",
        help="create or update one PR comment per model report",
        description=__doc__,
    )
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SPEC_OR_REPORT",
        help="spec files or report.md files (glob patterns allowed)",
    )
    parser.add_argument("--pr", type=int, help="pull-request number")
    parser.add_argument(
        "--bot",
        default=BOT,
        help=f"login of the bot whose comments are updated (default {BOT}; a GitHub App's "
        "token: <app-slug>[bot])",
    )
    parser.set_defaults(handler=handle)
