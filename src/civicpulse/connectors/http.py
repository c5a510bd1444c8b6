"""Shared HTTP plumbing for connectors.

* :class:`HttpClient` — one ``httpx.Client`` per connector with connect/read timeouts, a total
  deadline, the ``civicpulse/<version>`` user agent, the SSRF guard on every hop (redirects are
  followed by hand, at most 5), and a response-size cap (the body is streamed and reading stops
  at the cap).
* :func:`map_http_error` — HTTP status + platform error body → :class:`ConnectorError` with a
  kind, a plain message and ``retry_after``. Connectors layer platform-specific codes on top.
* :class:`RateLimiter` — a client-side token bucket per connector instance that respects the
  declared ``rate_limits`` and what the server says in its rate-limit headers. It sleeps through
  an injectable ``sleep``/``clock`` so tests never wait.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json as jsonlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpcore
import httpx

from civicpulse import __version__
from civicpulse.connectors.base import ConnectorError, ErrorKind, RateLimit
from civicpulse.connectors.ssrf import GuardedNetworkBackend, Resolver, SSRFRefused, check_url

USER_AGENT = f"civicpulse/{__version__}"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_DEADLINE = 10.0
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclasses.dataclass(slots=True)
class Response:
    """A fully-read, size-capped HTTP response."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str
    redirects: list[str] = dataclasses.field(default_factory=list)

    @property
    def text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return jsonlib.loads(self.content)
        except (ValueError, UnicodeDecodeError):
            return None


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:g}"


def _fmt_size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n // 1024} KB"
    return f"{n} bytes"


class HttpClient:
    """An SSRF-guarded, deadline- and size-bounded HTTP client.

    ``transport`` replaces the network layer (tests only); by default the client uses
    :class:`GuardedNetworkBackend`, which re-checks and pins every connection to a vetted address.
    """

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, read_timeout: float = DEFAULT_READ_TIMEOUT,
                 deadline: float = DEFAULT_DEADLINE, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_redirects: int = MAX_REDIRECTS, user_agent: str = USER_AGENT,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._clock = clock
        if transport is None:
            transport = httpx.HTTPTransport(trust_env=False)
            # Swap in a pool whose network backend vets and pins each connection.
            transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - no public hook in httpx
                ssl_context=httpx.create_ssl_context(trust_env=False),
                network_backend=GuardedNetworkBackend(allow_private=allow_private, resolver=resolver),
            )
        self._client = httpx.Client(transport=transport, trust_env=False, follow_redirects=False,
                                    headers={"User-Agent": user_agent})

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, resolver: Resolver | None = None,
                    transport: httpx.BaseTransport | None = None, **defaults: Any) -> HttpClient:
        """Build from the common connector config keys: ``allow_private``, ``timeout`` (total
        deadline, seconds), ``connect_timeout``, ``read_timeout``, ``max_bytes``."""
        deadline = float(config.get("timeout", defaults.get("deadline", DEFAULT_DEADLINE)))
        return cls(
            allow_private=bool(config.get("allow_private", False)),
            resolver=resolver,
            connect_timeout=float(config.get("connect_timeout", min(DEFAULT_CONNECT_TIMEOUT, deadline))),
            read_timeout=float(config.get("read_timeout", deadline)),
            deadline=deadline,
            max_bytes=int(config.get("max_bytes", defaults.get("max_bytes", DEFAULT_MAX_BYTES))),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
                headers: Mapping[str, str] | None = None, json: Any = None, data: Any = None,
                label: str = "The server", max_bytes: int | None = None, files: Any = None,
                content: bytes | None = None) -> Response:
        """Send a request, following up to ``max_redirects`` redirects with an SSRF check on each.

        ``label`` names the thing for error messages ("The feed", "The Mastodon server").
        Raises :class:`ConnectorError` (transient) on timeouts / connection failures,
        (permanent) on refusals, oversize bodies and redirect loops. HTTP error statuses are
        returned, not raised — map them with :func:`map_http_error`.
        """
        cap = self.max_bytes if max_bytes is None else max_bytes
        start = self._clock()
        first_url = url
        redirects: list[str] = []
        hdrs = dict(headers or {})
        current = httpx.URL(url, params=_clean_params(params)) if params else httpx.URL(url)
        body_json, body_data, body_files, body_content = json, data, files, content
        for _hop in range(self.max_redirects + 1):
            check_url(str(current), allow_private=self.allow_private, resolver=self.resolver)
            remaining = self.deadline - (self._clock() - start)
            if remaining <= 0:
                raise self._timeout_error(label, first_url)
            timeout = httpx.Timeout(connect=min(self.connect_timeout, remaining),
                                    read=min(self.read_timeout, remaining),
                                    write=min(self.read_timeout, remaining), pool=min(self.connect_timeout, remaining))
            try:
                req = self._client.build_request(method, current, headers=hdrs, json=body_json, data=body_data,
                                                 files=body_files, content=body_content, timeout=timeout)
                resp = self._client.send(req, stream=True)
            except SSRFRefused:
                raise
            except httpx.TimeoutException as exc:
                raise self._timeout_error(label, first_url) from exc
            except httpx.HTTPError as exc:
                cause = exc.__cause__ or exc.__context__
                if isinstance(cause, SSRFRefused):
                    raise SSRFRefused(str(current), cause.reason, hint=cause.hint) from exc
                raise ConnectorError("transient", f"{label} at {first_url} could not be reached ({_short(exc)}).") from exc
            try:
                if resp.status_code in _REDIRECTS and "location" in resp.headers:
                    location = resp.headers["location"]
                    nxt = current.join(location)
                    redirects.append(str(nxt))
                    if resp.status_code == 303 or (resp.status_code in (301, 302) and method.upper() == "POST"):
                        method, body_json, body_data, body_files, body_content = "GET", None, None, None, None
                    if nxt.host != current.host:
                        hdrs = {k: v for k, v in hdrs.items() if k.lower() not in ("authorization", "cookie")}
                    current = nxt
                    continue
                content = self._read_capped(resp, cap, start, label, first_url)
                return Response(status=resp.status_code, headers=resp.headers, content=content,
                                url=str(current), redirects=redirects)
            finally:
                resp.close()
        raise ConnectorError("permanent", f"{label} at {first_url} redirected more than {self.max_redirects} times; "
                                          "check the address.")

    def get(self, url: str, **kw: Any) -> Response:
        return self.request("GET", url, **kw)

    def _read_capped(self, resp: httpx.Response, cap: int, start: float, label: str, url: str) -> bytes:
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise ConnectorError("permanent", f"{label} at {url} is too large ({_fmt_size(int(declared))}); "
                                              f"the limit is {_fmt_size(cap)}.")
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > cap:
                    raise ConnectorError("permanent", f"{label} at {url} is larger than {_fmt_size(cap)}; "
                                                      "stopped reading.")
                chunks.append(chunk)
                if self._clock() - start > self.deadline:
                    raise self._timeout_error(label, url)
        except httpx.TimeoutException as exc:
            raise self._timeout_error(label, url) from exc
        except httpx.HTTPError as exc:
            raise ConnectorError("transient", f"{label} at {url} broke off the answer ({_short(exc)}).") from exc
        return b"".join(chunks)

    def _timeout_error(self, label: str, url: str) -> ConnectorError:
        return ConnectorError("transient", f"{label} at {url} did not answer within {_fmt_seconds(self.deadline)} s.")


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."


def _clean_params(params: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, list | tuple):
            out.extend((key, str(v)) for v in value)
        else:
            out.append((key, str(value)))
    return out


# --------------------------------------------------------------------------- errors

def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a reset/Retry-After header value.

    Accepts delta seconds (``"30"``), epoch seconds (``"1714060800"``), ISO 8601
    (``"2024-05-01T12:00:00.000Z"``, Mastodon) and HTTP dates (``Retry-After``).
    """
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    now = time.time() if now is None else now
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number > 1_000_000_000:  # an epoch timestamp
            return max(0.0, number - now)
        return max(0.0, number)
    when: dt.datetime | None = None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def platform_message(body: Any) -> str | None:
    """Dig the human message out of common error body shapes."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            msg = err.get("message")
            if msg:
                return str(msg)
        parts = [str(body[k]) for k in ("title", "detail") if body.get(k)]
        if parts and "title" in body:
            return ": ".join(parts)
        if body.get("message"):
            return str(body["message"])
        if body.get("error_description"):
            return str(body["error_description"])
        if isinstance(err, str):
            return err
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict):
                return str(first.get("message") or first.get("detail") or first)
            return str(first)
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return None


def kind_for_status(status: int) -> ErrorKind:
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status in (408, 425) or status >= 500:
        return "transient"
    return "permanent"


def map_http_error(status: int, body: Any, headers: Mapping[str, str] | None = None, *, service: str = "The service",
                   now: float | None = None) -> ConnectorError:
    """A :class:`ConnectorError` for an HTTP error answer, before platform-specific refinement."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    kind = kind_for_status(status)
    pmsg = platform_message(body)
    retry_after = retry_after_from_headers(headers, now=now)
    said = f" It said: {pmsg}" if pmsg else ""
    if kind == "auth":
        message = f"{service} refused our credentials (HTTP {status}). Check or reconnect the account in Settings.{said}"
    elif kind == "rate_limited":
        wait = f" Waiting {round(retry_after)} s before trying again." if retry_after is not None else ""
        message = f"{service} says we are sending too many requests (HTTP 429).{wait}"
    elif kind == "transient":
        message = f"{service} had a temporary problem (HTTP {status}); we will try again.{said}"
    elif status == 404:
        message = f"{service} could not find what we asked for (HTTP 404). Check the source settings.{said}"
    else:
        message = f"{service} rejected the request (HTTP {status}).{said}"
    return ConnectorError(kind, message.strip(), retry_after=retry_after, platform_message=pmsg, status=status)


def retry_after_from_headers(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    lower = {k.lower(): v for k, v in headers.items()}
    for key in ("retry-after", "x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset"):
        if key in lower:
            got = parse_reset(lower[key], now=now)
            if got is not None:
                return got
    return None


# --------------------------------------------------------------------------- rate limiting

@dataclasses.dataclass(slots=True)
class _Bucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per declared :class:`RateLimit`, plus server-announced blocks.

    ``acquire()`` sleeps (through the injected ``sleep``) until every bucket has a token and no
    server block is active. Waits longer than ``max_wait`` raise ``ConnectorError("rate_limited")``
    with ``retry_after`` instead, so a job can be rescheduled rather than hold a worker.
    """

    def __init__(self, limits: Sequence[RateLimit], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, max_wait: float = 60.0, service: str = "The service") -> None:
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait
        self.service = service
        now = clock()
        self._buckets = [_Bucket(float(lim.calls), lim.calls / lim.per_seconds, float(lim.calls), now) for lim in limits]
        self._blocked_until: float = 0.0
        self.slept: float = 0.0

    def _refill(self, now: float) -> None:
        for b in self._buckets:
            b.tokens = min(b.capacity, b.tokens + (now - b.updated) * b.rate)
            b.updated = now

    def wait_needed(self, cost: float = 1.0) -> float:
        now = self._clock()
        self._refill(now)
        wait = max(0.0, self._blocked_until - now)
        for b in self._buckets:
            if b.tokens < cost:
                wait = max(wait, (cost - b.tokens) / b.rate)
        return wait

    def acquire(self, cost: float = 1.0) -> None:
        wait = self.wait_needed(cost)
        if wait > self.max_wait:
            raise ConnectorError("rate_limited", f"{self.service} rate limit reached; waiting {round(wait)} s "
                                                 "before the next request.", retry_after=wait)
        if wait > 0:
            self._sleep(wait)
            self.slept += wait
            self._refill(self._clock())
        for b in self._buckets:
            b.tokens = max(0.0, b.tokens - cost)

    def note_server(self, remaining: int | None, reset_in: float | None) -> None:
        """Record what the server said: when ``remaining`` hits 0, block until the reset."""
        if remaining is None:
            return
        now = self._clock()
        if remaining <= 0 and reset_in is not None:
            self._blocked_until = max(self._blocked_until, now + reset_in)
        # Never believe we have more tokens than the server says are left.
        self._refill(now)
        for b in self._buckets:
            b.tokens = min(b.tokens, float(max(remaining, 0)))

    def block_for(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
