"""The /api/v1 routes of content and publishing: CRUD, visibility, secrets never returned, calendar exports,
the dashboard, retry and cancel."""

from __future__ import annotations

import csv
import datetime as dt
import io

from civicpulse.connectors.base import ConnectorError
from civicpulse.domain.publishing import engine
from tests.publishing import support


def H(token: str) -> dict[str, str]:  # noqa: N802
    return {"Authorization": f"Bearer {token}"}


def _channel(client, token_for, org, **extra):  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/channels", headers=H(token_for(org.users["admin@A"])), json={
        "unit_id": org.units["A"], "platform": "testnet", "name": "Testnet", "config": {"account": "api"},
        "secrets": {"token": "good"}, **extra})
    assert r.status_code == 201, r.text
    support.PLATFORMS.setdefault("api", support.FakePlatform())
    return r.json()


def test_channels_crud_without_secrets_and_by_role(client, token_for, org):
    ch = _channel(client, token_for, org)
    assert ch["secret_fields"] == ["token"] and "good" not in str(ch)
    editor = H(token_for(org.users["editor@A"]))
    assert client.post("/api/v1/channels", headers=editor, json={
        "unit_id": org.units["A"], "platform": "testnet", "name": "x"}).status_code == 403
    b_admin = H(token_for(org.users["admin@B"]))
    assert client.get(f"/api/v1/channels/{ch['id']}", headers=b_admin).status_code == 404
    assert client.get("/api/v1/channels", headers=b_admin).json() == []
    r = client.post("/api/v1/channels", headers=H(token_for(org.users["admin@A"])), json={
        "unit_id": org.units["A"], "platform": "nowhere", "name": "x"})
    assert r.status_code == 422 and "Unknown platform" in r.json()["error"]["message"]
    admin = H(token_for(org.users["admin@A"]))
    r = client.put(f"/api/v1/channels/{ch['id']}/credentials", headers=admin, json={"secrets": {"token": "new"}})
    assert r.status_code == 200 and "new" not in r.text
    r = client.post(f"/api/v1/channels/{ch['id']}/check", headers=admin)
    assert r.status_code == 200 and r.json()["ok"] is False and "Token expired" in r.json()["message"]
    assert client.patch(f"/api/v1/channels/{ch['id']}", headers=admin, json={"enabled": False}).json()[
        "enabled"] is False
    assert client.delete(f"/api/v1/channels/{ch['id']}", headers=admin).status_code == 204


def test_post_lifecycle_calendar_exports_dashboard_and_retry(client, token_for, org, db, cfg):
    ch = _channel(client, token_for, org)
    editor, approver = H(token_for(org.users["editor@A"])), H(token_for(org.users["approver@A"]))
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    r = client.post("/api/v1/posts", headers=editor, json={
        "unit_id": org.units["A"], "title": "=HYPERLINK(\"x\")", "texts": {"th": "สวัสดี", "en": "Hello"},
        "hashtags": ["#flood", "น้ำท่วม"], "variants": [{"channel_id": ch["id"], "language": "th"}]})
    assert r.status_code == 201, r.text
    post = r.json()
    vid = post["variants"][0]["id"]
    assert post["variants"][0]["text"] == "สวัสดี\n\n#flood #น้ำท่วม"
    assert client.post(f"/api/v1/variants/{vid}/schedule", headers=editor,
                       json={"scheduled_at": when.isoformat()}).json()["state"] == "draft"
    assert client.post(f"/api/v1/posts/{post['id']}/submit", headers=editor).status_code == 200
    assert client.post(f"/api/v1/posts/{post['id']}/approve", headers=editor).status_code == 403
    assert [p["id"] for p in client.get("/api/v1/reviews", headers=approver).json()] == [post["id"]]
    assert client.post(f"/api/v1/posts/{post['id']}/approve", headers=approver).json()["variants"][0][
        "state"] == "scheduled"
    hist = client.get(f"/api/v1/posts/{post['id']}/history", headers=editor).json()
    assert [h["action"] for h in hist] == ["submitted", "approved"]

    cal = client.get("/api/v1/calendar", headers=editor).json()
    assert [v["id"] for v in cal] == [vid]
    ics = client.get("/api/v1/calendar.ics", headers=editor)
    assert ics.status_code == 200 and "BEGIN:VEVENT" in ics.text and f"DTSTART:{when:%Y%m%dT%H%M%SZ}" in ics.text
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/calendar.csv", headers=editor).text)))
    assert rows[0]["state"] == "scheduled" and rows[0]["title"].startswith("'=")  # no spreadsheet formulas
    assert client.get("/api/v1/calendar", headers=H(token_for(org.users["admin@B"]))).json() == []

    # publish now, fail permanently, see it on the dashboard, retry
    assert client.post(f"/api/v1/variants/{vid}/schedule", headers=editor,
                       json={"scheduled_at": (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()}
                       ).json()["state"] == "scheduled"
    support.PLATFORMS["api"].fail_next.append(ConnectorError("permanent", "duplicate content", status=403))
    engine.dispatch_due(db, cfg)
    dash = client.get("/api/v1/publishing/dashboard", headers=editor).json()
    assert [v["id"] for v in dash["failed"]] == [vid] and "duplicate content" in dash["failed"][0]["reason"]
    assert dash["counts"]["failed"] == 1
    listed = client.get("/api/v1/variants?state=failed", headers=editor).json()
    assert listed["total"] == 1
    assert client.post(f"/api/v1/variants/{vid}/retry", headers=editor).json()["state"] == "scheduled"
    engine.dispatch_due(db, cfg)
    v = client.get(f"/api/v1/variants/{vid}", headers=editor).json()
    assert v["state"] == "published" and v["external_id"]
    atts = client.get(f"/api/v1/variants/{vid}/attempts", headers=editor).json()
    assert [a["outcome"] for a in atts] == ["permanent", "published"]
    assert client.post(f"/api/v1/variants/{vid}/cancel", headers=editor).status_code == 409
    assert client.delete(f"/api/v1/posts/{post['id']}", headers=editor).status_code == 409


def test_bad_input_gets_a_clear_error(client, token_for, org):
    ch = _channel(client, token_for, org)
    editor = H(token_for(org.users["editor@A"]))
    r = client.post("/api/v1/posts", headers=editor, json={"unit_id": org.units["A"], "title": "t", "texts": {}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    r = client.post("/api/v1/posts", headers=editor, json={"unit_id": org.units["A"], "title": "t",
                                                          "texts": {"fr": "bonjour"}})
    assert r.status_code == 422 and "unknown language" in r.text
    r = client.post("/api/v1/posts", headers=editor, json={
        "unit_id": org.units["A"], "title": "t", "texts": {"en": "x"},
        "variants": [{"channel_id": ch["id"], "scheduled_at": "2026-12-01T09:00:00"}]})
    assert r.status_code == 422 and "time zone" in r.text
    r = client.post("/api/v1/posts", headers=editor, json={"unit_id": org.units["B"], "title": "t",
                                                          "texts": {"en": "x"}})
    assert r.status_code == 404
    assert client.get("/api/v1/posts", headers=editor).json()["total"] == 0
