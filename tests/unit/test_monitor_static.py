"""monitor.yml, read statically: every spec's schedule is a cron of the workflow, and each
job holds only the permissions it needs (act ignores `on:` and `permissions:`)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipelines.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "monitor.yml").read_text())


def test_every_spec_schedule_is_a_cron_of_the_workflow() -> None:
    crons = {entry["cron"] for entry in _workflow()[True]["schedule"]}  # `on:` reads as True
    for path in (ROOT / "model_specs").glob("*.yaml"):
        monitoring = load_spec(path).spec.monitoring
        if monitoring is not None:
            assert monitoring.schedule in crons, f"{path.name}: add its schedule to monitor.yml"


def test_least_privilege_per_job_and_only_the_secrets_each_job_needs() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {}
    grants = {name: job["permissions"] for name, job in workflow["jobs"].items()}
    assert grants == {
        "plan": {"contents": "read"},
        "monitor": {"contents": "read"},
        "issue": {"contents": "read", "issues": "write"},
        "retrain": {"contents": "write", "pull-requests": "write", "actions": "write"},
    }
    for name, job in workflow["jobs"].items():
        text = yaml.safe_dump(job)
        secrets = set(re.findall(r"secrets\.(\w+)", text))
        expected = {
            "monitor": {
                "MLFLOW_TRACKING_URI",
                "MLFLOW_TRACKING_USERNAME",
                "MLFLOW_TRACKING_PASSWORD",
                "MLFLOW_TRACKING_TOKEN",
            },
            "retrain": {"PIPELINES_RETRAIN_TOKEN"},  # opens the PR; no MLflow secret
        }
        assert secrets == expected.get(name, set()), name
        for step in job["steps"]:
            if "actions/checkout" in str(step.get("uses", "")):
                assert step["with"]["persist-credentials"] is False
    assert set(workflow[True]) == {"schedule", "workflow_dispatch"}  # nothing a fork can trigger
