"""The promotion lock on the embedded store, with a clock the test moves: who may hold,
release and take over (the same code runs against a server in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import PromotionConflict
from pipelines.registry import LockSettings, PromotionLock, Registry, lock_model_name

MODEL = "toy"
SETTINGS = LockSettings(ttl=100.0, margin=10.0, grace=5.0)


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry(mlflow_store: str, tmp_path: Path) -> Registry:
    return Registry(tmp_path, "lock-test/")


def _lock(registry: Registry, clock: Clock, purpose: str = "promote") -> PromotionLock:
    return PromotionLock(registry, MODEL, purpose, SETTINGS, clock)


def _exists(registry: Registry) -> bool:
    return registry.model_tags_or_none(lock_model_name(MODEL)) is not None


def test_one_holder_at_a_time_and_release_frees(registry: Registry) -> None:
    clock = Clock()
    first, second = _lock(registry, clock, "first"), _lock(registry, clock, "second")
    first.acquire()
    with pytest.raises(PromotionConflict, match="first by"):
        second.acquire()
    first.check_held()
    first.release()
    assert not _exists(registry)
    second.acquire()
    second.release()


def test_a_live_lock_is_not_taken_over_within_its_grace(registry: Registry) -> None:
    clock = Clock()
    holder, other = _lock(registry, clock), _lock(registry, clock)
    holder.acquire()
    clock.now += SETTINGS.ttl + SETTINGS.grace - 1  # expired by the holder's clock, not yet ours
    with pytest.raises(PromotionConflict, match="in progress"):
        other.acquire()


def test_a_holder_past_its_margin_stops_writing_and_leaves_the_lock(registry: Registry) -> None:
    clock = Clock()
    slow = _lock(registry, clock)
    slow.acquire()
    clock.now += SETTINGS.ttl - SETTINGS.margin
    with pytest.raises(PromotionConflict, match="outlived its lock"):
        slow.check_held()
    slow.release()
    assert _exists(registry)  # left for a takeover: a late release never deletes blindly


def test_an_expired_lock_is_taken_over_and_the_old_holder_cannot_release_it(
    registry: Registry,
) -> None:
    clock = Clock()
    dead, taker, late = _lock(registry, clock), _lock(registry, clock), _lock(registry, clock)
    dead.acquire()
    assert dead.holder is not None
    dead_token = dead.holder.token
    clock.now += SETTINGS.ttl + SETTINGS.grace + 1
    taker.acquire()
    assert taker.holder is not None and taker.holder.token != dead_token
    # the killed holder wakes up and releases: the new holder's lock stays
    dead.release()
    assert _exists(registry)
    # a second taker who also saw the old lock expired loses the election
    with pytest.raises(PromotionConflict):
        late._take_over(type(taker.holder)(dead_token, "?", "?", "?", 0.0))
    taker.release()
    assert not _exists(registry)
    marker = f"{lock_model_name(MODEL)}.takeover.{dead_token}"
    assert registry.model_tags_or_none(marker) is not None


def test_lock_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.errors import BadInput

    monkeypatch.setenv("PIPELINES_PROMOTION_LOCK_SECONDS", "abc")
    with pytest.raises(BadInput):
        LockSettings.from_env()
    monkeypatch.setenv("PIPELINES_PROMOTION_LOCK_SECONDS", "0")
    with pytest.raises(BadInput):
        LockSettings.from_env()
