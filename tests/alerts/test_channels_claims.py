"""Telegram and LINE channels through the publishing connectors (local fakes), and alerts from the claim
registry's matches."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from sqlalchemy import select

from civicpulse.domain.alerts import delivery, services
from civicpulse.domain.alerts.models import Alert, Delivery
from civicpulse.domain.alerts.schemas import ChannelCreate
from tests.alerts.conftest import NOW, SYS

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fakes.line import FakeLine  # noqa: E402
from fakes.telegram import FakeTelegram  # noqa: E402


def _spike(db, cfg, feed):
    feed("A", 30, at=NOW, spread_minutes=50)
    with db.session() as s:
        res = services.run_pass(s, cfg, now=NOW, detect_issues=False, send=False)
        return next(a.id for a, _w in res.alerts if a.kind == "volume_spike" and a.unit.code == "A")


def test_telegram_and_line_channels(db, cfg, org, feed):
    cfg = cfg.model_copy(update={"allow_private_fetch": True})
    tg, line = FakeTelegram().start(), FakeLine().start()
    try:
        with db.session() as s:
            services.create_channel(s, SYS, cfg, ChannelCreate(
                unit_id=org.units["A"], kind="telegram", name="tg", config={"chat_id": "@civic_news",
                                                                            "base_url": tg.url},
                secrets={"bot_token": "123456:ABC-secret-token"}))
            services.create_channel(s, SYS, cfg, ChannelCreate(
                unit_id=org.units["A"], kind="line", name="line", config={"to": "Uabc", "base_url": line.url},
                secrets={"channel_access_token": "line-token"}))
            services.create_channel(s, SYS, cfg, ChannelCreate(
                unit_id=org.units["A"], kind="telegram", name="revoked", config={"chat_id": "@civic_news",
                                                                                 "base_url": tg.url},
                secrets={"bot_token": "999:revoked"}))
        aid = _spike(db, cfg, feed)
        with db.session() as s:
            out = delivery.send_due(s, cfg, now=NOW)
            assert out["sent"] == 2 and out["failed"] == 1  # a revoked token is not retried
            rows = {d.target: d for d in s.scalars(select(Delivery).where(Delivery.alert_id == aid))}
            assert sum(1 for d in rows.values() if d.status == "failed") == 1
        posts = tg.posts()
        assert len(posts) == 1 and f"/alerts/{aid}" in posts[0]["text"]
        assert len(line.sent) == 1 and "Volume spike" in str(line.sent[0])
    finally:
        tg.stop()
        line.stop()


def test_false_claim_matches_raise_one_alert(db, cfg, org, feed):
    from civicpulse.domain.alerts.claims.models import Claim, ClaimMatch, ClaimText
    from civicpulse.domain.org.models import Unit

    ids = feed("A1", 6, at=NOW - dt.timedelta(minutes=10))
    with db.session() as s:
        unit = s.get(Unit, org.units["A"])
        item_unit = s.get(Unit, org.units["A1"])
        made = []
        for status, text in (("false", "Lemon water cures cancer"), ("true", "Vaccines are free this month")):
            c = Claim(unit_id=unit.id, unit_path=unit.path, status=status, correction={"en": "No."})
            s.add(c)
            s.flush()
            s.add(ClaimText(claim_id=c.id, unit_id=unit.id, lang="en", text=text, text_key=f"k{c.id}", tokens=""))
            made.append(c.id)
        for k, iid in enumerate(ids):
            s.add(ClaimMatch(claim_id=made[k % 2], item_id=iid, item_unit_path=item_unit.path, score=0.9,
                             method="both", matched_at=NOW - dt.timedelta(minutes=5)))
    with db.session() as s:
        from civicpulse.domain.org.models import Notification

        res = services.run_pass(s, cfg, now=NOW, detect_issues=False, send=False)
        claims = [a for a, _w in res.alerts if a.kind == "claim_match"]
        told = set(s.scalars(select(Notification.unit_id).where(Notification.object_id == str(claims[0].id))))
        assert told == {org.units["A1"], org.units["A"]}
        # one alert, at the unit of the items (A1); A hears of it as the parent, R is not flooded
        assert {a.unit.code for a in claims} == {"A1"}
        a1 = next(a for a in claims if a.unit.code == "A1")
        assert a1.key == f"claim:{made[0]}" and "Lemon water" in a1.label and len(a1.item_ids) == 3
        assert not [a for a in claims if a.key == f"claim:{made[1]}"]  # a true claim is no alert
        res = services.run_pass(s, cfg, now=NOW + dt.timedelta(minutes=1), detect_issues=False, send=False)
        assert s.scalar(select(Alert.id).where(Alert.kind == "claim_match", Alert.unit_id == org.units["A1"],
                                               Alert.updates == 1)) == a1.id
