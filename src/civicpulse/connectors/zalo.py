"""Zalo Official Account — articles for followers (and consultation messages to one user).

Article (default ``kind: article``), the OA's public news post:

* ``POST {base}/v2.0/article/create`` ``{"type": "normal", "title", "author", "description", "cover",
  "body": [{"type": "text", "content": <html>}], "status": "show", "comment": "show"}`` → ``{"data":
  {"token"}, "error": 0, "message": "Success"}``; then ``POST /v2.0/article/verify`` ``{"token"}`` →
  ``{"data": {"id"}}`` (the article ID once Zalo has processed it).
* ``POST /v2.0/article/remove`` ``{"id"}`` deletes it.
* look-up: ``GET /v2.0/article/getslice?offset=0&limit=20&type=normal`` and match the exact title and
  summary created inside the look-up window (``can_lookup`` is True).

Message (``kind: message``): ``POST {base}/v3.0/oa/message/cs`` ``{"recipient": {"user_id"}, "message":
{"text"}}`` (2000 characters; only to a user who wrote to the OA recently).

Health: ``GET /v2.0/oa/getoa`` (the OA's name). Every call sends the header ``access_token``.

Tokens: OA access tokens live about 25 hours. With ``app_id``, ``secret_key`` and ``refresh_token`` set, an
expired token is renewed with ``POST https://oauth.zaloapp.com/v4/oa/access_token`` (form ``app_id``,
``refresh_token``, ``grant_type=refresh_token``; header ``secret_key``). A refresh token works **once**: the
new pair is in ``credential_updates`` and must be stored back on the channel.

Errors come as HTTP 200 with ``{"error": <negative code>, "message"}``: -216 (invalid token) and -124
(expired token) → auth (after one refresh attempt), -32 (too many requests) → rate_limited, -201 (bad
parameters), -213/-230 (user does not follow / has not interacted in 7 days) → permanent; HTTP 5xx and
unknown negative codes from the server side (-1, -500) → transient.

Config keys: ``access_token`` (secret), ``refresh_token`` (secret), ``app_id``, ``secret_key`` (secret),
``kind`` (article | message), ``user_id`` (message kind), ``author`` (article byline), ``cover_url`` (an
https image for the article cover), ``base_url`` (default ``https://openapi.zalo.me``), ``oauth_url``.
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

from civicpulse.connectors._common import as_int, parse_time
from civicpulse.connectors._publish import (
    RECONNECT,
    PublishingMixin,
    compose_text,
    oauth_refresh,
    publish_error,
    same_text,
)
from civicpulse.connectors.base import ConnectorError, Published, PublishRequest, RateLimit
from civicpulse.connectors.http import Response, kind_for_status

DEFAULT_BASE = "https://openapi.zalo.me"
DEFAULT_OAUTH = "https://oauth.zaloapp.com/v4/oa/access_token"
AUTH_CODES = {-216, -124, -14002, -14003}
RATE_CODES = {-32, -240}
TRANSIENT_CODES = {-1, -500, -50}


class ZaloConnector(PublishingMixin):
    platform: ClassVar[str] = "zalo"
    service: ClassVar[str] = "Zalo"
    can_lookup: ClassVar[bool] = True
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(100, 60.0, "a conservative 100 calls per minute; Zalo sets per-OA quotas shown in the OA manager"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        if not config.get("access_token") and not config.get("refresh_token"):
            raise ValueError("zalo connector needs config['access_token'] (or a refresh token)")
        self.kind = str(config.get("kind") or "article")
        if self.kind not in ("article", "message"):
            raise ValueError(f"unknown zalo kind {self.kind!r}")
        if self.kind == "message" and not config.get("user_id"):
            raise ValueError("zalo message kind needs config['user_id']")
        self.base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        return {"access_token": str(self.config.get("access_token") or "")}

    def can_refresh(self) -> bool:
        return all(self.config.get(k) for k in ("refresh_token", "app_id", "secret_key"))

    def refresh_credentials(self) -> None:
        oauth_refresh(self, str(self.config.get("oauth_url") or DEFAULT_OAUTH),
                      form={"refresh_token": str(self.config["refresh_token"]), "app_id": str(self.config["app_id"]),
                            "grant_type": "refresh_token"},
                      headers={"secret_key": str(self.config["secret_key"])})

    # -- errors -------------------------------------------------------------------------------------
    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json() if resp.content else None
        if isinstance(body, dict) and as_int(body.get("error")):
            return self._error(body, resp.status)
        said = (body or {}).get("message") if isinstance(body, dict) else None
        kind = kind_for_status(resp.status)
        plain = {"transient": "Zalo had a temporary problem; we will try again.",
                 "auth": f"Zalo refused the access token. {RECONNECT}",
                 "rate_limited": "Zalo says we are sending too many requests."}.get(kind, "Zalo refused the request.")
        return publish_error(kind, plain, said=said or f"HTTP {resp.status}", status=resp.status,
                             retry_after=60.0 if kind == "rate_limited" else None)

    def _error(self, body: dict[str, Any], status: int) -> ConnectorError:
        code = as_int(body.get("error")) or 0
        said = f"{code}: {body.get('message') or ''}".strip()
        if code in AUTH_CODES:
            plain = ("The Zalo access token has expired" if code == -124 else "Zalo does not accept the access token")
            return publish_error("auth", f"{plain}. Reconnect the Official Account in Settings → Channels (or add "
                                 "the app ID, secret key and refresh token so civicpulse renews it).", said=said,
                                 status=status)
        if code in RATE_CODES:
            return publish_error("rate_limited", "Zalo says the Official Account is over its request quota; "
                                 "waiting a minute.", said=said, status=status, retry_after=60.0)
        if code in TRANSIENT_CODES:
            return publish_error("transient", "Zalo had a temporary problem; we will try again.", said=said,
                                 status=status)
        if code in (-213, -230):
            return publish_error("permanent", "Zalo only delivers this message to people who follow the Official "
                                 "Account and wrote to it in the last 7 days.", said=said, status=status)
        return publish_error("permanent", "Zalo refused the request.", said=said, status=status)

    def check_body(self, resp: Response) -> None:
        body = resp.json()
        if isinstance(body, dict) and as_int(body.get("error")):
            raise self._error(body, resp.status)

    # -- publishing ---------------------------------------------------------------------------------
    def _summary(self, req: PublishRequest) -> str:
        return str(req.options.get("summary") or req.text.strip().split("\n")[0])[:300]

    def _title(self, req: PublishRequest) -> str:
        title = (req.title or "").strip()
        if not title:
            raise ConnectorError("permanent", "A Zalo article needs a title.")
        return title[:150]

    def publish(self, request: PublishRequest) -> Published:
        if self.kind == "message":
            body = self.send_json("POST", f"{self.base}/v3.0/oa/message/cs",
                                  json={"recipient": {"user_id": str(self.config["user_id"])},
                                        "message": {"text": compose_text(request)}})
            data = body.get("data") or {}
            return Published(external_id=str(data.get("message_id")), published_at=self._now(), raw=body)
        paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
                             for p in request.text.split("\n\n") if p.strip())
        if request.link:
            link = html.escape(request.link, quote=True)
            paragraphs += f'<p><a href="{link}">{html.escape(request.link)}</a></p>'
        article: dict[str, Any] = {
            "type": "normal", "title": self._title(request), "author": str(self.config.get("author") or ""),
            "description": self._summary(request), "body": [{"type": "text", "content": paragraphs}],
            "status": "show", "comment": "show"}
        cover = self.config.get("cover_url") or next((m.path for m in request.media
                                                       if m.path.startswith("https://")), None)
        if cover:
            article["cover"] = {"cover_type": "photo", "photo_url": cover, "status": "show"}
        created = self.send_json("POST", f"{self.base}/v2.0/article/create", json=article)
        token = (created.get("data") or {}).get("token")
        verified = self.send_json("POST", f"{self.base}/v2.0/article/verify", json={"token": token})
        data = verified.get("data") or {}
        aid = str(data.get("id"))
        url = data.get("link") or data.get("url")
        if not url:  # the public address is listed with the OA's articles
            listed = self.send_json("GET", f"{self.base}/v2.0/article/getslice",
                                    params={"offset": 0, "limit": 5, "type": "normal"})
            url = next((a.get("link") for a in (listed.get("data") or {}).get("medias") or [] if str(a.get("id")) == aid),
                       None)
        return Published(external_id=aid, url=url, published_at=self._now(), raw={"create": created, "verify": verified})

    def lookup(self, request: PublishRequest) -> Published | None:
        if self.kind == "message":
            return None
        body = self.send_json("GET", f"{self.base}/v2.0/article/getslice",
                              params={"offset": 0, "limit": 20, "type": "normal"})
        title, summary = self._title(request), self._summary(request)
        for art in (body.get("data") or {}).get("medias") or []:
            when = _when(art.get("create_date") or art.get("created_time"))
            if when is not None and when < self.since():
                continue
            if same_text(art.get("title"), title) and same_text(art.get("description"), summary):
                return Published(external_id=str(art["id"]), url=art.get("link") or art.get("url"),
                                 published_at=when, raw=art)
        return None

    def delete(self, external_id: str) -> None:
        if self.kind == "message":
            raise ConnectorError("permanent", "Zalo cannot take back a message once it has been sent.")
        self.send_json("POST", f"{self.base}/v2.0/article/remove", json={"id": external_id})

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        body = self.send_json("GET", f"{self.base}/v2.0/oa/getoa")
        data = body.get("data") or {}
        return (f"Connected to the Zalo Official Account “{data.get('name') or data.get('oa_id')}”.", None,
                {"oa_id": data.get("oa_id")})


def _when(value: Any) -> Any:
    """Zalo dates are epoch milliseconds (sometimes seconds or ISO text)."""
    number = as_int(value)
    if number is not None and number > 100_000_000_000:
        return parse_time(number / 1000)
    return parse_time(number if number is not None else value)
