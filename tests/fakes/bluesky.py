"""Fake Bluesky AppView (+ createSession): searchPosts, getAuthorFeed, _health, XRPC error bodies."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from fakes.server import FakeServer, Reply, Request


def fake_jwt(exp: int) -> str:
    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{enc({'alg': 'HS256'})}.{enc({'sub': 'did:plc:me', 'exp': exp})}.sig"


class FakeBlueskyAppView(FakeServer):
    """Seed with :meth:`post`; posts are returned newest-first by ``indexedAt``."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []
        self.feed_extra: list[dict[str, Any]] = []  # reposts etc. for getAuthorFeed
        self.password = "app-pass-1234"
        self.access_exp = 1_900_000_000
        self.valid_tokens: set[str] = set()
        self.n = 0
        self.add("GET", r"/xrpc/app.bsky.feed.searchPosts", self._search)
        self.add("GET", r"/xrpc/app.bsky.feed.getAuthorFeed", self._author_feed)
        self.add("GET", r"/xrpc/_health", lambda r: Reply(200, {"version": "0.4.0-fake"}))
        self.add("POST", r"/xrpc/com.atproto.server.createSession", self._session)

    def post(self, handle: str, text: str, *, likes: int = 0, reposts: int = 0, quotes: int = 0, replies: int = 0,
             reply_to: str | None = None, langs: tuple[str, ...] = ("en",)) -> dict[str, Any]:
        self.n += 1
        did = f"did:plc:{handle.split('.')[0]:a<24}"[:32]
        when = dt.datetime(2025, 5, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=self.n)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": stamp, "langs": list(langs)}
        if reply_to:
            record["reply"] = {"root": {"uri": reply_to, "cid": "bafyroot"}, "parent": {"uri": reply_to, "cid": "bafyp"}}
        view = {"uri": f"at://{did}/app.bsky.feed.post/3lk{self.n:010d}", "cid": f"bafy{self.n}",
                "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0].title()},
                "record": record, "replyCount": replies, "repostCount": reposts, "likeCount": likes,
                "quoteCount": quotes, "indexedAt": stamp}
        self.posts.append(view)
        return view

    def _auth(self, req: Request) -> Reply | None:
        if req.bearer is not None and req.bearer not in self.valid_tokens:
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        return None

    def _paged(self, req: Request, rows: list[dict[str, Any]], key: str, default_limit: int) -> Reply:
        limit = int(req.arg("limit", str(default_limit)) or default_limit)
        if not 1 <= limit <= 100:
            return Reply(400, {"error": "InvalidRequest", "message": "limit must be between 1 and 100"})
        start = int(req.arg("cursor") or 0)
        page = rows[start:start + limit]
        body: dict[str, Any] = {key: page}
        if start + limit < len(rows):
            body["cursor"] = str(start + limit)
        return Reply(200, body, {"ratelimit-limit": "3000", "ratelimit-remaining": "2999",
                                 "ratelimit-reset": "1746100800", "ratelimit-policy": "3000;w=300"})

    def _search(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        q = (req.arg("q") or "").lower()
        if not q:
            return Reply(400, {"error": "InvalidRequest", "message": "Error: Params must have the property \"q\""})
        rows = [p for p in self.posts if q in p["record"]["text"].lower()]
        if req.arg("since"):
            since = req.arg("since") or ""
            rows = [p for p in rows if _ts(p["indexedAt"]) >= _ts(since)]
        if req.arg("lang"):
            rows = [p for p in rows if req.arg("lang") in p["record"].get("langs", [])]
        rows.sort(key=lambda p: p["indexedAt"], reverse=True)
        out = self._paged(req, rows, "posts", 25)
        if isinstance(out.body, dict) and "posts" in out.body:
            out.body["hitsTotal"] = len(rows)
        return out

    def _author_feed(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        actor = req.arg("actor") or ""
        rows = [{"post": p} for p in self.posts if actor in (p["author"]["handle"], p["author"]["did"])]
        if not rows and not any(actor in (p["author"]["handle"], p["author"]["did"]) for p in self.posts):
            return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
        rows += [e for e in self.feed_extra if actor in (e["reason"]["by"]["handle"], e["reason"]["by"]["did"])]
        rows.sort(key=lambda e: e.get("reason", {}).get("indexedAt") or e["post"]["indexedAt"], reverse=True)
        return self._paged(req, rows, "feed", 50)

    def _session(self, req: Request) -> Reply:
        body = req.json()
        if body.get("password") != self.password:
            return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
        token = fake_jwt(self.access_exp) + str(len(self.valid_tokens))
        self.valid_tokens.add(token)
        return Reply(200, {"did": "did:plc:me", "handle": body["identifier"], "accessJwt": token,
                           "refreshJwt": "refresh", "active": True})


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
