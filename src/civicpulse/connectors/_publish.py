"""Pieces shared by the publishing connectors (not a public API).

:class:`PublishingMixin` adds to an :class:`~civicpulse.connectors._common.HttpConnector`:

* :meth:`send` — a rate-limited request with the connector's auth headers that, when the platform
  answers "token expired" and refresh credentials are configured, refreshes once and retries; secrets
  that travel in the URL (Telegram's bot token) are scrubbed from error messages.
* ``credential_updates`` — tokens obtained by a refresh during this connector's life. The caller stores
  them back on the channel (Zalo refresh tokens are single-use, so this matters).
* :func:`publish_error` — one way to build a :class:`ConnectorError` from a platform's own words.
* helpers to compose the text with its link, compare texts for look-ups and read media files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from civicpulse.connectors._common import HttpConnector
from civicpulse.connectors.base import ConnectorError, ErrorKind, Health, MediaRef, PublishRequest
from civicpulse.connectors.http import Response

RECONNECT = "Reconnect the account in Settings → Channels."


def publish_error(kind: ErrorKind, plain: str, *, said: str | None = None, status: int | None = None,
                  retry_after: float | None = None) -> ConnectorError:
    """A :class:`ConnectorError` whose message is ``plain`` (what happened and the fix) plus the
    platform's own words in brackets."""
    message = f"{plain} ({said})" if said and said not in plain else plain
    return ConnectorError(kind, message, platform_message=said, status=status, retry_after=retry_after)


def compose_text(req: PublishRequest) -> str:
    """The text with the link appended on its own line (unless the text already contains it)."""
    text = req.text.strip()
    if req.link and req.link not in text:
        text = f"{text}\n\n{req.link}" if text else req.link
    return text


def normal_text(text: str | None) -> str:
    """NFC, whitespace collapsed: how two versions of one post are compared in look-ups."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text or "")).strip()


def same_text(a: str | None, b: str | None) -> bool:
    return normal_text(a) == normal_text(b)


def key_tag(key: str, prefix: str = "cp") -> str:
    """A short stable marker for an idempotency key (for platforms that keep hidden tags)."""
    return f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def key_uuid(key: str) -> str:
    """The key itself when it is a UUID, else a UUID derived from it (LINE wants UUIDs)."""
    try:
        return str(uuid.UUID(key))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"civicpulse:{key}"))


def read_media(m: MediaRef, service: str) -> bytes:
    try:
        return Path(m.path).read_bytes()
    except OSError as exc:
        raise ConnectorError("permanent", f"The file {Path(m.path).name} could not be read for {service} "
                             f"({exc.strerror or exc}); attach it again.") from exc


def is_image(m: MediaRef) -> bool:
    return m.mime.lower().startswith("image/")


def is_video(m: MediaRef) -> bool:
    return m.mime.lower().startswith("video/")


class PublishingMixin(HttpConnector):
    """Base for HTTP publishing connectors (see the module docs)."""

    #: how far back :meth:`lookup` searches for a post made for the same key
    lookup_window: ClassVar[dt.timedelta] = dt.timedelta(days=3)

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        HttpConnector.__init__(self, config, **kw)
        self.credential_updates: dict[str, Any] = {}
        self.wait: Callable[[float], None] = kw.get("sleep") or time.sleep  # polling (media processing)

    # -- hooks ------------------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {}

    def can_refresh(self) -> bool:
        return False

    def refresh_credentials(self) -> None:  # pragma: no cover - only called when can_refresh()
        raise NotImplementedError

    def url_secrets(self) -> list[str]:
        """Secrets that appear in request URLs and must never reach a message."""
        return []

    def check_body(self, resp: Response) -> None:
        """Hook for platforms that report errors inside a 200 answer (Telegram ``ok``, Zalo ``error``)."""

    # -- requests -----------------------------------------------------------------------------------
    def send(self, method: str, url: str, *, auth: bool = True, headers: Mapping[str, str] | None = None,
             **kw: Any) -> Response:
        for attempt in (0, 1):
            hdrs = {**(self.auth_headers() if auth else {}), **(headers or {})}
            try:
                resp = self.request(method, url, headers=hdrs, **kw)
                self.check_body(resp)
                return resp
            except ConnectorError as exc:
                if attempt == 0 and auth and exc.kind == "auth" and self.can_refresh():
                    self.refresh_credentials()
                    continue
                raise self._scrub(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def send_json(self, method: str, url: str, **kw: Any) -> Any:
        resp = self.send(method, url, **kw)
        body = resp.json()
        if body is None and resp.content:
            raise ConnectorError("transient", f"{self.service} sent an answer that is not JSON.", status=resp.status)
        return body

    def _scrub(self, exc: ConnectorError) -> ConnectorError:
        for secret in self.url_secrets():
            if secret:
                exc.message = exc.message.replace(secret, "***")
                exc.args = (exc.message,)
                if exc.platform_message:
                    exc.platform_message = exc.platform_message.replace(secret, "***")
        return exc

    def since(self) -> dt.datetime:
        return self._now() - self.lookup_window

    # -- health -------------------------------------------------------------------------------------
    def health(self) -> Health:
        try:
            message, expires, details = self.check()
        except ConnectorError as exc:
            exc = self._scrub(exc)
            return Health(ok=False, message=exc.message, checked_at=self._now(),
                          details={"kind": exc.kind, "platform_message": exc.platform_message, "status": exc.status})
        if expires is not None and expires <= self._now():
            return Health(ok=False, message=f"The {self.service} token expired on {expires:%d %b %Y %H:%M} UTC. "
                          f"{RECONNECT}", checked_at=self._now(), token_expires_at=expires, details=details)
        if expires is not None:
            message += f" The token is valid until {expires:%d %b %Y %H:%M} UTC."
        return Health(ok=True, message=message, checked_at=self._now(), token_expires_at=expires, details=details)

    def check(self) -> tuple[str, dt.datetime | None, dict[str, Any]]:  # pragma: no cover - abstract
        """Call the cheapest authenticated endpoint: ``(message, token_expires_at, details)``."""
        raise NotImplementedError


def oauth_refresh(conn: PublishingMixin, token_url: str, *, form: dict[str, str],
                  headers: Mapping[str, str] | None = None,
                  token_key: str = "access_token") -> dict[str, Any]:  # noqa: S107 - a config key name
    """Standard OAuth 2.0 ``refresh_token`` grant; stores the new tokens on ``conn``."""
    try:
        resp = conn.request("POST", token_url, data=form, headers=headers or {}, label=f"{conn.service} sign-in")
    except ConnectorError as exc:
        if exc.kind in ("permanent", "auth"):
            raise publish_error("auth", f"{conn.service} refused to renew the sign-in (the refresh token was "
                                f"revoked or has expired). {RECONNECT}", said=exc.platform_message,
                                status=exc.status) from None
        raise
    body = resp.json() or {}
    if not body.get("access_token"):
        raise publish_error("auth", f"{conn.service} did not renew the sign-in. {RECONNECT}",
                            said=str(body.get("error_description") or body.get("message") or body)[:300])
    conn.config[token_key] = body["access_token"]
    conn.credential_updates[token_key] = body["access_token"]
    if body.get("refresh_token"):
        conn.config["refresh_token"] = body["refresh_token"]
        conn.credential_updates["refresh_token"] = body["refresh_token"]
    if body.get("expires_in"):
        expires = conn._now() + dt.timedelta(seconds=int(float(body["expires_in"])))
        conn.credential_updates["token_expires_at"] = expires.isoformat()
    return body
