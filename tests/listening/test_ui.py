"""The listening pages: search (with HTMX), item, topics, sources, file import, rejects, clusters — per role."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from civicpulse.domain.listening.models import Item, SavedTopic, Source
from tests.conftest import login

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
XSS = "<script>alert('xss')</script>"
RUMOUR = "ด่วน รัฐบาลจะขึ้นค่าไฟอีกห้าสิบเปอร์เซ็นต์ตั้งแต่เดือนหน้า แชร์ต่อให้คนที่คุณรักรู้ด้วย"


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Cheap argon2 parameters for the many test accounts (verification reads them from each hash)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("civicpulse.domain.org.security._hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def seeded(db, cfg, org) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Unit A: a webhook source with items (one carrying HTML), a rejected row, a topic, a cluster of copies."""
    from civicpulse.connectors.base import FetchedItem
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.enrich import enrich_pending
    from civicpulse.domain.listening.schemas import SourceCreate, TopicCreate
    from civicpulse.domain.org.permissions import Actor

    system = Actor.system_actor("test", via="cli")
    with db.session() as s:
        src, _token = services.create_source(s, system, cfg, SourceCreate(unit_id=org.units["A"], name="Citizen app",
                                                                          platform="webhook"))
        items = [
            FetchedItem(external_id="xss", text=f"ค่าไฟแพงมาก {XSS} <b>bold</b>", title="<i>Title</i>",
                        url="javascript:alert(1)", author_handle="somchai", published_at=NOW, likes=7),
            FetchedItem(external_id="en", text="Electricity bills doubled this month", url="https://example.org/en",
                        published_at=NOW - dt.timedelta(days=1)),
            *[FetchedItem(external_id=f"r{i}", text=("RT " if i % 2 else "") + RUMOUR,
                          published_at=NOW - dt.timedelta(days=i)) for i in range(3)],
        ]
        services.ingest(s, src, items, rejects=[("row 9", "the text is empty")], batch="export.csv")
        topic = services.create_topic(s, system, TopicCreate(unit_id=org.units["A"], name="Electricity",
                                                             query="ค่าไฟ OR electricity"))
        sid, tid = src.id, topic.id
    enrich_pending(db, cfg)
    services.dedup_run(db)
    with db.session() as s:
        ids = dict(s.execute(select(Item.external_id, Item.id)).all())
        cluster = s.scalar(select(Item.dup_cluster_id).where(Item.external_id == "r0"))
    assert cluster is not None
    return {"source_id": sid, "topic_id": tid, "ids": ids, "cluster_id": cluster}


def sign_in(client, org, key: str) -> str:  # type: ignore[no-untyped-def]
    client.cookies.clear()
    return login(client, org.email(key))


# ------------------------------------------------------------------ every page, every role


def test_pages_render_for_each_role(client, org, seeded) -> None:
    ids = seeded["ids"]
    pages = ["/listening/search", "/listening/search?q=%E0%B8%84%E0%B9%88%E0%B8%B2%E0%B9%84%E0%B8%9F",
             f"/listening/items/{ids['xss']}", f"/listening/items/{ids['r0']}", "/listening/topics",
             f"/listening/topics/{seeded['topic_id']}/edit", "/listening/sources", "/listening/sources/new",
             "/listening/sources/new?platform=x", "/listening/import", "/listening/clusters",
             f"/listening/clusters/{seeded['cluster_id']}", f"/listening/clusters/{seeded['cluster_id']}/spread",
             f"/listening/sources/{seeded['source_id']}/rejects"]
    for key in ("viewer@A", "analyst@A", "editor@A", "admin@A", "root-admin"):
        sign_in(client, org, key)
        for path in pages:
            r = client.get(path)
            assert r.status_code == 200, (key, path, r.text[:800])
            assert "Traceback" not in r.text
        assert client.get("/listening", follow_redirects=False).headers["location"] == "/listening/search"
        home = client.get("/").text
        assert 'href="/listening/search"' in home  # the main navigation links the listening pages
        can_manage = key != "viewer@A"
        sources = client.get("/listening/sources").text
        assert ("Pause" in sources) is can_manage, key
        assert ("Add a source" in sources) is can_manage, key
        assert ("Add a topic" in client.get("/listening/topics").text) is can_manage, key


def test_other_unit_sees_nothing_of_a(client, org, seeded) -> None:
    sign_in(client, org, "admin@B")
    ids = seeded["ids"]
    for path in (f"/listening/items/{ids['xss']}", f"/listening/topics/{seeded['topic_id']}/edit",
                 f"/listening/sources/{seeded['source_id']}/edit", f"/listening/sources/{seeded['source_id']}/rejects",
                 f"/listening/clusters/{seeded['cluster_id']}"):
        assert client.get(path).status_code == 404, path
    assert "Citizen app" not in client.get("/listening/sources").text
    topics = client.get("/listening/topics").text
    assert f'id="topic-{seeded["topic_id"]}"' not in topics and "ค่าไฟ OR electricity</code>" not in topics
    assert "ค่าไฟแพงมาก" not in client.get("/listening/clusters").text
    r = client.get("/listening/search", params={"q": "ค่าไฟ OR electricity"})
    assert "0 items found" in r.text and "ค่าไฟแพงมาก" not in r.text


# ------------------------------------------------------------------ search


def test_search_escapes_html_and_marks_matches(client, org, seeded) -> None:
    sign_in(client, org, "viewer@A")
    r = client.get("/listening/search", params={"q": "ค่าไฟ"})
    assert r.status_code == 200
    page = r.text
    assert XSS not in page and "<b>bold</b>" not in page and "<i>Title</i>" not in page
    assert "&lt;script&gt;" in page and "&lt;i&gt;Title&lt;/i&gt;" in page
    assert "<mark>" in page and "javascript:alert" not in page
    assert re.search(r'class="badge sent-(pos|neg|neu|q)"', page)
    item = client.get(f"/listening/items/{seeded['ids']['xss']}").text
    assert XSS not in item and "&lt;script&gt;alert(" in item and "<b>bold</b>" not in item
    assert "javascript:" not in item  # an unsafe link is not rendered as a link
    assert "@somchai" in item and ">7<" in item
    en = client.get(f"/listening/items/{seeded['ids']['en']}").text
    assert 'href="https://example.org/en"' in en and 'rel="noopener noreferrer nofollow"' in en


def test_item_names_link_to_the_items_that_name_them(client, org, seeded, db, cfg) -> None:  # type: ignore[no-untyped-def]
    from civicpulse.connectors.base import FetchedItem
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.enrich import enrich_pending
    from civicpulse.domain.listening.models import Source

    with db.session() as s:
        src = s.get(Source, seeded["source_id"])
        services.ingest(s, src, [FetchedItem(external_id="names", published_at=NOW,
                                             text='Thủ tướng Phạm Minh Chính đến Bệnh viện Bạch Mai "<b>x</b>", '
                                                  'ông Phạm Minh Chính nói')])
    enrich_pending(db, cfg)
    with db.session() as s:
        item_id = s.scalar(select(Item.id).where(Item.external_id == "names"))
    sign_in(client, org, "viewer@A")
    page = client.get(f"/listening/items/{item_id}").text
    assert 'href="/listening/search?q=mentions%3A%22person%3Apham-minh-chinh%22"' in page
    assert ">Phạm Minh Chính</a>" in page and ">person</span>" in page and ">organisation</span>" in page
    assert page.count(">Phạm Minh Chính</a>") == 1  # named twice, listed once
    found = client.get("/listening/search", params={"q": 'mentions:"person:pham-minh-chinh"'}).text
    assert f"/listening/items/{item_id}" in found and "1 item found" in found
    assert "mentions:" in client.get("/listening/search").text  # the syntax help shows the filter


def test_search_htmx_partial_filters_and_paging(client, org, seeded) -> None:
    sign_in(client, org, "viewer@A")
    hx = {"HX-Request": "true", "HX-Target": "results"}
    r = client.get("/listening/search", params={"q": "ค่าไฟ OR electricity"}, headers=hx)
    assert r.status_code == 200
    assert "<html" not in r.text and "5 items found" in r.text and "<mark>Electricity</mark> bills" in r.text
    full = client.get("/listening/search", params={"q": "ค่าไฟ OR electricity"}).text
    assert "<html" in full and 'hx-get="/listening/search"' in full and 'hx-target="#results"' in full
    assert 'id="results"' in full and "How to write a search" in full and "NEAR/3" in full
    # filters from the form: language and the dates (local days)
    r = client.get("/listening/search", params={"q": "ค่าไฟ OR electricity", "lang": "en"})
    assert "bills doubled" in r.text and "ค่าไฟแพงมาก" not in r.text
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date()
    r = client.get("/listening/search", params={"q": "lang:en", "until": (today - dt.timedelta(days=5)).isoformat()})
    assert "0 items found" in r.text
    r = client.get("/listening/search", params={"q": "ค่าไฟ", "source_id": str(seeded["source_id"]),
                                                "sentiment": "", "unit_id": "", "since": "", "until": ""})
    assert "4 items found" in r.text and '<html lang="en">' in r.text
    assert f'<option value="{seeded["source_id"]}" selected>' in r.text
    r = client.get("/listening/search", params={"q": "ค่าไฟ", "lang": "th"})
    assert '<html lang="en">' in r.text and '<option value="th" selected>' in r.text
    # paging keeps the query and works with and without HTMX
    r = client.get("/listening/search", params={"q": "source:webhook"}, headers=hx)
    assert "5 items found" in r.text and "Page" not in r.text


def test_search_syntax_error_shows_caret(client, org, seeded) -> None:
    sign_in(client, org, "viewer@A")
    r = client.get("/listening/search", params={"q": "ค่าไฟ AND"})
    assert r.status_code == 422
    m = re.search(r'<pre class="pointer"[^>]*>(.*?)</pre>', r.text, re.S)
    assert m and m.group(1) == "ค่าไฟ AND\n      ^"
    assert "AND needs a term" in r.text
    # with HTMX the error replaces the results (200 so that htmx swaps it in)
    r = client.get("/listening/search", params={"q": "(flood"}, headers={"HX-Request": "true", "HX-Target": "results"})
    assert r.status_code == 200 and 'class="pointer"' in r.text and "<html" not in r.text


# ------------------------------------------------------------------ topics


def test_topics_create_edit_delete(client, org, seeded, db) -> None:
    token = sign_in(client, org, "analyst@A")
    page = client.get("/listening/topics").text
    assert "Electricity" in page and "<polyline" in page and 'class="spark"' in page
    assert "/listening/search?q=" in page  # open in search
    # a bad query: 422, the form keeps the values and shows the caret
    r = client.post("/listening/topics", data={"unit_id": org.units["A"], "name": "Floods", "query": "flood NEAR/x rain",
                                               "csrf_token": token})
    assert r.status_code == 422
    assert 'value="Floods"' in r.text and '<pre class="pointer">' in r.text and "flood NEAR/x rain" in r.text
    r = client.post("/listening/topics", data={"unit_id": org.units["A"], "name": "Floods",
                                               "query": "flood* OR น้ำท่วม", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        t = s.scalar(select(SavedTopic).where(SavedTopic.name == "Floods"))
    edit = client.get(f"/listening/topics/{t.id}/edit").text
    assert 'name="version" value="1"' in edit
    r = client.post(f"/listening/topics/{t.id}/edit", data={"version": "1", "name": "Floods", "query": "(flood",
                                                            "csrf_token": token})
    assert r.status_code == 422 and '<pre class="pointer">' in r.text
    r = client.post(f"/listening/topics/{t.id}/edit", data={"version": "1", "name": "Floods and rain",
                                                            "query": "flood OR rain", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/listening/topics/{t.id}/edit", data={"version": "1", "name": "Stale", "query": "x",
                                                            "csrf_token": token})
    assert r.status_code == 409 and "changed by someone else" in r.text
    r = client.post(f"/listening/topics/{t.id}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SavedTopic)) == 1


# ------------------------------------------------------------------ sources


def test_add_sources_from_the_registry_forms(client, org, db) -> None:
    token = sign_in(client, org, "analyst@A")
    chooser = client.get("/listening/sources/new").text
    for platform in ("rss", "mastodon", "bluesky", "youtube", "facebook", "x", "webhook"):
        assert f"/listening/sources/new?platform={platform}" in chooser
    form = client.get("/listening/sources/new?platform=x").text
    assert re.search(r'<input type="password" name="cfg_bearer_token"', form)
    assert 'name="cfg_query"' in form and "allow_private" not in form
    fb = client.get("/listening/sources/new?platform=facebook").text
    assert 'type="password" name="cfg_access_token"' in fb and '<select name="cfg_mode">' in fb
    # missing required setting → the form again, with the error next to the field
    r = client.post("/listening/sources/new", data={"platform": "rss", "unit_id": org.units["A"], "name": "Feed",
                                                    "csrf_token": token})
    assert r.status_code == 422 and "Required" in r.text and "needs: url" in r.text
    r = client.post("/listening/sources/new", data={
        "platform": "x", "unit_id": org.units["A"], "name": "X electricity", "cfg_query": "ค่าไฟ",
        "cfg_bearer_token": "TOP-SECRET-1", "cfg_rate_limit_per_15min": "abc", "interval_minutes": "30",
        "enabled": "true", "csrf_token": token})
    assert r.status_code == 422 and "whole number" in r.text and "TOP-SECRET-1" not in r.text
    r = client.post("/listening/sources/new", data={
        "platform": "x", "unit_id": org.units["A"], "name": "X electricity", "cfg_query": "ค่าไฟ",
        "cfg_bearer_token": "TOP-SECRET-1", "cfg_rate_limit_per_15min": "30", "interval_minutes": "30",
        "enabled": "true", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.session() as s:
        src = s.scalar(select(Source).where(Source.name == "X electricity"))
        assert src.config["query"] == "ค่าไฟ" and src.config["rate_limit_per_15min"] == 30
        assert src.interval_minutes == 30 and src.secrets and "TOP-SECRET-1" not in src.secrets
    edit = client.get(f"/listening/sources/{src.id}/edit").text
    assert "TOP-SECRET-1" not in edit and "leave empty to keep it" in edit
    r = client.post(f"/listening/sources/{src.id}/edit", data={"name": "X power", "cfg_query": "ค่าไฟ OR electricity",
                                                               "interval_minutes": "60", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    from civicpulse import crypto

    with db.session() as s:
        src = s.get(Source, src.id)
        assert src.name == "X power" and src.config["query"] == "ค่าไฟ OR electricity"
        assert crypto.decrypt(client.app.state.settings, src.secrets)["bearer_token"] == "TOP-SECRET-1"  # kept
    # a webhook source: its token shown once, with a curl example
    r = client.post("/listening/sources/new", data={"platform": "webhook", "unit_id": org.units["A"],
                                                    "name": "Hotline app", "enabled": "true", "csrf_token": token})
    assert r.status_code == 200
    m = re.search(r'data-testid="webhook-token"', r.text)
    tok = re.search(r'value="(cpw_[^"]+)"', r.text)
    assert m and tok and "curl -X POST http://testserver/api/v1/ingest/webhook" in r.text
    assert f"Authorization: Bearer {tok.group(1)}" in r.text
    assert tok.group(1) not in client.get("/listening/sources").text
    ok = client.post("/api/v1/ingest/webhook", headers={"Authorization": f"Bearer {tok.group(1)}"},
                     json={"id": "1", "text": "hello"})
    assert ok.status_code == 200 and ok.json()["inserted"] == 1


def test_pause_resume_fetch_now_and_delete(client, org, db) -> None:
    token = sign_in(client, org, "analyst@A")
    r = client.post("/listening/sources/new", data={"platform": "rss", "unit_id": org.units["A"], "name": "Intranet",
                                                    "cfg_url": "http://127.0.0.1:9/feed.xml", "enabled": "true",
                                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.session() as s:
        sid = s.scalar(select(Source.id).where(Source.name == "Intranet"))
    r = client.post(f"/listening/sources/{sid}/run", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and f"failed={sid}" in r.headers["location"]
    page = client.get(r.headers["location"]).text
    with db.session() as s:
        err = s.get(Source, sid).last_error
    assert err and 'class="error-text"' in page and "failed" in page
    from markupsafe import escape

    assert str(escape(err)) in page
    r = client.post(f"/listening/sources/{sid}/enabled", data={"enabled": "false", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/listening/sources").text
    assert "paused" in page and "Resume" in page
    with db.session() as s:
        assert s.get(Source, sid).enabled is False
    r = client.post(f"/listening/sources/{sid}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert s.get(Source, sid) is None


def test_viewer_cannot_manage_and_csrf_is_checked(client, org, seeded, db) -> None:
    token = sign_in(client, org, "viewer@A")
    sid, tid = seeded["source_id"], seeded["topic_id"]
    assert "You need the analyst role" in client.get("/listening/sources/new").text
    assert "You need the analyst role" in client.get("/listening/import").text
    for path, data in ((f"/listening/sources/{sid}/enabled", {"enabled": "false"}),
                       (f"/listening/topics/{tid}/delete", {}),
                       ("/listening/topics", {"unit_id": org.units["A"], "name": "n", "query": "x"}),
                       ("/listening/sources/new", {"platform": "webhook", "unit_id": org.units["A"], "name": "n"})):
        r = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 403, (path, r.text[:300])
    token = sign_in(client, org, "analyst@A")
    r = client.post(f"/listening/topics/{tid}/delete", data={}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    with db.session() as s:
        assert s.get(SavedTopic, tid) is not None and s.get(Source, sid).enabled is True


# ------------------------------------------------------------------ file import


CP874_CSV = ("id,ข้อความ,วันที่\n1,ค่าไฟแพงมาก <b>จริง</b>,2026-05-01 10:00\n2,น้ำท่วมหนัก,2026-05-02 11:30\n"
             "3,,2026-05-02 12:00\n").encode("cp874")


def test_import_upload_preview_mapping_result(client, org, db, cfg) -> None:
    token = sign_in(client, org, "analyst@A")
    r = client.post("/listening/import", data={"unit_id": org.units["A"], "source": "Thai export", "format": "",
                                               "csrf_token": token},
                    files={"file": ("thai.csv", CP874_CSV, "text/csv")})
    assert r.status_code == 200, r.text[:800]
    page = r.text
    assert 'data-testid="encoding">cp874<' in page
    assert '<th scope="col" data-column="ข้อความ">ข้อความ</th>' in page
    assert "ค่าไฟแพงมาก &lt;b&gt;จริง&lt;/b&gt;" in page  # first rows, escaped
    assert re.search(r'<select name="map_text" required>.*?<option value="ข้อความ" selected>', page, re.S)
    assert re.search(r'<select name="map_time"[^>]*>.*?<option value="วันที่" selected>', page, re.S)
    action = re.search(r'action="(/listening/import/[0-9a-f]{32})"', page).group(1)
    assert len(list((cfg.data_dir / "uploads").iterdir())) == 1  # kept between preview and import
    # someone else cannot use this upload
    other = sign_in(client, org, "admin@A")
    assert client.post(action, data={"map_text": "ข้อความ", "csrf_token": other}).status_code == 404
    token = sign_in(client, org, "analyst@A")
    # no text column chosen: asked again
    r = client.post(action, data={"map_text": "", "csrf_token": token})
    assert r.status_code == 422 and "Choose the column that holds the text" in r.text
    r = client.post(action, data={"map_text": "ข้อความ", "map_time": "วันที่", "map_id": "id", "csrf_token": token})
    assert r.status_code == 200, r.text[:800]
    assert 'data-testid="inserted">2<' in r.text and 'data-testid="rejected">1<' in r.text
    assert "row 4: text is empty" in r.text
    assert not any((cfg.data_dir / "uploads").iterdir())  # deleted after the import
    with db.session() as s:
        src = s.scalar(select(Source).where(Source.name == "Thai export"))
        assert src.platform == "file" and src.items_count == 2
    rejects = client.get(f"/listening/sources/{src.id}/rejects").text
    assert "row 4" in rejects and "text is empty" in rejects and "thai.csv" in rejects
    # the same upload id cannot be used twice
    assert client.post(action, data={"map_text": "ข้อความ", "csrf_token": token}).status_code == 404
    # a file that cannot be read: the upload form again with the reason; nothing kept
    r = client.post("/listening/import", data={"unit_id": org.units["A"], "source": "Bad", "csrf_token": token},
                    files={"file": ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 64, "application/vnd.ms-excel")})
    assert r.status_code == 422 and ".xls" in r.text
    assert not any((cfg.data_dir / "uploads").iterdir())
    # cancelling a preview deletes the upload
    r = client.post("/listening/import", data={"unit_id": org.units["A"], "source": "Thai export", "csrf_token": token},
                    files={"file": ("thai.csv", CP874_CSV, "text/csv")})
    action = re.search(r'action="(/listening/import/[0-9a-f]{32})"', r.text).group(1)
    r = client.post(action, data={"cancel": "1", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and not any((cfg.data_dir / "uploads").iterdir())


def test_import_utf8_bom_through_the_page(client, org, db, cfg) -> None:
    token = sign_in(client, org, "analyst@A")
    data = ("post_id,message,created_time,from\n101,\"Giá điện tăng, người dân phản ánh\",2026-05-01T07:30:00+0000,Lan\n"
            ).encode("utf-8-sig")
    r = client.post("/listening/import", data={"unit_id": org.units["A"], "source": "FB", "csrf_token": token},
                    files={"file": ("fb.csv", data, "text/csv")})
    assert r.status_code == 200
    assert 'data-column="post_id">post_id<' in r.text and "\ufeff" not in r.text
    action = re.search(r'action="(/listening/import/[0-9a-f]{32})"', r.text).group(1)
    r = client.post(action, data={"map_text": "message", "map_id": "post_id", "map_author": "from", "csrf_token": token})
    assert 'data-testid="inserted">1<' in r.text and 'data-testid="rejected">0<' in r.text


# ------------------------------------------------------------------ clusters


def test_clusters_pages(client, org, seeded) -> None:
    sign_in(client, org, "viewer@A")
    page = client.get("/listening/clusters").text
    cid = seeded["cluster_id"]
    assert f'hx-get="/listening/clusters/{cid}/spread"' in page and RUMOUR[:20] in page
    assert f'href="/listening/clusters/{cid}"' in page  # works without JavaScript too
    detail = client.get(f"/listening/clusters/{cid}").text
    assert detail.count('<rect x=') == 3 and "Citizen app" in detail
    assert detail.count("/listening/items/") >= 3
    spread = client.get(f"/listening/clusters/{cid}/spread").text
    assert "<svg" in spread and "<html" not in spread
    item = client.get(f"/listening/items/{seeded['ids']['r0']}").text
    assert "2 other items say nearly the same thing." in item


# ------------------------------------------------------------------ translations of the registry


def test_registry_words_are_marked_for_translation() -> None:
    from civicpulse.connectors.registry import PLATFORMS
    from civicpulse.web.ui.listening import REGISTRY_MESSAGES

    words = {p.label for p in PLATFORMS} | {p.description for p in PLATFORMS}
    words |= {x for p in PLATFORMS for f in p.fields if f.name != "allow_private" for x in (f.label, f.help) if x}
    words |= {c for p in PLATFORMS for f in p.fields for c in f.choices}
    missing = sorted(words - set(REGISTRY_MESSAGES))
    assert not missing, f"add these to REGISTRY_MESSAGES in web/ui/listening.py: {missing}"
