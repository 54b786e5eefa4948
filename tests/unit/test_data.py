"""Data loading and checks: the pin, schema, ranges, nulls, duplicates, drift, escapes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.data.checks import run_checks
from pipelines.data.profile import id_profile, profile_frame, psi, unseen_fraction
from pipelines.data.sources import load_data
from pipelines.errors import BadInput
from pipelines.spec import load_spec


def _spec_for_csv(repo: Path, csv_text: str, name: str = "small.csv", extra: str = "") -> Path:
    (repo / "data" / name).write_bytes(csv_text.encode("utf-8"))
    digest = hashlib.sha256(csv_text.encode("utf-8")).hexdigest()
    spec = (repo / "model_specs" / "item-recs.yaml").read_text(encoding="utf-8")
    spec = spec.replace("data/interactions.csv", f"data/{name}")
    spec = spec.replace("9eb609e8b3f35f39bd821e9bbda3422a44d9dab4fa2cfe721a1f3430c89cde57", digest)
    spec = spec.replace("min_rows: 10000", "min_rows: 2" + extra)
    path = repo / "model_specs" / "small" / "item-recs.yaml"  # spec name = file stem
    path.parent.mkdir(exist_ok=True)
    path.write_text(spec, encoding="utf-8")
    return path


def _failures(path: Path) -> list[str]:
    loaded = load_spec(path)
    results, _ = run_checks(loaded, load_data(loaded), None)
    return [r.name for r in results if not r.passed]


def test_example_data_passes_every_check() -> None:
    root = Path(__file__).resolve().parents[2]
    assert _failures(root / "model_specs" / "item-recs.yaml") == []


def test_sha256_mismatch_names_the_pin(scratch_repo: Path) -> None:
    with (scratch_repo / "data" / "interactions.csv").open("a") as handle:
        handle.write("9999,1001,3.0\n")
    loaded = load_spec(scratch_repo / "model_specs" / "item-recs.yaml")
    with pytest.raises(BadInput) as caught:
        load_data(loaded)
    assert caught.value.field == "data.sha256"
    assert caught.value.line == loaded.line_of("data", "sha256")
    assert "the spec pins" in str(caught.value)


def test_range_null_and_duplicate_checks(scratch_repo: Path) -> None:
    csv = "user_id,item_id,rating\n1,1001,4.0\n1,1001,4.0\n2,1002,9.0\n3,1003,\n"
    failures = _failures(_spec_for_csv(scratch_repo, csv))
    assert {"rating.max", "rating.nulls", "null_fraction", "duplicate_fraction"} <= set(failures)


def test_infinite_values_fail(scratch_repo: Path) -> None:
    csv = "user_id,item_id,rating\n1,1001,inf\n2,1002,3.0\n"
    assert "rating.finite" in _failures(_spec_for_csv(scratch_repo, csv))


def test_text_in_a_number_column_names_the_line(scratch_repo: Path) -> None:
    csv = "user_id,item_id,rating\n1,1001,4.0\n2,1002,great\n"
    loaded = load_spec(_spec_for_csv(scratch_repo, csv))
    with pytest.raises(BadInput) as caught:
        load_data(loaded)
    assert caught.value.line == 3
    assert caught.value.field == "data.columns.rating"
    assert "'great'" in str(caught.value)


def test_text_in_an_int_column_fails_the_dtype_check(scratch_repo: Path) -> None:
    csv = "user_id,item_id,rating\nabc,1001,4.0\n2,1002,3.0\n"
    assert "user_id.dtype" in _failures(_spec_for_csv(scratch_repo, csv))


def test_missing_column_and_duplicate_header(scratch_repo: Path) -> None:
    loaded = load_spec(_spec_for_csv(scratch_repo, "user_id,item_id\n1,1001\n"))
    with pytest.raises(BadInput, match="no column 'rating'"):
        load_data(loaded)
    loaded = load_spec(_spec_for_csv(scratch_repo, "user_id,item_id,rating,rating\n1,2,3,4\n"))
    with pytest.raises(BadInput, match="duplicate column 'rating'"):
        load_data(loaded)


def test_non_utf8_file(scratch_repo: Path) -> None:
    path = _spec_for_csv(scratch_repo, "user_id,item_id,rating\n1,1001,4.0\n")
    raw = "user_id,item_id,rating\n1,1001,4.0\n2,1002,3.0 caf\xe9\n".encode("latin-1")
    (scratch_repo / "data" / "small.csv").write_bytes(raw)
    text = path.read_text(encoding="utf-8")
    old_pin = text.split("sha256: ")[1].split()[0]
    path.write_text(text.replace(old_pin, hashlib.sha256(raw).hexdigest()), encoding="utf-8")
    with pytest.raises(BadInput, match="not UTF-8"):
        load_data(load_spec(path))


@pytest.mark.parametrize("source", ["../outside.csv", "/etc/passwd", "data/link.csv"])
def test_paths_escaping_the_repository_are_refused(scratch_repo: Path, source: str) -> None:
    (scratch_repo / "data" / "link.csv").symlink_to("/etc/hostname")
    spec = scratch_repo / "model_specs" / "item-recs.yaml"
    spec.write_text(spec.read_text().replace("data/interactions.csv", source), encoding="utf-8")
    loaded = load_spec(spec)
    with pytest.raises(BadInput) as caught:
        load_data(loaded)
    assert caught.value.field == "data.source"


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = profile_frame(
        pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(list("ab"), 5000)})
    )
    same = pd.Series(rng.normal(0, 1, 5000))
    shifted = pd.Series(rng.normal(1.5, 1, 5000))
    assert psi(reference["x"], same) < 0.05
    assert psi(reference["x"], shifted) > 0.5
    assert psi(reference["c"], pd.Series(["a"] * 5000)) > 0.5


def test_drift_check_uses_the_reference_profile(scratch_repo: Path) -> None:
    loaded = load_spec(scratch_repo / "model_specs" / "item-recs.yaml")
    data = load_data(loaded)
    reference = profile_frame(
        data.frame.assign(rating=data.frame["rating"] - 2.0), loaded.spec.id_columns()
    )
    results, _ = run_checks(loaded, data, reference)
    drift = {r.name: r.passed for r in results if r.name.endswith(".drift")}
    assert drift["rating.drift"] is False
    assert "user_id.drift" not in drift, "ids are not compared by PSI"
    unseen = {r.name: r for r in results if r.name.endswith(".unseen")}
    assert set(unseen) == {"user_id.unseen", "item_id.unseen"}
    assert unseen["user_id.unseen"].detail.startswith("0.0000 of rows")


def test_new_users_read_as_unseen_ids_not_drift(scratch_repo: Path) -> None:
    spec = scratch_repo / "model_specs" / "item-recs.yaml"
    spec.write_text(
        spec.read_text().replace(
            "max_drift_psi: 0.2", "max_drift_psi: 0.2\n    max_unseen_id_fraction: 0.1"
        ),
        encoding="utf-8",
    )
    loaded = load_spec(spec)
    data = load_data(loaded)
    frame = data.frame
    old_users = frame[frame["user_id"] <= 1500]  # the champion saw half of the users
    reference = profile_frame(old_users, loaded.spec.id_columns())
    results, _ = run_checks(loaded, data, reference)
    by_name = {r.name: r for r in results}
    share_new = float((frame["user_id"] > 1500).mean())
    rate = float(by_name["user_id.unseen"].detail.split()[0])
    assert share_new * (1 - 1 / 32) <= rate <= share_new  # hash collisions only read low
    assert not by_name["user_id.unseen"].passed and by_name["user_id.unseen"].blocking
    assert by_name["item_id.unseen"].passed


def test_unseen_fraction_is_exact_up_to_collisions() -> None:
    rng = np.random.default_rng(1)
    known = pd.Series(rng.choice(10**9, 50_000, replace=False))
    profile = id_profile(known)
    assert profile["bits"] >= 32 * 50_000
    assert unseen_fraction(profile, known) == 0.0
    fresh = pd.Series(rng.choice(10**9, 20_000, replace=False) + 10**9)
    mixed = pd.concat([known.sample(20_000, random_state=0), fresh])
    assert unseen_fraction(profile, mixed) == pytest.approx(0.5, abs=0.5 / 32)
    assert unseen_fraction(profile_frame(pd.DataFrame({"x": [1.0, 2.0]}))["x"], known) is None


def test_every_bundled_scikit_learn_loader_is_a_source() -> None:
    from pipelines.data.sources import sklearn_frame, sklearn_loaders

    loaders = sklearn_loaders()
    assert {"load_digits", "load_wine", "load_diabetes", "load_linnerud"} <= set(loaders)
    assert not [name for name in loaders if not name.startswith("load_")]
    assert "od280/od315_of_diluted_wines" in sklearn_frame("load_wine").columns
    assert "mean radius" in sklearn_frame("load_breast_cancer").columns


def test_validate_checks_the_loader_and_a_missing_columns_key_lists_columns(
    scratch_repo: Path,
) -> None:
    spec = scratch_repo / "model_specs" / "breast-cancer.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("sklearn:load_breast_cancer", "sklearn:fetch_covtype"))
    with pytest.raises(BadInput, match="unknown dataset 'fetch_covtype'") as caught:
        main_validate(spec)
    assert caught.value.field == "data.source"
    start = text.index("  columns:")
    end = text.index("  checks:")
    spec.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        load_spec(spec)
    assert caught.value.field == "data.columns"
    assert "the columns of sklearn:load_breast_cancer: mean radius, mean texture" in str(
        caught.value
    )


def main_validate(path: Path) -> None:
    from pipelines.state import ModelState
    from pipelines.steps.validate import validate

    loaded = load_spec(path)
    validate(ModelState(loaded, run_dir=path.parent / "run"))
