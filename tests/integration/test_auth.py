"""Least-privilege credentials on MLflow's own auth server (`mlflow server --app-name
basic-auth`, MLflow 3.17), set up by running the shell blocks of docs/mlflow-auth.md as
they are written, and the CLI run as a subprocess exactly as CI runs it.

Two users: `ci-pull-request` (role: EDIT on every experiment; DENY on each model's
promotion-lock name) and `ci-release` (role: EDIT on every experiment and every registered
model). `default_permission = READ`. The admin creates each model's registered model before
its first pull request.

What holds on 3.17:
- the pull-request user runs the whole pull-request pipeline, reading the champion it is
  compared with; it cannot register a version, move an alias, tag a registered model or
  take a promotion lock (403, whether through the CLI or the REST API itself);
- the release user promotes and rolls back;
- the DENY on the lock name lives on an admin-made role, so it survives the lock being
  created and deleted by releases (per-user grants on a registered-model name are swept
  when a model of that name is deleted).

What does not hold on 3.17 (checked here so a change in MLflow shows up):
- any authenticated user may create a registered model under a free name and gets MANAGE
  on it; a DENY on `registered_model` would stop that but also stops reading, so the
  project's models must exist before a pull request runs (the pull-request pipeline of a
  model that does not exist fails closed: MLflow answers 403, not "does not exist").
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, SPECS, registry_snapshot
from tests.integration.support import (
    Cli,
    MlflowServer,
    assert_clean_failure,
    clean_env,
    ok,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOC = ROOT / "docs" / "mlflow-auth.md"
ADMIN_PASSWORD = "admin-pw-9f3e2c71"
PR_USER, PR_PASSWORD = "ci-pull-request", "pr-pw-4b8d1a66"
RELEASE_USER, RELEASE_PASSWORD = "ci-release", "release-pw-7c2e9b05"
MODEL = "auth-flow"  # set up as docs/mlflow-auth.md says (created first, lock denied)
NEW_MODEL = "auth-new"  # never set up: its first pull request must fail closed

AUTH_INI = """\
[mlflow]
default_permission = READ
database_uri = sqlite:///{db}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# Cache verified passwords: a publish makes ~100 requests, each a PBKDF2 check otherwise.
auth_cache_ttl_seconds = 60
"""


def pr_creds() -> dict[str, str]:
    return {"MLFLOW_TRACKING_USERNAME": PR_USER, "MLFLOW_TRACKING_PASSWORD": PR_PASSWORD}


def release_creds() -> dict[str, str]:
    return {"MLFLOW_TRACKING_USERNAME": RELEASE_USER, "MLFLOW_TRACKING_PASSWORD": RELEASE_PASSWORD}


def doc_blocks() -> list[str]:
    """The bash blocks of docs/mlflow-auth.md that this test runs (marked in the doc)."""
    text = DOC.read_text(encoding="utf-8")
    pattern = r"<!-- tests/integration/test_auth\.py runs this block[^>]*-->\s*```bash\n(.*?)```"
    blocks = re.findall(pattern, text, flags=re.DOTALL)
    assert len(blocks) == 2, "docs/mlflow-auth.md: expected the users block and the model block"
    return blocks


def write_spec(repo: Path, model: str, tag: str, c: float) -> Path:
    """The breast-cancer spec under another model name and `C`. The index latency gate is
    relaxed: these tests are about credentials, on a shared machine."""
    text = (SPECS / "breast-cancer.yaml").read_text(encoding="utf-8")
    text = text.replace("name: breast-cancer", f"name: {model}")
    text = text.replace("params: {C: 0.5, max_iter: 1000}", f"params: {{C: {c}, max_iter: 1000}}")
    text = text.replace("max_p99_ms: 5}", "max_p99_ms: 1000}")
    folder = repo / "model_specs" / tag
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def as_user(user: str, password: str) -> Iterator[None]:
    """In-process MLflow calls as `user` (MLflow reads the credentials per request)."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = user
    os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def snapshot(uri: str) -> dict[str, object]:
    """`registry_snapshot`, read as the admin."""
    with as_user("admin", ADMIN_PASSWORD):
        return registry_snapshot(uri)


def aliases(uri: str, model: str = MODEL) -> dict[str, str]:
    status, body = rest(
        uri, "admin", ADMIN_PASSWORD, "GET", f"/api/2.0/mlflow/registered-models/get?name={model}"
    )
    assert status == 200, body
    found = json.loads(body)["registered_model"].get("aliases", [])
    return {a["alias"]: str(a["version"]) for a in found}


def model_exists(uri: str, name: str) -> bool:
    status, body = rest(
        uri, "admin", ADMIN_PASSWORD, "GET", f"/api/2.0/mlflow/registered-models/get?name={name}"
    )
    assert status in (200, 404), body
    return status == 200


def rest(
    uri: str,
    user: str,
    password: str,
    method: str,
    path: str,
    body: dict[str, object] | None = None,
) -> tuple[int, str]:
    """One REST call with basic auth: HTTP status and body."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        uri + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


@dataclass
class AuthWorld:
    """One basic-auth server set up as the doc says, and what the shared setup produced."""

    server: MlflowServer
    cli: Cli
    v1: Path
    v2: Path
    new: Path
    pr_first_run: subprocess.CompletedProcess[str]
    release_first_promote: subprocess.CompletedProcess[str]
    pr_second_run: subprocess.CompletedProcess[str]

    @property
    def uri(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _migrated_db: Path) -> Iterator[AuthWorld]:
    """A basic-auth server, users and roles made by the doc's own commands, then: the
    pull-request pipeline of v1 (no champion yet), v1 promoted to champion by the release
    user, the pull-request pipeline of v2 (compared with champion 1)."""
    base = tmp_path_factory.mktemp("auth")
    shutil.copy(_migrated_db, base / "mlflow.db")
    ini = base / "auth.ini"
    ini.write_text(AUTH_INI.format(db=base / "basic_auth.db"), encoding="utf-8")
    server = MlflowServer(
        f"sqlite:///{base / 'mlflow.db'}",
        base / "artifacts",
        base,
        app_name="basic-auth",
        extra_env={
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "tests-only-csrf-key",
        },
        start_timeout=240,
    )
    server.start()
    try:
        users, models = doc_blocks()
        setup = subprocess.run(
            ["bash", "-c", users + "\n" + models],
            env=clean_env(
                MLFLOW_TRACKING_URI=server.url,
                MLFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
                PR_PASSWORD=PR_PASSWORD,
                RELEASE_PASSWORD=RELEASE_PASSWORD,
                MODELS=MODEL,
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        repo = base / "repo"
        (repo / "model_specs").mkdir(parents=True)
        shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
        shutil.copytree(ROOT / "data", repo / "data")
        cli = Cli(server.url, base / "runs")
        v1 = write_spec(repo, MODEL, "v1", c=0.5)
        v2 = write_spec(repo, MODEL, "v2", c=0.7)
        new = write_spec(repo, NEW_MODEL, "new", c=0.5)
        first = cli("run", str(v1), **pr_creds())
        promoted = cli("promote", str(v1), "--alias", "champion", **release_creds())
        second = cli("run", str(v2), **pr_creds())
        yield AuthWorld(server, cli, v1, v2, new, first, promoted, second)
    finally:
        server.stop()


def test_pull_request_pipeline_passes(world: AuthWorld) -> None:
    """`run SPEC` with the pull-request user: passes with no champion, and again when a
    champion exists (it reads the champion and compares with it)."""
    ok(world.pr_first_run)
    ok(world.release_first_promote)
    assert aliases(world.uri) == {"champion": "1"}
    ok(world.pr_second_run)
    runs = world.cli.runs / MODEL
    publish = json.loads((runs / "publish.json").read_text(encoding="utf-8"))
    with as_user("admin", ADMIN_PASSWORD):
        from mlflow.tracking import MlflowClient

        run = MlflowClient(world.uri, world.uri).get_run(publish["run_id"])
    assert run.data.tags["pipelines.compared_with"] == "1"
    assert run.data.tags["pipelines.gate"] == "passed"


@pytest.mark.parametrize("alias", ["staging", "champion"])
def test_pull_request_credential_cannot_promote(world: AuthWorld, alias: str) -> None:
    """`promote` with the pull-request user: exit 3, one line naming the operation and the
    server, the registry unchanged, no promotion lock left behind."""
    before = snapshot(world.uri)
    result = world.cli("promote", str(world.v2), "--alias", alias, **pr_creds())
    line = assert_clean_failure(result, 3)
    assert f"creation of registered model {MODEL}.promotion-lock" in line, line
    assert world.uri in line and "PERMISSION_DENIED" in line, line
    assert "not found" not in line.lower()
    assert snapshot(world.uri) == before
    assert not model_exists(world.uri, f"{MODEL}.promotion-lock")


def test_release_credential_promotes_and_rolls_back(world: AuthWorld) -> None:
    """The release user moves staging and champion; rollback passes with it and exits 3,
    changing nothing, with the pull-request user."""
    ok(world.cli("promote", str(world.v2), "--alias", "staging", **release_creds()))
    assert aliases(world.uri) == {"champion": "1", "staging": "2"}
    ok(world.cli("promote", str(world.v2), "--alias", "champion", **release_creds()))
    assert aliases(world.uri) == {"champion": "2", "staging": "2"}
    assert not model_exists(world.uri, f"{MODEL}.promotion-lock")

    before = snapshot(world.uri)
    refused = world.cli("rollback", str(world.v2), **pr_creds())
    line = assert_clean_failure(refused, 3)
    assert "PERMISSION_DENIED" in line and world.uri in line, line
    assert snapshot(world.uri) == before

    ok(world.cli("rollback", str(world.v2), **release_creds()))
    assert aliases(world.uri) == {"champion": "1", "staging": "2"}
    assert not model_exists(world.uri, f"{MODEL}.promotion-lock")


def test_pull_request_user_denied_at_the_api(world: AuthWorld) -> None:
    """Not only the CLI: the REST API itself refuses the pull-request user every registry
    write on the project's model, and its DENY on the lock name outlived the lock being
    created and deleted by a release. What 3.17 still allows it is checked too."""
    uri = world.uri
    publish = json.loads((world.cli.runs / MODEL / "publish.json").read_text(encoding="utf-8"))
    before = snapshot(uri)
    writes = [
        (
            "POST",
            "/api/2.0/mlflow/model-versions/create",
            {"name": MODEL, "source": publish["model_uri"], "run_id": publish["run_id"]},
        ),
        (
            "POST",
            "/api/2.0/mlflow/registered-models/alias",
            {"name": MODEL, "alias": "champion", "version": "1"},
        ),
        ("DELETE", "/api/2.0/mlflow/registered-models/alias", {"name": MODEL, "alias": "champion"}),
        (
            "POST",
            "/api/2.0/mlflow/registered-models/set-tag",
            {"name": MODEL, "key": "k", "value": "v"},
        ),
        (
            "POST",
            "/api/2.0/mlflow/model-versions/set-tag",
            {"name": MODEL, "version": "1", "key": "k", "value": "v"},
        ),
        ("POST", "/api/2.0/mlflow/registered-models/create", {"name": f"{MODEL}.promotion-lock"}),
        ("POST", "/api/2.0/mlflow/registered-models/create", {"name": MODEL}),  # exists already
    ]
    for method, path, body in writes:
        status, text = rest(uri, PR_USER, PR_PASSWORD, method, path, body)
        assert status in (400, 403), (path, body, status, text)
        if path != "/api/2.0/mlflow/registered-models/create" or body["name"] != MODEL:
            assert status == 403, (path, body, status, text)
    assert snapshot(uri) == before
    # It reads what the pull-request pipeline needs.
    status, text = rest(
        uri,
        PR_USER,
        PR_PASSWORD,
        "GET",
        f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion",
    )
    assert status == 200, text

    # Does not hold on 3.17: a free name can be created by anyone, who then manages it.
    other = "auth-not-a-spec"
    status, text = rest(
        uri,
        PR_USER,
        PR_PASSWORD,
        "POST",
        "/api/2.0/mlflow/registered-models/create",
        {"name": other},
    )
    assert status == 200, text
    status, text = rest(
        uri,
        PR_USER,
        PR_PASSWORD,
        "DELETE",
        "/api/2.0/mlflow/registered-models/delete",
        {"name": other},
    )
    assert status == 200, text


def test_wrong_password_is_one_line(world: AuthWorld) -> None:
    """A wrong password: exit 3, one line naming the server, never "not found"."""
    result = world.cli(
        "promote", str(world.v1), "--alias", "staging",
        MLFLOW_TRACKING_USERNAME=PR_USER, MLFLOW_TRACKING_PASSWORD="wrong-password",
    )  # fmt: skip
    line = assert_clean_failure(result, 3)
    assert world.uri in line, line
    assert "not found" not in line.lower() and "does not exist" not in line.lower(), line
    assert "wrong-password" not in result.stderr


def test_model_not_created_first_fails_closed(world: AuthWorld) -> None:
    """The pull-request pipeline of a model whose registered model the admin has not
    created: MLflow answers 403 to the champion lookup; exit 3, one line, nothing created."""
    before = snapshot(world.uri)
    result = world.cli("run", str(world.new), **pr_creds())
    line = assert_clean_failure(result, 3)
    assert f"lookup of {NEW_MODEL}@champion" in line and "PERMISSION_DENIED" in line, line
    after = snapshot(world.uri)
    assert not model_exists(world.uri, NEW_MODEL)
    assert {k: v for k, v in after.items() if k != "__runs__"} == {
        k: v for k, v in before.items() if k != "__runs__"
    }
