"""What publishing costs, measured in isolation (`python -m scripts.bench.probe_publish DIR`).

Logs the pipeline's own pyfunc (models-from-code, code_paths=[serving.py]) from a finished
run directory twice: with the declared requirements the pipeline uses, and with MLflow's
requirement inference; then logs the run's params and metrics in one batch call each and
one call per key. Prints seconds as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import mlflow

import pipelines
from pipelines import serving
from pipelines.state import BUNDLE_FILE, load_bundle
from pipelines.steps.publish import requirements

INDEX_FILE = "index.usearch"


def main() -> None:
    """Print {"declared": s, "inferred": s, "batch": s, "per_key": s}."""
    run_dir = Path(sys.argv[1])
    package = Path(pipelines.__file__).parent
    bundle = load_bundle(run_dir / BUNDLE_FILE)
    payload = Path(tempfile.mkdtemp(prefix="probe-")) / "serving"
    serving.write_payload(
        payload, bundle.task, bundle.estimator, bundle.index_metric, bundle.extras
    )
    artifacts = {"serving": str(payload), "index": str(run_dir / INDEX_FILE)}
    mlflow.set_experiment("probe")
    out: dict[str, float] = {}
    params = {f"p{i}": str(i) for i in range(30)}
    metrics = {f"m{i}": float(i) for i in range(30)}
    with mlflow.start_run():
        for label, pins in (("declared", requirements()), ("inferred", None)):
            started = time.perf_counter()
            mlflow.pyfunc.log_model(
                name=f"model-{label}",
                python_model=str(package / "serving_entry.py"),
                artifacts=artifacts,
                code_paths=[str(package / "serving.py")],
                pip_requirements=pins,
            )
            out[label] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        out["batch"] = round(time.perf_counter() - started, 4)
        started = time.perf_counter()
        for key, value in params.items():
            mlflow.log_param(f"x{key}", value)
        for key, metric in metrics.items():
            mlflow.log_metric(f"x{key}", metric)
        out["per_key"] = round(time.perf_counter() - started, 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
