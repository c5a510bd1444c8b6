"""Generic webhook — POST each post as signed JSON to an address of the unit's choosing.

Request: ``POST {url}`` with ``Content-Type: application/json`` and the body::

    {"event": "post.published", "idempotency_key", "text", "title", "link", "language", "reply_to",
     "media": [{"name", "mime", "size", "alt_text", "width", "height"}], "options", "sent_at"}

Headers: ``Idempotency-Key: <key>``, ``X-Civicpulse-Timestamp: <unix seconds>``,
``X-Civicpulse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the shared secret>``.
A receiver checks the signature with :func:`verify_signature` (reject timestamps older than 5 minutes) and
must treat a repeated ``Idempotency-Key`` as the same post (answer 2xx or 409 again); that contract makes
``idempotent_retry`` True. The answer may be ``{"id", "url"}``; 409 means "already received".

``delete`` sends ``{"event": "post.deleted", "external_id"}``; ``health`` sends ``{"event": "ping"}``.
Errors: 401/403 → auth (the receiver rejected the signature: check the secret), 429 → rate_limited
(``Retry-After``), 4xx → permanent, 5xx/timeouts → transient. The address passes the SSRF guard
(``allow_private`` for an intranet receiver).

Config keys: ``url`` (required), ``secret`` (secret, required), ``headers`` (extra, e.g. an API key),
``timeout``, ``allow_private``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any, ClassVar

from civicpulse.connectors._common import parse_time
from civicpulse.connectors._publish import PublishingMixin, publish_error
from civicpulse.connectors.base import ConnectorError, Published, PublishRequest, RateLimit
from civicpulse.connectors.http import Response, map_http_error

SIGNATURE_HEADER = "X-Civicpulse-Signature"
TIMESTAMP_HEADER = "X-Civicpulse-Timestamp"
MAX_SKEW = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str | None, body: bytes, signature: str | None, *,
                     now: float | None = None, max_skew: float = MAX_SKEW) -> bool:
    """What a receiver runs: the signature matches and the timestamp is recent."""
    if not timestamp or not signature:
        return False
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= max_skew and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookConnector(PublishingMixin):
    platform: ClassVar[str] = "webhook"
    service: ClassVar[str] = "The webhook receiver"
    idempotent_retry: ClassVar[bool] = True
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (RateLimit(60, 60.0, "60 deliveries per minute per webhook"),)

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        if not config.get("url"):
            raise ValueError("webhook connector needs config['url']")
        if not config.get("secret"):
            raise ValueError("webhook connector needs config['secret']")
        self.url = str(config["url"])

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json() if resp.content else resp.text[:300] or None
        err = map_http_error(resp.status, body, resp.headers, service=self.service, now=self.epoch())
        if err.kind == "auth":
            return publish_error("auth", f"The webhook receiver at {self.url} rejected our signature (HTTP "
                                 f"{resp.status}). Check that both sides use the same secret.",
                                 said=err.platform_message, status=resp.status)
        return err

    def _deliver(self, payload: dict[str, Any], key: str) -> Response:
        raw = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        ts = str(int(self.epoch()))
        headers = {**{str(k): str(v) for k, v in (self.config.get("headers") or {}).items()},
                   "Content-Type": "application/json", "Idempotency-Key": key, TIMESTAMP_HEADER: ts,
                   SIGNATURE_HEADER: sign(str(self.config["secret"]), ts, raw)}
        return self.send("POST", self.url, content=raw, headers=headers)

    def publish(self, request: PublishRequest) -> Published:
        payload = {"event": "post.published", "idempotency_key": request.idempotency_key, "text": request.text,
                   "title": request.title, "link": request.link, "language": request.language,
                   "reply_to": request.reply_to, "options": request.options,
                   "media": [{"name": Path(m.path).name, "mime": m.mime, "size": m.size, "alt_text": m.alt_text,
                              "width": m.width, "height": m.height} for m in request.media],
                   "sent_at": self._now().isoformat()}
        try:
            resp = self._deliver(payload, request.idempotency_key)
        except ConnectorError as exc:
            if exc.status == 409:
                return Published(external_id=request.idempotency_key, raw={"already_received": True})
            raise
        body = resp.json()
        body = body if isinstance(body, dict) else {}
        return Published(external_id=str(body.get("id") or request.idempotency_key), url=body.get("url"),
                         published_at=parse_time(body.get("published_at")) or self._now(), raw=body)

    def delete(self, external_id: str) -> None:
        self._deliver({"event": "post.deleted", "external_id": external_id, "sent_at": self._now().isoformat()},
                      f"delete:{external_id}")

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        resp = self._deliver({"event": "ping", "sent_at": self._now().isoformat()}, f"ping:{int(self.epoch())}")
        return f"The webhook receiver at {self.url} accepted a signed test call (HTTP {resp.status}).", None, {}
