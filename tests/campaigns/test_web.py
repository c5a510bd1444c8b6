"""API, UI (CSRF, escaping, HTMX partial), exports that open, and the command line."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest

from civicpulse.domain.campaigns.models import Campaign
from tests.campaigns.conftest import KIT, TEXTS, H, body, count, day
from tests.conftest import login


def test_api_crud_publish_score(client, org, token_for):  # type: ignore[no-untyped-def]
    tok = token_for(org.users["editor@A"])
    r = client.post("/api/v1/campaigns", json=body(org.units["A"], [org.units["A1"]]), headers=H(tok))
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "draft" and c["kit"]["messages"][0]["id"] == "h1"
    cid = c["id"]
    r = client.patch(f"/api/v1/campaigns/{cid}", json={"version": c["version"], "title": "Helmets, always"},
                     headers=H(tok))
    assert r.status_code == 200 and r.json()["title"] == "Helmets, always"
    r = client.patch(f"/api/v1/campaigns/{cid}", json={"version": c["version"], "title": "stale"}, headers=H(tok))
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = client.post(f"/api/v1/campaigns/{cid}/publish", headers=H(tok))
    assert r.status_code == 200 and r.json()["status"] == "published"
    r = client.post(f"/api/v1/campaigns/{cid}/score", json={"text": TEXTS["contra_th"]}, headers=H(tok))
    assert r.status_code == 200
    res = r.json()
    assert res["level"] == "contradicting" and 0 <= res["score"] <= 1
    assert any(x["code"] == "number_mismatch" and "2 ล้าน" in x["message"] for x in res["reasons"])
    r = client.get("/api/v1/campaigns", headers=H(token_for(org.users["viewer@A"])))
    assert [x["id"] for x in r.json()["items"]] == [cid]
    r = client.get("/api/v1/campaigns/tasks", headers=H(tok))
    assert r.json() == [{"campaign_id": cid, "title": "Helmets, always", "deadline": day(3),
                         "unit_id": org.units["A1"], "unit": "A1"}]
    r = client.get(f"/api/v1/campaigns/{cid}", headers=H(token_for(org.users["admin@B"])))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.delete(f"/api/v1/campaigns/{cid}", headers=H(token_for(org.users["viewer@A"])))
    assert r.status_code == 403
    assert client.delete(f"/api/v1/campaigns/{cid}", headers=H(tok)).status_code == 204
    assert client.get(f"/api/v1/campaigns/{cid}", headers=H(tok)).status_code == 404


@pytest.mark.parametrize(("over", "needle"), [
    ({"kit": {"messages": []}}, "at least one key message"),
    ({"deadline": day(-2)}, "is before the start"),
])
def test_api_bad_input_leaves_db_unchanged(client, org, token_for, db, over, needle):  # type: ignore[no-untyped-def]
    before = count(db, Campaign)
    r = client.post("/api/v1/campaigns", json=body(org.units["A"], [], **over),
                    headers=H(token_for(org.users["editor@A"])))
    assert r.status_code == 422 and needle in json.dumps(r.json()["error"]), r.text
    assert count(db, Campaign) == before


def test_api_target_outside_subtree_is_refused(client, org, token_for, db):  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/campaigns", json=body(org.units["A"], [org.units["B"]]),
                    headers=H(token_for(org.users["admin@A"])))
    assert r.status_code in (403, 422) and count(db, Campaign) == 0


def test_ui_create_with_csrf_detail_escaping_and_align_partial(client, org, db):  # type: ignore[no-untyped-def]
    csrf = login(client, org.email("editor@A"))
    form = {"unit_id": str(org.units["A"]), "title": "<script>alert(1)</script> Helmets", "start_date": day(0),
            "deadline": day(3), "msg-0-kind": "core", "msg-0-en": KIT["messages"][0]["text"]["en"],
            "msg-0-vi": KIT["messages"][0]["text"]["vi"], "hashtags": "#HelmetOn",
            "link": "https://mot.example.gov/helmet", "forbidden": "crackdown => new rules",
            "sug-0-channel": "facebook", "sug-0-lang": "en", "sug-0-text": "Helmet on! #HelmetOn",
            "target": [str(org.units["A1"])]}
    r = client.post("/campaigns/new", data=form, follow_redirects=False)  # no CSRF token
    assert r.status_code == 403 and count(db, Campaign) == 0
    r = client.post("/campaigns/new", data={**form, "deadline": day(-1), "csrf_token": csrf})
    assert r.status_code == 422 and "is before the start" in r.text and count(db, Campaign) == 0
    r = client.post("/campaigns/new", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    page = client.get(url)
    assert page.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text and "crackdown" in page.text
    r = client.post(url + "/publish", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.get(url + "/align", params={"text": TEXTS["partly_en"]}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'data-level="partly"' in r.text and "#HelmetOn" in r.text
    assert "<html" not in r.text  # a partial, to embed in the compose screen
    r = client.post(url + "/adapt", data={"csrf_token": csrf, "unit_id": str(org.units["A1"]),
                                          "suggestion_id": ""}, follow_redirects=False)
    assert r.status_code == 303
    assert "campaign-tasks" in client.get("/campaigns").text  # A1 has not published yet
    r = client.get(url + "/export.xlsx")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = client.post("/campaigns/new", data={**form, "csrf_token": csrf, "msg-count": "lots", "title": "Second"},
                    follow_redirects=False)
    assert r.status_code == 303  # a tampered row count is ignored, not a server error


def test_ui_asset_upload_checks_type(client, org, db, make_campaign):  # type: ignore[no-untyped-def]
    cid = make_campaign(org.units["A"], [org.units["A1"]])
    csrf = login(client, org.email("editor@A"))
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    r = client.post(f"/campaigns/{cid}/assets", data={"csrf_token": csrf, "name": "logo"},
                    files={"file": ("logo.png", png, "image/png")}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/campaigns/{cid}/assets", data={"csrf_token": csrf},
                    files={"file": ("evil.html", b"<html><script>x</script>", "text/html")})
    assert r.status_code == 422 and "not an allowed type" in r.text
    from civicpulse.domain.campaigns.models import CampaignAsset

    assert count(db, CampaignAsset) == 1
    page = client.get(f"/campaigns/{cid}").text
    assert page.count(f"/campaigns/{cid}/assets/") == 1 and "evil.html" not in page
    href = page.split(f'href="/campaigns/{cid}/assets/')[1].split('"')[0]
    got = client.get(f"/campaigns/{cid}/assets/{href}")
    assert got.status_code == 200 and got.content == png and got.headers["content-type"] == "image/png"


def test_exports_open(client, org, db, make_campaign, token_for):  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    cid = make_campaign(org.units["R"], [org.units["A"], org.units["B"]], title="Mũ bảo hiểm / หมวกกันน็อก")
    tok = token_for(org.users["root-admin"])
    r = client.get(f"/api/v1/campaigns/{cid}/export?format=xlsx", headers=H(tok))
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    cells = [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "Mũ bảo hiểm / หมวกกันน็อก" in cells and "Unit A" in cells and "Unit B" in cells
    r = client.get(f"/api/v1/campaigns/{cid}/export?format=pdf", headers=H(tok))
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        txt = subprocess.run(["pdftotext", "-", "-"], input=r.content, capture_output=True, check=True).stdout.decode()
        words = " ".join(txt.split())  # table cells wrap
        assert "Unit A" in words and "Unit B" in words and "หมวกกันน็อก" in words


def test_cli_list_and_align(cfg, org, make_campaign, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from civicpulse.cli import app
    from civicpulse.config import reset_settings_cache

    cid = make_campaign(org.units["A"], [org.units["A1"]])
    monkeypatch.setenv("CIVICPULSE_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("CIVICPULSE_SECRET_KEY", cfg.secret_key.get_secret_value()
                       if hasattr(cfg.secret_key, "get_secret_value") else cfg.secret_key)
    monkeypatch.setenv("CIVICPULSE_ENV", "test")
    reset_settings_cache()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["campaigns", "list", "--json"])
        assert r.exit_code == 0, r.output
        (row,) = [json.loads(line) for line in r.output.splitlines() if line.strip()]
        assert row["id"] == cid and row["unit"] == "A" and row["status"] == "published" and row["targets"] == 1
        r = runner.invoke(app, ["align", "--campaign", str(cid), "--text", TEXTS["contra_vi"], "--json"])
        assert r.exit_code == 0, r.output
        out = json.loads(r.output)
        assert out["level"] == "contradicting" and 0 <= out["score"] <= 1 and out["reasons"]
        r = runner.invoke(app, ["align", "--campaign", str(cid), "--text", TEXTS["aligned_en"]])
        assert r.exit_code == 0 and "aligned" in r.output and "score" in r.output
        r = runner.invoke(app, ["align", "--campaign", "9999", "--text", "x"])
        assert r.exit_code == 1 and "Campaign 9999 was not found" in " ".join(r.output.split())
    finally:
        reset_settings_cache()


def test_api_own_accounts(client, org, db, token_for):  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening.models import Source

    with db.session() as s:
        src = Source(unit_id=org.units["A1"], name="A1 page", platform="facebook", config={})
        s.add(src)
        s.flush()
        sid = src.id
    r = client.put(f"/api/v1/campaigns/own-accounts/{sid}", json={"own": True},
                   headers=H(token_for(org.users["viewer@A"])))
    assert r.status_code == 403
    tok = token_for(org.users["editor@A"])
    assert client.put(f"/api/v1/campaigns/own-accounts/{sid}", json={"own": True}, headers=H(tok)).status_code == 204
    assert client.get("/api/v1/campaigns/own-accounts", headers=H(tok)).json() == [
        {"source_id": sid, "unit_id": org.units["A1"], "channel": "facebook"}]
    assert client.get("/api/v1/campaigns/own-accounts", headers=H(token_for(org.users["admin@B"]))).json() == []


def test_ui_detail_shows_posts_reasons_and_compliance(client, org, db, make_campaign):  # type: ignore[no-untyped-def]
    import datetime as dt

    from civicpulse.domain.campaigns import services
    from civicpulse.domain.campaigns.schemas import PostIn
    from tests.campaigns.conftest import SYS

    cid = make_campaign(org.units["A"], [org.units["A1"]])
    with db.session() as s:
        services.record_post(s, SYS, cid, PostIn(unit_id=org.units["A1"], channel="zalo",
                                                 text=TEXTS["contra_vi"] + " <img src=x onerror=alert(1)>",
                                                 published_at=dt.datetime.now(dt.UTC)))
    csrf = login(client, org.email("editor@A"))
    page = client.get(f"/campaigns/{cid}").text
    assert "Contradicting" in page and "contradicts the kit" in page and "2 triệu đồng" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'data-unit="A1"' in page and "On time" in page and "zalo" in page
    # the unit's editor records another post through the form
    r = client.post(f"/campaigns/{cid}/posts", data={"csrf_token": csrf, "unit_id": str(org.units["A1"]),
                                                      "channel": "facebook", "text": TEXTS["aligned_en"],
                                                      "published_at": "not a date"})
    assert r.status_code == 400 and "not a date and time" in r.text
    r = client.post(f"/campaigns/{cid}/posts", data={"csrf_token": csrf, "unit_id": str(org.units["A1"]),
                                                      "channel": "facebook", "text": TEXTS["aligned_en"],
                                                      "published_at": "2026-01-02T09:00"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/campaigns/{cid}").text.count("kpi-met") >= 1


def test_ui_mark_own_account(client, org, db):  # type: ignore[no-untyped-def]
    from civicpulse.domain.campaigns.models import OwnAccount
    from civicpulse.domain.listening.models import Source

    with db.session() as s:
        src = Source(unit_id=org.units["A1"], name="Trang <b>A1</b>", platform="facebook", config={})
        s.add(src)
        s.flush()
        sid = src.id
    csrf = login(client, org.email("editor@A"))
    page = client.get("/campaigns").text
    assert "Mark as our own account" in page and "Trang &lt;b&gt;A1&lt;/b&gt;" in page
    r = client.post("/campaigns/own-accounts", data={"csrf_token": csrf, "source_id": str(sid), "own": "1"},
                    follow_redirects=False)
    assert r.status_code == 303 and count(db, OwnAccount) == 1
    assert "Not our account" in client.get("/campaigns").text
    client.post("/campaigns/own-accounts", data={"csrf_token": csrf, "source_id": str(sid)})
    assert count(db, OwnAccount) == 0
