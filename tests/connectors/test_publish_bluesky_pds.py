"""Publishing to Bluesky: facets (unit) and the whole flow against a REAL reference PDS.

The PDS tests need ``CIVICPULSE_BSKY_PDS_DIR`` (see tests/connectors/test_bluesky_pds.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicpulse.connectors.base import ConnectorError, MediaRef, PublishRequest
from civicpulse.connectors.bluesky import KEY_FIELD, BlueskyPublisher, facets


def spans(text: str, found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(feature type, the text covered by the byte range) for each facet."""
    raw = text.encode("utf-8")
    return [(f["features"][0]["$type"].rsplit("#", 1)[1],
             raw[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode("utf-8")) for f in found]


def test_facets_use_utf8_byte_offsets_with_thai_vietnamese_and_emoji() -> None:
    text = ("🌊 น้ำท่วมเชียงใหม่ ดูที่ https://pr.go.th/flood?a=1. Lũ lụt ở Huế 👨‍👩‍👧‍👦 #น้ำท่วม #LũLụt "
            "cc @agency.test and #2024 (https://gov.vn/x)")
    found = facets(text, lambda h: "did:plc:agency" if h == "agency.test" else None)
    assert spans(text, found) == [
        ("link", "https://pr.go.th/flood?a=1"), ("tag", "#น้ำท่วม"), ("tag", "#LũLụt"),
        ("mention", "@agency.test"), ("link", "https://gov.vn/x")]
    tags = [f["features"][0]["tag"] for f in found if f["features"][0]["$type"].endswith("#tag")]
    assert tags == ["น้ำท่วม", "LũLụt"]  # purely numeric "#2024" is not a tag
    mention = next(f for f in found if f["features"][0]["$type"].endswith("#mention"))
    assert mention["features"][0]["did"] == "did:plc:agency"
    # byte offsets differ from character offsets as soon as non-ASCII text comes first
    assert found[0]["index"]["byteStart"] != text.index("https://")


prefix = st.text(alphabet=st.sampled_from(list("กขคน้ำ่ีเแ ẠạẾếỞởĐđ aZ09🌊👨‍👩‍👧‍👦🇹🇭,.")), max_size=40)


@given(prefix, st.from_regex(r"https://[a-z]{1,10}\.go\.th(/[a-z0-9]{1,8}){0,3}", fullmatch=True),
       st.from_regex(r"[a-zA-Zก-ฮ][a-zA-Z0-9ก-ฮะ-ฺเ-์๐-๙]{0,20}", fullmatch=True))
@settings(max_examples=200, deadline=None)
def test_facet_byte_ranges_always_cover_the_link_and_the_tag(head: str, link: str, tag: str) -> None:
    text = f"{head} {link} #{tag} {head}"
    assert spans(text, facets(text)) == [("link", link), ("tag", f"#{tag}")]
    shout = f"{head} #{tag}!"
    assert spans(shout, facets(shout)) == [("tag", f"#{tag}")]  # trailing punctuation is not part of the tag


def test_unresolvable_mentions_stay_plain_text() -> None:
    assert facets("hello @nobody.example", lambda h: None) == []


# ------------------------------------------------------------------------------------- real PDS

_n = itertools.count(1)


def account(pds: str) -> tuple[str, str]:
    handle = f"pub{next(_n)}-{id(pds) % 1000}.test"
    r = httpx.post(f"{pds}/xrpc/com.atproto.server.createAccount",
                   json={"handle": handle, "email": f"{handle}@example.org", "password": "correct-horse-battery"})
    assert r.status_code == 200, r.text
    return handle, "correct-horse-battery"


def make(pds: str, handle: str, password: str) -> BlueskyPublisher:
    return BlueskyPublisher({"pds_url": pds, "identifier": handle, "app_password": password, "allow_private": True})


@pytest.mark.slow
def test_publish_read_back_lookup_and_delete_on_a_real_pds(pds_url: str, tmp_path: Path) -> None:
    handle, password = account(pds_url)
    other, _ = account(pds_url)
    conn = make(pds_url, handle, password)
    text = f"🌊 ประกาศเตือนภัย น้ำท่วม #น้ำท่วม Lũ lụt ở Huế #LũLụt cc @{other} 👨‍👩‍👧‍👦"
    req = PublishRequest("variant-42-attempt-key", text, link="https://pr.go.th/news/42", language="th")
    assert conn.lookup(req) is None
    pub = conn.publish(req)
    assert pub.external_id.startswith("at://did:") and pub.url and "/post/" in pub.url

    did, _, rkey = pub.external_id[5:].split("/")
    rec = httpx.get(f"{pds_url}/xrpc/com.atproto.repo.getRecord",
                    params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey}).json()
    value = rec["value"]
    assert value["text"] == f"{text}\n\nhttps://pr.go.th/news/42"
    assert value["langs"] == ["th"] and value[KEY_FIELD] == "variant-42-attempt-key"
    got = spans(value["text"], value["facets"])
    assert got == [("tag", "#น้ำท่วม"), ("tag", "#LũLụt"), ("mention", f"@{other}"),
                   ("link", "https://pr.go.th/news/42")]
    other_did = httpx.get(f"{pds_url}/xrpc/com.atproto.identity.resolveHandle", params={"handle": other}).json()["did"]
    assert value["facets"][2]["features"][0]["did"] == other_did

    found = conn.lookup(req)
    assert found is not None and found.external_id == pub.external_id
    assert conn.lookup(PublishRequest("never-published", text)) is None

    # a reply in the thread, with an image
    img = tmp_path / "map.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    reply = conn.publish(PublishRequest("reply-key", "รายละเอียดเพิ่มเติม", reply_to=pub.external_id,
                                        media=[MediaRef(str(img), "image/png", 72, alt_text="แผนที่น้ำท่วม",
                                                        width=800, height=600)]))
    rrkey = reply.external_id.rsplit("/", 1)[1]
    rv = httpx.get(f"{pds_url}/xrpc/com.atproto.repo.getRecord",
                   params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rrkey}).json()["value"]
    assert rv["reply"]["root"]["uri"] == pub.external_id == rv["reply"]["parent"]["uri"]
    assert rv["embed"]["images"][0]["alt"] == "แผนที่น้ำท่วม"
    assert rv["embed"]["images"][0]["aspectRatio"] == {"width": 800, "height": 600}

    conn.delete(pub.external_id)
    assert conn.lookup(req) is None
    assert make(pds_url, handle, password).health().ok


@pytest.mark.slow
def test_wrong_password_and_expired_session_on_a_real_pds(pds_url: str) -> None:
    handle, password = account(pds_url)
    bad = make(pds_url, handle, "wrong-password")
    h = bad.health()
    assert not h.ok and "app password" in h.message and "Invalid identifier or password" in h.message
    with pytest.raises(ConnectorError) as ei:
        bad.publish(PublishRequest("k", "hello"))
    assert ei.value.kind == "auth"
    # a stale session token is renewed once, transparently
    conn = make(pds_url, handle, password)
    conn._login()
    conn._access = conn._access[:-4] + "AAAA"  # signature no longer valid
    pub = conn.publish(PublishRequest("k2", "after re-login"))
    assert pub.external_id.startswith("at://")
