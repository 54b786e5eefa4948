"""The production stack, tested as one: MLflow's tracking server with basic-auth
(`mlflow server --app-name basic-auth`) on PostgreSQL (runs, registry and the auth
database), its artifacts in an S3-compatible store (moto's `moto_server` on loopback)
behind the server's artifact proxy, set up as docs/production.md and docs/mlflow-auth.md
say. Then, as CI runs them, each command a subprocess in a job of its own (a fresh
checkout, HOME and TMPDIR, no S3 credentials):

- the pull-request pipeline with the pull-request user, compared with the champion;
- each release as release.yml runs it with the release user: Build and stage (`run
  --reuse`, `promote --alias staging`, `smoke`) in one job, Production (`promote --alias
  champion --run-id --digest`, handed over from staging) in another that starts empty;
- the champion served by `pipelines serve NAME@champion`, queried over HTTP, answering
  what was recorded at publish; then `rollback`.

What it checks beyond each command passing: the model files and run artifacts are in the
bucket (listed and hashed through boto3 against moto), byte for byte what the release
recorded; nothing that belongs in the store (an `mlruns/` or `mlartifacts/` folder, a model
file, anything at all) is left on a job's local disk outside the run folder `.runs/` (and,
for serving, the checked copy it serves); the clients got only `mlflow-artifacts:` URIs,
never the bucket's; the server's own working folder holds only its log.

The model is the breast-cancer example spec under another name (test_auth's `write_spec`),
so a fork made with `--no-examples` drops this module with the example.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import load_config
from pipelines.steps.check_data import PROFILE_ARTIFACT
from tests.conftest import ROOT
from tests.integration.support import (
    BIN,
    MlflowServer,
    Postgres,
    clean_env,
    free_port,
    kill_group,
    ok,
    wait_http,
)
from tests.integration.test_auth import (
    ADMIN_PASSWORD,
    PR_PASSWORD,
    PR_USER,
    RELEASE_PASSWORD,
    RELEASE_USER,
    doc_blocks,
    rest,
    write_spec,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PRODUCTION_DOC = ROOT / "docs" / "production.md"
SERVING_USER, SERVING_PASSWORD = "serving", "serving-pw-5e1b7a20"

MODEL = "prod-stack"
BUCKET = "mlflow-artifacts"
PREFIX = "store"  # the server's --artifacts-destination is s3://BUCKET/PREFIX
EXPERIMENT_PREFIX = load_config(ROOT).experiment_prefix
# The server's own credentials for the bucket; no client ever holds them.
S3_KEY, S3_SECRET = "server-key-3d9a", "server-secret-81c4f0"
# What MLflow itself keeps in HOME whatever the store (its telemetry installation id,
# written even with MLFLOW_DISABLE_TELEMETRY=true): no run, model or artifact.
MLFLOW_HOME_FILES = (".config", ".config/mlflow", ".config/mlflow/telemetry.json")
EXPECTED_K = 5  # pipelines.serving.EXPECTED_K: the k the recorded answer was made with

AUTH_INI = """\
[mlflow]
default_permission = READ
database_uri = {database}
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
"""


# -- the S3-compatible store ----------------------------------------------------------------
@dataclass
class S3Store:
    """moto's S3 server on a loopback port, and a boto3 client holding the server's keys."""

    port: int
    proc: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
        )

    def objects(self) -> dict[str, bytes]:
        """Every object of the bucket: key -> bytes."""
        s3 = self.client()
        found: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                found[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        return found


def _moto_missing() -> str | None:
    for module in ("moto", "boto3", "flask_cors"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (test dependency group: moto[s3], boto3, flask-cors)"
    if not (BIN / "moto_server").is_file():
        return f"moto_server is not in {BIN}"
    return None


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    """`moto_server` on loopback with the artifact bucket created; skipped without moto."""
    if reason := _moto_missing():
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = base / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            cwd=base,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    store = S3Store(port, proc)
    try:
        wait_http(store.endpoint + "/moto-api/", 60, proc, log)
        store.client().create_bucket(Bucket=BUCKET)
        yield store
    finally:
        kill_group(proc)


# -- one CI job: a fresh machine as far as the client can tell ------------------------------
@dataclass
class Job:
    """A job's own folder: `work/` (a checkout: pyproject, data, the spec), `home/` and
    `tmp/`. Commands run there as subprocesses with the job's MLflow user and no AWS
    variable at all, as a GitHub job with the repository's or an environment's secrets."""

    base: Path
    uri: str
    user: str
    password: str
    repo: Path  # what the checkout was copied from
    specs: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def fresh(cls, base: Path, uri: str, user: str, password: str, repo: Path) -> Job:
        for name in ("home", "tmp"):
            (base / name).mkdir(parents=True)
        shutil.copytree(repo, base / "work")
        specs = {p.parent.name: p for p in (base / "work" / "model_specs").glob("*/*.yaml")}
        return cls(base, uri, user, password, repo, specs)

    @property
    def work(self) -> Path:
        return self.base / "work"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in clean_env().items()
            if not k.startswith(("AWS_", "BOTO", "MLFLOW_S3_")) and k != "TMP" and k != "TEMP"
        }
        env.update(
            HOME=str(self.base / "home"),
            TMPDIR=str(self.base / "tmp"),
            XDG_CACHE_HOME=str(self.base / "home" / ".cache"),
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(ROOT),  # as the actions run the template's code
            MLFLOW_TRACKING_URI=self.uri,
            MLFLOW_TRACKING_USERNAME=self.user,
            MLFLOW_TRACKING_PASSWORD=self.password,
        )
        return env

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-P", "-m", "pipelines", *args],
            cwd=self.work,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def runs(self, name: str) -> dict[str, Any]:
        """A JSON file of the model's run folder `.runs/<model>/` (the documented default)."""
        return dict(json.loads((self.work / ".runs" / MODEL / name).read_text(encoding="utf-8")))

    def leftovers(self, allowed: tuple[Path, ...] = ()) -> list[str]:
        """Every file or folder the job's commands left outside the run folder `.runs/`
        and `allowed`: anything in the checkout that the repository did not hold, and
        anything in HOME (but MLflow's own telemetry id) or TMPDIR."""
        keep = (self.work / ".runs", *allowed)
        found = []
        for path in sorted(self.base.rglob("*")):
            relative = path.relative_to(self.base)
            rest = Path(*relative.parts[1:]) if len(relative.parts) > 1 else None
            if any(path == k or k in path.parents for k in keep) or rest is None:
                continue
            if relative.parts[0] == "work" and (self.repo / rest).exists():
                continue
            if relative.parts[0] == "home" and rest.as_posix() in MLFLOW_HOME_FILES:
                continue
            found.append(relative.as_posix())
        return found


# -- the world: one server, set up once, and what the shared flow produced ------------------
@dataclass
class Stack:
    server: MlflowServer
    s3: S3Store
    base: Path
    repo: Path
    jobs: dict[str, Job]
    results: dict[str, subprocess.CompletedProcess[str]]
    served: dict[str, Any]
    jobs_root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.jobs_root = self.base / "jobs"

    @property
    def uri(self) -> str:
        return self.server.url

    def job(self, name: str, user: str) -> Job:
        password = {
            PR_USER: PR_PASSWORD,
            RELEASE_USER: RELEASE_PASSWORD,
            SERVING_USER: SERVING_PASSWORD,
        }[user]
        job = Job.fresh(self.jobs_root / name, self.uri, user, password, self.repo)
        self.jobs[name] = job
        return job

    def admin(self, path: str) -> dict[str, Any]:
        status, body = rest(self.uri, "admin", ADMIN_PASSWORD, "GET", path)
        assert status == 200, (path, status, body)
        return dict(json.loads(body))


def serving_block() -> str:
    """The shell block of docs/production.md that adds the serving replicas' user (run in
    the shell of docs/mlflow-auth.md's blocks, whose `api` helper it uses)."""
    text = PRODUCTION_DOC.read_text(encoding="utf-8")
    pattern = (
        r"<!-- tests/integration/test_production_stack\.py runs this block[^>]*-->"
        r"\s*```bash\n(.*?)```"
    )
    blocks = re.findall(pattern, text, flags=re.DOTALL)
    assert len(blocks) == 1, f"{PRODUCTION_DOC}: expected the serving user's block"
    return str(blocks[0])


def _database(postgres: Postgres, name: str) -> str:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.user)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return postgres.uri(name)


def _serve(job: Job) -> dict[str, Any]:
    """`pipelines serve MODEL@champion` in `job`; query it with the example the model was
    logged with, as recorded in the checked copy it serves; returns the answer, the
    record, the copy's folder and the server's log."""
    port = free_port()
    log = job.base / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-P", "-m", "pipelines", "serve", f"{MODEL}@champion"),
                *("--port", str(port), "--workers", "1"),
            ],
            cwd=job.work,
            env=job.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", 180, proc, log)
        copies = sorted((job.base / "tmp").glob(f"serve-{MODEL}-*"))
        assert len(copies) == 1, copies
        found = sorted(copies[0].rglob("expected_answer.json"))
        assert found, sorted(p.name for p in copies[0].rglob("*"))
        record = json.loads(found[0].read_text(encoding="utf-8"))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(
                {"dataframe_split": record["input"], "params": {"k": EXPECTED_K}}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # loopback only
            answer = json.loads(response.read())
    finally:
        kill_group(proc)
    return {"answer": answer, "record": record, "copy": copies[0], "log": log.read_text()}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, postgres: Postgres, s3: S3Store
) -> Iterator[Stack]:
    """The server on PostgreSQL + S3 with basic-auth, users and the model set up by the
    doc's own commands; then v1's release, v2's pull request (compared with champion 1),
    v2's release, the champion served and queried, and a rollback."""
    base = tmp_path_factory.mktemp("prod-stack")
    stamp = f"{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    tracking = _database(postgres, f"mlflow_{stamp}")
    auth = _database(postgres, f"mlflow_auth_{stamp}")
    config = base / "config"
    config.mkdir()
    ini = config / "auth.ini"
    ini.write_text(AUTH_INI.format(database=auth), encoding="utf-8")
    workdir = base / "server"
    (workdir / "tmp").mkdir(parents=True)
    server = MlflowServer(
        tracking,
        f"s3://{BUCKET}/{PREFIX}",
        workdir,
        app_name="basic-auth",
        extra_env={
            "MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "tests-only-csrf-key",
            "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "HOME": str(config),
            "TMPDIR": str(workdir / "tmp"),
        },
        start_timeout=300,
    )
    server.start()
    try:
        users, models = doc_blocks()
        setup = subprocess.run(
            ["bash", "-c", "\n".join((users, models, serving_block()))],
            cwd=ROOT,
            env=clean_env(
                MLFLOW_TRACKING_URI=server.url,
                MLFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
                PR_PASSWORD=PR_PASSWORD,
                RELEASE_PASSWORD=RELEASE_PASSWORD,
                SERVING_PASSWORD=SERVING_PASSWORD,
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
        write_spec(repo, MODEL, "v1", c=0.5)
        write_spec(repo, MODEL, "v2", c=0.7)
        stack = Stack(server, s3, base, repo, {}, {}, {})
        results = stack.results
        for tag in ("v1", "v2"):
            if tag == "v2":  # a pull request against champion 1, read from the bucket
                pr = stack.job(f"pr-{tag}", PR_USER)
                results[f"pr-{tag}"] = pr("run", str(pr.specs[tag]))
            staging = stack.job(f"staging-{tag}", RELEASE_USER)
            spec = str(staging.specs[tag])
            for step, args in (
                ("run", ("run", spec, "--reuse")),
                ("promote", ("promote", spec, "--alias", "staging")),
                ("smoke", ("smoke", spec, "--alias", "staging")),
            ):
                results[f"staging-{tag}-{step}"] = staging(*args)
                ok(results[f"staging-{tag}-{step}"])
            handoff = staging.runs("promote.json")
            production = stack.job(f"production-{tag}", RELEASE_USER)
            results[f"production-{tag}"] = production(
                "promote", str(production.specs[tag]), "--alias", "champion",
                "--run-id", handoff["run_id"], "--digest", handoff["digest"],
            )  # fmt: skip
            ok(results[f"production-{tag}"])
        stack.served.update(_serve(stack.job("serve", SERVING_USER)))
        rollback = stack.job("rollback", RELEASE_USER)
        results["rollback"] = rollback("rollback", str(rollback.specs["v2"]))
        yield stack
    finally:
        server.stop()


# -- the tests ------------------------------------------------------------------------------
def aliases(stack: Stack) -> dict[str, str]:
    found = stack.admin(f"/api/2.0/mlflow/registered-models/get?name={MODEL}")
    return {a["alias"]: str(a["version"]) for a in found["registered_model"].get("aliases", [])}


def experiment_ids(stack: Stack) -> dict[str, str]:
    status, body = rest(
        stack.uri, "admin", ADMIN_PASSWORD, "POST", "/api/2.0/mlflow/experiments/search",
        {"max_results": 1000},
    )  # fmt: skip
    assert status == 200, body
    return {e["name"]: e["experiment_id"] for e in json.loads(body).get("experiments", [])}


def version_files(stack: Stack, version: str) -> tuple[str, dict[str, str]]:
    """A registered version's logged-model artifact URI and the digests the release wrote."""
    found = stack.admin(f"/api/2.0/mlflow/model-versions/get?name={MODEL}&version={version}")
    info = found["model_version"]
    tags = {t["key"]: t["value"] for t in info.get("tags", [])}
    model_id = info["source"].removeprefix("models:/")
    logged = stack.admin(f"/api/2.0/mlflow/logged-models/{model_id}")["model"]["info"]
    return str(logged["artifact_uri"]), dict(json.loads(tags["pipelines.digests"]))


def test_every_job_passes_on_the_stack(stack: Stack) -> None:
    """The pull requests (pull-request user), both releases' Build and stage and Production
    jobs (release user) and the rollback pass; the aliases end where the flow put them."""
    for name, result in stack.results.items():
        ok(result)
        assert "error:" not in result.stderr, (name, result.stderr[-2000:])
    pr = stack.jobs["pr-v2"].runs("publish.json")
    experiments = experiment_ids(stack)
    assert pr["experiment_id"] == experiments[f"{EXPERIMENT_PREFIX}{MODEL}.pull-requests"]
    assert pr["release"] is False
    run = stack.admin(f"/api/2.0/mlflow/runs/get?run_id={pr['run_id']}")["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["pipelines.compared_with"] == "1" and tags["pipelines.gate"] == "passed", tags
    release = stack.jobs["staging-v2"].runs("publish.json")
    assert release["experiment_id"] == experiments[f"{EXPERIMENT_PREFIX}{MODEL}"]
    assert aliases(stack) == {"staging": "2", "champion": "1"}  # after the rollback


def test_served_champion_answers_as_recorded(stack: Stack) -> None:
    """`pipelines serve MODEL@champion` (version 2 then) answers the example it was logged
    with exactly as recorded at publish: same predictions and neighbours."""
    served = stack.served
    rows = served["answer"]["predictions"]
    recorded = served["record"]["answer"]
    expected = [dict(zip(recorded["columns"], row, strict=True)) for row in recorded["data"]]
    assert len(rows) == len(expected) > 0
    for got, want in zip(rows, expected, strict=True):
        assert set(got) == set(want), (got, want)
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-5), (key, got, want)
            else:
                assert got[key] == value, (key, got, want)
    assert "version 2" in served["log"], served["log"][-2000:]


def test_serving_user_only_reads(stack: Stack) -> None:
    """The serving replicas' user (no role) reads the champion and cannot move an alias,
    register a version or write a run in the release experiment (403 each)."""
    release_experiment = experiment_ids(stack)[f"{EXPERIMENT_PREFIX}{MODEL}"]
    status, text = rest(
        stack.uri, SERVING_USER, SERVING_PASSWORD, "GET",
        f"/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion",
    )  # fmt: skip
    assert status == 200, text
    for path, body in (
        (
            "/api/2.0/mlflow/registered-models/alias",
            {"name": MODEL, "alias": "champion", "version": "2"},
        ),
        ("/api/2.0/mlflow/model-versions/create", {"name": MODEL, "source": "models:/m-x"}),
        ("/api/2.0/mlflow/runs/create", {"experiment_id": release_experiment}),
    ):
        status, text = rest(stack.uri, SERVING_USER, SERVING_PASSWORD, "POST", path, body)
        assert status == 403, (path, status, text)
    assert aliases(stack) == {"staging": "2", "champion": "1"}


def test_model_files_are_in_the_bucket(stack: Stack) -> None:
    """Each registered version's files are objects of the bucket under the release
    experiment, byte for byte what the release's digests record; the pull request's
    logged model is under the pull-request experiment, and each run's data profile under
    its own. Clients were handed only `mlflow-artifacts:` URIs (the server's proxy), never
    the bucket's."""
    objects = stack.s3.objects()
    experiments = experiment_ids(stack)
    release_experiment = experiments[f"{EXPERIMENT_PREFIX}{MODEL}"]
    for version in ("1", "2"):
        artifact_uri, digests = version_files(stack, version)
        assert artifact_uri.startswith(f"mlflow-artifacts:/{release_experiment}/"), artifact_uri
        prefix = f"{PREFIX}/{artifact_uri.removeprefix('mlflow-artifacts:/').strip('/')}/"
        stored = {k.removeprefix(prefix): v for k, v in objects.items() if k.startswith(prefix)}
        assert "MLmodel" in stored and "artifacts/index.usearch" in stored, sorted(stored)
        assert {k: hashlib.sha256(v).hexdigest() for k, v in stored.items()} == digests
    pr_uri = stack.jobs["pr-v2"].runs("publish.json")["model_uri"]
    pr_experiment = experiments[f"{EXPERIMENT_PREFIX}{MODEL}.pull-requests"]
    model_id = str(pr_uri).removeprefix("models:/")
    logged = stack.admin(f"/api/2.0/mlflow/logged-models/{model_id}")["model"]["info"]
    assert logged["artifact_uri"].startswith(f"mlflow-artifacts:/{pr_experiment}/")
    pr_prefix = f"{PREFIX}/{logged['artifact_uri'].removeprefix('mlflow-artifacts:/')}/MLmodel"
    assert pr_prefix in objects, sorted(objects)[:20]
    # The runs' own artifacts too: the data profile the next pull request's drift check reads.
    for job, experiment in (("pr-v2", pr_experiment), ("staging-v2", release_experiment)):
        run_id = stack.jobs[job].runs("publish.json")["run_id"]
        run_uri = stack.admin(f"/api/2.0/mlflow/runs/get?run_id={run_id}")["run"]["info"][
            "artifact_uri"
        ]
        assert run_uri.startswith(f"mlflow-artifacts:/{experiment}/"), run_uri
        key = f"{PREFIX}/{run_uri.removeprefix('mlflow-artifacts:/').strip('/')}/{PROFILE_ARTIFACT}"
        assert isinstance(json.loads(objects[key]), dict), key
    assert all(k.startswith(f"{PREFIX}/") for k in objects), sorted(objects)[:20]


def test_nothing_that_belongs_in_the_store_is_left_on_disk(stack: Stack) -> None:
    """No job left anything outside its checkout and `.runs/` (no `mlruns/`, no
    `mlartifacts/`, no model file, no temporary folder), except the serving job's one
    checked copy in TMPDIR; the server's working folder holds only its log."""
    for name, job in stack.jobs.items():
        allowed: tuple[Path, ...] = ()
        if name == "serve":
            allowed = (stack.served["copy"], job.base / "serve.log")
        assert job.leftovers(allowed) == [], name
    server_files = sorted(
        p.relative_to(stack.server.workdir).as_posix() for p in stack.server.workdir.rglob("*")
    )
    assert server_files == ["server.log", "tmp"], server_files
