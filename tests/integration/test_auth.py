"""Least-privilege credentials on MLflow's own auth server (`mlflow server --app-name
basic-auth`, MLflow 3.17), set up by running the shell blocks of docs/mlflow-auth.md as
they are written, and the CLI run as a subprocess exactly as CI runs it.

Two users: `ci-pull-request` (role: EDIT on each model's pull-request experiment only; DENY
on each model's promotion-lock name) and `ci-release` (role: EDIT on every experiment and
every registered model). `default_permission = READ`. The admin creates each model's
registered model, release experiment and pull-request experiment before its first pull
request. The release runs as release.yml runs it: `run --reuse` under the release user,
`promote --alias staging` on the run it published, `smoke`, then `promote --alias champion`
handed that run id and the version's digest.

What holds on 3.17:
- the pull-request user runs the whole pull-request pipeline, reading the champion it is
  compared with; it cannot register a version, move an alias, tag a registered model or
  take a promotion lock (403, whether through the CLI or the REST API itself);
- it cannot write the release experiment: not the champion's files through the artifact
  proxy, not the release run's tags, not a run of its own there; a verdict it writes where
  it may (its pull-request experiment, dated ten years ahead) is never promoted or reused;
- files changed where MLflow's permissions do not reach (the artifact store itself) are
  detected: promote, smoke, serve and rollback exit 3 naming the file, nothing moves;
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
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pipelines.config import load_config
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
PREFIX = load_config(ROOT).experiment_prefix

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


def release(cli: Cli, spec: Path) -> list[subprocess.CompletedProcess[str]]:
    """The release as release.yml runs it, as the release user: build and publish into the
    release experiment (reusing a passing release verdict of the same content), move
    `staging` on that run, smoke-test, then move `champion` handed the run id and digest."""
    creds = release_creds()
    steps = [
        cli("run", str(spec), "--reuse", **creds),
        cli("promote", str(spec), "--alias", "staging", **creds),
        cli("smoke", str(spec), "--alias", "staging", **creds),
    ]
    if any(step.returncode for step in steps):
        return steps
    staged = json.loads((cli.runs / MODEL / "promote.json").read_text(encoding="utf-8"))
    champion = cli(
        "promote", str(spec), "--alias", "champion",
        "--run-id", staged["run_id"], "--digest", staged["digest"], **creds,
    )  # fmt: skip
    return [*steps, champion]


@dataclass
class AuthWorld:
    """One basic-auth server set up as the doc says, and what the shared setup produced."""

    server: MlflowServer
    cli: Cli
    base: Path
    v1: Path
    v2: Path
    new: Path
    pr_first_run: subprocess.CompletedProcess[str]
    first_release: list[subprocess.CompletedProcess[str]]
    pr_second_run: subprocess.CompletedProcess[str]
    pr_second_publish: dict[str, object]
    release_build_v2: subprocess.CompletedProcess[str]

    @property
    def uri(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _migrated_db: Path) -> Iterator[AuthWorld]:
    """A basic-auth server, users, roles and the model's experiments made by the doc's own
    commands, then: the pull-request pipeline of v1 (no champion yet), the release of v1 to
    champion, the pull-request pipeline of v2 (compared with champion 1), and the release
    build of v2 (published into the release experiment, not promoted)."""
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
            cwd=ROOT,  # the block reads the project's prefixes from pyproject.toml
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
        released = release(cli, v1)
        second = cli("run", str(v2), **pr_creds())
        second_publish = json.loads((cli.runs / MODEL / "publish.json").read_text("utf-8"))
        build_v2 = cli("run", str(v2), "--release", **release_creds())
        yield AuthWorld(
            server, cli, base, v1, v2, new, first, released, second, second_publish, build_v2
        )
    finally:
        server.stop()


def experiment_ids(uri: str) -> dict[str, str]:
    """Experiment name -> id, read as the admin."""
    status, body = rest(
        uri, "admin", ADMIN_PASSWORD, "POST", "/api/2.0/mlflow/experiments/search",
        {"max_results": 1000},
    )  # fmt: skip
    assert status == 200, body
    return {e["name"]: e["experiment_id"] for e in json.loads(body).get("experiments", [])}


def test_pull_request_pipeline_passes(world: AuthWorld) -> None:
    """`run SPEC` with the pull-request user: passes with no champion, and again when a
    champion exists (it reads the champion and compares with it)."""
    ok(world.pr_first_run)
    for step in world.first_release:
        ok(step)
    assert aliases(world.uri) == {"champion": "1", "staging": "1"}
    ok(world.pr_second_run)
    publish = world.pr_second_publish
    experiments = experiment_ids(world.uri)
    assert publish["experiment_id"] == experiments[f"{PREFIX}{MODEL}.pull-requests"]
    assert publish["release"] is False
    with as_user("admin", ADMIN_PASSWORD):
        from mlflow.tracking import MlflowClient

        run = MlflowClient(world.uri, world.uri).get_run(str(publish["run_id"]))
    assert run.data.tags["pipelines.compared_with"] == "1"
    assert run.data.tags["pipelines.gate"] == "passed"
    ok(world.release_build_v2)


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
        "promote", str(world.v2), "--alias", "staging",
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


# -- what ships is what was reviewed: the attempts of a pull-request credential's holder ----


def rest_raw(
    uri: str, user: str, password: str, method: str, path: str, data: bytes | None = None
) -> int:
    """One REST call with a raw body (the artifact proxy): the HTTP status."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        uri + path, data=data, method=method, headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass
class Stored:
    """A registered version as the server stores it."""

    version: str
    run_id: str
    experiment_id: str
    proxy_path: str  # `<experiment id>/models/<model id>/artifacts` under the artifact proxy
    folder: Path  # the same files in the server's artifact store on disk


def stored(world: AuthWorld, version: str) -> Stored:
    status, body = rest(
        world.uri, "admin", ADMIN_PASSWORD, "GET",
        f"/api/2.0/mlflow/model-versions/get?name={MODEL}&version={version}",
    )  # fmt: skip
    assert status == 200, body
    found = json.loads(body)["model_version"]
    model_id = found["source"].removeprefix("models:/")
    status, body = rest(
        world.uri, "admin", ADMIN_PASSWORD, "GET", f"/api/2.0/mlflow/logged-models/{model_id}"
    )
    assert status == 200, body
    info = json.loads(body)["model"]["info"]
    proxy_path = info["artifact_uri"].removeprefix("mlflow-artifacts:/").strip("/")
    folder = world.base / "artifacts" / proxy_path
    assert (folder / "MLmodel").is_file(), folder
    return Stored(version, found["run_id"], str(info["experiment_id"]), proxy_path, folder)


def test_pull_request_user_cannot_write_the_champions_files(world: AuthWorld) -> None:
    """PUT over the champion's model files (and a new file beside them) through the
    artifact proxy, or DELETE them, as the pull-request user: 403 each; the champion still
    answers as recorded."""
    champion = stored(world, aliases(world.uri)["champion"])
    assert champion.experiment_id == experiment_ids(world.uri)[f"{PREFIX}{MODEL}"]
    names = (
        "MLmodel",
        "artifacts/index.usearch",
        "artifacts/serving/estimator.pkl",
        "code/serving.py",
        "artifacts/serving/expected_answer.json",
        "attacker.txt",
    )
    for name in names:
        path = f"/api/2.0/mlflow-artifacts/artifacts/{champion.proxy_path}/{name}"
        assert rest_raw(world.uri, PR_USER, PR_PASSWORD, "PUT", path, b"attacker") == 403, name
        assert rest_raw(world.uri, PR_USER, PR_PASSWORD, "DELETE", path) == 403, name
    assert not (champion.folder / "attacker.txt").exists()
    ok(world.cli("smoke", str(world.v1), "--alias", "champion", **release_creds()))
    # The same path takes a write from a user allowed to write there (so the 403s above are
    # the permission, not a wrong path), and a file added beside the model is detected.
    probe = f"/api/2.0/mlflow-artifacts/artifacts/{champion.proxy_path}/probe.txt"
    assert rest_raw(world.uri, RELEASE_USER, RELEASE_PASSWORD, "PUT", probe, b"x") == 200
    try:
        line = assert_clean_failure(
            world.cli("smoke", str(world.v1), "--alias", "champion", **release_creds()), 3
        )
        assert "file probe.txt is not in the recorded digests" in line, line
    finally:
        (champion.folder / "probe.txt").unlink()


def test_pull_request_user_cannot_write_the_release_experiment(world: AuthWorld) -> None:
    """The release run's verdict tags, a run or a logged model of its own in the release
    experiment: refused (403) to the pull-request user."""
    champion = stored(world, aliases(world.uri)["champion"])
    before = snapshot(world.uri)
    for key, value in (
        ("pipelines.gate", "failed"),
        ("pipelines.model_uri", "models:/m-attacker"),
        ("pipelines.digest", "0" * 64),
        ("pipelines.compared_with", "none"),
    ):
        status, text = rest(
            world.uri, PR_USER, PR_PASSWORD, "POST", "/api/2.0/mlflow/runs/set-tag",
            {"run_id": champion.run_id, "key": key, "value": value},
        )  # fmt: skip
        assert status == 403, (key, status, text)
    status, text = rest(
        world.uri, PR_USER, PR_PASSWORD, "POST", "/api/2.0/mlflow/runs/delete-tag",
        {"run_id": champion.run_id, "key": "pipelines.gate"},
    )  # fmt: skip
    assert status == 403, text
    for path, body in (
        ("/api/2.0/mlflow/runs/create", {"experiment_id": champion.experiment_id}),
        ("/api/2.0/mlflow/logged-models", {"experiment_id": champion.experiment_id}),
    ):
        status, text = rest(world.uri, PR_USER, PR_PASSWORD, "POST", path, body)
        assert status == 403, (path, status, text)
    assert snapshot(world.uri) == before


def test_a_verdict_the_pull_request_user_wrote_is_never_promoted(world: AuthWorld) -> None:
    """A passing verdict in the pull-request experiment, real (the pull request's own run
    of v2) or forged (a FINISHED run dated ten years ahead with a passing verdict's tags):
    `promote --run-id` with the release user refuses both (exit 1, nothing moves), and the
    release's `run --reuse` publishes its own verdict instead."""
    pr_experiment = experiment_ids(world.uri)[f"{PREFIX}{MODEL}.pull-requests"]
    real = str(world.pr_second_publish["run_id"])
    with as_user("admin", ADMIN_PASSWORD):
        from mlflow.tracking import MlflowClient

        tags = MlflowClient(world.uri, world.uri).get_run(real).data.tags
    future = int((time.time() + 10 * 365 * 86400) * 1000)
    status, text = rest(
        world.uri, PR_USER, PR_PASSWORD, "POST", "/api/2.0/mlflow/runs/create",
        {"experiment_id": pr_experiment, "start_time": future,
         "tags": [{"key": k, "value": v} for k, v in tags.items() if k.startswith("pipelines.")]},
    )  # fmt: skip
    assert status == 200, text
    forged = json.loads(text)["run"]["info"]["run_id"]
    status, text = rest(
        world.uri, PR_USER, PR_PASSWORD, "POST", "/api/2.0/mlflow/runs/update",
        {"run_id": forged, "status": "FINISHED", "end_time": future + 1},
    )  # fmt: skip
    assert status == 200, text
    before = snapshot(world.uri)
    for run_id in (real, forged):
        result = world.cli(
            "promote", str(world.v2), "--alias", "staging", "--run-id", run_id, **release_creds()
        )
        line = assert_clean_failure(result, 1)
        assert f"run {run_id} is not in its release experiment" in line, line
    assert snapshot(world.uri) == before
    ok(world.cli("run", str(world.v2), "--reuse", **release_creds()))
    publish = json.loads((world.cli.runs / MODEL / "publish.json").read_text(encoding="utf-8"))
    assert publish["run_id"] not in (real, forged)
    assert publish["experiment_id"] == experiment_ids(world.uri)[f"{PREFIX}{MODEL}"]


def test_files_changed_in_the_store_are_detected(world: AuthWorld) -> None:
    """Bytes changed where MLflow's permissions do not reach (the artifact store itself):
    the champion's index replaced by a valid index of other vectors, another version's
    estimator rewritten. promote, smoke, serve, rollback and the pull request's champion
    re-score exit 3 with one line naming the file; no alias moves, no server starts."""
    from usearch.index import Index

    names = aliases(world.uri)
    champion = stored(world, names["champion"])
    other = stored(world, "2" if names["champion"] == "1" else "1")
    index = champion.folder / "artifacts" / "index.usearch"
    estimator = other.folder / "artifacts" / "serving" / "estimator.pkl"
    saved = {index: index.read_bytes(), estimator: estimator.read_bytes()}
    try:
        fake = Index(ndim=8, metric="cos")
        fake.add(np.arange(50), np.random.default_rng(3).random((50, 8), dtype=np.float32))
        fake.save(str(index))
        estimator.write_bytes(estimator.read_bytes() + b"\0")
        before = snapshot(world.uri)
        spec = world.v1 if champion.version == "1" else world.v2
        checks = [
            (world.cli("smoke", str(spec), "--alias", "champion", **release_creds()), index),
            (world.cli("serve", "--check-only", f"{MODEL}@champion", **release_creds()), index),
            (world.cli("run", str(world.v2), **pr_creds()), index),  # re-scores the champion
            (
                world.cli("rollback", str(spec), "--to-version", other.version, **release_creds()),
                estimator,
            ),
        ]
        for result, changed in checks:
            line = assert_clean_failure(result, 3)
            relative = changed.relative_to(champion.folder if changed == index else other.folder)
            assert f"file {relative.as_posix()} does not match its recorded digest" in line, line
        after = snapshot(world.uri)
        assert {k: v for k, v in after.items() if k != "__runs__"} == {
            k: v for k, v in before.items() if k != "__runs__"
        }
        assert aliases(world.uri) == names
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
