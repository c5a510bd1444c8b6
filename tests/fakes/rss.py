"""Fake feed host: RSS 2.0 / Atom feeds with ETag + Last-Modified, articles, and misbehaviour.

Routes:
  GET /feed/<name>        the feed (honours If-None-Match / If-Modified-Since → 304)
  GET /article/<id>       an HTML article page for an entry
  GET /hang               sleeps ``hang_seconds`` before answering
  GET /big                a body of ``big_bytes`` bytes (no Content-Length cheating)
  GET /redirect?to=URL    302 to ``to``
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
from html import escape

from fakes.server import FakeServer, Reply, Request


@dataclasses.dataclass
class Entry:
    guid: str
    title: str
    summary: str
    link: str | None = None
    content: str | None = None
    published: float = 1_714_000_000.0  # epoch seconds
    author: str | None = None


@dataclasses.dataclass
class Feed:
    entries: list[Entry] = dataclasses.field(default_factory=list)
    kind: str = "rss"  # rss | atom
    title: str = "Provincial news"
    language: str | None = "th"
    raw: bytes | None = None  # serve these bytes verbatim (broken feeds)
    last_modified: float = 1_714_000_000.0


class FakeFeeds(FakeServer):
    """Seed feeds with :meth:`add_entry` / ``feeds[name].raw``; inspect ``requests``."""

    def __init__(self) -> None:
        super().__init__()
        self.feeds: dict[str, Feed] = {}
        self.articles: dict[str, str] = {}
        self.hang_seconds = 5.0
        self.big_bytes = 11 * 1024 * 1024
        self.add("GET", r"/feed/(?P<name>[\w.-]+)", self._feed)
        self.add("GET", r"/article/(?P<id>[\w.-]+)", self._article)
        self.add("GET", r"/hang", lambda r: Reply(200, b"<rss/>", {"Content-Type": "application/rss+xml"},
                                                  delay=self.hang_seconds))
        self.add("GET", r"/big", self._big)
        self.add("GET", r"/big-stream", lambda r: Reply(200, b"<rss>" + b"x" * self.big_bytes,
                                                        {"Content-Type": "application/rss+xml"}, no_length=True))
        self.add("GET", r"/redirect", lambda r: Reply(302, b"", {"Location": r.arg("to") or "/"}))

    def feed(self, name: str, **kw: object) -> Feed:
        if name not in self.feeds:
            self.feeds[name] = Feed(**kw)  # type: ignore[arg-type]
        return self.feeds[name]

    def add_entry(self, name: str, entry: Entry, *, article_html: str | None = None) -> Entry:
        feed = self.feed(name)
        feed.entries.insert(0, entry)  # newest first, as feeds usually are
        feed.last_modified = max(feed.last_modified, entry.published) + 1
        if article_html is not None:
            self.articles[entry.guid] = article_html
            entry.link = entry.link or f"{self.url}/article/{entry.guid}"
        return entry

    # -- rendering -------------------------------------------------------------------------
    def render(self, feed: Feed) -> bytes:
        if feed.raw is not None:
            return feed.raw
        if feed.kind == "atom":
            parts = ['<?xml version="1.0" encoding="utf-8"?>',
                     f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{feed.language or "en"}">',
                     f"<title>{escape(feed.title)}</title><id>urn:fake:{escape(feed.title)}</id>",
                     f"<updated>{_iso(feed.last_modified)}</updated>"]
            for e in feed.entries:
                parts.append(f"<entry><id>{escape(e.guid)}</id><title>{escape(e.title)}</title>"
                             f"<updated>{_iso(e.published)}</updated><published>{_iso(e.published)}</published>"
                             + (f'<link href="{escape(e.link)}"/>' if e.link else "")
                             + (f"<author><name>{escape(e.author)}</name></author>" if e.author else "")
                             + f'<summary type="html">{escape(e.summary)}</summary>'
                             + (f'<content type="html">{escape(e.content)}</content>' if e.content else "")
                             + "</entry>")
            parts.append("</feed>")
            return "".join(parts).encode("utf-8")
        parts = ['<?xml version="1.0" encoding="utf-8"?>',
                 '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>',
                 f"<title>{escape(feed.title)}</title><link>https://news.example/</link>"
                 f"<description>fake</description>"
                 + (f"<language>{feed.language}</language>" if feed.language else "")]
        for e in feed.entries:
            parts.append(f'<item><guid isPermaLink="false">{escape(e.guid)}</guid><title>{escape(e.title)}</title>'
                         f"<pubDate>{email.utils.formatdate(e.published, usegmt=True)}</pubDate>"
                         + (f"<link>{escape(e.link)}</link>" if e.link else "")
                         + (f"<author>{escape(e.author)}</author>" if e.author else "")
                         + f"<description>{escape(e.summary)}</description>"
                         + (f"<content:encoded>{escape(e.content)}</content:encoded>" if e.content else "")
                         + "</item>")
        parts.append("</channel></rss>")
        return "".join(parts).encode("utf-8")

    def _feed(self, req: Request) -> Reply:
        assert req.match is not None
        feed = self.feeds.get(req.match["name"])
        if feed is None:
            return Reply(404, "<html><body>Not Found</body></html>", {"Content-Type": "text/html"})
        body = self.render(feed)
        etag = '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:16] + '"'
        last_mod = email.utils.formatdate(feed.last_modified, usegmt=True)
        headers = {"Content-Type": "application/rss+xml; charset=utf-8" if feed.kind == "rss"
                   else "application/atom+xml; charset=utf-8", "ETag": etag, "Last-Modified": last_mod}
        inm = req.headers.get("if-none-match")
        ims = req.headers.get("if-modified-since")
        if inm is not None:
            if inm == etag:
                return Reply(304, b"", {"ETag": etag, "Last-Modified": last_mod})
        elif ims is not None:
            parsed = email.utils.parsedate_to_datetime(ims)
            if parsed.timestamp() >= int(feed.last_modified):
                return Reply(304, b"", {"ETag": etag, "Last-Modified": last_mod})
        return Reply(200, body, headers)

    def _article(self, req: Request) -> Reply:
        assert req.match is not None
        html = self.articles.get(req.match["id"])
        if html is None:
            return Reply(404, "not found")
        return Reply(200, html.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    def _big(self, req: Request) -> Reply:
        return Reply(200, b"<rss>" + b"x" * self.big_bytes, {"Content-Type": "application/rss+xml",
                                                             "Content-Length": str(self.big_bytes + 5)})


def _iso(ts: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
