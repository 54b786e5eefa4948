"""Pipeline measurements: time and peak memory per step, whole runs, fixed cost, overhead.

Every measured thing runs in its own process, started with `os.wait4` so the kernel's
peak resident set (`ru_maxrss`) of exactly that process is known: the peak memory of a
step includes the interpreter and its imports, as a CI job running that step would see.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bench.data import REPO, Workspace, add_spec

STEPS = ("validate", "check-data", "train", "build-index", "evaluate", "publish", "report")
IMPORTS = (
    "import pipelines.steps.run, mlflow, mlflow.pyfunc, sklearn.decomposition, usearch.index; "
    "import mlflow.store.tracking.sqlalchemy_store"
)
# The floor: the third-party modules a `pipelines run` cannot do without (tracking store,
# pyfunc logging, the estimator, the baselines, the bootstrap, the index, data and spec
# loading, the report). Our own code is not in it: the first model's fixed cost is compared
# with this (`python -c FLOOR` wall time, interpreter start included, as a run's is).
FLOOR = (
    "import mlflow, mlflow.pyfunc, mlflow.store.tracking.sqlalchemy_store, "
    "sklearn.decomposition, sklearn.dummy, scipy.stats, pandas, usearch.index, pydantic, "
    "yaml, jinja2"
)


@dataclass(frozen=True)
class Proc:
    """One finished process."""

    seconds: float
    peak_mb: float
    code: int
    stdout: str
    stderr: str


def child_env(workspace: Workspace, store: Path | None = None) -> dict[str, str]:
    """The environment of a pipeline process: this one, pointed at the workspace's store.

    Bytecode caching is left on (a real CI job writes .pyc files on first import): the
    benchmark measures warm imports, after one warm-up run.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    db = (store or workspace.root / "mlflow") / "mlflow.db"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{db}"
    env["PIPELINES_RUNS_DIR"] = str(workspace.runs_dir)
    env["PYTHONPATH"] = str(REPO)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path = REPO) -> Proc:
    """Run `args`; wall seconds and the process's own peak RSS.

    Output goes to temporary files, not pipes: a chatty child (progress bars) can never
    block on a full pipe, and `os.wait4` reaps it with its resource usage.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return Proc(round(seconds, 4), round(usage.ru_maxrss / 1024, 1), code, stdout, stderr[-4000:])


def pipelines(args: list[str], env: dict[str, str]) -> Proc:
    """`python -m pipelines -q ARGS`, failing loudly on infrastructure or input errors."""
    proc = run([sys.executable, "-m", "pipelines", "-q", *args], env)
    if proc.code not in (0, 1):
        raise RuntimeError(f"pipelines {' '.join(args)} exited {proc.code}:\n{proc.stderr}")
    return proc


def fresh_store(workspace: Workspace, name: str) -> Path:
    """An empty MLflow store folder inside the workspace."""
    store = workspace.root / name
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    return store


def manifest_steps(workspace: Workspace, model: str) -> dict[str, float]:
    """Step seconds recorded by the pipeline itself (in-process, after imports)."""
    manifest = json.loads((workspace.runs_dir / model / "manifest.json").read_text())
    steps = manifest.get("steps", {})
    if isinstance(steps, dict):
        return {k: float(v.get("seconds", 0.0)) for k, v in steps.items()}
    return {s["name"]: float(s["seconds"]) for s in steps}


def whole_run(workspace: Workspace) -> dict[str, Any]:
    """`pipelines run --promote champion` in one process on a new store."""
    store = fresh_store(workspace, "store-run")
    shutil.rmtree(workspace.runs_dir / "bench", ignore_errors=True)
    proc = pipelines(
        ["run", "--promote", "champion", str(workspace.spec())], child_env(workspace, store)
    )
    return {
        "seconds": proc.seconds,
        "peak_mb": proc.peak_mb,
        "exit": proc.code,
        "steps": manifest_steps(workspace, "bench"),
    }


def per_step(workspace: Workspace) -> dict[str, dict[str, float]]:
    """Each step in its own process (as CI jobs run them), on a new store."""
    store = fresh_store(workspace, "store-steps")
    env = child_env(workspace, store)
    run_dir = workspace.root / "runs-steps"
    shutil.rmtree(run_dir, ignore_errors=True)
    out: dict[str, dict[str, float]] = {}
    for step in STEPS:
        proc = pipelines([step, "--run-dir", str(run_dir), str(workspace.spec())], env)
        manifest = json.loads((run_dir / "manifest.json").read_text())
        steps = manifest.get("steps", {})
        inner = steps.get(step, {}).get("seconds") if isinstance(steps, dict) else None
        out[step] = {
            "process_seconds": proc.seconds,
            "step_seconds": float(inner) if inner is not None else float("nan"),
            "peak_mb": proc.peak_mb,
        }
    return out


def bare(workspace: Workspace, npz: Path, twice: bool = False) -> dict[str, Any]:
    """The bare computation in its own process (see `scripts.bench.bare`)."""
    extra = ["twice"] if twice else []
    proc = run(
        [sys.executable, "-m", "scripts.bench.bare", str(workspace.spec()), str(npz), *extra],
        child_env(workspace),
    )
    if proc.code != 0:
        raise RuntimeError(f"bare computation failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_mb"] = proc.peak_mb
    return result


def fixed_cost(
    workspace: Workspace, repeats: int = 3, further: int = 3, warm_up: bool = True
) -> dict[str, Any]:
    """Fixed cost per model on tiny data, where the data-dependent work is negligible.

    - first model, new store: `pipelines run --promote champion` in a new process on an
      empty sqlite store (imports, migrations, logging, registration);
    - first model, existing store: the same against a store that already exists;
    - each further model in the same process: the in-process time of models 2..N+1 of
      one `pipelines run` (recorded in their manifests) minus a second bare computation
      in one process (no first-call warm-ups either);
    the first two minus the bare computation of one model, medians of `repeats`.
    """
    npz = workspace.root / "bare.npz"
    bare_runs = [bare(workspace, npz, twice=True) for _ in range(repeats)]
    bare_s = statistics.median(b["phases"]["total"] for b in bare_runs)
    # a later model in the same process pays no first-call warm-ups (lazy imports, caches)
    bare_warm = statistics.median(b["warm_total"] for b in bare_runs)
    first = str(add_spec(workspace, "m0"))
    warm_env = child_env(workspace, fresh_store(workspace, "store-fixed-warm"))
    if warm_up:  # writes .pyc files and the store template, as a machine's first run does
        pipelines(["run", "--promote", "champion", str(workspace.spec())], warm_env)
    cold, warm, multi, later = [], [], [], []
    for attempt in range(repeats):
        env = child_env(workspace, fresh_store(workspace, f"store-fixed-cold-{attempt}"))
        cold.append(pipelines(["run", "--promote", "champion", first], env).seconds)
        name = f"w{attempt}"
        warm.append(
            pipelines(
                ["run", "--promote", "champion", str(add_spec(workspace, name))], warm_env
            ).seconds
        )
        names = [f"x{attempt}-{i}" for i in range(further + 1)]
        paths = [str(add_spec(workspace, n)) for n in names]
        multi.append(pipelines(["run", "--promote", "champion", *paths], warm_env).seconds)
        # in-process time of every model after the first (imports and store already warm)
        later.extend(manifest_steps(workspace, n)["run"] for n in names[1:])
    imports = [run([sys.executable, "-c", IMPORTS], warm_env).seconds for _ in range(repeats)]
    floor = [run([sys.executable, "-c", FLOOR], warm_env).seconds for _ in range(repeats)]
    probe = run(
        [sys.executable, "-m", "scripts.bench.probe_publish", str(workspace.runs_dir / "w0")],
        child_env(workspace, fresh_store(workspace, "store-probe")),
    )
    publishing = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.code == 0 else {}
    startup = [run([sys.executable, "-c", "pass"], warm_env).seconds for _ in range(repeats)]
    first_warm = statistics.median(warm)
    steps = manifest_steps(workspace, "w0")
    return {
        "bare_seconds": bare_s,
        "bare_warm_seconds": bare_warm,
        "first_model_new_store": round(statistics.median(cold) - bare_s, 3),
        "first_model_existing_store": round(first_warm - bare_s, 3),
        "further_model": round(statistics.median(later) - bare_warm, 3),
        "components": {
            "python_startup": statistics.median(startup),
            "imports": round(statistics.median(imports) - statistics.median(startup), 3),
            "publish_step": steps.get("publish"),
            "promote_step": steps.get("promote"),
            "import_floor": statistics.median(floor),
        },
        "publishing": publishing,
        "raw": {
            "new_store": cold,
            "existing_store": warm,
            "runs_of_1_plus_n": multi,
            "further_in_process": later,
            "import_floor": floor,
        },
        "rows": workspace.rows,
        "items": workspace.items,
    }
