"""What a promotion relies on is re-checked when it happens (embedded store, CLI in-process):

- a verdict belongs to one evaluation: a failed one is not sticky, a re-run records its own;
- a candidate gated against champion vN is promoted only while vN is champion;
- `champion` never moves back to an older version except through `rollback`;
- a rolled-back version is refused until new content, and every rollback is kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.registry import TAG_ROLLBACK_PREFIX, TAG_ROLLED_BACK
from tests.conftest import registry_snapshot
from tests.integration.support import MODEL, aliases, client, spec_variant

pytestmark = pytest.mark.slow


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    return errors[0]


def _publish(runs: Path) -> dict[str, object]:
    return json.loads((runs / MODEL / "publish.json").read_text())  # type: ignore[no-any-return]


def test_a_failed_verdict_is_not_sticky(
    mlflow_store: str,
    scratch_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A flaky index gate fails once, then a re-run of the same content passes: the
    re-run's verdict is what `promote` sees (artifacts reused, the verdict is not)."""
    import dataclasses

    import pipelines.steps.build_index as build_index_module

    real_measure = build_index_module.measure

    def flaky(*args: object, **kwargs: object) -> object:
        return dataclasses.replace(real_measure(*args, **kwargs), recall_at_10=0.0)

    spec = str(spec_variant(scratch_repo, "a"))
    runs = tmp_path / "runs"
    for step in ("check-data", "train"):
        assert main([step, spec]) == 0, step
    monkeypatch.setattr(build_index_module, "measure", flaky)
    assert main(["build-index", spec]) == 1
    monkeypatch.setattr(build_index_module, "measure", real_measure)
    assert main(["evaluate", spec]) == 0
    assert main(["publish", spec, "--release"]) == 0
    failed = _publish(runs)
    assert failed["gate"] == "failed"
    capsys.readouterr()
    assert main(["promote", spec, "--alias", "champion"]) == 1
    assert "gate failed" in _error(capsys)

    for step in ("build-index", "evaluate"):  # the re-run passes
        assert main([step, spec]) == 0, step
    assert main(["publish", spec, "--release"]) == 0
    passed = _publish(runs)
    assert passed["gate"] == "passed" and passed["reused"] is False
    assert passed["run_id"] != failed["run_id"]
    assert passed["model_uri"] == failed["model_uri"]  # artifacts logged once per content
    assert main(["publish", spec, "--release"]) == 0  # the same verdict again: nothing new
    assert _publish(runs)["reused"] is True
    assert main(["promote", spec, "--alias", "champion"]) == 0
    assert aliases(mlflow_store) == {"champion": "1"}


def test_promotion_rechecks_champion_order_and_rollbacks(
    mlflow_store: str, scratch_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each release verdict is promoted by its run id, as release.yml hands it on."""
    a = str(spec_variant(scratch_repo, "a", c=0.5))
    b = str(spec_variant(scratch_repo, "b", c=0.7))
    c = str(spec_variant(scratch_repo, "c", c=0.9))
    runs = tmp_path / "runs"

    def release_build(spec: str, *extra: str) -> str:
        assert main(["run", spec, "--release", *extra]) == 0, spec
        return str(_publish(runs)["run_id"])

    def promote(spec: str, run_id: str) -> int:
        return main(["promote", spec, "--alias", "champion", "--run-id", run_id])

    run_a = release_build(a)
    run_b = release_build(b)  # both judged against no champion
    assert promote(a, run_a) == 0

    # b's verdict was reached against no champion; the champion is now version 1
    before = registry_snapshot(mlflow_store)
    capsys.readouterr()
    assert promote(b, run_b) == 1
    assert "the champion is now 1" in _error(capsys)
    assert registry_snapshot(mlflow_store) == before

    # a release re-run (--reuse) does not reuse a stale verdict: it re-evaluates b vs 1
    assert main(["run", b, "--reuse", "--promote", "champion"]) == 0
    assert aliases(mlflow_store) == {"champion": "2"}

    # a, re-evaluated against the new champion, is still older content: refused
    run_a = release_build(a)
    capsys.readouterr()
    assert promote(a, run_a) == 1
    assert "only `rollback`" in _error(capsys)
    assert aliases(mlflow_store) == {"champion": "2"}

    # roll back 2 -> 1; the next release of b's content is refused, not undone
    assert main(["rollback", b]) == 0
    assert aliases(mlflow_store) == {"champion": "1"}
    assert json.loads(client(mlflow_store).get_model_version(MODEL, "2").tags[TAG_ROLLED_BACK])
    run_b = release_build(b, "--reuse")
    capsys.readouterr()
    assert promote(b, run_b) == 1
    assert "rolled back" in _error(capsys)
    assert aliases(mlflow_store) == {"champion": "1"}

    # new content goes through; a second rollback is kept beside the first
    assert main(["run", c, "--promote", "champion"]) == 0
    assert aliases(mlflow_store) == {"champion": "3"}
    assert main(["rollback", c]) == 0
    assert aliases(mlflow_store) == {"champion": "1"}
    tags = client(mlflow_store).get_registered_model(MODEL).tags
    history = [json.loads(v) for k, v in tags.items() if k.startswith(TAG_ROLLBACK_PREFIX)]
    assert sorted((h["from"], h["to"]) for h in history) == [("2", "1"), ("3", "1")]


def test_a_champion_that_cannot_be_scored_fails_the_gate(
    mlflow_store: str, scratch_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A candidate with fewer features than the champion is "not comparable": exit 1 with
    the reason in one line, never "no champion yet"; a reviewed override lets it through
    and the report says so."""
    first = spec_variant(scratch_repo, "first")
    assert main(["run", str(first), "--promote", "champion"]) == 0
    text = first.read_text(encoding="utf-8")
    column = "    worst fractal dimension: {dtype: float64, min: 0}\n"
    assert column in text, "the example spec's last feature column moved"
    fewer = scratch_repo / "model_specs" / "fewer" / f"{MODEL}.yaml"
    fewer.parent.mkdir()
    fewer.write_text(text.replace(column, ""), encoding="utf-8")
    capsys.readouterr()
    assert main(["run", str(fewer), "--run-dir", str(tmp_path / "fewer")]) == 1
    summary = json.loads((tmp_path / "fewer" / "evaluation.json").read_text())["gate"]["summary"]
    assert "not comparable" in summary and "no champion yet" not in summary
    assert "worst fractal dimension" in summary
    report = (tmp_path / "fewer" / "report.md").read_text(encoding="utf-8")
    assert "Not comparable" in report and "replace_incomparable" in report

    text = fewer.read_text(encoding="utf-8").replace(
        "  champion: {", '  champion: {replace_incomparable: "dropped a noisy feature", ', 1
    )
    overridden = scratch_repo / "model_specs" / "override" / f"{MODEL}.yaml"
    overridden.parent.mkdir()
    overridden.write_text(text, encoding="utf-8")
    assert main(["run", str(overridden), "--run-dir", str(tmp_path / "override")]) == 0
    report = (tmp_path / "override" / "report.md").read_text(encoding="utf-8")
    assert "dropped a noisy feature" in report
