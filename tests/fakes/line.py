"""Fake LINE Messaging API: broadcast/narrowcast/push/multicast with ``X-Line-Retry-Key`` (409 +
``x-line-accepted-request-id`` on a repeat), ``GET /v2/bot/info`` and ``{"message", "details"}`` errors."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs

from fakes.server import FakeServer, Reply, Request

INVALID_TOKEN = Reply(401, {"message": "Authentication failed due to the following reason: invalid token. Confirm "
                                      "that the access token in the authorization header is valid."})
RATE_LIMITED = Reply(429, {"message": "The API rate limit has been exceeded. Try again later."})
MONTHLY_LIMIT = Reply(429, {"message": "You have reached your monthly limit."})


class FakeLine(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.tokens = {"line-token"}
        self.sent: list[dict[str, Any]] = []  # accepted sends
        self.retry_keys: dict[str, str] = {}  # retry key -> request id
        self.add("POST", r"/v2/bot/message/(?P<mode>broadcast|narrowcast|push|multicast)", self._send)
        self.add("GET", r"/v2/bot/info", self._info)
        self.add("POST", r"/v2/oauth/verify", self._verify)
        self.expires_in: dict[str, int] = {"line-token": 2_592_000}  # token -> seconds left (30 days)

    def _auth(self, req: Request) -> Reply | None:
        return None if req.bearer in self.tokens else INVALID_TOKEN

    def _info(self, req: Request) -> Reply:
        return self._auth(req) or Reply(200, {"userId": "Ub1234", "basicId": "@123abcde", "displayName": "PR Office",
                                              "chatMode": "bot", "markAsReadMode": "auto"})

    def _send(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        assert req.match is not None
        key = req.headers.get("x-line-retry-key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return Reply(400, {"message": "The retry key is not a valid UUID"})
            if key in self.retry_keys:
                return Reply(409, {"message": "The retry key is already accepted"},
                             {"x-line-accepted-request-id": self.retry_keys[key], "x-line-request-id": uuid.uuid4().hex})
        body = req.json() or {}
        messages = body.get("messages") or []
        details = []
        if not 1 <= len(messages) <= 5:
            details.append({"message": "Size must be between 1 and 5", "property": "messages"})
        for i, m in enumerate(messages):
            if m.get("type") == "text" and not 1 <= len(str(m.get("text", "")).encode("utf-16-le")) // 2 <= 5000:
                details.append({"message": "Length must be between 0 and 5000", "property": f"messages[{i}].text"})
            if m.get("type") == "image" and not str(m.get("originalContentUrl", "")).startswith("https://"):
                details.append({"message": "must be an https URL", "property": f"messages[{i}].originalContentUrl"})
        mode = req.match["mode"]
        if mode == "push" and not body.get("to"):
            details.append({"message": "must be specified", "property": "to"})
        if details:
            return Reply(400, {"message": f"The request body has {len(details)} error(s)", "details": details})
        request_id = uuid.uuid4().hex
        if key:
            self.retry_keys[key] = request_id
        self.sent.append({"mode": mode, "request_id": request_id, "retry_key": key, **body})
        return Reply(202 if mode == "narrowcast" else 200, {}, {"x-line-request-id": request_id})

    def _verify(self, req: Request) -> Reply:
        token = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}.get("access_token", "")
        if token not in self.tokens:
            return Reply(400, {"error": "invalid_request", "error_description": "access token expired"})
        return Reply(200, {"scope": "P", "client_id": "1350031035", "expires_in": self.expires_in.get(token, 0)})
