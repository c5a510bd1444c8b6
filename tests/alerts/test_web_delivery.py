"""API, pages, CLI, and delivery through channels (a local webhook receiver that can be down)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

from sqlalchemy import select

from civicpulse.domain.alerts import delivery, services
from civicpulse.domain.alerts.models import Alert, AlertChannel, AlertSettings, Delivery
from civicpulse.domain.alerts.schemas import ChannelCreate
from civicpulse.domain.org.models import Notification
from tests.alerts.conftest import NOW, SYS
from tests.conftest import login
from tests.fakes.server import FakeServer, Reply


def _raise(db, cfg, feed, unit="A"):
    feed(unit, 30, at=NOW, spread_minutes=50)
    with db.session() as s:
        res = services.run_pass(s, cfg, now=NOW, detect_issues=False, send=False)
        return next(a.id for a, _w in res.alerts if a.kind == "volume_spike" and a.unit.code == unit)


def test_webhook_signed_retried_with_backoff_and_not_duplicated(db, cfg, org, feed):
    cfg = cfg.model_copy(update={"allow_private_fetch": True})
    got = []
    fake = FakeServer()
    fake.add("POST", "/hook", lambda r: (got.append(r), Reply(200, {"ok": True}))[1])
    fake.start()
    try:
        with db.session() as s:
            ch = services.create_channel(s, SYS, cfg, ChannelCreate(
                unit_id=org.units["A"], kind="webhook", name="ops", config={"url": fake.url + "/hook"},
                secrets={"signing_key": "k3y"}))
            assert "k3y" not in (ch.secrets or "")  # stored encrypted
        aid = _raise(db, cfg, feed)
        fake.inject("/hook", Reply(503, {"error": "down"}), times=1)
        with db.session() as s:
            out = delivery.send_due(s, cfg, now=NOW)
            assert out["retrying"] == 1
            d = s.scalar(select(Delivery).where(Delivery.alert_id == aid, Delivery.channel_id.is_not(None)))
            assert d.status == "retrying" and d.next_attempt_at == NOW + dt.timedelta(seconds=30)
            assert "503" in d.last_error
            assert delivery.send_due(s, cfg, now=NOW + dt.timedelta(seconds=10))["sent"] == 0  # not yet due
            assert delivery.send_due(s, cfg, now=NOW + dt.timedelta(seconds=31))["sent"] == 1
            assert delivery.send_due(s, cfg, now=NOW + dt.timedelta(minutes=5))["sent"] == 0  # never twice
        body = got[-1].body
        ts = got[-1].headers["x-civicpulse-timestamp"]
        want = hmac.new(b"k3y", ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert got[-1].headers["x-civicpulse-signature"] == f"sha256={want}"
        assert json.loads(body)["id"] == aid
        # the evaluation goes on: the same alert is updated, no new delivery
        with db.session() as s:
            services.run_pass(s, cfg, now=NOW + dt.timedelta(minutes=6), detect_issues=False)
            assert len(list(s.scalars(select(Delivery).where(Delivery.alert_id == aid,
                                                             Delivery.channel_id.is_not(None))))) == 1
    finally:
        fake.stop()


def test_channel_down_fails_after_backoff_and_alert_stays_visible(db, cfg, org, feed):
    with db.session() as s:
        services.create_channel(s, SYS, cfg, ChannelCreate(unit_id=org.units["A"], kind="webhook", name="dead",
                                                           config={"url": "http://127.0.0.1:9/x"},
                                                           secrets={"signing_key": "k"}))
    aid = _raise(db, cfg, feed)
    cfg = cfg.model_copy(update={"allow_private_fetch": True})
    t = NOW
    with db.session() as s:
        for _ in range(delivery.MAX_ATTEMPTS):
            delivery.send_due(s, cfg, now=t)
            t += dt.timedelta(hours=2)
        d = s.scalar(select(Delivery).where(Delivery.alert_id == aid, Delivery.channel_id.is_not(None)))
        assert d.status == "failed" and d.attempts == delivery.MAX_ATTEMPTS
        assert s.get(Alert, aid).open_key is not None
        kinds = set(s.scalars(select(Notification.kind).where(Notification.object_id == str(aid))))
        assert kinds == {"alert", "alert_delivery_failed"}
        assert s.get(AlertChannel, d.channel_id).last_status == "failed"


def test_quiet_hours_hold_and_digest(db, cfg, org, feed):
    with db.session() as s:
        services.create_channel(s, SYS, cfg, ChannelCreate(unit_id=org.units["A"], kind="email", name="desk",
                                                           config={"to": "desk@example.org"}))
        # NOW is 17:30 in Bangkok: quiet from 17 to 8
        s.add(AlertSettings(unit_id=org.units["A"], quiet_start=17, quiet_end=8, digest=False, digest_minutes=60,
                            min_severity="low"))
    aid = _raise(db, cfg, feed)
    with db.session() as s:
        first = s.get(Alert, aid)
        d = s.scalar(select(Delivery).where(Delivery.alert_id == aid, Delivery.channel_id.is_not(None)))
        assert first.severity == "critical" and d.status == "pending"  # critical alerts ignore quiet hours
        other = Alert(unit_id=first.unit_id, unit_path=first.unit_path, kind="negative_surge", key="negative",
                      open_key="negative", severity="high", label="x", summary="y", evidence={}, item_ids=[],
                      first_at=NOW, last_at=NOW)
        s.add(other)
        s.flush()
        delivery.dispatch(s, cfg, other, NOW)
        d = s.scalar(select(Delivery).where(Delivery.alert_id == other.id, Delivery.channel_id.is_not(None)))
        assert d.status == "held"
        assert d.next_attempt_at.astimezone(dt.timezone(dt.timedelta(hours=7))).hour == 8
        n = s.scalar(select(Notification).where(Notification.object_id == str(other.id),
                                                Notification.unit_id == org.units["A"]))
        assert n.email_status is None  # in-app only during quiet hours
        # after the quiet hours it is released (and sent; no SMTP server here, so it retries)
        out = delivery.send_due(s, cfg, now=d.next_attempt_at + dt.timedelta(seconds=1))
        assert d.status in ("sent", "retrying") and out["sent"] + out["retrying"] >= 1


def test_api_and_pages(client, db, cfg, org, feed, token_for):
    aid = _raise(db, cfg, feed)
    login(client, org.email("analyst@A"))
    assert 'data-testid="new-count"' in client.get("/alerts").text
    H = {"Authorization": f"Bearer {token_for(org.users['analyst@A'])}"}
    r = client.get("/api/v1/alerts", headers=H)
    assert r.status_code == 200 and aid in [a["id"] for a in r.json()["items"]]
    r = client.get(f"/api/v1/alerts/{aid}", headers=H)
    assert r.json()["evidence"]["observed"] == 30 and r.json()["events"][0]["action"] == "raised"
    r = client.post(f"/api/v1/alerts/{aid}/transition", json={"status": "resolved"}, headers=H)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    r = client.post(f"/api/v1/alerts/{aid}/transition", json={"status": "acknowledged"}, headers=H)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    HB = {"Authorization": f"Bearer {token_for(org.users['admin@B'])}"}
    assert client.get(f"/api/v1/alerts/{aid}", headers=HB).status_code == 404
    r = client.post("/api/v1/alert-rules", json={"unit_id": org.units["A"], "kind": "volume_spike", "name": "x",
                                                 "params": {"min_ratio": 0.1}}, headers=H)
    assert r.status_code == 403  # analysts do not configure rules
    HA = {"Authorization": f"Bearer {token_for(org.users['admin@A'])}"}
    r = client.post("/api/v1/alert-rules", json={"unit_id": org.units["A"], "kind": "volume_spike", "name": "x",
                                                 "params": {"min_ratio": 0.1}}, headers=HA)
    assert r.status_code == 422 and "min_ratio" in r.json()["error"]["message"]
    r = client.post("/api/v1/alert-channels", json={"unit_id": org.units["A"], "kind": "telegram", "name": "tg",
                                                    "config": {"chat_id": "@ops"}, "secrets": {"bot_token": "1:s3cr3t"}},
                    headers=HA)
    assert r.status_code == 201 and "s3cr3t" not in r.text and r.json()["has_secret"]
    assert client.get("/api/v1/issues", headers=H).status_code == 200
    r = client.put(f"/api/v1/alert-settings/{org.units['A']}", json={"quiet_start": 22, "quiet_end": 22}, headers=HA)
    assert r.status_code == 422
    # pages
    assert 'data-testid="new-count"' not in client.get("/alerts").text  # resolved now
    page = client.get(f"/alerts/{aid}")
    assert page.status_code == 200 and "Volume spike" in page.text and "data-chart" in page.text
    for url in ("/alerts", "/alerts/emerging", f"/alerts/settings?unit_id={org.units['A']}"):
        assert client.get(url).status_code == 200, url
    assert "s3cr3t" not in client.get(f"/alerts/settings?unit_id={org.units['A']}").text


def test_cli_run_and_detect_json(db, cfg, org, feed, monkeypatch):
    from typer.testing import CliRunner

    from civicpulse.cli import app

    feed("A", 30, at=dt.datetime.now(dt.UTC), spread_minutes=50)
    monkeypatch.setenv("CIVICPULSE_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("CIVICPULSE_SECRET_KEY", cfg.secret_key)
    monkeypatch.setenv("CIVICPULSE_ENV", "test")
    monkeypatch.setenv("CIVICPULSE_DATA_DIR", str(cfg.data_dir))
    from civicpulse.config import get_settings

    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["alerts", "run", "--json"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.output)
        spike = next(a for a in out["alerts"] if a["kind"] == "volume_spike" and a["unit"] == "A")
        assert spike["change"] == "raised" and len(spike["item_ids"]) == 30
        r = CliRunner().invoke(app, ["issues", "detect", "--json"])
        assert r.exit_code == 0 and json.loads(r.output) == {"issues": []}  # no embeddings yet
        r = CliRunner().invoke(app, ["alerts", "replay", "--from", "2026-01-01", "--to", "2025-01-01"])
        assert r.exit_code == 1 and "must be after" in r.output
    finally:
        get_settings.cache_clear()


def test_the_every_minute_job_runs_the_alerts_pass(db, cfg, org, feed, monkeypatch):
    feed("B", 30, at=dt.datetime.now(dt.UTC), spread_minutes=50)
    for key, value in (("CIVICPULSE_DATABASE_URL", cfg.database_url), ("CIVICPULSE_SECRET_KEY", cfg.secret_key),
                       ("CIVICPULSE_ENV", "test"), ("CIVICPULSE_DATA_DIR", str(cfg.data_dir))):
        monkeypatch.setenv(key, value)
    from civicpulse.config import get_settings

    get_settings.cache_clear()
    try:
        from civicpulse.jobs import tasks

        out = tasks.alerts_pass()
        assert out["alerts"] >= 1 and out["rules"] > 0
        with db.session() as s:
            assert s.scalar(select(Alert.id).where(Alert.kind == "volume_spike", Alert.unit_id == org.units["B"]))
        assert tasks.alerts_pass()["alerts"] >= 1  # the same alert, updated
        with db.session() as s:
            assert len(list(s.scalars(select(Alert.id).where(Alert.unit_id == org.units["B"],
                                                             Alert.kind == "volume_spike")))) == 1
    finally:
        get_settings.cache_clear()


def test_settings_and_issue_forms(client, db, cfg, org, feed):
    from civicpulse.domain.alerts import issues
    from civicpulse.domain.alerts.models import AlertRule, Issue
    from tests.alerts.conftest import direction, near

    named = {"type": "org", "text": "x", "id": "org:x", "name": 'Acme "<b>Corp</b>"'}
    feed("A", 6, at=NOW, embedding=lambda k: near(direction(11), 600 + k), entities=[named])
    with db.session() as s:
        (issue,) = issues.detect(s, now=NOW)
        iid = issue.id
        services.ensure_default_rules(s, s.get(Issue, iid).unit)
    csrf = login(client, org.email("admin@A"))
    uid = org.units["A"]
    with db.session() as s:
        rule = s.scalar(select(AlertRule).where(AlertRule.unit_id == uid, AlertRule.kind == "volume_spike"))
        rid = rule.id
    r = client.post(f"/alerts/rules/{rid}", data={"csrf_token": csrf, "p_alpha": "7", "enabled": "1"},
                    follow_redirects=False)
    assert r.status_code == 303 and "error=" in r.headers["location"]
    page = client.get(r.headers["location"])
    assert "impossible" in page.text
    r = client.post(f"/alerts/rules/{rid}", data={"csrf_token": csrf, "p_min_count": "12"}, follow_redirects=False)
    assert r.status_code == 303 and "error=" not in r.headers["location"]
    with db.session() as s:
        rule = s.get(AlertRule, rid)
        assert rule.params == {"min_count": 12} and rule.enabled is False
    r = client.post(f"/alerts/settings/{uid}", data={"csrf_token": csrf, "quiet_start": "22", "quiet_end": "6",
                                                     "digest": "1", "digest_minutes": "30", "min_severity": "medium"},
                    follow_redirects=False)
    assert r.status_code == 303 and "error=" not in r.headers["location"]
    r = client.post("/alerts/channels/new", data={"csrf_token": csrf, "unit_id": uid, "kind": "webhook",
                                                  "name": "ops", "target": "https://hooks.example.org/x",
                                                  "secret": "hush-hush"}, follow_redirects=False)
    assert r.status_code == 303 and "error=" not in r.headers["location"]
    page = client.get(f"/alerts/settings?unit_id={uid}").text
    assert "hooks.example.org" in page and "hush-hush" not in page
    r = client.post("/alerts/channels/new", data={"csrf_token": csrf, "unit_id": uid, "kind": "webhook",
                                                  "name": "bad", "target": "ftp://x", "secret": "k"},
                    follow_redirects=False)
    assert "error=" in r.headers["location"]
    hostile = "<script>alert(1)</script>"
    r = client.post(f"/alerts/issues/{iid}/rename", data={"csrf_token": csrf, "label": hostile},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/alerts/issues/{iid}").text
    assert hostile not in page and "&lt;script&gt;" in page
    # the people and organisations of its items, escaped, each a search for the items that name it
    assert "<b>Corp</b>" not in page and "Acme &#34;&lt;b&gt;Corp&lt;/b&gt;&#34;</a> (6)" in page
    assert 'href="/listening/search?q=mentions%3A%22Acme%20%3Cb%3ECorp%3C/b%3E%22"' in page
