"""Bluesky connector against a REAL reference PDS (``@atproto/pds``) on 127.0.0.1.

Needs ``CIVICPULSE_BSKY_PDS_DIR`` pointing at a folder prepared with::

    tests/fakes/bsky_pds.sh install "$CIVICPULSE_BSKY_PDS_DIR"

The ``pds_url`` fixture (``fakes.fixtures``) starts it (``tests/fakes/bsky_pds.sh start DIR``) once per session. Without it the
tests fail when ``CI`` is set and are skipped otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.bluesky import BlueskyConnector

pytestmark = pytest.mark.slow


class Account:
    def __init__(self, pds: str, handle: str) -> None:
        self.pds = pds
        self.handle = handle
        self.password = "correct-horse-battery"
        r = httpx.post(f"{pds}/xrpc/com.atproto.server.createAccount",
                       json={"handle": handle, "email": f"{handle}@example.org", "password": self.password})
        assert r.status_code == 200, r.text
        r = httpx.post(f"{pds}/xrpc/com.atproto.server.createSession",
                       json={"identifier": handle, "password": self.password})
        assert r.status_code == 200, r.text
        self.did: str = r.json()["did"]
        self.jwt: str = r.json()["accessJwt"]
        self.n = 0

    def post(self, text: str, *, reply_to: dict[str, Any] | None = None, langs: list[str] | None = None) -> dict:
        self.n += 1
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text,
                                  "createdAt": (dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
                                                + dt.timedelta(minutes=self.n)).isoformat().replace("+00:00", "Z")}
        if langs:
            record["langs"] = langs
        if reply_to:
            ref = {"uri": reply_to["uri"], "cid": reply_to["cid"]}
            record["reply"] = {"root": ref, "parent": ref}
        r = httpx.post(f"{self.pds}/xrpc/com.atproto.repo.createRecord",
                       headers={"Authorization": f"Bearer {self.jwt}"},
                       json={"repo": self.did, "collection": "app.bsky.feed.post", "record": record})
        assert r.status_code == 200, r.text
        return r.json()


def make(pds: str, **cfg: Any) -> BlueskyConnector:
    return BlueskyConnector({"mode": "repo", "pds_url": pds, "allow_private": True, **cfg})


def test_list_records_with_cursor_resume(pds_url: str) -> None:
    acct = Account(pds_url, "agency-resume.test")
    first = [acct.post(f"ประกาศ {i}", langs=["th"]) for i in range(3)]
    res = make(pds_url, actor=acct.did).fetch(None)
    assert [i.external_id for i in res.items] == [p["uri"] for p in first]
    item = res.items[0]
    assert item.text == "ประกาศ 0" and item.language == "th" and item.kind == "post"
    rkey = first[0]["uri"].rsplit("/", 1)[1]
    assert item.url == f"https://bsky.app/profile/{acct.did}/post/{rkey}"
    assert item.published_at == dt.datetime(2025, 5, 1, 0, 1, tzinfo=dt.UTC)
    assert item.raw["cid"] == first[0]["cid"]
    cursor = json.loads(json.dumps(res.cursor))
    assert cursor == {"rkey": first[-1]["uri"].rsplit("/", 1)[1], "did": acct.did}

    # "restart": a new connector with the saved cursor sees only the new posts (paged, limit 2)
    later = [acct.post(f"update {i}") for i in range(5)]
    reply = acct.post("a reply", reply_to=first[0])
    res2 = make(pds_url, actor=acct.handle, limit=2).fetch(cursor)
    assert [i.external_id for i in res2.items] == [p["uri"] for p in [*later, reply]]
    assert res2.items[-1].kind == "reply" and res2.items[-1].parent_external_id == first[0]["uri"]
    assert res2.items[-1].thread_external_id == first[0]["uri"]
    assert res2.items[0].author_handle == acct.handle
    assert make(pds_url, actor=acct.did).fetch(res2.cursor).items == []


def test_backfill_reads_whole_repo_oldest_first(pds_url: str) -> None:
    acct = Account(pds_url, "agency-backfill.test")
    posts = [acct.post(f"p{i}") for i in range(5)]
    res = make(pds_url, actor=acct.did, backfill=True, limit=2, max_pages=10).fetch(None)
    assert [i.text for i in res.items] == [f"p{i}" for i in range(5)]
    assert res.cursor["rkey"] == posts[-1]["uri"].rsplit("/", 1)[1]


def test_login_health_and_token_expiry(pds_url: str) -> None:
    acct = Account(pds_url, "agency-health.test")
    acct.post("hello")
    conn = make(pds_url, actor=acct.did, identifier=acct.handle, app_password=acct.password)
    h = conn.health()
    assert h.ok, h.message
    assert h.token_expires_at is not None and h.token_expires_at > dt.datetime.now(dt.UTC)
    assert len(conn.fetch(None).items) == 1
    bad = make(pds_url, actor=acct.did, identifier=acct.handle, app_password="wrong")
    with pytest.raises(ConnectorError) as ei:
        bad.fetch(None)
    assert ei.value.kind == "auth"
    assert not bad.health().ok


def test_appview_methods_on_a_bare_pds_are_explained(pds_url: str) -> None:
    conn = BlueskyConnector({"mode": "search", "q": "flood", "base_url": pds_url, "allow_private": True})
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(None)
    assert ei.value.kind == "permanent" and "no AppView" in ei.value.message


def test_unknown_repo_is_permanent(pds_url: str) -> None:
    with pytest.raises(ConnectorError) as ei:
        make(pds_url, actor="did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").fetch(None)
    assert ei.value.kind == "permanent"
