"""`[tool.pipelines] model_prefix`: registered model names carry a project prefix (default
none), so two projects can share one tracking server; callers keep using spec names."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.errors import BadInput
from pipelines.registry import CHAMPION, Registry, lock_model_name
from pipelines.registry.names import registered_model_name, spec_model_name


def _config(tmp_path: Path, table: str) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "pyproject.toml").write_text(f"[tool.pipelines]\n{table}\n", encoding="utf-8")
    return root


def test_default_is_no_prefix(tmp_path: Path) -> None:
    assert load_config(_config(tmp_path, "")).model_prefix == ""
    assert registered_model_name("item-recs") == "item-recs"
    assert spec_model_name("item-recs") == "item-recs"


def test_prefix_is_read_and_applied(tmp_path: Path) -> None:
    assert load_config(_config(tmp_path, 'model_prefix = "acme-"')).model_prefix == "acme-"
    assert registered_model_name("item-recs", "acme-") == "acme-item-recs"
    assert spec_model_name("acme-item-recs", "acme-") == "item-recs"
    assert spec_model_name("other", "acme-") == "other"


@pytest.mark.parametrize("value", ['"Acme-"', '"acme"', '"a b-"', "3", '"-"'])
def test_a_bad_prefix_is_bad_input(tmp_path: Path, value: str) -> None:
    with pytest.raises(BadInput, match="model_prefix"):
        load_config(_config(tmp_path, f"model_prefix = {value}"))


def test_the_registry_prefixes_what_mlflow_sees(mlflow_store: str, tmp_path: Path) -> None:
    registry = Registry(tmp_path, "prefix-test/", "acme-")
    registry.ensure_registered_model("toy", "a toy")
    client = registry._client
    assert client.get_registered_model("acme-toy").description == "a toy"
    source = tmp_path / "artifact"
    source.mkdir()
    created = registry.register("toy", source.as_uri(), run_id="", tags={"k": "v"})
    assert created.name == "toy"  # callers see spec names
    assert client.get_model_version("acme-toy", created.version).tags["k"] == "v"
    registry.set_alias("toy", CHAMPION, created.version)
    assert str(client.get_model_version_by_alias("acme-toy", CHAMPION).version) == created.version
    found = registry.version_by_alias("toy", CHAMPION)
    assert found is not None and found.name == "toy" and found.version == created.version
    assert registry.get_version("toy", created.version) is not None
    assert registry.model_uri("models:/toy@champion") == "models:/acme-toy@champion"
    assert registry.model_uri("models:/toy/3") == "models:/acme-toy/3"
    assert registry.model_uri("models:/m-0123abc") == "models:/m-0123abc"
    # the promotion lock is prefixed too, so two projects' locks never meet
    assert registry.create_model(lock_model_name("toy"), {}, "")
    assert client.get_registered_model("acme-toy.promotion-lock") is not None
    registry.delete_model(lock_model_name("toy"))
    assert registry.model_tags_or_none(lock_model_name("toy")) is None


def test_no_prefix_changes_nothing(mlflow_store: str, tmp_path: Path) -> None:
    registry = Registry(tmp_path, "prefix-test/")
    registry.ensure_registered_model("toy")
    assert registry._client.get_registered_model("toy").name == "toy"
    assert registry.model_uri("models:/toy@champion") == "models:/toy@champion"
