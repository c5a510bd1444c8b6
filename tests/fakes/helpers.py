"""Test helpers: a fake clock/sleep pair, a static resolver, and a host-rewriting transport."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import httpx


class FakeClock:
    """``clock()`` / ``sleep(s)`` pair: sleeping advances time instantly and is recorded."""

    def __init__(self, start: float = 1000.0, wall: dt.datetime | None = None) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self.wall0 = wall or dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)
        self.t0 = start

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def now(self) -> dt.datetime:
        return self.wall0 + dt.timedelta(seconds=self.t - self.t0)


def static_resolver(table: Mapping[str, Sequence[str]]):  # noqa: ANN201 - returns a Resolver
    """A resolver that answers from ``table`` and fails (like DNS NXDOMAIN) otherwise."""

    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return list(table[host])
        raise OSError(f"[Errno -2] Name or service not known: {host}")

    return resolve


class RewriteTransport(httpx.BaseTransport):
    """Send requests for the named hosts to a local server instead (the Host header is kept).

    Lets a test pretend ``news.example`` is a public site while the bytes come from 127.0.0.1.
    """

    def __init__(self, hosts: Mapping[str, str]) -> None:
        self.hosts = {k: httpx.URL(v) for k, v in hosts.items()}
        self.inner = httpx.HTTPTransport(trust_env=False)
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(str(request.url))
        target = self.hosts.get(request.url.host)
        if target is None:
            raise httpx.ConnectError(f"RewriteTransport: no route for {request.url.host}", request=request)
        request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
