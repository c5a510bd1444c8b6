"""The publishing engine: publish, retry with backoff, permanent failure, rate limits, reconciliation."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from civicpulse.connectors.base import ConnectorError
from civicpulse.db.base import utcnow
from civicpulse.domain.org.models import AuditEntry, Notification
from civicpulse.domain.publishing import engine
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.models import Channel, PublishAttempt, RateBucket, Variant
from tests.publishing import support

OPTS = engine.EngineOptions(backoff_base=1.0, max_attempts=3)


def _setup(db, cfg, org, **kw):  # type: ignore[no-untyped-def]
    ch = support.channel(db, cfg, org.units["A"], **kw)
    editor = support.actor(db, org.users["editor@A"])
    approver = support.actor(db, org.users["approver@A"])
    return ch, editor, approver


def _variants(db, pid=None):  # type: ignore[no-untyped-def]
    with db.session() as s:
        stmt = select(Variant).order_by(Variant.id)
        if pid is not None:
            stmt = stmt.where(Variant.post_id == pid)
        return list(s.scalars(stmt))


def _make_due(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.execute(update(Variant).where(Variant.state.in_(("scheduled", "publishing")))
                  .values(next_attempt_at=utcnow() - dt.timedelta(seconds=1),
                          lease_until=utcnow() - dt.timedelta(seconds=1)))


def test_due_post_is_published_once_and_every_transition_is_audited(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    pid = support.approved_post(db, editor, approver, org.units["A"], [ch])
    stats = engine.dispatch_due(db, cfg, OPTS)
    assert stats.outcomes["published"] == 1
    (v,) = _variants(db, pid)
    assert v.state == "published" and v.external_id == "t1" and v.external_url.endswith("/p/1")
    assert testnet["main"].calls == [v.idempotency_key]
    assert engine.dispatch_due(db, cfg, OPTS).due == 0  # nothing left, nothing posted twice
    assert len(testnet["main"].calls) == 1
    with db.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "variant",
                                                                 AuditEntry.object_id == str(v.id))
                                 .order_by(AuditEntry.id)))
    assert actions == ["variant.create", "variant.in_review", "variant.approved", "variant.scheduled",
                       "variant.publishing", "variant.published"]


def test_future_post_waits_for_its_time(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch], at=utcnow() + dt.timedelta(hours=1))
    assert engine.dispatch_due(db, cfg, OPTS).due == 0
    assert _variants(db)[0].state == "scheduled"


def test_transient_error_is_retried_with_backoff_then_succeeds(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    testnet["main"].fail_next.append(ConnectorError("transient", "server busy", status=503))
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["retry"] == 1
    (v,) = _variants(db)
    assert v.state == "scheduled" and v.next_attempt_at > utcnow() and "server busy" in v.reason
    assert engine.dispatch_due(db, cfg, OPTS).due == 0  # backoff: not due yet
    _make_due(db)
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == 1
    (v,) = _variants(db)
    assert v.state == "published" and v.attempts == 2 and len(testnet["main"].posts) == 1
    with db.session() as s:
        assert [a.outcome for a in s.scalars(select(PublishAttempt).order_by(PublishAttempt.id))] == [
            "transient", "published"]


def test_transient_errors_give_up_after_max_attempts(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    testnet["main"].fail_next.extend(ConnectorError("transient", "server busy", status=503) for _ in range(5))
    for _ in range(3):
        _make_due(db)
        engine.dispatch_due(db, cfg, OPTS)
    (v,) = _variants(db)
    assert v.state == "failed" and "Gave up after 3 attempts" in v.reason


def test_permanent_error_stops_at_once_with_reason_and_notifies(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    testnet["main"].fail_next.append(ConnectorError("permanent", "this post breaks the platform's rules",
                                                    platform_message="policy violation #12", status=400))
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["failed"] == 1
    (v,) = _variants(db)
    assert v.state == "failed" and "breaks the platform's rules" in v.reason and "policy violation #12" in v.reason
    assert len(testnet["main"].calls) == 1
    _make_due(db)
    assert engine.dispatch_due(db, cfg, OPTS).due == 0
    with db.session() as s:
        notes = list(s.scalars(select(Notification).where(Notification.kind == "post_failed")))
    assert {n.user_id for n in notes} >= {org.users["editor@A"], org.users["approver@A"]}
    assert any(n.user_id is None and n.unit_id == org.units["A"] for n in notes)
    assert all("breaks the platform's rules" in n.body for n in notes)


def test_revoked_token_fails_with_the_fix_and_marks_the_channel_red(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org, token="revoked")
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    engine.dispatch_due(db, cfg, OPTS)
    (v,) = _variants(db)
    assert v.state == "failed" and "Reconnect the channel" in v.reason
    with db.session() as s:
        assert s.get(Channel, ch).health_ok is False


def test_rate_limit_queues_instead_of_failing(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org, config={"max_per_minute": 2})
    for i in range(5):
        support.approved_post(db, editor, approver, org.units["A"], [ch], text=f"post {i}")
    stats = engine.dispatch_due(db, cfg, OPTS)
    assert stats.outcomes["published"] == 2 and stats.outcomes["queued"] == 3
    vs = _variants(db)
    waiting = [v for v in vs if v.state == "scheduled"]
    assert len(waiting) == 3 and all(v.next_attempt_at > utcnow() + dt.timedelta(seconds=20) for v in waiting)
    assert not [v for v in vs if v.state == "failed"]
    with db.session() as s:  # a minute later the bucket has refilled
        s.execute(update(RateBucket).values(updated_at=utcnow() - dt.timedelta(seconds=61)))
    _make_due(db)
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == 2


def test_platform_rate_limit_answer_waits_retry_after_without_counting_an_attempt(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    testnet["main"].fail_next.append(ConnectorError("rate_limited", "too many posts", retry_after=120, status=429))
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["rate_limited"] == 1
    (v,) = _variants(db)
    assert v.state == "scheduled" and v.attempts == 0
    assert v.next_attempt_at > utcnow() + dt.timedelta(seconds=100)


def test_unknown_outcome_is_reconciled_by_lookup_not_posted_again(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    testnet["main"].crash_after_store = 1  # the platform stored it, the answer was lost
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["retry"] == 1
    (v,) = _variants(db)
    assert v.state == "scheduled" and v.in_doubt
    _make_due(db)
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["reconciled"] == 1
    (v,) = _variants(db)
    assert v.state == "published" and v.external_id == "t1"
    assert len(testnet["main"].calls) == 1


def test_worker_killed_mid_publish_is_reconciled_after_its_lease(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    (v,) = _variants(db)
    c = engine.claim(db, cfg, v.id, OPTS)  # a worker claims it ...
    assert isinstance(c, engine.Claim)
    testnet["main"].publish(c.request)  # ... posts it, and dies before recording the answer
    assert engine.dispatch_due(db, cfg, OPTS).due == 0  # its lease still runs
    _make_due(db)
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["reconciled"] == 1
    assert len(testnet["main"].calls) == 1 and _variants(db)[0].state == "published"
    assert engine.finish_published(db, c, testnet["main"].posts[c.request.idempotency_key]) == "lost"


def test_platform_without_lookup_gets_needs_a_check_instead_of_a_second_post(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    testnet["main"].can_lookup = False
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    (v,) = _variants(db)
    engine.claim(db, cfg, v.id, OPTS)  # claimed, then the worker died
    _make_due(db)
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["needs_check"] == 1
    (v,) = _variants(db)
    assert v.state == "failed" and v.needs_check and "Check the channel" in v.reason
    assert testnet["main"].calls == []
    with db.session() as s:
        pub.resolve_check(s, editor, v.id, found=True, url="https://testnet.example/p/9")
    (v,) = _variants(db)
    assert v.state == "published" and v.external_url == "https://testnet.example/p/9"


def test_retry_after_failure_publishes(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    testnet["main"].fail_next.append(ConnectorError("permanent", "text too long", status=400))
    engine.dispatch_due(db, cfg, OPTS)
    (v,) = _variants(db)
    with db.session() as s:
        pub.retry(s, editor, v.id)
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["published"] == 1


def test_token_health_check_turns_red_and_warns_the_unit_before_posts_fail(db, cfg, org, testnet):
    ch, editor, approver = _setup(db, cfg, org, token="expired")
    support.approved_post(db, editor, approver, org.units["A"], [ch], at=utcnow() + dt.timedelta(hours=5))
    h = engine.check_channel(db, cfg, ch)
    assert not h.ok and "Token expired" in h.message
    with db.session() as s:
        c = s.get(Channel, ch)
        assert c.health_ok is False and "Token expired" in c.health_message
        (n,) = s.scalars(select(Notification).where(Notification.kind == "channel_unhealthy"))
    assert n.unit_id == org.units["A"] and "1 post(s) are waiting" in n.body
    engine.check_channel(db, cfg, ch)  # still red: no second warning
    with db.session() as s:
        assert len(list(s.scalars(select(Notification).where(Notification.kind == "channel_unhealthy")))) == 1


def test_disabled_channel_fails_with_a_reason_instead_of_waiting_silently(db, cfg, org, testnet):
    from civicpulse.domain.publishing.schemas import ChannelUpdate

    ch, editor, approver = _setup(db, cfg, org)
    support.approved_post(db, editor, approver, org.units["A"], [ch])
    with db.session() as s:
        pub.update_channel(s, support.SYSTEM, ch, ChannelUpdate(enabled=False))
    assert engine.dispatch_due(db, cfg, OPTS).outcomes["failed"] == 1
    (v,) = _variants(db)
    assert v.state == "failed" and "disabled" in v.reason and testnet["main"].calls == []
