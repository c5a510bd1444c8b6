"""RSS/Atom connector against a local fake feed host."""

from __future__ import annotations

import json
import time

import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.rss import RssConnector, extract_article_text
from fakes.rss import Entry, FakeFeeds

ARTICLE = """<html><head><title>x</title><script>var tracking = 1;</script></head><body>
<nav>Home | News | Contact</nav>
<article><h1>Flood relief centres open</h1>
<p>The provincial office opened twelve flood relief centres on Monday. Residents can collect
drinking water, rice and medicine from 8:00 to 20:00 every day.</p>
<p>Officials asked citizens to report blocked drains through the hotline 1111.</p>
</article><footer>Copyright</footer></body></html>"""


def make(srv: FakeFeeds, name: str = "news", **cfg: object) -> RssConnector:
    return RssConnector({"url": f"{srv.url}/feed/{name}", "allow_private": True, **cfg})


def test_rss_fetch_conditional_get_and_resume(fake_feeds: FakeFeeds) -> None:
    fake_feeds.add_entry("news", Entry("g1", "Water cut", "<p>Water cut in <b>Bangkok</b></p>", author="desk",
                                       link="https://news.example/1", published=1_714_000_000))
    fake_feeds.add_entry("news", Entry("g2", "Road closed", "Road 7 closed", link="https://news.example/2",
                                       published=1_714_000_100))
    conn = make(fake_feeds)
    first = conn.fetch(None)
    assert [i.external_id for i in first.items] == ["g2", "g1"]
    g1 = first.items[1]
    assert g1.text == "Water cut in Bangkok" and g1.title == "Water cut" and g1.kind == "article"
    assert g1.url == "https://news.example/1" and g1.language == "th" and g1.author_name == "desk"
    assert g1.published_at is not None and g1.published_at.timestamp() == 1_714_000_000
    assert first.cursor["etag"] and first.cursor["last_modified"]
    json.dumps(first.cursor)
    json.dumps(first.items[0].raw)

    # Unchanged feed → the server answers 304 thanks to If-None-Match.
    again = make(fake_feeds).fetch(json.loads(json.dumps(first.cursor)))
    assert again.items == []
    assert fake_feeds.requests[-1].headers["if-none-match"] == first.cursor["etag"]
    assert again.cursor["seen"] == first.cursor["seen"]

    # A "restart" with the saved cursor after a new entry → only the new one.
    fake_feeds.add_entry("news", Entry("g3", "Clinic hours", "Clinic open Sunday", published=1_714_000_200))
    third = make(fake_feeds).fetch(again.cursor)
    assert [i.external_id for i in third.items] == ["g3"]
    assert third.cursor["etag"] != first.cursor["etag"]


def test_rss_if_modified_since_only(fake_feeds: FakeFeeds) -> None:
    fake_feeds.add_entry("news", Entry("g1", "a", "b"))
    cur = make(fake_feeds).fetch(None).cursor
    res = make(fake_feeds).fetch({"last_modified": cur["last_modified"], "seen": cur["seen"]})
    assert res.items == [] and fake_feeds.requests[-1].headers["if-modified-since"] == cur["last_modified"]


def test_rss_dedupes_by_guid_when_feed_has_no_validators(fake_feeds: FakeFeeds) -> None:
    fake_feeds.add_entry("news", Entry("g1", "a", "b"))
    cur = make(fake_feeds).fetch(None).cursor
    fake_feeds.add_entry("news", Entry("g2", "c", "d"))
    res = make(fake_feeds).fetch({"seen": cur["seen"]})  # no etag → full 200
    assert [i.external_id for i in res.items] == ["g2"]
    assert res.cursor["seen"] == ["g1", "g2"]


def test_rss_seen_set_is_bounded(fake_feeds: FakeFeeds) -> None:
    for i in range(30):
        fake_feeds.add_entry("news", Entry(f"g{i}", "t", "s"))
    res = make(fake_feeds, seen_limit=10).fetch(None)
    assert len(res.items) == 30 and len(res.cursor["seen"]) == 10


def test_atom_feed_with_full_content(fake_feeds: FakeFeeds) -> None:
    fake_feeds.feed("atom", kind="atom", language="vi")
    fake_feeds.add_entry("atom", Entry("urn:1", "Tin", "tóm tắt", content="<p>Nội dung <i>đầy đủ</i></p>",
                                       link="https://tin.example/1"))
    items = make(fake_feeds, "atom").fetch(None).items
    assert items[0].text == "Nội dung đầy đủ" and items[0].language == "vi"


def test_rss_full_text_extraction_when_only_summary(fake_feeds: FakeFeeds) -> None:
    fake_feeds.add_entry("news", Entry("g1", "Flood relief", "Centres open…"), article_html=ARTICLE)
    plain = make(fake_feeds).fetch(None).items[0]
    assert plain.text == "Centres open…"  # off by default
    full = make(fake_feeds, full_text=True).fetch(None).items[0]
    assert "twelve flood relief centres" in full.text and "hotline 1111" in full.text
    assert "tracking" not in full.text and full.raw["full_text_extracted"] is True


def test_stdlib_article_fallback_prefers_article_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    import civicpulse.connectors.rss as rss

    monkeypatch.setattr(rss, "trafilatura", None)
    text = extract_article_text(ARTICLE)
    assert text.startswith("Flood relief centres open") and "Home | News" not in text and "tracking" not in text


def test_broken_feed_keeps_valid_entries_and_names_problem(fake_feeds: FakeFeeds) -> None:
    fake_feeds.feed("bad").raw = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                                  b"<item><guid>urn:ok1</guid><title>Fine</title><description>first</description></item>"
                                  b"<item><guid>urn:ok2</guid><title>Also & fine</title><description>second</description>"
                                  b"</item></channel>")
    res = make(fake_feeds, "bad").fetch(None)
    assert [i.external_id for i in res.items] == ["urn:ok1", "urn:ok2"]
    assert res.rejected and "broken XML" in res.rejected[0][1]
    assert "SAXParseException" in res.rejected[0][1] or "not well-formed" in res.rejected[0][1]


def test_feed_with_nothing_readable_is_a_permanent_error(fake_feeds: FakeFeeds) -> None:
    fake_feeds.feed("junk").raw = b"<html><body><p>Not a feed <b></body"
    with pytest.raises(ConnectorError) as ei:
        make(fake_feeds, "junk").fetch(None)
    assert ei.value.kind == "permanent" and "could not be read" in ei.value.message
    h = make(fake_feeds, "junk").health()
    assert not h.ok and "broken" in h.message


def test_hanging_feed_fails_in_bounded_time(fake_feeds: FakeFeeds) -> None:
    fake_feeds.hang_seconds = 3
    conn = RssConnector({"url": f"{fake_feeds.url}/hang", "allow_private": True, "timeout": 0.5})
    t0 = time.monotonic()
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(None)
    assert time.monotonic() - t0 < 1.5
    assert ei.value.kind == "transient"
    assert ei.value.message == f"The feed at {fake_feeds.url}/hang did not answer within 0.5 s."
    assert conn.health().ok is False


def test_default_deadline_message_says_10_s(fake_feeds: FakeFeeds) -> None:
    conn = RssConnector({"url": f"{fake_feeds.url}/hang", "allow_private": True})
    assert conn.http.deadline == 10
    assert "within 10 s" in conn.http._timeout_error("The feed", "http://x/feed").message


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
def test_oversized_feed_is_refused(fake_feeds: FakeFeeds, path: str) -> None:
    fake_feeds.big_bytes = 3 * 1024 * 1024
    conn = RssConnector({"url": f"{fake_feeds.url}{path}", "allow_private": True, "max_bytes": 1024 * 1024})
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(None)
    assert ei.value.kind == "permanent" and "1 MB" in ei.value.message


def test_missing_feed_is_permanent_404(fake_feeds: FakeFeeds) -> None:
    with pytest.raises(ConnectorError) as ei:
        make(fake_feeds, "nope").fetch(None)
    assert ei.value.kind == "permanent" and ei.value.status == 404


def test_rss_refuses_loopback_without_allow_private(fake_feeds: FakeFeeds) -> None:
    conn = RssConnector({"url": f"{fake_feeds.url}/feed/news"})
    with pytest.raises(ConnectorError) as ei:
        conn.fetch(None)
    assert ei.value.kind == "permanent"
    assert ei.value.message.startswith(f"Refused to fetch {fake_feeds.url}/feed/news: the address is loopback")
    assert fake_feeds.requests == []


def test_rss_health_ok(fake_feeds: FakeFeeds) -> None:
    fake_feeds.add_entry("news", Entry("g1", "a", "b"))
    h = make(fake_feeds).health()
    assert h.ok and "Provincial news" in h.message and h.details["entries"] == 1
