"""Pieces shared by the HTTP listening connectors (not a public API)."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Callable, Iterable, Mapping
from html.parser import HTMLParser
from typing import Any, ClassVar

import httpx

from civicpulse.connectors.base import Connector, ConnectorError, FetchResult, Health, RateLimit
from civicpulse.connectors.http import HttpClient, RateLimiter, Response, map_http_error
from civicpulse.connectors.ssrf import Resolver

SEEN_LIMIT = 2000


class HttpConnector(Connector):
    """A connector that talks HTTP through :class:`HttpClient` and a :class:`RateLimiter`.

    Keyword-only test hooks (all optional): ``resolver`` (SSRF resolver, no real DNS),
    ``transport`` (httpx transport), ``clock``/``sleep`` (rate limiter), ``now`` (wall clock,
    returns aware UTC datetimes).
    """

    service: ClassVar[str] = "The service"
    default_timeout: ClassVar[float] = 10.0

    def __init__(self, config: dict[str, Any], *, http: HttpClient | None = None, resolver: Resolver | None = None,
                 transport: httpx.BaseTransport | None = None, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None, now: Callable[[], dt.datetime] | None = None) -> None:
        super().__init__(config, http=http)
        self.http: HttpClient = http or HttpClient.from_config(config, resolver=resolver, transport=transport,
                                                               deadline=self.default_timeout)
        self.limiter = RateLimiter(self.effective_rate_limits(), clock=clock or time.monotonic, sleep=sleep or time.sleep,
                                   max_wait=float(config.get("max_rate_wait", 60.0)), service=self.service)
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self.last_error: ConnectorError | None = None
        self.last_success: dt.datetime | None = None

    def effective_rate_limits(self) -> tuple[RateLimit, ...]:
        """The limits the client-side limiter enforces (the declared ones unless a subclass narrows them)."""
        return self.rate_limits

    # -- fetching ---------------------------------------------------------------------------
    def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        """Collect new items since ``cursor`` (``None`` on the first run); see the module docs."""
        try:
            result = self._fetch(dict(cursor or {}))
        except ConnectorError as exc:
            self.last_error = exc
            raise
        self.last_error = None
        self.last_success = self._now()
        return result

    def _fetch(self, cursor: dict[str, Any]) -> FetchResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def request(self, method: str, url: str, *, params: Any = None, headers: Mapping[str, str] | None = None,
                json: Any = None, cost: float = 1.0, label: str | None = None, data: Any = None,
                files: Any = None, content: bytes | None = None) -> Response:
        """Rate-limited request; HTTP errors raise :class:`ConnectorError` via :meth:`map_error`."""
        self.limiter.acquire(cost)
        resp = self.http.request(method, url, params=params, headers=headers, json=json, data=data, files=files,
                                 content=content, label=label or self.service)
        self.note_rate_headers(resp)
        if resp.status >= 400:
            err = self.map_error(resp)
            if err.kind == "rate_limited" and err.retry_after is not None:
                self.limiter.block_for(err.retry_after)
            raise err
        return resp

    def get_json(self, url: str, params: Any = None, *, headers: Mapping[str, str] | None = None,
                 cost: float = 1.0) -> Any:
        resp = self.request("GET", url, params=params, headers=headers, cost=cost)
        body = resp.json()
        if body is None:
            raise ConnectorError("transient", f"{self.service} sent an answer that is not JSON ({url}).",
                                 status=resp.status)
        return body

    def note_rate_headers(self, resp: Response) -> None:
        """Hook: feed server rate-limit headers into ``self.limiter``."""

    def map_error(self, resp: Response) -> ConnectorError:
        """Hook: refine the generic mapping with platform error codes."""
        return map_http_error(resp.status, resp.json() if resp.content else None, resp.headers, service=self.service,
                              now=self.epoch())

    def epoch(self) -> float:
        """Wall-clock seconds since the epoch (injectable through ``now``)."""
        return self._now().timestamp()

    # -- health -----------------------------------------------------------------------------
    def _health(self, ok: bool, message: str, *, token_expires_at: dt.datetime | None = None,
                **details: Any) -> Health:
        if self.last_error is not None:
            details.setdefault("last_error", self.last_error.message)
            details.setdefault("last_error_kind", self.last_error.kind)
            if ok:
                message = f"{message} The last collection failed: {self.last_error.message}"
        if self.last_success is not None:
            details.setdefault("last_success", self.last_success.isoformat())
        return Health(ok=ok, message=message, checked_at=self._now(), token_expires_at=token_expires_at,
                      details=details)

    def _health_error(self, exc: ConnectorError, **details: Any) -> Health:
        return Health(ok=False, message=exc.message, checked_at=self._now(),
                      details={"kind": exc.kind, **details})


# ------------------------------------------------------------------------------ helpers

def remember(seen: list[str], new_ids: Iterable[str], limit: int = SEEN_LIMIT) -> list[str]:
    """Append ``new_ids`` to the bounded ``seen`` list (oldest dropped first)."""
    out = list(seen)
    known = set(out)
    for i in new_ids:
        if i not in known:
            out.append(i)
            known.add(i)
    return out[-limit:]


def parse_time(value: Any) -> dt.datetime | None:
    """Parse ISO 8601 / RFC 3339 / Facebook ``+0000`` timestamps to aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    text = str(value).strip()
    text = re.sub(r"Z$", "+00:00", text)
    text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
    # Python < 3.11 quirks aside, trim sub-microsecond precision.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def as_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote",
              "section", "article", "header", "footer", "pre", "table", "hr"}
    _SKIP = {"script", "style", "noscript", "template", "head", "svg", "iframe", "nav", "form"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Plain text from an HTML fragment: block tags become line breaks, scripts/styles dropped."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return markup.strip()
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # noqa: BLE001 - HTMLParser is lenient; be defensive anyway
        return html.unescape(re.sub(r"<[^>]+>", " ", markup)).strip()
    text = "".join(parser.parts)
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", ln).strip() for ln in text.split("\n")]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip()


def newest_first(fetch_page: Callable[[str | None], tuple[list[Any], str | None]], *,
                 key: Callable[[Any], Any], ident: Callable[[Any], str], state: Mapping[str, Any],
                 max_pages: int, initial_pages: int = 1, stop_at_watermark: bool = True,
                 ) -> tuple[list[Any], dict[str, Any]]:
    """Walk a newest-first paged listing and return only records newer than the saved watermark.

    ``state`` (part of a cursor) is ``{"watermark": key | None, "pending": {"page", "top"} | None,
    "seen": [ids]}``. When the page budget runs out before the watermark is reached, the next page
    token is kept in ``pending`` and the next call continues from there (no gap); only once the
    walk reaches the watermark does the watermark move up to the newest key seen. On the very
    first run (no watermark) only ``initial_pages`` pages are read — no full backfill.
    ``stop_at_watermark=False`` is for APIs that already filter server-side (``since_id``/``since``).
    """
    watermark = state.get("watermark")
    pending = state.get("pending") or None
    seen = list(state.get("seen") or [])
    seen_set = set(seen)
    token: str | None = pending["page"] if pending else None
    top = pending.get("top") if pending else None
    budget = max(1, initial_pages if watermark is None and not pending else max_pages)
    out: list[Any] = []
    finished = False
    for _ in range(budget):
        records, nxt = fetch_page(token)
        reached = False
        for rec in records:
            k = key(rec)
            if stop_at_watermark and watermark is not None and k is not None and k < watermark:
                reached = True
                break
            rid = ident(rec)
            if rid in seen_set:
                continue
            seen_set.add(rid)
            out.append(rec)
            if k is not None and (top is None or k > top):
                top = k
        if reached or not nxt:
            finished = True
            break
        token = nxt
    new_state: dict[str, Any] = {"watermark": watermark, "pending": None,
                                 "seen": remember(seen, [ident(r) for r in out])}
    if finished or watermark is None and not pending:
        if top is not None and (watermark is None or top > watermark):
            new_state["watermark"] = top
    else:
        new_state["pending"] = {"page": token, "top": top}
    return out, new_state


def ts_key(value: Any) -> str | None:
    """A sortable fixed-width UTC string for a timestamp (``None`` if unparsable)."""
    when = parse_time(value)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if when else None
