"""Fake Telegram Bot API: ``/bot<token>/<method>`` with JSON or multipart arguments, channel posts stored
per chat, ``{"ok": false, "error_code", "description", "parameters"}`` errors."""

from __future__ import annotations

import json
import time
from typing import Any

from fakes.multipart import any_args, form
from fakes.server import FakeServer, Reply, Request


def tg_error(code: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(code, body)


TOO_MANY = tg_error(429, "Too Many Requests: retry after 7", retry_after=7)
REVOKED = tg_error(401, "Unauthorized")


class FakeTelegram(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.tokens = {"123456:ABC-secret-token"}
        self.bot = {"id": 123456, "is_bot": True, "first_name": "PR bot", "username": "pr_office_bot"}
        self.chats: dict[str, dict[str, Any]] = {
            "@civic_news": {"id": -1001234567890, "title": "Civic News", "username": "civic_news", "type": "channel"}}
        self.admin_of = {"@civic_news"}
        self.messages: dict[int, dict[str, Any]] = {}  # message_id -> message
        self.next_id = 100
        self.add("POST", r"/bot(?P<token>[^/]+)/(?P<method>\w+)", self._dispatch)

    @property
    def base_url(self) -> str:
        return self.url

    def posts(self, chat: str = "@civic_news") -> list[dict[str, Any]]:
        cid = self.chats[chat]["id"]
        return [m for m in self.messages.values() if m["chat"]["id"] == cid]

    def _chat(self, chat_id: Any) -> tuple[str, dict[str, Any]] | None:
        key = str(chat_id)
        for name, chat in self.chats.items():
            if key in (name, str(chat["id"])):
                return name, chat
        return None

    def _dispatch(self, req: Request) -> Reply:
        assert req.match is not None
        if req.match["token"] not in self.tokens:
            return REVOKED
        method = req.match["method"]
        args = any_args(req)
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return tg_error(404, "Not Found")
        if method in ("getMe",):
            return handler(args, req)
        found = self._chat(args.get("chat_id"))
        if found is None:
            return tg_error(400, "Bad Request: chat not found")
        if found[0] not in self.admin_of:
            return tg_error(403, "Forbidden: bot is not a member of the channel chat")
        return handler(args, req, found[1])

    def _store(self, chat: dict[str, Any], **content: Any) -> dict[str, Any]:
        self.next_id += 1
        msg = {"message_id": self.next_id, "sender_chat": dict(chat), "chat": dict(chat), "date": int(time.time()),
               **content}
        self.messages[self.next_id] = msg
        return msg

    def m_getMe(self, args: dict[str, Any], req: Request) -> Reply:  # noqa: N802
        return Reply(200, {"ok": True, "result": self.bot})

    def m_getChat(self, args: dict[str, Any], req: Request, chat: dict[str, Any]) -> Reply:  # noqa: N802
        return Reply(200, {"ok": True, "result": chat})

    def m_sendMessage(self, args: dict[str, Any], req: Request, chat: dict[str, Any]) -> Reply:  # noqa: N802
        text = str(args.get("text") or "")
        if not text:
            return tg_error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return tg_error(400, "Bad Request: message is too long")
        return Reply(200, {"ok": True, "result": self._store(chat, text=text)})

    def _send_file(self, args: dict[str, Any], req: Request, chat: dict[str, Any], field: str) -> Reply:
        _, files = form(req)
        if field not in files:
            return tg_error(400, f"Bad Request: there is no {field} in the request")
        caption = str(args.get("caption") or "")
        if len(caption) > 1024:
            return tg_error(400, "Bad Request: message caption is too long")
        f = files[field]
        content = {field: [{"file_id": f"F{len(f.data)}", "file_size": len(f.data)}] if field == "photo"
                   else {"file_id": f"F{len(f.data)}", "file_name": f.filename, "mime_type": f.content_type},
                   "caption": caption}
        return Reply(200, {"ok": True, "result": self._store(chat, **content)})

    def m_sendPhoto(self, args: dict[str, Any], req: Request, chat: dict[str, Any]) -> Reply:  # noqa: N802
        return self._send_file(args, req, chat, "photo")

    def m_sendVideo(self, args: dict[str, Any], req: Request, chat: dict[str, Any]) -> Reply:  # noqa: N802
        return self._send_file(args, req, chat, "video")

    def m_sendDocument(self, args: dict[str, Any], req: Request, chat: dict[str, Any]) -> Reply:  # noqa: N802
        return self._send_file(args, req, chat, "document")

    def m_sendMediaGroup(self, args: dict[str, Any], req: Request, chat: dict[str, Any]) -> Reply:  # noqa: N802
        _, files = form(req)
        group = json.loads(args.get("media") or "[]")
        if not 2 <= len(group) <= 10:
            return tg_error(400, "Bad Request: wrong number of media in the group")
        out = []
        for item in group:
            name = str(item["media"]).removeprefix("attach://")
            if name not in files:
                return tg_error(400, f"Bad Request: file {name} not found in the request")
            out.append(self._store(chat, **{item["type"]: {"file_id": name}, "caption": item.get("caption", "")}))
        return Reply(200, {"ok": True, "result": out})

    def m_deleteMessage(self, args: dict[str, Any], req: Request, chat: dict[str, Any]) -> Reply:  # noqa: N802
        mid = int(args.get("message_id") or 0)
        if mid not in self.messages:
            return tg_error(400, "Bad Request: message to delete not found")
        del self.messages[mid]
        return Reply(200, {"ok": True, "result": True})
