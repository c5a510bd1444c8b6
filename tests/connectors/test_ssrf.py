"""SSRF guard: address classes, schemes, resolver injection, redirects, pinning."""

from __future__ import annotations

import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.http import HttpClient
from civicpulse.connectors.rss import RssConnector
from civicpulse.connectors.ssrf import SSRFRefused, check_url
from fakes.helpers import RewriteTransport, static_resolver
from fakes.rss import Entry, FakeFeeds

NO_DNS = static_resolver({})


@pytest.mark.parametrize(("url", "why"), [
    ("http://10.0.0.1/feed", "the address is private"),
    ("http://10.0.0.5/feed", "the address is private"),
    ("http://192.168.1.1/", "the address is private"),
    ("http://172.16.0.9/", "the address is private"),
    ("http://100.64.1.1/", "the address is private"),
    ("http://127.0.0.1:8080/x", "the address is loopback"),
    ("http://[::1]/x", "the address is loopback"),
    ("http://[::ffff:127.0.0.1]/x", "the address is loopback"),
    ("http://[::ffff:10.0.0.1]/x", "the address is private"),
    ("http://[64:ff9b::a00:1]/x", "the address is private"),
    ("http://[2002:a00:1::]/x", "the address is private"),
    ("http://169.254.169.254/latest/meta-data", "the address is link-local"),
    ("http://[fe80::1]/", "the address is link-local"),
    ("http://[fc00::1]/", "the address is private"),
    ("http://224.0.0.1/", "the address is multicast"),
    ("http://[ff02::1]/", "the address is multicast"),
    ("http://0.0.0.0/", "the address is unspecified"),
    ("http://[::]/", "the address is unspecified"),
    ("http://240.0.0.1/", "the address is reserved"),
])
def test_refuses_non_public_literals(url: str, why: str) -> None:
    with pytest.raises(SSRFRefused) as ei:
        check_url(url, resolver=NO_DNS)
    assert ei.value.kind == "permanent"
    assert ei.value.message.startswith(f"Refused to fetch {url}: {why}")
    assert ei.value.message.endswith("An administrator can allow private addresses in Settings.")


def test_exact_plain_message() -> None:
    with pytest.raises(SSRFRefused) as ei:
        check_url("http://10.0.0.5/feed")
    assert str(ei.value) == ("Refused to fetch http://10.0.0.5/feed: the address is private. "
                             "An administrator can allow private addresses in Settings.")


def test_allow_private_lets_private_through() -> None:
    assert [str(a) for a in check_url("http://10.0.0.1/feed", allow_private=True)] == ["10.0.0.1"]
    assert [str(a) for a in check_url("http://[::1]/", allow_private=True)] == ["::1"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x/", "javascript:alert(1)",
                                 "//example.org/feed"])
def test_refuses_other_schemes(url: str) -> None:
    with pytest.raises(SSRFRefused) as ei:
        check_url(url, allow_private=True, resolver=NO_DNS)
    assert "only http and https" in ei.value.message


def test_resolver_is_used_and_every_address_must_pass() -> None:
    resolve = static_resolver({"news.example": ["93.184.216.34"], "sneaky.example": ["93.184.216.34", "10.1.2.3"],
                               "v6.example": ["2606:4700::1111"]})
    assert [str(a) for a in check_url("https://news.example/rss", resolver=resolve)] == ["93.184.216.34"]
    assert check_url("https://v6.example/rss", resolver=resolve)
    with pytest.raises(SSRFRefused, match="the address is private"):
        check_url("https://sneaky.example/rss", resolver=resolve)
    with pytest.raises(SSRFRefused, match="could not be found"):
        check_url("https://missing.example/rss", resolver=resolve)


def test_redirect_to_private_is_rechecked(fake_feeds: FakeFeeds) -> None:
    """news.example (public) answers 302 → internal.example (10.0.0.5): refused unless allowed."""
    fake_feeds.add_entry("news", Entry("g1", "t", "s"))
    resolve = static_resolver({"news.example": ["93.184.216.34"], "internal.example": ["10.0.0.5"]})
    transport = RewriteTransport({"news.example": fake_feeds.url, "internal.example": fake_feeds.url})
    url = "http://news.example/redirect?to=http://internal.example/feed/news"

    blocked = HttpClient(allow_private=False, resolver=resolve, transport=transport)
    with pytest.raises(SSRFRefused) as ei:
        blocked.get(url)
    assert str(ei.value).startswith("Refused to fetch http://internal.example/feed/news: the address is private.")
    assert transport.seen == [url]  # the private hop was never requested

    allowed = HttpClient(allow_private=True, resolver=resolve, transport=transport)
    resp = allowed.get(url)
    assert resp.status == 200 and resp.redirects == ["http://internal.example/feed/news"]

    # Through the connector too.
    conn = RssConnector({"url": url}, resolver=resolve, transport=transport)
    with pytest.raises(SSRFRefused):
        conn.fetch(None)
    conn = RssConnector({"url": url, "allow_private": True}, resolver=resolve, transport=transport)
    assert [i.external_id for i in conn.fetch(None).items] == ["g1"]


def test_redirect_to_literal_ip_and_too_many_redirects(fake_feeds: FakeFeeds) -> None:
    resolve = static_resolver({"news.example": ["93.184.216.34"]})
    transport = RewriteTransport({"news.example": fake_feeds.url})
    client = HttpClient(resolver=resolve, transport=transport)
    with pytest.raises(SSRFRefused, match=r"Refused to fetch http://\[::ffff:10.0.0.1\]/x: the address is private"):
        client.get("http://news.example/redirect?to=http://[::ffff:10.0.0.1]/x")
    with pytest.raises(SSRFRefused, match="only http and https"):
        client.get("http://news.example/redirect?to=file:///etc/passwd")
    loop = "http://news.example/redirect?to=/redirect%3Fto%3D/redirect"
    client2 = HttpClient(resolver=resolve, transport=transport, max_redirects=1)
    with pytest.raises(ConnectorError, match="redirected more than 1 times"):
        client2.get(loop)


def test_default_transport_pins_to_resolver_answer(fake_feeds: FakeFeeds) -> None:
    """No transport override: the guarded backend connects to what *our* resolver said."""
    fake_feeds.add_entry("news", Entry("g1", "t", "s"))
    resolve = static_resolver({"feeds.internal": ["127.0.0.1"]})
    url = f"http://feeds.internal:{fake_feeds.port}/feed/news"
    ok = HttpClient(allow_private=True, resolver=resolve).get(url)
    assert ok.status == 200 and fake_feeds.requests[-1].headers["host"] == f"feeds.internal:{fake_feeds.port}"
    assert fake_feeds.requests[-1].headers["user-agent"].startswith("civicpulse/")
    with pytest.raises(SSRFRefused, match="loopback"):
        HttpClient(allow_private=False, resolver=resolve).get(url)
