"""Test doubles and helpers for the publishing tests.

``FakePlatform`` is an in-process platform: it stores posts by idempotency key, can be told to fail the next calls
with a given error kind, and can pretend it cannot look posts up. ``TestnetConnector`` is a real
:class:`~civicpulse.connectors.base.Connector` subclass talking to it, registered as platform "testnet" for tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from civicpulse.connectors.base import (
    Connector,
    ConnectorError,
    Health,
    Published,
    PublishRequest,
    RateLimit,
)
from civicpulse.db.base import utcnow
from civicpulse.db.session import Database
from civicpulse.domain.content import services as content
from civicpulse.domain.content.schemas import PostCreate, VariantIn
from civicpulse.domain.org import services as org
from civicpulse.domain.org.models import User
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.publishing import platforms
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.schemas import ChannelCreate

SYSTEM = Actor.system_actor("test", via="cli")


@dataclasses.dataclass
class FakePlatform:
    can_lookup: bool = True
    posts: dict[str, Published] = dataclasses.field(default_factory=dict)
    calls: list[str] = dataclasses.field(default_factory=list)  # idempotency keys, one per publish call
    requests: list[PublishRequest] = dataclasses.field(default_factory=list)  # as received, one per call
    fail_next: list[ConnectorError] = dataclasses.field(default_factory=list)
    crash_after_store: int = 0  # the next N publish calls store the post, then raise (outcome unknown)
    health_error: ConnectorError | None = None
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    ids: Any = dataclasses.field(default_factory=lambda: itertools.count(1))

    def publish(self, req: PublishRequest) -> Published:
        with self.lock:
            self.calls.append(req.idempotency_key)
            self.requests.append(req)
            if self.fail_next:
                raise self.fail_next.pop(0)
            n = next(self.ids)
            out = Published(external_id=f"t{n}", url=f"https://testnet.example/p/{n}", published_at=utcnow())
            self.posts.setdefault(req.idempotency_key, out)
            if self.crash_after_store:
                self.crash_after_store -= 1
                raise RuntimeError("connection reset after the request was sent")
            return self.posts[req.idempotency_key]


PLATFORMS: dict[str, FakePlatform] = {}


class TestnetConnector(Connector):
    platform: ClassVar[str] = "testnet"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (RateLimit(1000, 60.0),)

    @property
    def fake(self) -> FakePlatform:
        return PLATFORMS[self.config["account"]]

    @property
    def can_lookup(self) -> bool:  # type: ignore[override]
        return self.fake.can_lookup

    def publish(self, request: PublishRequest) -> Published:
        if self.config.get("token") != "good":
            raise ConnectorError("auth", "the access token was revoked", status=401)
        return self.fake.publish(request)

    def lookup(self, request: PublishRequest) -> Published | None:
        if not self.fake.can_lookup:
            raise NotImplementedError
        return self.fake.posts.get(request.idempotency_key)

    def health(self) -> Health:
        if self.config.get("token") != "good":
            raise ConnectorError("auth", "Token expired on 3 May; reconnect the page", status=401)
        if self.fake.health_error:
            raise self.fake.health_error
        return Health(ok=True, message="ok", checked_at=utcnow())


def actor(db: Database, user_id: int) -> Actor:
    with db.session() as s:
        return org.actor_for(s, s.get(User, user_id), via="ui")


def channel(db: Database, cfg: Any, unit_id: int, *, account: str = "main", platform: str = "testnet",
            token: str = "good", name: str | None = None,  # noqa: S107 - a fake platform's token
            config: dict[str, Any] | None = None) -> int:
    PLATFORMS.setdefault(account, FakePlatform())
    with db.session() as s:
        ch = pub.create_channel(s, SYSTEM, cfg, ChannelCreate(
            unit_id=unit_id, platform=platform, name=name or f"{platform} {account}",
            config={"account": account, **(config or {})}, secrets={"token": token}))
        return ch.id


def post(db: Database, who: Actor, unit_id: int, channel_ids: list[int], *, at: dt.datetime | None = None,
         text: str = "Vaccination week starts Monday", title: str = "Vaccination week") -> int:
    with db.session() as s:
        p = content.create_post(s, who, PostCreate(unit_id=unit_id, title=title, texts={"en": text}, variants=[
            VariantIn(channel_id=c, scheduled_at=at) for c in channel_ids]))
        return p.id


def approved_post(db: Database, author: Actor, approver: Actor, unit_id: int, channel_ids: list[int], *,
                  at: dt.datetime | None = None, text: str = "Vaccination week starts Monday") -> int:
    pid = post(db, author, unit_id, channel_ids, at=at or utcnow() - dt.timedelta(seconds=1), text=text)
    with db.session() as s:
        pub.submit(s, author, pid)
    with db.session() as s:
        pub.approve(s, approver, pid)
    return pid


@pytest.fixture(autouse=True)
def testnet() -> Iterator[dict[str, FakePlatform]]:
    """The in-process "testnet" platform, registered for the test and emptied before and after it."""
    platforms.register("testnet", TestnetConnector)
    PLATFORMS.clear()
    yield PLATFORMS
    platforms.unregister("testnet")
    PLATFORMS.clear()
