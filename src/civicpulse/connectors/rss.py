"""RSS / Atom feeds (any feed URL a user types in).

Config keys:

* ``url`` (required) — the feed address (http/https; SSRF-guarded, redirects re-checked).
* ``full_text`` (bool, default ``False``) — when an entry carries only a short summary, fetch the
  linked article and extract its text (trafilatura when installed, else a stdlib fallback).
* ``full_text_min_chars`` (int, default 500) — summaries shorter than this count as "only a summary".
* ``max_items`` (int, default 200) — most entries returned per fetch.
* ``timeout`` (seconds, default 10) — total deadline per request; ``connect_timeout``, ``read_timeout``.
* ``max_bytes`` (default 10 MB) — response size cap; ``allow_private`` (admin setting).

Cursor (JSON)::

    {"etag": str | None, "last_modified": str | None, "seen": [entry ids, oldest first, ≤ 2000]}

Fetching sends ``If-None-Match`` / ``If-Modified-Since`` from the cursor; a ``304`` returns no items.
Entries already in ``seen`` (by GUID, else link) are skipped. Broken XML is reported in
``FetchResult.rejected`` (and in ``health()``) while the entries that could be read are kept;
a feed with nothing readable raises ``ConnectorError("permanent")`` naming the parser's problem.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
import time
from typing import Any, ClassVar

import feedparser

from civicpulse.connectors._common import SEEN_LIMIT, HttpConnector, html_to_text, remember
from civicpulse.connectors.base import ConnectorError, FetchedItem, FetchResult, Health, RateLimit
from civicpulse.connectors.http import map_http_error

trafilatura: Any
try:  # optional: better article extraction
    import trafilatura
except Exception:  # noqa: BLE001 - any import problem means "not available"
    trafilatura = None

_HARMLESS_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")


def _jsonable(value: Any) -> Any:
    """Make a feedparser structure JSON-serialisable (struct_time → ISO 8601)."""
    if isinstance(value, time.struct_time):
        return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _entry_time(entry: Any) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            return dt.datetime.fromtimestamp(calendar.timegm(st), dt.UTC)
    return None


def _entry_id(entry: Any) -> str:
    for key in ("id", "guid", "link"):
        value = entry.get(key)
        if value:
            return str(value)
    basis = f"{entry.get('title', '')}|{entry.get('summary', '')}"
    return "sha1:" + hashlib.sha1(basis.encode("utf-8"), usedforsecurity=False).hexdigest()


def extract_article_text(markup: str, url: str | None = None) -> str:
    """Main text of an article page: trafilatura if available, else a stdlib fallback that
    prefers ``<article>`` / ``<main>`` and drops navigation, scripts and styles."""
    if trafilatura is not None:
        try:
            got = trafilatura.extract(markup, url=url, include_comments=False, include_tables=False)
        except Exception:  # noqa: BLE001 - fall back below
            got = None
        if got:
            return got.strip()
    for tag in ("article", "main"):
        m = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", markup, flags=re.S | re.I)
        if m:
            text = html_to_text(m.group(1))
            if text:
                return text
    body = re.search(r"<body\b[^>]*>(.*)</body>", markup, flags=re.S | re.I)
    return html_to_text(body.group(1) if body else markup)


class RssConnector(HttpConnector):
    """RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom feeds."""

    platform: ClassVar[str] = "rss"
    service: ClassVar[str] = "The feed"
    # No published limit; be polite to small sites.
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (RateLimit(60, 60.0, "politeness: 1 request/s on average"),)

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        if not config.get("url"):
            raise ValueError("rss connector needs config['url']")
        self.url: str = str(config["url"])
        self.last_warning: str | None = None

    @property
    def _label(self) -> str:
        return "The feed"

    def _get_feed(self, cursor: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:
        headers: dict[str, str] = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                                             "text/xml;q=0.8, */*;q=0.5"}
        if cursor.get("etag"):
            headers["If-None-Match"] = str(cursor["etag"])
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = str(cursor["last_modified"])
        self.limiter.acquire()
        resp = self.http.get(self.url, headers=headers, label=self._label)
        if resp.status == 304:
            return 304, None, {}
        if resp.status >= 400:
            raise map_http_error(resp.status, resp.text[:300] if resp.content else None, resp.headers,
                                 service=f"The feed at {self.url}")
        parsed = feedparser.parse(resp.content, response_headers={
            "content-type": resp.headers.get("content-type", "application/xml"),
            "content-location": resp.url,
        })
        validators = {"etag": resp.headers.get("etag"), "last_modified": resp.headers.get("last-modified")}
        return resp.status, parsed, validators

    def _bozo_problem(self, parsed: Any) -> str | None:
        if not parsed.get("bozo"):
            return None
        exc = parsed.get("bozo_exception")
        name = type(exc).__name__ if exc is not None else "unknown problem"
        if name in _HARMLESS_BOZO:
            return None
        detail = str(exc) if exc is not None else ""
        return f"{name}: {detail}" if detail else name

    def _fetch(self, cursor: dict[str, Any]) -> FetchResult:
        status, parsed, validators = self._get_feed(cursor)
        seen_ids: list[str] = [str(s) for s in cursor.get("seen") or []]
        new_cursor: dict[str, Any] = {"etag": cursor.get("etag"), "last_modified": cursor.get("last_modified"),
                                      "seen": seen_ids}
        if status == 304:
            return FetchResult(items=[], cursor=new_cursor)
        problem = self._bozo_problem(parsed)
        entries = list(parsed.entries)
        rejected: list[tuple[str, str]] = []
        if problem and not entries:
            raise ConnectorError("permanent", f"The feed at {self.url} could not be read: the XML is broken "
                                              f"({problem}).", platform_message=problem)
        self.last_warning = None
        if problem:
            self.last_warning = (f"The feed at {self.url} has broken XML ({problem}); "
                                 f"{len(entries)} entries could still be read.")
            rejected.append((self.url, self.last_warning))
        new_cursor["etag"] = validators.get("etag")
        new_cursor["last_modified"] = validators.get("last_modified")
        seen = set(seen_ids)
        feed_lang = parsed.feed.get("language")
        items: list[FetchedItem] = []
        max_items = int(self.config.get("max_items", 200))
        fresh_ids: list[str] = []
        for entry in entries:
            eid = _entry_id(entry)
            if eid in seen or eid in fresh_ids:
                continue
            if len(items) >= max_items:
                break
            try:
                items.append(self._item(entry, eid, feed_lang))
            except Exception as exc:  # noqa: BLE001 - one odd entry must not sink the feed
                rejected.append((eid, f"Could not read this entry: {exc}"))
            fresh_ids.append(eid)
        new_cursor["seen"] = remember(seen_ids, fresh_ids, int(self.config.get("seen_limit", SEEN_LIMIT)))
        return FetchResult(items=items, cursor=new_cursor, rejected=rejected)

    def _item(self, entry: Any, eid: str, feed_lang: str | None) -> FetchedItem:
        content_html = ""
        lang = feed_lang
        if entry.get("content"):
            content_html = entry.content[0].get("value", "")
            lang = entry.content[0].get("language") or lang
        summary_html = entry.get("summary", "") or ""
        text = html_to_text(content_html) or html_to_text(summary_html)
        link = entry.get("link")
        raw = _jsonable(dict(entry))
        if self.config.get("full_text") and link and not content_html \
                and len(text) < int(self.config.get("full_text_min_chars", 500)):
            try:
                article = self._article_text(link)
            except ConnectorError as exc:
                raw["full_text_error"] = exc.message
            else:
                if article and len(article) > len(text):
                    text = article
                    raw["full_text_extracted"] = True
        title = html_to_text(entry.get("title")) or None
        return FetchedItem(
            external_id=eid, text=text or (title or ""), url=link, kind="article", title=title,
            author_handle=entry.get("author") or None, author_name=entry.get("author") or None,
            published_at=_entry_time(entry), language=lang, raw=raw,
        )

    def _article_text(self, link: str) -> str:
        self.limiter.acquire()
        resp = self.http.get(link, headers={"Accept": "text/html,application/xhtml+xml"}, label="The article")
        if resp.status >= 400:
            raise map_http_error(resp.status, None, resp.headers, service=f"The article at {link}")
        return extract_article_text(resp.text, url=resp.url)

    def health(self) -> Health:
        """Fetch the feed (unconditionally) and report whether it parses."""
        try:
            _status, parsed, _v = self._get_feed({})
        except ConnectorError as exc:
            return self._health_error(exc)
        problem = self._bozo_problem(parsed)
        n = len(parsed.entries)
        if problem and not n:
            return Health(ok=False, message=f"The feed at {self.url} could not be read: the XML is broken ({problem}).",
                          checked_at=self._now(), details={"problem": problem})
        title = parsed.feed.get("title") or self.url
        msg = f"The feed \u201c{title}\u201d answers with {n} entries."
        if problem:
            msg += f" Its XML is partly broken ({problem})."
        return self._health(True, msg, entries=n, problem=problem)
