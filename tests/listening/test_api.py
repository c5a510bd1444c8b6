"""/api/v1 listening: sources, webhook and file ingest, search, items, topics, clusters — with permissions."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from civicpulse.domain.listening.models import IngestReject, Item, ItemRaw, SavedTopic, Source
from civicpulse.domain.org.models import Unit

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)

# Items in the three languages; "published" is days ago.
CORPUS: list[dict[str, Any]] = [
    {"id": "th-1", "text": "ค่าไฟแพงมาก รัฐบาลต้องช่วยประชาชนด่วน", "author": "somchai", "days": 0, "likes": 120},
    {"id": "th-2", "text": "น้ำท่วมกรุงเทพ ถนนปิดหลายสาย รถติดมาก", "author": "nok", "days": 1},
    {"id": "vi-1", "text": "Cảnh sát xử phạt nhiều người vi phạm giao thông ở Hà Nội", "author": "lan", "days": 2},
    {"id": "vi-2", "text": "Giá điện tăng quá cao, người dân rất bức xúc", "author": "minh", "days": 3},
    {"id": "en-1", "text": "Flooding closed the main road again, nobody is helping", "author": "jo", "days": 4},
    {"id": "en-2", "text": "Thank you to the ministry for the quick electricity repair", "author": "sam", "days": 5},
]


def item_json(d: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in d.items() if k != "days"}
    out["published_at"] = (NOW - dt.timedelta(days=d["days"], hours=1)).isoformat()
    return out


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Cheap argon2 parameters for the many test accounts (verification reads them from each hash)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("civicpulse.domain.org.security._hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def as_(org, token_for):  # type: ignore[no-untyped-def]
    """as_("analyst@A") -> headers with a personal token of that person."""
    cache: dict[str, dict[str, str]] = {}

    def headers(key: str) -> dict[str, str]:
        if key not in cache:
            cache[key] = bearer(token_for(org.users[key]))
        return cache[key]

    return headers


def make_webhook(client, as_, org, unit: str = "A", name: str = "Citizen app") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/sources", headers=as_("analyst@A" if unit != "B" else "admin@B"),
                    json={"unit_id": org.units[unit], "name": name, "platform": "webhook"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["webhook_token"].startswith("cpw_")
    return body["id"], body["webhook_token"]


def enrich(db, cfg) -> None:  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening.enrich import enrich_pending

    enrich_pending(db, cfg)


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def corpus(client, as_, org, db, cfg):  # type: ignore[no-untyped-def]
    """The corpus pushed to a webhook source of unit A, enriched; plus one item in unit B."""
    sid, token = make_webhook(client, as_, org)
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token), json={"items": [item_json(d) for d in CORPUS]})
    assert r.status_code == 200, r.text
    bid, btoken = make_webhook(client, as_, org, unit="B", name="B app")
    r = client.post("/api/v1/ingest/webhook", headers=bearer(btoken),
                    json={"id": "b-1", "text": "ค่าไฟแพงมาก ที่หน่วย B ก็เหมือนกัน", "published_at": NOW.isoformat()})
    assert r.status_code == 200, r.text
    enrich(db, cfg)
    with db.session() as s:
        ids = dict(s.execute(select(Item.external_id, Item.id)).all())
    return {"source_id": sid, "token": token, "b_source_id": bid, "ids": ids}


# ------------------------------------------------------------------ sources


def test_source_crud_secrets_are_write_only(client, as_, org, db) -> None:
    h = as_("analyst@A")
    r = client.post("/api/v1/sources", headers=h, json={
        "unit_id": org.units["A"], "name": "X search", "platform": "x",
        "config": {"query": "ค่าไฟ lang:th"}, "secrets": {"bearer_token": "SECRET-XYZ-123"}})
    assert r.status_code == 201, r.text
    src = r.json()
    assert "SECRET-XYZ-123" not in r.text and "secrets" not in src and src["webhook_token"] is None
    assert src["config"] == {"query": "ค่าไฟ lang:th"} and src["enabled"] is True and src["items_count"] == 0
    sid = src["id"]
    for path in (f"/api/v1/sources/{sid}", "/api/v1/sources"):
        r = client.get(path, headers=h)
        assert r.status_code == 200 and "SECRET-XYZ-123" not in r.text
    r = client.get("/api/v1/sources", headers=h)
    assert r.json()["total"] == 1 and r.json()["page"] == 1 and r.json()["items"][0]["name"] == "X search"
    # the secret is stored encrypted
    with db.session() as s:
        stored = s.get(Source, sid).secrets
    assert stored and "SECRET-XYZ-123" not in stored

    r = client.patch(f"/api/v1/sources/{sid}", headers=h,
                     json={"name": "X: electricity", "enabled": False, "secrets": {"bearer_token": "NEW-SECRET"}})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "X: electricity" and r.json()["enabled"] is False and "NEW-SECRET" not in r.text
    # a missing required setting, an unknown platform, a duplicate name: plain 422/409 errors
    r = client.post("/api/v1/sources", headers=h, json={"unit_id": org.units["A"], "name": "feed", "platform": "rss"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    assert "url" in r.json()["error"]["message"]
    r = client.post("/api/v1/sources", headers=h, json={"unit_id": org.units["A"], "name": "y", "platform": "myspace"})
    assert r.status_code == 422 and "platform" in r.json()["error"]["message"]
    r = client.post("/api/v1/sources", headers=h, json={"unit_id": org.units["A"], "name": "X: electricity",
                                                         "platform": "webhook"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = client.delete(f"/api/v1/sources/{sid}", headers=h)
    assert r.status_code == 204
    assert client.get(f"/api/v1/sources/{sid}", headers=h).status_code == 404
    # a secret put under "config" by mistake is still never echoed back
    r = client.post("/api/v1/sources", headers=h, json={
        "unit_id": org.units["A"], "name": "Mastodon", "platform": "mastodon",
        "config": {"instance_url": "https://mastodon.example", "access_token": "LEAKED-TOKEN"}})
    if r.status_code == 201:
        assert "LEAKED-TOKEN" not in r.text and "LEAKED-TOKEN" not in client.get("/api/v1/sources", headers=h).text
    else:  # or the service refuses it outright
        assert r.status_code == 422 and "LEAKED-TOKEN" not in r.text


def test_source_permissions(client, as_, org) -> None:
    sid, _token = make_webhook(client, as_, org)
    # a viewer reads but cannot create, change, delete or run
    v = as_("viewer@A")
    assert client.get(f"/api/v1/sources/{sid}", headers=v).status_code == 200
    assert client.get("/api/v1/sources", headers=v).json()["total"] == 1
    r = client.post("/api/v1/sources", headers=v, json={"unit_id": org.units["A"], "name": "n", "platform": "webhook"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert client.patch(f"/api/v1/sources/{sid}", headers=v, json={"enabled": False}).status_code == 403
    assert client.delete(f"/api/v1/sources/{sid}", headers=v).status_code == 403
    assert client.post(f"/api/v1/sources/{sid}/run", headers=v).status_code == 403
    # someone of unit B never sees unit A's source
    b = as_("admin@B")
    assert client.get("/api/v1/sources", headers=b).json()["total"] == 0
    for method, path in (("get", f"/api/v1/sources/{sid}"), ("patch", f"/api/v1/sources/{sid}"),
                         ("delete", f"/api/v1/sources/{sid}"), ("get", f"/api/v1/sources/{sid}/rejects"),
                         ("post", f"/api/v1/sources/{sid}/run")):
        kw = {"json": {"enabled": False}} if method == "patch" else {}
        r = getattr(client, method)(path, headers=b, **kw)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    r = client.post("/api/v1/sources", headers=b, json={"unit_id": org.units["A"], "name": "n", "platform": "webhook"})
    assert r.status_code == 404
    # a read-only token cannot write even for an analyst; no token at all is 401
    from tests.conftest import Org  # noqa: F401 - documents the fixture shape

    assert client.get("/api/v1/sources").status_code == 401


def test_run_source_failure_is_502_in_plain_words(client, as_, org, db) -> None:
    h = as_("analyst@A")
    r = client.post("/api/v1/sources", headers=h, json={
        "unit_id": org.units["A"], "name": "Intranet feed", "platform": "rss",
        "config": {"url": "http://127.0.0.1:9/feed.xml"}})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = client.post(f"/api/v1/sources/{sid}/run", headers=h)
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert err["code"] == "source_failed" and err["message"] and "Traceback" not in err["message"]
    src = client.get(f"/api/v1/sources/{sid}", headers=h).json()
    assert src["last_error"] == err["message"] and src["last_error_at"] and src["last_success_at"] is None
    # a source that is pushed to (webhook) cannot be fetched: a clear 422, not a crash
    wid, _tok = make_webhook(client, as_, org)
    r = client.post(f"/api/v1/sources/{wid}/run", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"


# ------------------------------------------------------------------ webhook


def test_webhook_single_batch_and_duplicates(client, as_, org, db) -> None:
    sid, token = make_webhook(client, as_, org)
    one = {"id": "p1", "text": "ค่าไฟแพงมาก", "published_at": "2026-05-01T10:00:00+07:00", "likes": 3,
           "raw": {"platform_field": 1}}
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token), json=one)
    assert r.status_code == 200, r.text
    assert r.json() == {"inserted": 1, "duplicates": 0, "rejected": 0, "reasons": []}
    batch = {"items": [{**one, "likes": 10}, {"id": "p2", "text": "Giá điện tăng", "kind": "comment", "parent_id": "p1"},
                       {"id": "p3", "text": "Flooding again"}]}
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token), json=batch)
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 2 and r.json()["duplicates"] == 1
    with db.session() as s:
        rows = {i.external_id: i for i in s.scalars(select(Item).where(Item.source_id == sid))}
        assert set(rows) == {"p1", "p2", "p3"}
        assert rows["p1"].likes == 10  # fresh engagement on a known item
        assert rows["p1"].published_at == dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)
        assert rows["p2"].kind == "comment" and rows["p2"].parent_external_id == "p1"
        assert s.get(ItemRaw, rows["p1"].id).payload == {"platform_field": 1}
        assert s.get(Source, sid).items_count == 3


def test_webhook_bad_item_rejects_whole_batch(client, as_, org, db) -> None:
    _sid, token = make_webhook(client, as_, org)
    client.post("/api/v1/ingest/webhook", headers=bearer(token), json={"id": "ok-0", "text": "first"})
    before = (count(db, Item), count(db, IngestReject), count(db, ItemRaw))
    good = [{"id": f"ok-{i}", "text": f"item {i}"} for i in range(1, 5)]
    # schema error in one item: 422 naming the item and the field
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token),
                    json={"items": [*good, {"id": "bad", "text": "x", "kind": "tweet"}]})
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] == "validation_failed" and any(d["field"] == "items.4.kind" for d in body["details"])
    # an item that only the ingest rules refuse (text of blanks, a time without zone): still all or nothing
    for bad in ({"id": "blank", "text": "   \u0007  "}, {"id": "naive", "text": "t", "published_at": "2026-05-01T10:00:00"}):
        r = client.post("/api/v1/ingest/webhook", headers=bearer(token), json={"items": [*good, bad]})
        assert r.status_code == 422, r.text
        assert "nothing was stored" in r.json()["error"]["message"]
    # not JSON, an unknown field, too many items
    r = client.post("/api/v1/ingest/webhook", headers={**bearer(token), "Content-Type": "application/json"},
                    content=b"{not json")
    assert r.status_code == 422
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token), json={"id": "x", "text": "t", "colour": "red"})
    assert r.status_code == 422
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token),
                    json={"items": [{"id": str(i), "text": "t"} for i in range(1001)]})
    assert r.status_code == 422
    assert (count(db, Item), count(db, IngestReject), count(db, ItemRaw)) == before


def test_webhook_authentication(client, as_, org, db, token_for) -> None:
    sid, token = make_webhook(client, as_, org)
    item = {"id": "p1", "text": "hello"}
    for headers in ({}, bearer("cpw_wrong-token"), {"Authorization": f"Basic {token}"},
                    bearer(token_for(org.users["admin@A"]))):  # a personal token is not a webhook token
        r = client.post("/api/v1/ingest/webhook", headers=headers, json=item)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"]["code"] == "not_authenticated"
    # a disabled webhook source takes nothing
    assert client.patch(f"/api/v1/sources/{sid}", headers=as_("analyst@A"), json={"enabled": False}).status_code == 200
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token), json=item)
    assert r.status_code == 422 and "disabled" in r.json()["error"]["message"]
    assert count(db, Item) == 0


# ------------------------------------------------------------------ file import


THAI_CSV = ("id,ข้อความ,วันที่,ผู้เขียน\n"
            "1,ค่าไฟแพงมาก รัฐบาลต้องแก้ไข,2026-05-01 10:00,สมชาย\n"
            "2,น้ำท่วมหนักที่เชียงใหม่,2026-05-02 11:30,สมหญิง\n"
            "3,,2026-05-02 12:00,ว่าง\n")
BOM_CSV = ("post_id,message,created_time,from,reactions\n"
           '101,"Giá điện tăng, người dân phản ánh",2026-05-01T07:30:00+0000,Lan,"1,234"\n'
           "102,Electricity bills doubled this month,2026-05-01T08:00:00+0000,Jo,12\n")


def test_file_preview_and_import_cp874(client, as_, org, db, cfg) -> None:
    data = THAI_CSV.encode("cp874")
    h = as_("analyst@A")
    r = client.post("/api/v1/ingest/preview", headers=h, files={"file": ("export.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["format"] == "csv" and p["encoding"] in ("cp874", "tis-620")
    assert p["columns"] == ["id", "ข้อความ", "วันที่", "ผู้เขียน"]
    assert p["rows"][0]["ข้อความ"] == "ค่าไฟแพงมาก รัฐบาลต้องแก้ไข"
    assert p["suggested_mapping"]["text"] == "ข้อความ" and p["warnings"]
    r = client.post("/api/v1/ingest/file", headers=h, files={"file": ("export.csv", data, "text/csv")},
                    data={"unit_id": str(org.units["A"]), "source": "Thai export",
                          "mapping": json.dumps({"text": "ข้อความ", "time": "วันที่", "author": "ผู้เขียน", "id": "id"})})
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 2 and r.json()["rejected"] == 1
    assert "row 4" in r.json()["reasons"][0] and "empty" in r.json()["reasons"][0]
    with db.session() as s:
        texts = sorted(s.scalars(select(Item.text)))
        src = s.scalar(select(Source).where(Source.name == "Thai export"))
        assert src.platform == "file" and src.unit_id == org.units["A"]
    assert texts == ["ค่าไฟแพงมาก รัฐบาลต้องแก้ไข", "น้ำท่วมหนักที่เชียงใหม่"]
    # the same file again: nothing new (stable ids)
    r = client.post("/api/v1/ingest/file", headers=h, files={"file": ("export.csv", data, "text/csv")},
                    data={"unit_id": str(org.units["A"]), "source": "Thai export",
                          "mapping": json.dumps({"text": "ข้อความ", "id": "id"})})
    assert r.json()["inserted"] == 0 and r.json()["duplicates"] == 2
    # the rejected row is listed for the source
    r = client.get(f"/api/v1/sources/{src.id}/rejects", headers=as_("viewer@A"))
    assert r.status_code == 200 and r.json()["total"] == 2
    assert "empty" in r.json()["items"][0]["reason"] and r.json()["items"][0]["batch"] == "export.csv"
    # uploads are deleted once handled
    up = cfg.data_dir / "uploads"
    assert not up.exists() or not any(up.iterdir())


def test_file_import_utf8_bom_with_suggested_mapping(client, as_, org, db, cfg) -> None:
    data = BOM_CSV.encode("utf-8-sig")
    h = as_("analyst@A")
    p = client.post("/api/v1/ingest/preview", headers=h, files={"file": ("fb.csv", data, "text/csv")}).json()
    assert p["columns"][0] == "post_id"  # the BOM is not part of the first column name
    assert p["encoding"].replace("_", "-").startswith("utf-8")
    assert p["suggested_mapping"]["text"] == "message" and p["suggested_mapping"]["time"] == "created_time"
    r = client.post("/api/v1/ingest/file", headers=h, files={"file": ("fb.csv", data, "text/csv")},
                    data={"unit_id": str(org.units["A"]), "source": "Facebook export"})
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 2 and r.json()["rejected"] == 0
    with db.session() as s:
        it = s.scalar(select(Item).where(Item.external_id == "101"))
        assert it.text == "Giá điện tăng, người dân phản ánh" and it.likes == 1234 and it.author_handle == "Lan"
    up = cfg.data_dir / "uploads"
    assert not up.exists() or not any(up.iterdir())


def test_file_import_refusals(client, as_, org, db, cfg) -> None:
    data = BOM_CSV.encode("utf-8-sig")
    files = {"file": ("fb.csv", data, "text/csv")}
    form = {"unit_id": str(org.units["A"]), "source": "FB"}
    # a viewer may not import; someone of B does not see unit A
    r = client.post("/api/v1/ingest/file", headers=as_("viewer@A"), files=files, data=form)
    assert r.status_code == 403
    r = client.post("/api/v1/ingest/file", headers=as_("admin@B"), files=files, data=form)
    assert r.status_code == 404
    # a bad mapping, an unknown target, a mapping without text, an empty file, an unknown time zone
    for extra, word in (({"mapping": "{oops"}, "JSON"), ({"mapping": '{"text": "message", "colour": "x"}'}, "colour"),
                        ({"mapping": '{"time": "created_time"}'}, "text"), ({"tz": "Mars/Olympus"}, "time zone")):
        r = client.post("/api/v1/ingest/file", headers=as_("analyst@A"), files=files, data={**form, **extra})
        assert r.status_code == 422, (extra, r.text)
        assert word in r.json()["error"]["message"], r.text
    r = client.post("/api/v1/ingest/file", headers=as_("analyst@A"), files={"file": ("e.csv", b"", "text/csv")},
                    data=form)
    assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
    r = client.post("/api/v1/ingest/preview", headers=as_("analyst@A"), files={"file": ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100)})
    assert r.status_code == 422 and ".xls" in r.json()["error"]["message"]
    assert client.post("/api/v1/ingest/preview", files=files).status_code == 401
    assert count(db, Item) == 0
    up = cfg.data_dir / "uploads"
    assert not up.exists() or not any(up.iterdir())


# ------------------------------------------------------------------ search and items


def _search(client, h, q: str, **params: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/items/search", headers=h, params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()


def _ext(res: dict[str, Any]) -> set[str]:
    return {h["item"]["external_id"] for h in res["hits"]}


def test_search_three_languages_filters_and_errors(client, as_, org, corpus) -> None:
    h = as_("viewer@A")
    res = _search(client, h, "ค่าไฟ")
    assert _ext(res) == {"th-1"} and res["total"] == 1
    assert "<mark>" in res["hits"][0]["snippet"] and res["hits"][0]["item"]["lang"] == "th"
    assert _ext(_search(client, h, "xử phạt")) == {"vi-1"}
    assert _ext(_search(client, h, "giá điện")) == {"vi-2"}
    assert _ext(_search(client, h, "flood*")) == {"en-1"}
    assert _ext(_search(client, h, "electricity OR ค่าไฟ")) == {"en-2", "th-1"}
    assert _ext(_search(client, h, "electricity NOT repair")) == set()
    assert _ext(_search(client, h, '"main road"')) == {"en-1"}
    # filters in the query and as parameters
    assert _ext(_search(client, h, "lang:vi")) == {"vi-1", "vi-2"}
    assert _ext(_search(client, h, "electricity OR ค่าไฟ", lang="en")) == {"en-2"}
    assert _ext(_search(client, h, "lang:th", source_id=corpus["source_id"])) == {"th-1", "th-2"}
    since = (NOW - dt.timedelta(days=1, hours=12)).isoformat()
    assert _ext(_search(client, h, "lang:th OR lang:vi", since=since)) == {"th-1", "th-2"}
    assert _ext(_search(client, h, "source:webhook", unit_id=org.units["B"])) == set()
    sentiment = client.get(f"/api/v1/items/{corpus['ids']['th-1']}", headers=h).json()["sentiment"]
    assert "th-1" in _ext(_search(client, h, "ค่าไฟ", sentiment=sentiment))
    # paging
    res = _search(client, h, "source:webhook", per_page=4, page=2)
    assert res["total"] == 6 and len(res["hits"]) == 2 and res["page"] == 2 and res["per_page"] == 4
    # syntax errors: 422 with the column and a caret pointer
    r = client.get("/api/v1/items/search", headers=h, params={"q": "ค่าไฟ AND"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_failed" and err["details"]["column"] == 7
    assert err["details"]["pointer"].endswith("\n" + " " * 6 + "^")
    r = client.get("/api/v1/items/search", headers=h, params={"q": "colour:red"})
    assert r.status_code == 422 and r.json()["error"]["details"]["column"] == 1
    assert client.get("/api/v1/items/search", headers=h, params={"q": "x", "sentiment": "angry"}).status_code == 422


def test_search_by_what_items_name(client, as_, org, corpus, db, cfg) -> None:
    """mentions: finds items by their entities (gazetteer places, people, organisations), on either database."""
    _, token = corpus["source_id"], corpus["token"]
    r = client.post("/api/v1/ingest/webhook", headers=bearer(token), json={"items": [item_json(d) for d in [
        {"id": "vi-3", "text": "Thủ tướng Phạm Minh Chính yêu cầu Tập đoàn Điện lực Việt Nam giữ giá điện", "days": 1},
        {"id": "th-3", "text": "นายอนุทิน ชาญวีรกูล ตรวจเยี่ยมโรงพยาบาลศิริราช", "days": 1},
        {"id": "vi-4", "text": "Ủy ban Dân tộc họp về chính sách vùng cao", "author": "ĐỨC", "days": 1},
    ]]})
    assert r.status_code == 200, r.text
    enrich(db, cfg)
    h = as_("viewer@A")
    with db.session() as s:
        vi3 = s.scalar(select(Item.id).where(Item.external_id == "vi-3"))
    item = client.get(f"/api/v1/items/{vi3}", headers=h).json()
    assert {"type": "person", "id": "person:pham-minh-chinh"}.items() <= next(
        e for e in item["entities"] if e["type"] == "person").items()
    assert _ext(_search(client, h, 'mentions:"Phạm Minh Chính"')) == {"vi-3"}
    assert _ext(_search(client, h, "mentions:person:pham-minh-chinh lang:vi")) == {"vi-3"}
    assert _ext(_search(client, h, 'giá mentions:"tập đoàn điện lực việt nam"')) == {"vi-3"}
    assert _ext(_search(client, h, 'mentions:"Hà Nội"')) == {"vi-1"}
    assert _ext(_search(client, h, "mentions:vn:ha-noi OR mentions:โรงพยาบาลศิริราช")) == {"vi-1", "th-3"}
    assert _ext(_search(client, h, 'mentions:"อนุทิน ชาญวีรกูล"')) == {"th-3"}
    assert "vi-1" not in _ext(_search(client, h, "lang:vi -mentions:vn:ha-noi"))
    assert _ext(_search(client, h, "mentions:nobody")) == set()
    # a name whose capital SQLite's own lower() would keep (Ủ): found by name on both databases
    assert _ext(_search(client, h, 'mentions:"Ủy ban Dân tộc"')) == {"vi-4"}
    # the same for an author's handle (SQLite compares values beyond ASCII through unicode_lower)
    assert _ext(_search(client, h, "author:đức")) == {"vi-4"}
    assert "vi-4" not in _ext(_search(client, h, "lang:vi -author:Đức"))


def test_items_are_private_to_their_units(client, as_, org, corpus) -> None:
    a_item, b_item = corpus["ids"]["th-1"], corpus["ids"]["b-1"]
    r = client.get(f"/api/v1/items/{a_item}", headers=as_("viewer@A"))
    assert r.status_code == 200
    it = r.json()
    assert it["text"].startswith("ค่าไฟแพงมาก") and it["likes"] == 120 and it["author_handle"] == "somchai"
    assert it["lang"] == "th" and it["sentiment"] in ("pos", "neu", "neg", "q") and it["enriched_at"]
    assert isinstance(it["keyphrases"], list) and isinstance(it["entities"], list)
    # B sees only its own item; A's viewer does not see B's
    assert client.get(f"/api/v1/items/{a_item}", headers=as_("admin@B")).status_code == 404
    assert client.get(f"/api/v1/items/{b_item}", headers=as_("viewer@A")).status_code == 404
    assert _ext(_search(client, as_("admin@B"), "ค่าไฟ")) == {"b-1"}
    assert _ext(_search(client, as_("viewer@A"), "ค่าไฟ")) == {"th-1"}
    assert _ext(_search(client, as_("root-admin"), "ค่าไฟ")) == {"th-1", "b-1"}
    assert client.get("/api/v1/items/999999", headers=as_("root-admin")).status_code == 404


# ------------------------------------------------------------------ topics


def test_topics_crud_counts_and_permissions(client, as_, org, corpus, db) -> None:
    h = as_("analyst@A")
    r = client.post("/api/v1/topics", headers=h, json={"unit_id": org.units["A"], "name": "Electricity",
                                                        "query": 'ค่าไฟ OR "giá điện" OR electricity',
                                                        "description": "prices"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["version"] == 1 and t["name"] == "Electricity"
    tid = t["id"]
    r = client.get(f"/api/v1/topics/{tid}/counts", headers=as_("viewer@A"))
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["total"] == 3 and len(c["days"]) == 14 and sum(d["count"] for d in c["days"]) == 3
    with db.session() as s:  # days are counted in the unit's time zone (ahead of UTC in the evening)
        zone = ZoneInfo(s.get(Unit, org.units["A"]).timezone or "Asia/Bangkok")  # type: ignore[union-attr]
    assert c["days"][-1]["day"] == dt.datetime.now(zone).date().isoformat()
    # syntax error: 422 with the column; nothing saved
    r = client.post("/api/v1/topics", headers=h, json={"unit_id": org.units["A"], "name": "Broken", "query": "(flood"})
    assert r.status_code == 422 and r.json()["error"]["details"]["column"] == 1
    assert "^" in r.json()["error"]["details"]["pointer"]
    r = client.post("/api/v1/topics", headers=h, json={"unit_id": org.units["A"], "name": "Electricity", "query": "x"})
    assert r.status_code == 409
    # update with optimistic version; a stale version is a conflict
    r = client.patch(f"/api/v1/topics/{tid}", headers=h, json={"query": "flood*", "version": 1})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["query"] == "flood*"
    r = client.patch(f"/api/v1/topics/{tid}", headers=h, json={"name": "Old", "version": 1})
    assert r.status_code == 409
    r = client.patch(f"/api/v1/topics/{tid}", headers=h, json={"query": "a NEAR/x b"})
    assert r.status_code == 422
    assert client.get(f"/api/v1/topics/{tid}/counts", headers=h).json()["total"] == 1
    # a viewer reads but cannot write
    v = as_("viewer@A")
    assert client.get("/api/v1/topics", headers=v).json()["total"] == 1
    assert client.get(f"/api/v1/topics/{tid}", headers=v).status_code == 200
    r = client.post("/api/v1/topics", headers=v, json={"unit_id": org.units["A"], "name": "n", "query": "x"})
    assert r.status_code == 403
    assert client.patch(f"/api/v1/topics/{tid}", headers=v, json={"name": "n"}).status_code == 403
    assert client.delete(f"/api/v1/topics/{tid}", headers=v).status_code == 403
    # unit B sees nothing of it
    b = as_("admin@B")
    assert client.get("/api/v1/topics", headers=b).json()["total"] == 0
    for method, path in (("get", f"/api/v1/topics/{tid}"), ("get", f"/api/v1/topics/{tid}/counts"),
                         ("patch", f"/api/v1/topics/{tid}"), ("delete", f"/api/v1/topics/{tid}")):
        kw = {"json": {"name": "n"}} if method == "patch" else {}
        assert getattr(client, method)(path, headers=b, **kw).status_code == 404, (method, path)
    assert client.delete(f"/api/v1/topics/{tid}", headers=h).status_code == 204
    assert count(db, SavedTopic) == 0


# ------------------------------------------------------------------ clusters


def test_clusters(client, as_, org, db, cfg) -> None:
    from civicpulse.domain.listening import services

    _sid, token = make_webhook(client, as_, org)
    rumour = "ด่วน รัฐบาลจะขึ้นค่าไฟอีกห้าสิบเปอร์เซ็นต์ตั้งแต่เดือนหน้า แชร์ต่อให้คนที่คุณรักรู้ด้วย"
    items = [{"id": f"r{i}", "text": ("RT " if i % 2 else "") + rumour,
              "published_at": (NOW - dt.timedelta(days=i)).isoformat()} for i in range(4)]
    items += [{"id": "other", "text": "Completely different text about the weather in Hanoi today"}]
    assert client.post("/api/v1/ingest/webhook", headers=bearer(token), json={"items": items}).status_code == 200
    enrich(db, cfg)
    assert services.dedup_run(db) >= 1
    r = client.get("/api/v1/clusters", headers=as_("viewer@A"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] >= 1 and page["items"][0]["size"] == 4
    cid = page["items"][0]["id"]
    assert page["items"][0]["first_item"]["external_id"] == "r3"  # the oldest copy
    r = client.get(f"/api/v1/clusters/{cid}", headers=as_("viewer@A"))
    assert r.status_code == 200
    c = r.json()
    assert [i["external_id"] for i in c["items"]] == ["r3", "r2", "r1", "r0"]
    assert c["size"] == 4 and c["sources"][0]["platform"] == "webhook" and sum(d["count"] for d in c["days"]) == 4
    assert len(c["days"]) in (4, 5)  # from the first to the last day (UTC)
    assert client.get(f"/api/v1/clusters/{cid}", headers=as_("admin@B")).status_code == 404
    assert client.get("/api/v1/clusters", headers=as_("admin@B")).json()["total"] == 0
