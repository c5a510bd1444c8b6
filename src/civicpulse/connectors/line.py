"""LINE Official Account — Messaging API (broadcast, narrowcast, push, multicast).

* broadcast: ``POST /v2/bot/message/broadcast`` ``{"messages": [...], "notificationDisabled"}``
* narrowcast: ``POST /v2/bot/message/narrowcast`` ``{"messages", "recipient": {"type": "audience",
  "audienceGroupId"}}`` (answers 202; progress at ``GET /v2/bot/message/progress/narrowcast?requestId=``)
* push: ``POST /v2/bot/message/push`` ``{"to", "messages"}``; multicast: ``POST /v2/bot/message/multicast``
  ``{"to": [ids], "messages"}``
* health: ``GET /v2/bot/info`` (the bot's name and basic ID).

Every send carries ``X-Line-Retry-Key`` (a UUID derived from the idempotency key). LINE remembers it for 24
hours: a second send with the same key is not delivered again and answers 409 with the
``x-line-accepted-request-id`` of the first one, which we return as success. So ``idempotent_retry`` is
True: an unknown outcome is resolved by sending again. LINE cannot list or delete sent messages, so there
is no ``lookup`` and ``delete`` raises a permanent error.

Messages: the text (with its link) as one ``text`` message (5000 characters); images as ``image``
messages, which LINE fetches from a public https address (``MediaRef.path`` must be an ``https://`` URL,
e.g. the copy published on the website channel); at most 5 messages per send.

Errors: ``{"message", "details": [{"message", "property"}]}``. 401 → auth (token revoked/expired), 403 →
auth (the plan does not allow this call), 429 → rate_limited (also "You have reached your monthly limit.",
waited out until the first of next month), 400 → permanent with the details, 5xx → transient.

Config keys: ``channel_access_token`` (secret), ``mode`` (broadcast | narrowcast | push | multicast), ``to``
(user/group ID for push, list of user IDs for multicast), ``audience_group_id`` (narrowcast),
``notification_disabled``, ``base_url`` (default ``https://api.line.me``), ``timeout``, ``allow_private``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from civicpulse.connectors._publish import PublishingMixin, compose_text, is_image, key_uuid, publish_error
from civicpulse.connectors.base import ConnectorError, Published, PublishRequest, RateLimit
from civicpulse.connectors.http import Response, kind_for_status, retry_after_from_headers

DEFAULT_BASE = "https://api.line.me"
MODES = ("broadcast", "narrowcast", "push", "multicast")


class AlreadyAccepted(ConnectorError):
    """409: LINE already accepted a send with this retry key (nothing was sent twice)."""

    def __init__(self, request_id: str, said: str) -> None:
        super().__init__("permanent", "LINE already accepted this message.", platform_message=said, status=409)
        self.request_id = request_id


class LineConnector(PublishingMixin):
    platform: ClassVar[str] = "line"
    service: ClassVar[str] = "LINE"
    idempotent_retry: ClassVar[bool] = True
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(60, 3600.0, "broadcast and narrowcast: 60 requests per hour (developers.line.biz rate limits)"),
    )
    push_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(2000, 1.0, "push and multicast: 2,000 requests per second"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        self.mode = str(config.get("mode") or "broadcast")
        super().__init__(config, **kw)
        if self.mode not in MODES:
            raise ValueError(f"unknown LINE mode {self.mode!r}; use one of {', '.join(MODES)}")
        if not config.get("channel_access_token"):
            raise ValueError("line connector needs config['channel_access_token']")
        if self.mode in ("push", "multicast") and not config.get("to"):
            raise ValueError(f"LINE {self.mode} needs config['to']")
        if self.mode == "narrowcast" and not config.get("audience_group_id"):
            raise ValueError("LINE narrowcast needs config['audience_group_id']")
        self.base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")

    def effective_rate_limits(self) -> tuple[RateLimit, ...]:
        return self.push_limits if self.mode in ("push", "multicast") else self.rate_limits

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config['channel_access_token']}"}

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json() if resp.content else None
        body = body if isinstance(body, dict) else {}
        said = str(body.get("message") or f"HTTP {resp.status}")
        details = [f"{d.get('property', '')}: {d.get('message', '')}".strip(": ")
                   for d in body.get("details") or [] if isinstance(d, dict)]
        if details:
            said = f"{said} — {'; '.join(details)}"
        kind = kind_for_status(resp.status)
        accepted = resp.headers.get("x-line-accepted-request-id")
        if resp.status == 409 and accepted:
            return AlreadyAccepted(accepted, said)
        if resp.status == 401:
            return publish_error("auth", "LINE does not accept the channel access token (it expired or was "
                                 "reissued). Issue a new long-lived token in the LINE Developers console and paste "
                                 "it in Settings → Channels.", said=said, status=401)
        if resp.status == 403:
            return publish_error("auth", "This LINE Official Account may not use this kind of message (check the "
                                 "plan and the channel's permissions in the LINE Developers console).", said=said,
                                 status=403)
        if resp.status == 429:
            if "monthly limit" in said.lower():
                return publish_error("rate_limited", "The LINE Official Account has used up this month's "
                                     "messages. Upgrade the plan or wait until the 1st.", said=said, status=429,
                                     retry_after=self._to_next_month())
            wait = retry_after_from_headers(resp.headers, now=self.epoch()) or 60.0
            return publish_error("rate_limited", f"LINE says we are sending too fast; waiting {round(wait)} s.",
                                 said=said, status=429, retry_after=wait)
        if kind == "transient":
            return publish_error("transient", "LINE had a temporary problem; we will try again.", said=said,
                                 status=resp.status)
        return publish_error("permanent", "LINE refused the message.", said=said, status=resp.status)

    def _to_next_month(self) -> float:
        now = self._now()
        first = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0,
                                                                       microsecond=0)
        return (first - now).total_seconds()

    def messages(self, req: PublishRequest) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        text = compose_text(req)
        if text:
            out.append({"type": "text", "text": text})
        for m in req.media:
            if is_image(m) and m.path.startswith("https://"):
                out.append({"type": "image", "originalContentUrl": m.path, "previewImageUrl": m.path})
            else:
                raise ConnectorError("permanent", f"LINE can only show images it can download from a public https "
                                     f"address; {m.path.rsplit('/', 1)[-1]} has none. Publish it on the website "
                                     "channel first.")
        if len(out) > 5:
            raise ConnectorError("permanent", "LINE accepts at most 5 messages (text and images) per send.")
        return out

    def publish(self, request: PublishRequest) -> Published:
        body: dict[str, Any] = {"messages": self.messages(request)}
        if self.config.get("notification_disabled"):
            body["notificationDisabled"] = True
        if self.mode == "narrowcast":
            body["recipient"] = {"type": "audience", "audienceGroupId": int(self.config["audience_group_id"])}
        elif self.mode == "push":
            body["to"] = str(self.config["to"])
        elif self.mode == "multicast":
            to = self.config["to"]
            body["to"] = list(to) if isinstance(to, list | tuple) else [str(to)]
        headers = {"X-Line-Retry-Key": key_uuid(request.idempotency_key)}
        try:
            resp = self.send("POST", f"{self.base}/v2/bot/message/{self.mode}", json=body, headers=headers)
        except AlreadyAccepted as exc:
            return Published(external_id=exc.request_id, published_at=None,
                             raw={"already_accepted": True, "retry_key": headers["X-Line-Retry-Key"]})
        request_id = resp.headers.get("x-line-request-id") or headers["X-Line-Retry-Key"]
        return Published(external_id=request_id, published_at=self._now(),
                         raw={"mode": self.mode, "status": resp.status, "retry_key": headers["X-Line-Retry-Key"]})

    def delete(self, external_id: str) -> None:
        raise ConnectorError("permanent", "LINE cannot take back a message once it has been sent.")

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        """``GET /v2/bot/info``, then ``POST /v2/oauth/verify`` for the token's remaining lifetime."""
        info = self.send_json("GET", f"{self.base}/v2/bot/info")
        name = info.get("displayName") or info.get("basicId")
        details: dict[str, Any] = {"basic_id": info.get("basicId"), "user_id": info.get("userId")}
        expires = None
        try:
            verified = self.send_json("POST", f"{self.base}/v2/oauth/verify", auth=False,
                                      data={"access_token": str(self.config["channel_access_token"])})
            seconds = int(verified.get("expires_in") or 0)
            if 0 < seconds < 10 * 365 * 86400:  # long-lived tokens report decades: treat as not expiring
                expires = self._now() + dt.timedelta(seconds=seconds)
        except ConnectorError as exc:
            details["verify"] = exc.platform_message
        return f"Connected to the LINE Official Account “{name}” ({info.get('basicId', '')}).", expires, details
