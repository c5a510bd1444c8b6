"""Fake X API v2: recent search with since_id / next_token / max_results, includes.users,
x-rate-limit-* headers and problem-details error bodies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fakes.server import FakeServer, Reply, Request


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> Reply:
    return Reply(status, {"title": title, "detail": detail, "type": type_, "status": status, **extra})


class FakeX(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.token = "x-bearer"
        self.tweets: list[dict[str, Any]] = []  # oldest first
        self.users: dict[str, dict[str, Any]] = {}
        self.next_id = 1_790_000_000_000_000_000
        self.remaining = 60
        self.reset = 1_746_100_900  # fake clock is 1_746_100_800
        self.add("GET", r"/2/tweets/search/recent", self._search)
        self.add("GET", r"/2/users/by/username/(?P<name>\w+)", self._user)

    def user(self, username: str, name: str, followers: int = 0) -> dict[str, Any]:
        u = {"id": str(1000 + len(self.users)), "username": username, "name": name,
             "public_metrics": {"followers_count": followers, "following_count": 1, "tweet_count": 5,
                                "listed_count": 0}}
        self.users[u["id"]] = u
        return u

    def tweet(self, user: dict[str, Any], text: str, *, lang: str = "th", reply_to: str | None = None,
              likes: int = 0, retweets: int = 0, quotes: int = 0, replies: int = 0) -> dict[str, Any]:
        self.next_id += 4096
        tid = str(self.next_id)
        t: dict[str, Any] = {"id": tid, "text": text, "author_id": user["id"], "lang": lang,
                             "created_at": (dt.datetime(2025, 5, 1, tzinfo=dt.UTC) + dt.timedelta(
                                 minutes=len(self.tweets))).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                             "conversation_id": tid, "edit_history_tweet_ids": [tid],
                             "public_metrics": {"retweet_count": retweets, "reply_count": replies, "like_count": likes,
                                                "quote_count": quotes, "bookmark_count": 0, "impression_count": 10}}
        if reply_to:
            t["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
            t["conversation_id"] = next((x["conversation_id"] for x in self.tweets if x["id"] == reply_to), reply_to)
        self.tweets.append(t)
        return t

    def _headers(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {"x-rate-limit-limit": "60", "x-rate-limit-remaining": str(self.remaining),
                "x-rate-limit-reset": str(self.reset)}

    def _auth(self, req: Request) -> Reply | None:
        if req.bearer != self.token:
            return problem(401, "Unauthorized", "Unauthorized")
        return None

    def _search(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        query = req.arg("query") or ""
        try:
            size = int(req.arg("max_results", "10") or 10)
        except ValueError:
            size = 0
        if not 10 <= size <= 100:
            return Reply(400, {"errors": [{"parameters": {"max_results": [req.arg("max_results")]},
                                           "message": f"The `max_results` query parameter value [{req.arg('max_results')}]"
                                                      " is not between 10 and 100"}],
                               "title": "Invalid Request", "detail": "One or more parameters to your request was "
                               "invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"})
        words = [w for w in query.split() if ":" not in w and not w.startswith("-")]
        rows = [t for t in self.tweets if all(w.lower() in t["text"].lower() for w in words)]
        if req.arg("since_id"):
            rows = [t for t in rows if int(t["id"]) > int(req.arg("since_id") or 0)]
        rows = list(reversed(rows))
        start = int((req.arg("next_token") or "n0")[1:])
        page = rows[start:start + size]
        fields = set((req.arg("tweet.fields") or "").split(","))
        data = [{k: v for k, v in t.items() if k in fields | {"id", "text", "edit_history_tweet_ids"}} for t in page]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if start + size < len(rows):
            meta["next_token"] = f"n{start + size}"
        body: dict[str, Any] = {"meta": meta}
        if data:
            body["data"] = data
        if "author_id" in (req.arg("expansions") or "") and page:
            ufields = set((req.arg("user.fields") or "").split(","))
            ids = {t["author_id"] for t in page}
            body["includes"] = {"users": [{k: v for k, v in u.items() if k in ufields | {"id", "name", "username"}}
                                          for uid, u in self.users.items() if uid in ids]}
        return Reply(200, body, self._headers())

    def _user(self, req: Request) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        assert req.match is not None
        return Reply(200, {"data": {"id": "783214", "name": "X", "username": req.match["name"]}}, self._headers())
