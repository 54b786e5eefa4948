"""The promotion lock: promotions of one model exclude each other through the store itself.

MLflow has no compare-and-set, but registered-model names are unique in every store
(sqlite, PostgreSQL, a tracking server in front of either): creating a name either
succeeds for exactly one caller or fails with RESOURCE_ALREADY_EXISTS. So:

- **acquire**: create `<model>.promotion-lock`, with the holder (token, owner, purpose,
  expiry) as a tag of the same create call. Success means held; "already exists" means
  somebody else holds it.
- **takeover** of an expired lock (its holder was killed): the one process that manages to
  create `<model>.promotion-lock.takeover.<token>` may delete that lock; everybody else
  who saw it expired backs off. Takeover markers are never deleted, so one expired lock
  is removed at most once, by one process.
- **release**: the holder deletes the lock, but only while well inside its lifetime
  (`margin` before expiry); past that it leaves it for a takeover, so a release can never
  remove a lock another process has taken over.
- **fence**: the holder calls `check_held` before each write; past the margin it stops.

Clocks: expiry is written by the holder's clock and read by others' clocks; `grace`
(PIPELINES_PROMOTION_LOCK_GRACE_SECONDS, 30 s) covers the skew between machines.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pipelines.errors import PromotionConflict
from pipelines.registry.names import TAG_LOCK_HOLDER, lock_model_name, takeover_model_name
from pipelines.settings import settings

log = logging.getLogger(__name__)

ACQUIRE_ATTEMPTS = 3


class LockStore(Protocol):
    """The three store operations the lock needs (implemented by Registry)."""

    def create_model(self, name: str, tags: dict[str, str], description: str) -> bool:
        """Create a registered model; False when the name is taken."""

    def model_tags_or_none(self, name: str) -> dict[str, str] | None:
        """A registered model's tags, or None when it does not exist."""

    def delete_model(self, name: str) -> None:
        """Delete a registered model; nothing when it does not exist."""


@dataclass(frozen=True)
class LockSettings:
    """Lifetime, release margin and clock-skew grace, in seconds."""

    ttl: float = 300.0
    margin: float = 30.0
    grace: float = 30.0

    @classmethod
    def from_env(cls) -> LockSettings:
        """PIPELINES_PROMOTION_LOCK_SECONDS (300) and _GRACE_SECONDS (30); margin = ttl / 10."""
        env = settings()
        ttl, grace = env.lock_seconds, env.lock_grace_seconds
        return cls(ttl=ttl, margin=min(30.0, ttl / 10), grace=grace)


@dataclass
class Holder:
    """Who holds a lock, as written into its tag."""

    token: str
    owner: str
    purpose: str
    since: str
    expires: float

    def to_tag(self) -> str:
        """The tag value (JSON)."""
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Holder | None:
        """Read a lock's holder; None when the tag is missing or unreadable."""
        try:
            value = json.loads(tags.get(TAG_LOCK_HOLDER, ""))
            return cls(
                token=str(value["token"]),
                owner=str(value.get("owner", "?")),
                purpose=str(value.get("purpose", "?")),
                since=str(value.get("since", "?")),
                expires=float(value["expires"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def current_owner() -> str:
    """The GitHub actor and run, or the user, host and process."""
    actor, run = settings().actor, settings().text("GITHUB_RUN_ID")
    where = f"run {run}" if run else f"{socket.gethostname()} pid {os.getpid()}"
    return f"{actor} ({where})"


@dataclass
class PromotionLock:
    """The promotion lock of one model, held between `acquire` and `release`."""

    store: LockStore
    model_name: str
    purpose: str
    settings: LockSettings = field(default_factory=LockSettings.from_env)
    clock: Callable[[], float] = time.time
    holder: Holder | None = None

    @property
    def name(self) -> str:
        """The registered model that is the lock."""
        return lock_model_name(self.model_name)

    def acquire(self) -> None:
        """Take the lock or raise PromotionConflict; nothing else is changed either way."""
        for _ in range(ACQUIRE_ATTEMPTS):
            now = self.clock()
            mine = Holder(
                token=uuid.uuid4().hex,
                owner=current_owner(),
                purpose=self.purpose,
                since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                expires=now + self.settings.ttl,
            )
            if self.store.create_model(
                self.name,
                {TAG_LOCK_HOLDER: mine.to_tag()},
                f"Promotion lock of {self.model_name}: exists while a promotion runs.",
            ):
                self.holder = mine
                log.debug("%s: promotion lock %s taken", self.model_name, mine.token[:8])
                return
            tags = self.store.model_tags_or_none(self.name)
            if tags is None:
                continue  # released between our create and our read: try again
            held = Holder.from_tags(tags)
            if held is None:
                raise PromotionConflict(
                    f"the promotion lock of {self.model_name} ({self.name}) has no readable "
                    "holder; nothing was changed: delete that registered model by hand once no "
                    "promotion runs"
                )
            if self.clock() < held.expires + self.settings.grace:
                raise self._conflict(held)
            self._take_over(held)
        raise PromotionConflict(
            f"another promotion of {self.model_name} kept taking the lock; nothing was changed"
        )

    def _take_over(self, expired: Holder) -> None:
        """Remove an expired lock, if this process wins the election to do so."""
        marker = takeover_model_name(self.model_name, expired.token)
        if not self.store.create_model(
            marker, {}, f"Takeover of an expired promotion lock of {self.model_name}."
        ):
            raise PromotionConflict(
                f"another process is taking over the expired promotion lock of "
                f"{self.model_name} (held by {expired.owner}); nothing was changed"
            )
        log.warning(
            "%s: taking over the promotion lock of %s (%s), expired at %s",
            self.model_name,
            expired.owner,
            expired.purpose,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expired.expires)),
        )
        self.store.delete_model(self.name)

    def check_held(self) -> None:
        """Raise PromotionConflict unless the lock is held and well inside its lifetime."""
        if self.holder is None:
            raise PromotionConflict(f"the promotion lock of {self.model_name} is not held")
        if self.clock() >= self.holder.expires - self.settings.margin:
            raise PromotionConflict(
                f"the promotion of {self.model_name} outlived its lock "
                f"({self.settings.ttl:.0f}s); it stopped before changing anything more"
            )

    def release(self) -> None:
        """Delete the lock if it is still ours and inside its lifetime; else leave it."""
        holder, self.holder = self.holder, None
        if holder is None:
            return
        if self.clock() >= holder.expires - self.settings.margin:
            log.warning(
                "%s: promotion lock held past its lifetime; left for takeover", self.model_name
            )
            return
        tags = self.store.model_tags_or_none(self.name)
        current = Holder.from_tags(tags) if tags is not None else None
        if current is None or current.token != holder.token:
            log.warning("%s: promotion lock is no longer ours; left alone", self.model_name)
            return
        self.store.delete_model(self.name)
        log.debug("%s: promotion lock %s released", self.model_name, holder.token[:8])

    def _conflict(self, held: Holder) -> PromotionConflict:
        left = max(0, int(held.expires + self.settings.grace - self.clock()))
        return PromotionConflict(
            f"another promotion of {self.model_name} is in progress ({held.purpose} by "
            f"{held.owner} since {held.since}); nothing was changed: retry when it ends "
            f"(the lock expires in {left}s)"
        )
