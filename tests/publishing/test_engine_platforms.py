"""The engine with real connectors and their local platforms: re-sending to platforms that ignore repeats (LINE),
storing renewed tokens (Zalo), replies to listening items, batched claims and X channels through the API."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from civicpulse import crypto
from civicpulse.db.base import utcnow
from civicpulse.domain.listening.models import Item, Source
from civicpulse.domain.org.models import AuditEntry, Unit
from civicpulse.domain.publishing import engine
from civicpulse.domain.publishing.models import Channel, PublishAttempt, Variant
from tests.publishing import support

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fakes.line import FakeLine  # noqa: E402
from fakes.zalo import FakeZalo  # noqa: E402

OPTS = engine.EngineOptions(backoff_base=1.0, max_attempts=3)


@pytest.fixture
def line_server() -> Iterator[FakeLine]:
    with FakeLine() as srv:
        yield srv


@pytest.fixture
def zalo_server() -> Iterator[FakeZalo]:
    with FakeZalo() as srv:
        yield srv


def _people(db, org):  # type: ignore[no-untyped-def]
    return support.actor(db, org.users["editor@A"]), support.actor(db, org.users["approver@A"])


def _channel(db, cfg, org, platform: str, config: dict, secrets: dict) -> int:  # type: ignore[type-arg]
    from civicpulse.domain.publishing import services as pub
    from civicpulse.domain.publishing.schemas import ChannelCreate

    with db.session() as s:
        return pub.create_channel(s, support.SYSTEM, cfg, ChannelCreate(
            unit_id=org.units["A"], platform=platform, name=f"{platform} channel",
            config={"allow_private": True, "timeout": 2, **config}, secrets=secrets)).id


def _variants(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(s.scalars(select(Variant).order_by(Variant.id)))


def _make_due(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.execute(update(Variant).where(Variant.state.in_(("scheduled", "publishing")))
                  .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1),
                          lease_until=utcnow() - dt.timedelta(seconds=1)))


def test_line_unknown_outcome_is_sent_again_with_the_same_retry_key_not_a_check(db, cfg, org, line_server):
    ch = _channel(db, cfg, org, "line", {"base_url": line_server.url}, {"channel_access_token": "line-token"})
    editor, approver = _people(db, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch], text="ประกาศ: ฉีดวัคซีนสัปดาห์หน้า")
    (v,) = _variants(db)
    c = engine.claim(db, cfg, v.id, OPTS)  # a worker claims it ...
    assert isinstance(c, engine.Claim)
    first = engine.connector_for(db, cfg, ch).publish(c.request)  # ... LINE accepts it, and the worker dies
    assert len(line_server.sent) == 1
    _make_due(db)
    stats = engine.dispatch_due(db, cfg, OPTS)
    assert stats.outcomes["published"] == 1 and stats.outcomes["needs_check"] == 0
    (v,) = _variants(db)
    assert v.state == "published" and not v.needs_check and v.external_id == first.external_id
    assert len(line_server.sent) == 1  # LINE answered 409 for the repeated X-Line-Retry-Key: delivered once
    with db.session() as s:
        outcomes = list(s.scalars(select(PublishAttempt.outcome).where(PublishAttempt.variant_id == v.id)
                                  .order_by(PublishAttempt.id)))
    assert outcomes == ["resend", "published"]


def test_line_in_doubt_but_never_received_is_delivered_once(db, cfg, org, line_server):
    ch = _channel(db, cfg, org, "line", {"base_url": line_server.url}, {"channel_access_token": "line-token"})
    editor, approver = _people(db, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    (v,) = _variants(db)
    engine.claim(db, cfg, v.id, OPTS)  # claimed, then the worker died before sending
    _make_due(db)
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == 1
    (v,) = _variants(db)
    [sent] = line_server.sent
    assert v.state == "published" and v.external_id == sent["request_id"]


def _zalo_secrets(db, cfg, ch: int) -> dict:  # type: ignore[type-arg]
    with db.session() as s:
        row = s.get(Channel, ch)
        assert row is not None
        return crypto.decrypt(cfg, row.secrets)


def test_zalo_renewed_single_use_tokens_are_stored_with_the_outcome(db, cfg, org, zalo_server):
    ch = _channel(db, cfg, org, "zalo", {"base_url": zalo_server.url, "oauth_url": zalo_server.oauth_url,
                                         "app_id": "4242"},
                  {"access_token": "old", "refresh_token": "zalo-refresh-1", "secret_key": "zalo-secret"})
    editor, approver = _people(db, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == 1
    secrets = _zalo_secrets(db, cfg, ch)
    assert secrets["refresh_token"] != "zalo-refresh-1" and secrets["refresh_token"] in zalo_server.refresh_tokens
    assert secrets["access_token"] in zalo_server.tokens and secrets["secret_key"] == "zalo-secret"
    with db.session() as s:
        row = s.get(Channel, ch)
        assert row is not None and row.secrets is not None and "zalo-refresh" not in row.secrets  # encrypted
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "channel.credentials_renewed",
                                                    AuditEntry.object_id == str(ch)))
    # the stored pair keeps working: the token expires again, the new refresh token renews it
    zalo_server.tokens.clear()
    support.approved_post(db, editor, approver, org.units["A"], [ch], text="second article")
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == 1
    assert len(zalo_server.articles) == 2
    third = _zalo_secrets(db, cfg, ch)
    assert third["refresh_token"] not in (secrets["refresh_token"], "zalo-refresh-1")
    # the token-health check stores what it renewed as well
    zalo_server.tokens.clear()
    health = engine.check_channel(db, cfg, ch)
    assert health.ok, health.message
    assert _zalo_secrets(db, cfg, ch)["refresh_token"] not in (third["refresh_token"], secrets["refresh_token"])
    assert all(v.state == "published" for v in _variants(db))


def _item(db, org, platform: str, external_id: str) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        unit = s.get(Unit, org.units["A"])
        assert unit is not None
        src = Source(unit_id=unit.id, name=f"{platform} listening", platform=platform)
        s.add(src)
        s.flush()
        item = Item(source_id=src.id, unit_id=unit.id, unit_path=unit.path, external_id=external_id,
                    text="Is the clinic open on Sunday?", content_hash=external_id.ljust(64, "0")[:64])
        s.add(item)
        s.flush()
        return item.id


def test_variant_answering_a_listening_item_is_published_as_a_reply_on_the_same_platform(db, cfg, org, testnet):
    ch = support.channel(db, cfg, org.units["A"])
    other = support.channel(db, cfg, org.units["A"], account="other")
    same = _item(db, org, "testnet", "tn-post-77")
    elsewhere = _item(db, org, "facebook", "fb-123_456")
    editor, approver = _people(db, org)
    for item_id, channel_id in ((same, ch), (elsewhere, other)):
        pid = support.approved_post(db, editor, approver, org.units["A"], [channel_id])
        with db.session() as s:
            v = s.scalars(select(Variant).where(Variant.post_id == pid)).one()
            v.options = {**(v.options or {}), "reply_to_item": item_id}
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == 2
    [reply] = testnet["main"].requests
    assert reply.reply_to == "tn-post-77"
    [plain] = testnet["other"].requests
    assert plain.reply_to is None  # the item is on Facebook: a new post on this channel, with a note
    with db.session() as s:
        notes = list(s.scalars(select(PublishAttempt.message).order_by(PublishAttempt.id)))
    assert "tn-post-77" not in notes[1] and "is on Facebook" in notes[1] and "new post" in notes[1]
    assert "Facebook" not in notes[0]


def test_batch_claims_take_rate_tokens_together_and_queue_the_rest(db, cfg, org, testnet):
    ch = support.channel(db, cfg, org.units["A"], config={"max_per_minute": 3})
    editor, approver = _people(db, org)
    for i in range(5):
        support.approved_post(db, editor, approver, org.units["A"], [ch], text=f"post {i}")
    claims, queued = engine.claim_batch(db, cfg, OPTS)
    assert len(claims) == 3 and queued == 2
    # a second worker finds nothing to claim: the claimed ones are leased, the others wait for tokens
    assert engine.claim_batch(db, cfg, OPTS) == ([], 0)
    states = sorted(v.state for v in _variants(db))
    assert states == ["publishing"] * 3 + ["scheduled"] * 2
    waiting = [v for v in _variants(db) if v.state == "scheduled"]
    assert all(v.attempts == 0 and v.next_attempt_at > utcnow() for v in waiting)
    assert waiting[0].next_attempt_at < waiting[1].next_attempt_at  # spread at the bucket's refill rate
    done = []
    for c in claims:
        out = engine.execute(db, cfg, c, OPTS)
        assert isinstance(out, tuple)
        done.append((c, out[0], out[1]))
    assert engine.finish_published_many(db, cfg, done) == ["published"] * 3
    assert len(testnet["main"].calls) == 3 and len(set(testnet["main"].calls)) == 3


def test_x_channel_can_be_created_through_the_api(client, token_for, org):
    r = client.post("/api/v1/channels", headers={"Authorization": f"Bearer {token_for(org.users['admin@A'])}"},
                    json={"unit_id": org.units["A"], "platform": "x", "name": "Ministry on X",
                          "secrets": {"access_token": "x-user-token"}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["platform"] == "x" and "x-user-token" not in r.text
    r = client.post("/api/v1/channels", headers={"Authorization": f"Bearer {token_for(org.users['admin@A'])}"},
                    json={"unit_id": org.units["A"], "platform": "", "name": "Nothing"})
    assert r.status_code == 422 and r.json()["error"]["code"]
