"""`monitor-alert`: the GitHub side of a monitoring report.

- `issue REPORT`: one issue per model, found by its hidden marker among the open issues
  the workflow's bot opened (an issue anyone else wrote is never touched): opened on the
  first alert, updated on the next ones, closed with a comment when the model is healthy.
- `retrain-pr REPORT SPEC`: one pull request per model from branch `monitor/retrain-<model>`
  that re-pins the spec's data to the fresh snapshot: the training file with the fresh
  batch appended, and the new sha256 in the spec. The usual pull-request pipeline then
  retrains and gates the candidate against the champion. Both files are written through
  the REST API (contents), so the job needs no git credentials on disk.

What starts that pipeline: GitHub starts no workflow for events made with GITHUB_TOKEN
(only workflow_dispatch and repository_dispatch). With `PIPELINES_RETRAIN_TOKEN` set (a
fine-grained personal token, or a GitHub App's installation token minted in the job), the
branch and the pull request are written with it and their `pull_request` events start the
pipeline as for any pull request. Without it they are written with GITHUB_TOKEN, and the
pull-request
workflow (`--workflow`, default pull-request.yml) is dispatched on the branch; its checks
report on the branch's head commit under the same names.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import logging
import re
import sys
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipelines.comment import GitHub
from pipelines.data.sources import sha256_file
from pipelines.errors import BadInput, InfraError
from pipelines.github_output import write_github_output
from pipelines.monitor.record import MonitorReport
from pipelines.monitor.report import marker, render
from pipelines.settings import settings
from pipelines.spec import LoadedSpec, load_spec

log = logging.getLogger("pipelines")

BOT = "github-actions[bot]"
LABEL = "monitoring"
PAGE = 100
RETRAIN_TOKEN = "PIPELINES_RETRAIN_TOKEN"  # noqa: S105 (the variable's name, not a value)
PR_WORKFLOW = "pull-request.yml"


def github_from_env() -> GitHub:
    """The REST client from GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL."""
    env = settings()
    token, repository = env.text("GITHUB_TOKEN"), env.text("GITHUB_REPOSITORY")
    if not token or not repository:
        raise BadInput("GITHUB_TOKEN and GITHUB_REPOSITORY must be set")
    return GitHub(env.text("GITHUB_API_URL"), repository, token)


def read_report(path: Path) -> dict[str, Any]:
    """A report.json written by `monitor` (or the first one inside a folder)."""
    if path.is_dir():
        found = sorted(path.rglob("report.json"))
        if not found:
            raise BadInput("no report.json in this folder", file=path)
        path = found[0]
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the monitoring report: {exc}", file=path) from exc
    try:
        report = MonitorReport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise BadInput(f"not a monitoring report: {where}: {first['msg']}", file=path) from exc
    plain: dict[str, Any] = report.model_dump()
    return plain


def find_issue(github: GitHub, model: str, bot: str) -> dict[str, Any] | None:
    """The open issue of `model` opened by `bot` (marker in the body), if any."""
    tag = marker(model)
    creator = urllib.parse.quote(bot)
    page = 1
    while True:
        path = (
            f"/repos/{github.repository}/issues?state=open&creator={creator}"
            f"&per_page={PAGE}&page={page}"
        )
        batch = github.request("GET", path) or []
        for issue in batch:
            if "pull_request" in issue:
                continue
            author = str((issue.get("user") or {}).get("login", ""))
            if author == bot and tag in str(issue.get("body") or ""):
                return dict(issue)
        if len(batch) < PAGE:
            return None
        page += 1


def sync_issue(github: GitHub, report: dict[str, Any], bot: str = BOT) -> tuple[str, int | None]:
    """Open, update or close the model's issue to match the report: (action, number)."""
    model, status = str(report["model"]), str(report["status"])
    existing = find_issue(github, model, bot)
    base = f"/repos/{github.repository}/issues"
    body = render(report)
    if status == "alert":
        if existing is not None:
            github.request("PATCH", f"{base}/{existing['number']}", {"body": body})
            return "updated", int(existing["number"])
        title = issue_title(report)
        created = github.request("POST", base, {"title": title, "body": body, "labels": [LABEL]})
        return "opened", int(created["number"])
    if status == "healthy" and existing is not None:
        number = int(existing["number"])
        note = f"{marker(model)}\nHealthy again on the latest pass: closing.\n\n{body}"
        github.request("POST", f"{base}/{number}/comments", {"body": note})
        github.request(
            "PATCH", f"{base}/{number}", {"state": "closed", "state_reason": "completed"}
        )
        return "closed", number
    return "unchanged", None


def issue_title(report: dict[str, Any]) -> str:
    """The title of a model's monitoring issue."""
    drifted = ", ".join(report.get("drifted_columns") or []) or "quality"
    return f"Monitoring alert: {report['model']} ({drifted})"


# -- the retrain pull request ---------------------------------------------------------------


def retrain_files(loaded: LoadedSpec, report: dict[str, Any]) -> dict[str, bytes]:
    """The spec and the data file as the retrain branch holds them: the training file with
    the fresh batch's rows appended, and the spec's `data.sha256` re-pinned to it."""
    root = loaded.config.root.resolve()
    source = loaded.spec.data.source
    fresh = (report.get("fresh") or {}).get("path")
    if source.startswith(("sklearn:", "https://", "http://")) or not fresh:
        raise BadInput(
            "a retrain pull request needs the training data and the fresh batch in the "
            f"repository (data.source is {source}, the fresh batch is "
            f"{(report.get('fresh') or {}).get('origin')})"
        )
    train_path, fresh_path = root / source, root / str(fresh)
    if sha256_file(fresh_path) != report["fresh"]["sha256"]:
        raise BadInput(f"{fresh}: changed since it was monitored", file=fresh)
    train = train_path.read_bytes()
    fresh_bytes = fresh_path.read_bytes()
    train_header, _, _ = train.partition(b"\n")
    fresh_header, _, fresh_rows = fresh_bytes.partition(b"\n")
    if train_header.strip() != fresh_header.strip():
        raise BadInput(f"{fresh}: header differs from {source}", file=fresh)
    data = train + (b"" if train.endswith(b"\n") else b"\n") + fresh_rows
    digest = hashlib.sha256(data).hexdigest()
    line = loaded.line_of("data", "sha256")
    lines = loaded.path.read_text(encoding="utf-8").splitlines(keepends=True)
    if line is None or loaded.spec.data.sha256 is None:
        raise loaded.error("the spec pins no data.sha256 to update", "data", "sha256")
    lines[line - 1] = re.sub(r"[0-9a-f]{64}", digest, lines[line - 1], count=1)
    spec_rel = loaded.path.relative_to(root).as_posix()
    return {source: data, spec_rel: "".join(lines).encode("utf-8")}


def retrain_branch(model: str) -> str:
    """The branch of a model's retrain pull request."""
    return f"monitor/retrain-{model}"


def retrain_title(model: str) -> str:
    """The title of a model's retrain pull request."""
    return f"Retrain {model} on fresh data"


def retrain_body(loaded: LoadedSpec, report: dict[str, Any]) -> str:
    """The body of a model's retrain pull request (marker, alerts, what changes, report)."""
    model = loaded.spec.name
    return (
        f"<!-- pipelines-retrain:{model} -->\n"
        f"Monitoring alerted on `{model}` (champion version {report.get('version')}): "
        f"{', '.join(report.get('alerts') or [])}.\n\n"
        f"This pull request re-pins `{loaded.spec.data.source}` to the training data with "
        f"the fresh batch `{report['fresh']['origin']}` appended; the pull-request pipeline "
        f"retrains the model and gates it against the champion.\n\n" + render(report)
    )


def open_retrain_pr(github: GitHub, loaded: LoadedSpec, report: dict[str, Any]) -> tuple[str, int]:
    """Create or refresh branch `monitor/retrain-<model>` and its one pull request."""
    model = loaded.spec.name
    files = retrain_files(loaded, report)
    repo = f"/repos/{github.repository}"
    base = str(github.request("GET", repo)["default_branch"])
    base_sha = github.request("GET", f"{repo}/git/ref/heads/{_q(base)}")["object"]["sha"]
    branch = retrain_branch(model)
    owner = github.repository.split("/")[0]
    head = urllib.parse.quote(f"{owner}:{branch}")
    open_prs = github.request("GET", f"{repo}/pulls?state=open&head={head}&base={_q(base)}") or []
    if not open_prs:  # start the branch afresh from the default branch
        try:
            github.request(
                "POST", f"{repo}/git/refs", {"ref": f"refs/heads/{branch}", "sha": base_sha}
            )
        except InfraError as exc:
            if " 422 " not in str(exc):
                raise
            github.request(
                "PATCH", f"{repo}/git/refs/heads/{_q(branch)}", {"sha": base_sha, "force": True}
            )
    message = f"Retrain {model} on data with the fresh batch {report['fresh']['origin']}"
    for path, content in files.items():
        current = _blob_sha(github, f"{repo}/contents/{_q(path)}?ref={_q(branch)}")
        payload: dict[str, Any] = {
            "message": message,
            "content": base64.b64encode(content).decode("ascii"),
            "branch": branch,
        }
        if current:
            payload["sha"] = current
        github.request("PUT", f"{repo}/contents/{_q(path)}", payload)
    body = retrain_body(loaded, report)
    if open_prs:
        number = int(open_prs[0]["number"])
        github.request("PATCH", f"{repo}/pulls/{number}", {"body": body})
        return "updated", number
    created = github.request(
        "POST",
        f"{repo}/pulls",
        {"title": retrain_title(model), "head": branch, "base": base, "body": body},
    )
    return "opened", int(created["number"])


def dispatch_pipeline(github: GitHub, workflow: str, branch: str) -> None:
    """Start `workflow` (a file name in .github/workflows) on `branch` with workflow_dispatch:
    the one event GITHUB_TOKEN may start a workflow with."""
    path = f"/repos/{github.repository}/actions/workflows/{_q(workflow)}/dispatches"
    github.request("POST", path, {"ref": branch})


def retrain(
    github: GitHub,
    loaded: LoadedSpec,
    report: dict[str, Any],
    retrain_token: str = "",
    workflow: str = PR_WORKFLOW,
) -> tuple[str, int, str]:
    """Open or refresh the retrain pull request and make sure its pipeline starts:
    (action, number, how) where `how` is `pull_request` (written with `retrain_token`, whose
    events start workflows) or `workflow_dispatch` (written with GitHub's token, then
    `workflow` dispatched on the branch)."""
    if retrain_token:
        action, number = open_retrain_pr(replace(github, token=retrain_token), loaded, report)
        return action, number, "pull_request"
    action, number = open_retrain_pr(github, loaded, report)
    dispatch_pipeline(github, workflow, retrain_branch(loaded.spec.name))
    return action, number, "workflow_dispatch"


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="/")


def _blob_sha(github: GitHub, path: str) -> str | None:
    try:
        found = github.request("GET", path)
    except InfraError as exc:
        if " 404 " in str(exc):
            return None
        raise
    return str(found["sha"]) if isinstance(found, dict) and "sha" in found else None


def preview_issue(report: dict[str, Any], bot: str = BOT) -> str:
    """What `issue` would do with this report, as text (no GitHub call)."""
    model, status = str(report["model"]), str(report["status"])
    who = f"opened by {bot} with marker {marker(model)}"
    if status == "alert":
        return (
            f"issue: open one, or update the open one {who}\n"
            f"title: {issue_title(report)}\nlabels: {LABEL}\nbody:\n{render(report)}"
        )
    if status == "healthy":
        return f"issue: close the open one {who}, if any, with this comment:\n{render(report)}"
    return f"issue: none ({model} is {status})"


def preview_retrain(loaded: LoadedSpec, report: dict[str, Any]) -> str:
    """What `retrain-pr` would open for this report, as text (no GitHub call)."""
    model = loaded.spec.name
    if report["status"] != "alert":
        return f"retrain pull request: none ({model} is {report['status']})"
    root = loaded.config.root.resolve()
    lines = [
        f"retrain pull request: branch {retrain_branch(model)} from the default branch",
        f"title: {retrain_title(model)}",
        "files changed:",
    ]
    for path, content in retrain_files(loaded, report).items():
        before = (root / path).read_bytes()
        old, new = (hashlib.sha256(b).hexdigest()[:12] for b in (before, content))
        lines.append(f"  {path}: {len(before)} -> {len(content)} bytes, sha256 {old} -> {new}")
    lines += ["body:", retrain_body(loaded, report)]
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    """Run one subcommand."""
    report = read_report(args.report)
    if args.dry_run:
        previews = [preview_issue(report, args.bot)] if args.action == "issue" else []
        if args.action == "retrain-pr" or args.spec is not None:
            if args.spec is None:
                raise BadInput("retrain-pr needs the model's spec file")
            previews.append(preview_retrain(load_spec(args.spec), report))
        sys.stdout.write("(dry run: no GitHub call)\n" + "\n\n".join(previews) + "\n")
        return 0
    github = github_from_env()
    if args.action == "issue":
        action, number = sync_issue(github, report, args.bot)
        log.info(
            "%s: monitoring issue %s%s", report["model"], action, f" (#{number})" if number else ""
        )
        write_github_output({"issue-action": action, "issue": str(number or "")})
        return 0
    if report["status"] != "alert":
        log.info("%s: %s: no retrain pull request", report["model"], report["status"])
        return 0
    if args.spec is None:
        raise BadInput("retrain-pr needs the model's spec file")
    token = settings().text(RETRAIN_TOKEN)
    action, number, how = retrain(github, load_spec(args.spec), report, token, args.workflow)
    if how == "pull_request":
        log.info(
            "%s: retrain pull request %s (#%d) with %s: its events start the pipeline",
            report["model"],
            action,
            number,
            RETRAIN_TOKEN,
        )
    else:
        log.info(
            "%s: retrain pull request %s (#%d) with GITHUB_TOKEN, which starts no workflow: "
            "%s dispatched on %s (set %s to let the pull request start it)",
            report["model"],
            action,
            number,
            args.workflow,
            retrain_branch(str(report["model"])),
            RETRAIN_TOKEN,
        )
    write_github_output({"pr-action": action, "pr": str(number), "pipeline-trigger": how})
    return 0


def register(subparsers: Any) -> None:
    """Add the `monitor-alert` command."""
    parser = subparsers.add_parser(
        "monitor-alert",
        help="open/update/close the monitoring issue, or the retrain PR",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["issue", "retrain-pr"])
    parser.add_argument("report", type=Path, help="report.json written by `monitor`")
    parser.add_argument("spec", type=Path, nargs="?", help="the model's spec (retrain-pr)")
    parser.add_argument("--bot", default=BOT, help=f"login of the workflow's bot (default {BOT})")
    parser.add_argument(
        "--workflow",
        default=PR_WORKFLOW,
        help=f"workflow dispatched on the retrain branch without {RETRAIN_TOKEN} "
        f"(default {PR_WORKFLOW})",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the issue (and, given SPEC, the retrain pull request) this report would "
        "open: title, body, branch, files changed; call no GitHub API, need no token",
    )
    parser.set_defaults(handler=handle)
