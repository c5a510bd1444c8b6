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

from civicpulse.connectors.base import Connector, ConnectorError, FetchResult, Health
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
        self.limiter = RateLimiter(self.rate_limits, clock=clock or time.monotonic, sleep=sleep or time.sleep,
                                   max_wait=float(config.get("max_rate_wait", 60.0)), service=self.service)
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        self.last_error: ConnectorError | None = None
        self.last_success: dt.datetime | None = None

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
                json: Any = None, cost: float = 1.0, label: str | None = None) -> Response:
        """Rate-limited request; HTTP errors raise :class:`ConnectorError` via :meth:`map_error`."""
        self.limiter.acquire(cost)
        resp = self.http.request(method, url, params=params, headers=headers, json=json,
                                 label=label or self.service)
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
        return map_http_error(resp.status, resp.json() if resp.content else None, resp.headers, service=self.service)

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
