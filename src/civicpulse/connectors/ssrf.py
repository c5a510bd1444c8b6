"""Guard against server-side request forgery (SSRF) for user-supplied URLs.

Every connector that fetches a URL typed in by a user (a feed address, an instance URL, a
custom API base) goes through :func:`check_url` before each request and again on every
redirect hop. The guard:

* refuses schemes other than ``http`` and ``https``;
* resolves the host name (with an injectable resolver, so tests need no real DNS);
* refuses private, loopback, link-local, multicast, reserved, unspecified and other
  non-global addresses — IPv4 and IPv6, including IPv4-mapped / NAT64 / 6to4 forms —
  unless ``allow_private=True`` (an administrator setting);
* explains refusals in plain words.

:class:`GuardedNetworkBackend` repeats the same check at connect time and connects to the
checked address itself, so a DNS answer that changes between check and connect
("DNS rebinding") cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore

from civicpulse.connectors.base import ConnectorError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port) -> [ip, ...]``; raise :class:`OSError` when the name does not resolve."""

ALLOWED_SCHEMES = ("http", "https")
SETTINGS_HINT = "An administrator can allow private addresses in Settings."

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_SHARED_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class SSRFRefused(ConnectorError):
    """The guard refused a URL. Always ``kind="permanent"``: retrying will not help."""

    def __init__(self, url: str, reason: str, *, hint: str | None = None) -> None:
        message = f"Refused to fetch {url}: {reason}."
        if hint:
            message += f" {hint}"
        super().__init__("permanent", message)
        self.url = url
        self.reason = reason
        self.hint = hint


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the operating system (``getaddrinfo``), both address families."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden inside an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # Deprecated IPv4-compatible form ::a.b.c.d (but not :: or ::1 themselves).
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched, in plain words, or ``None`` when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = classify(inner)
            return f"{why} (inside the IPv6 address {ip})" if why else None
        if ip.scope_id:
            return "the address is link-local"
    if ip.is_unspecified:
        return "the address is unspecified"
    if ip.is_loopback:
        return "the address is loopback (this machine)"
    if ip.is_link_local:
        return "the address is link-local"
    if ip.is_multicast:
        return "the address is multicast"
    if ip.is_reserved:
        return "the address is reserved"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_CGNAT:
        return "the address is private"
    if ip.is_private:
        return "the address is private"
    if not ip.is_global:
        return "the address is not a public internet address"
    return None


def _parse_ip(text: str) -> IPAddress | None:
    text = text.strip("[]")
    scope = ""
    if "%" in text:
        text, scope = text.split("%", 1)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if scope and isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(f"{ip}%{scope}")
    return ip


def check_addresses(url: str, host: str, addresses: Iterable[str], *, allow_private: bool) -> list[IPAddress]:
    """Parse and vet resolved ``addresses``; raise :class:`SSRFRefused` if any is not allowed.

    All addresses must pass (not just one), because the HTTP stack may pick any of them.
    """
    parsed: list[IPAddress] = []
    for text in addresses:
        ip = _parse_ip(text)
        if ip is None:
            raise SSRFRefused(url, f"the host {host} resolved to something that is not an IP address ({text})")
        parsed.append(ip)
    if not parsed:
        raise SSRFRefused(url, f"the host name {host} does not resolve to any address")
    if not allow_private:
        for ip in parsed:
            why = classify(ip)
            if why:
                raise SSRFRefused(url, why, hint=SETTINGS_HINT)
    return parsed


def check_url(url: str, *, allow_private: bool = False, resolver: Resolver | None = None) -> list[IPAddress]:
    """Vet ``url`` before fetching it. Returns the addresses it resolves to.

    Raises :class:`SSRFRefused` for a bad scheme, a missing host, a name that does not resolve
    or a non-public address (unless ``allow_private``).
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SSRFRefused(url, f"the address is not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "no scheme"
        raise SSRFRefused(url, f"only http and https addresses can be fetched, not {shown}")
    host = parts.hostname
    if not host:
        raise SSRFRefused(url, "the address has no host name")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise SSRFRefused(url, "the port number is not valid") from exc
    literal = _parse_ip(host)
    if literal is not None:
        return check_addresses(url, host, [str(literal)], allow_private=allow_private)
    resolve = resolver or system_resolver
    try:
        addresses = list(resolve(host, port))
    except (OSError, UnicodeError) as exc:
        raise SSRFRefused(url, f"the host name {host} could not be found") from exc
    return check_addresses(url, host, addresses, allow_private=allow_private)


class GuardedNetworkBackend(httpcore.NetworkBackend):
    """An httpcore backend that resolves with our resolver, vets, then connects to the vetted IP.

    This closes the gap between :func:`check_url` and the actual connection.
    """

    def __init__(self, *, allow_private: bool, resolver: Resolver | None = None,
                 inner: httpcore.NetworkBackend | None = None) -> None:
        self._allow_private = allow_private
        self._resolver = resolver or system_resolver
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        url = f"//{host}:{port}"
        literal = _parse_ip(host)
        if literal is not None:
            ips = check_addresses(url, host, [str(literal)], allow_private=self._allow_private)
        else:
            try:
                addresses = list(self._resolver(host, port))
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            ips = check_addresses(url, host, addresses, allow_private=self._allow_private)
        last: Exception | None = None
        for ip in ips:
            try:
                return self._inner.connect_tcp(str(ip), port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
