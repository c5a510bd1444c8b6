"""Fake Zalo Official Account API: articles (create → token, verify → id, getslice, remove), OA info,
consultation messages, single-use refresh tokens, and ``{"error": <code>, "message"}`` bodies (HTTP 200)."""

from __future__ import annotations

import itertools
import time
from typing import Any
from urllib.parse import parse_qs

from fakes.server import FakeServer, Reply, Request


def zalo_error(code: int, message: str) -> Reply:
    return Reply(200, {"error": code, "message": message})


EXPIRED = zalo_error(-124, "Access token is expired")
INVALID = zalo_error(-216, "Access token is invalid")
QUOTA = zalo_error(-32, "Exceeded the limit of requests")


class FakeZalo(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.tokens = {"zalo-token"}
        self.refresh_tokens = {"zalo-refresh-1"}
        self.app_id, self.secret_key = "4242", "zalo-secret"
        self.pending: dict[str, dict[str, Any]] = {}
        self.articles: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.followers = {"u-1"}
        self._ids = itertools.count(1)
        self.add("POST", r"/v2.0/article/create", self._create)
        self.add("POST", r"/v2.0/article/verify", self._verify)
        self.add("GET", r"/v2.0/article/getslice", self._slice)
        self.add("POST", r"/v2.0/article/remove", self._remove)
        self.add("GET", r"/v2.0/oa/getoa", self._oa)
        self.add("POST", r"/v3.0/oa/message/cs", self._message)
        self.add("POST", r"/v4/oa/access_token", self._refresh)

    @property
    def oauth_url(self) -> str:
        return f"{self.url}/v4/oa/access_token"

    def _auth(self, req: Request) -> Reply | None:
        token = req.headers.get("access_token")
        if not token:
            return zalo_error(-216, "Access token is missing")
        return None if token in self.tokens else INVALID

    def _create(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        body = req.json() or {}
        if not body.get("title") or len(body["title"]) > 150:
            return zalo_error(-201, "title is invalid")
        token = f"tok{next(self._ids)}"
        self.pending[token] = body
        return Reply(200, {"data": {"token": token}, "error": 0, "message": "Success"})

    def _verify(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        token = (req.json() or {}).get("token")
        body = self.pending.pop(token, None)
        if body is None:
            return zalo_error(-201, "token is invalid")
        aid = f"art{next(self._ids):04d}"
        self.articles.insert(0, {"id": aid, "title": body["title"], "description": body.get("description", ""),
                                 "body": body.get("body"), "status": "show", "type": "normal",
                                 "create_date": int(time.time() * 1000), "link": f"https://zalo.me/news/{aid}"})
        return Reply(200, {"data": {"id": aid}, "error": 0, "message": "Success"})

    def _slice(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        offset, limit = int(req.arg("offset", "0") or 0), int(req.arg("limit", "10") or 10)
        return Reply(200, {"data": {"medias": self.articles[offset:offset + limit], "total": len(self.articles)},
                           "error": 0, "message": "Success"})

    def _remove(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        aid = (req.json() or {}).get("id")
        before = len(self.articles)
        self.articles = [a for a in self.articles if a["id"] != aid]
        if len(self.articles) == before:
            return zalo_error(-201, "article not found")
        return Reply(200, {"error": 0, "message": "Success"})

    def _oa(self, req: Request) -> Reply:
        return self._auth(req) or Reply(200, {"data": {"oa_id": "1790", "name": "Sở Thông tin Truyền thông",
                                                       "num_follower": 1200}, "error": 0, "message": "Success"})

    def _message(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        body = req.json() or {}
        user = (body.get("recipient") or {}).get("user_id")
        if user not in self.followers:
            return zalo_error(-230, "User has not interacted with the OA in the past 7 days")
        mid = f"m{next(self._ids)}"
        self.messages.append({"message_id": mid, **body})
        return Reply(200, {"data": {"message_id": mid, "user_id": user}, "error": 0, "message": "Success"})

    def _refresh(self, req: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if req.headers.get("secret_key") != self.secret_key or form.get("app_id") != self.app_id:
            return Reply(200, {"error": -14014, "error_name": "Invalid app", "error_reason": "secret key is invalid"})
        rt = form.get("refresh_token")
        if rt not in self.refresh_tokens:
            return Reply(200, {"error": -14020, "error_name": "Invalid refresh token",
                               "error_reason": "refresh token is invalid or used"})
        self.refresh_tokens.discard(rt)  # single use
        n = 1000 + next(self._ids)
        access, new_rt = f"zalo-token-{n}", f"zalo-refresh-{n}"
        self.tokens.add(access)
        self.refresh_tokens.add(new_rt)
        return Reply(200, {"access_token": access, "refresh_token": new_rt, "expires_in": "90000"})
