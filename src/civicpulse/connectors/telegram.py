"""Telegram — posts to a channel (or group) through the Bot API.

* ``POST {base}/bot{token}/sendMessage`` ``{chat_id, text, link_preview_options, reply_parameters}``
* one image: ``sendPhoto`` (multipart ``photo`` + ``caption``, at most 1024 characters); one video:
  ``sendVideo``; a PDF: ``sendDocument``; several files: ``sendMediaGroup`` (``attach://fileN``).
* ``deleteMessage`` to take a post back (bots may delete their own channel posts within 48 hours).
* health: ``getMe`` (cheapest authenticated call), then ``getChat`` to check the bot can see the channel.

Config keys: ``bot_token`` (secret, from @BotFather), ``chat_id`` (``@channelname`` or ``-100…``; the bot must
be an administrator of the channel with "Post messages"), ``base_url`` (default ``https://api.telegram.org``),
``disable_notification``, ``disable_link_preview`` (bools), ``timeout``, ``allow_private``.

Answers are ``{"ok": true, "result": Message}`` or ``{"ok": false, "error_code", "description",
"parameters": {"retry_after", "migrate_to_chat_id"}}``. 401 → auth (token revoked), 403 → auth (bot not
in the channel / not an admin), 429 → rate_limited (``parameters.retry_after``), 400 → permanent, 5xx →
transient. The bot token travels in the URL and is scrubbed from every message.

Look-up: the Bot API cannot list a channel's history and bots do not receive their own posts as
updates, so ``can_lookup`` is False: a send whose outcome is unknown is reported as such instead of
being repeated.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from civicpulse.connectors._common import parse_time
from civicpulse.connectors._publish import (
    RECONNECT,
    PublishingMixin,
    compose_text,
    is_image,
    is_video,
    publish_error,
    read_media,
)
from civicpulse.connectors.base import ConnectorError, Published, PublishRequest, RateLimit
from civicpulse.connectors.http import Response, kind_for_status

DEFAULT_BASE = "https://api.telegram.org"
CAPTION_LIMIT = 1024


class TelegramConnector(PublishingMixin):
    platform: ClassVar[str] = "telegram"
    service: ClassVar[str] = "Telegram"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(30, 1.0, "about 30 messages per second per bot (core.telegram.org/bots/faq)"),
        RateLimit(20, 60.0, "at most 20 messages per minute to one group or channel"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        if not config.get("bot_token"):
            raise ValueError("telegram connector needs config['bot_token']")
        if not config.get("chat_id"):
            raise ValueError("telegram connector needs config['chat_id']")
        self.base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")
        self.chat_id = str(config["chat_id"])

    def url_secrets(self) -> list[str]:
        return [str(self.config.get("bot_token") or "")]

    def _method(self, name: str) -> str:
        return f"{self.base}/bot{self.config['bot_token']}/{name}"

    # -- errors ------------------------------------------------------------------------------------
    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json() if resp.content else None
        return self._error(body if isinstance(body, dict) else {}, resp.status)

    def _error(self, body: dict[str, Any], status: int) -> ConnectorError:
        code = int(body.get("error_code") or status or 500)
        said = str(body.get("description") or f"HTTP {status}")
        params = body.get("parameters") or {}
        low = said.lower()
        if code == 429:
            wait = float(params.get("retry_after") or 30)
            return publish_error("rate_limited", f"Telegram asks us to slow down; waiting {round(wait)} s.",
                                 said=said, status=code, retry_after=wait)
        if code == 401 or code == 404 and "not found" in low and "chat" not in low:
            return publish_error("auth", "Telegram does not accept the bot token (it was revoked or mistyped). "
                                 "Create a new token with @BotFather and paste it in Settings → Channels.",
                                 said=said, status=code)
        if code == 403:
            return publish_error("auth", f"The bot may not post in {self.chat_id}. Add it to the channel as an "
                                 "administrator with the right to post messages.", said=said, status=code)
        if params.get("migrate_to_chat_id"):
            return publish_error("permanent", "The Telegram group became a supergroup; change the chat ID in "
                                 f"Settings → Channels to {params['migrate_to_chat_id']}.", said=said, status=code)
        if "chat not found" in low:
            return publish_error("permanent", f"Telegram cannot find the chat {self.chat_id}. Check the channel "
                                 "name (e.g. @mychannel) and that the bot was added to it.", said=said, status=code)
        if "too long" in low:
            return publish_error("permanent", "The text is longer than Telegram allows (4096 characters, 1024 "
                                 "under a photo). Shorten it.", said=said, status=code)
        if "message to delete not found" in low or "message can't be deleted" in low:
            return publish_error("permanent", "Telegram cannot delete this message (already gone, or older than "
                                 "48 hours).", said=said, status=code)
        kind = kind_for_status(code)
        if kind == "transient":
            return publish_error("transient", "Telegram had a temporary problem; we will try again.", said=said,
                                 status=code)
        return publish_error("permanent" if kind != "auth" else "auth",
                             "Telegram refused the message." + (f" {RECONNECT}" if kind == "auth" else ""),
                             said=said, status=code)

    def check_body(self, resp: Response) -> None:
        body = resp.json()
        if isinstance(body, dict) and body.get("ok") is False:
            raise self._error(body, resp.status)

    def _call(self, name: str, *, json_body: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
              files: Any = None) -> Any:
        body = self.send_json("POST", self._method(name), json=json_body, data=data, files=files)
        return body.get("result")

    # -- publishing --------------------------------------------------------------------------------
    def _common(self, req: PublishRequest) -> dict[str, Any]:
        out: dict[str, Any] = {"chat_id": self.chat_id}
        if self.config.get("disable_notification"):
            out["disable_notification"] = True
        if req.reply_to:
            out["reply_parameters"] = {"message_id": int(str(req.reply_to).rsplit(":", 1)[-1])}
        return out

    def publish(self, request: PublishRequest) -> Published:
        text = compose_text(request)
        media = list(request.media)
        common = self._common(request)
        if not media:
            payload = {**common, "text": text,
                       "link_preview_options": {"is_disabled": bool(self.config.get("disable_link_preview"))}}
            msg = self._call("sendMessage", json_body=payload)
            return self._published(msg)
        if len(text) > CAPTION_LIMIT:
            raise ConnectorError("permanent", "The text is longer than the 1024 characters Telegram allows under "
                                 "a photo or video. Shorten it or post the files separately.")
        form = {k: json.dumps(v) if isinstance(v, dict) else str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in common.items()}
        if len(media) == 1:
            m = media[0]
            method, field = (("sendPhoto", "photo") if is_image(m) else ("sendVideo", "video") if is_video(m)
                             else ("sendDocument", "document"))
            files = {field: (m.path.rsplit("/", 1)[-1], read_media(m, self.service), m.mime)}
            msg = self._call(method, data={**form, "caption": text}, files=files)
            return self._published(msg)
        group, files = [], {}
        for i, m in enumerate(media):
            kind = "photo" if is_image(m) else "video" if is_video(m) else "document"
            item: dict[str, Any] = {"type": kind, "media": f"attach://file{i}"}
            if i == 0 and text:
                item["caption"] = text
            group.append(item)
            files[f"file{i}"] = (m.path.rsplit("/", 1)[-1], read_media(m, self.service), m.mime)
        msgs = self._call("sendMediaGroup", data={**form, "media": json.dumps(group)}, files=files)
        published = self._published(msgs[0])
        published.raw = {"messages": msgs}
        published.external_id = ",".join(self._published(x).external_id for x in msgs)
        return published

    def _published(self, msg: dict[str, Any]) -> Published:
        chat = msg.get("chat") or {}
        username = chat.get("username")
        mid = msg["message_id"]
        url = f"https://t.me/{username}/{mid}" if username else None
        return Published(external_id=f"{chat.get('id', self.chat_id)}:{mid}", url=url,
                         published_at=parse_time(msg.get("date")), raw=msg)

    def delete(self, external_id: str) -> None:
        for one in external_id.split(","):
            chat, _, mid = one.rpartition(":")
            self._call("deleteMessage", json_body={"chat_id": chat or self.chat_id, "message_id": int(mid)})

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        me = self._call("getMe")
        chat = self._call("getChat", json_body={"chat_id": self.chat_id})
        title = chat.get("title") or chat.get("username") or self.chat_id
        return (f"The bot @{me.get('username')} works and can see the channel “{title}”.", None,
                {"bot": me.get("username"), "chat_id": chat.get("id")})
