"""Fake X API v2: recent search with since_id / next_token / max_results, includes.users,
x-rate-limit-* headers and problem-details error bodies."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any
from urllib.parse import parse_qs

from fakes.multipart import form
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
        # publishing (OAuth 2.0 user context)
        self.user_tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> username
        self.client_id = "x-client"
        self.media: dict[str, dict[str, Any]] = {}
        self.post_remaining = 200
        self.add("POST", r"/2/tweets", self._create)
        self.add("DELETE", r"/2/tweets/(?P<id>\d+)", self._delete)
        self.add("GET", r"/2/users/me", self._me)
        self.add("GET", r"/2/users/(?P<id>\d+)/tweets", self._timeline)
        self.add("POST", r"/2/media/upload", self._upload)
        self.add("POST", r"/2/media/metadata", self._metadata)
        self.add("POST", r"/2/media/upload/initialize", self._init)
        self.add("POST", r"/2/media/upload/(?P<id>\d+)/append", self._append)
        self.add("POST", r"/2/media/upload/(?P<id>\d+)/finalize", self._finalize)
        self.add("GET", r"/2/media/upload", self._status)
        self.processing_checks = 1  # STATUS answers "in_progress" this many times before "succeeded"
        self.add("POST", r"/2/oauth2/token", self._token)

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

    # -- publishing ------------------------------------------------------------------------------------
    def user_token(self, token: str, username: str = "pr_office", *, refresh: str | None = None) -> dict[str, Any]:
        user = next((u for u in self.users.values() if u["username"] == username), None) or self.user(username, "PR")
        self.user_tokens[token] = user
        if refresh:
            self.refresh_tokens[refresh] = username
        return user

    def own(self, username: str = "pr_office") -> list[dict[str, Any]]:
        return [t for t in self.tweets if self.users[t["author_id"]]["username"] == username]

    def _who(self, req: Request) -> dict[str, Any] | Reply:
        user = self.user_tokens.get(req.bearer or "")
        if user is None:
            return problem(401, "Unauthorized", "Unauthorized")
        return user

    def _post_headers(self) -> dict[str, str]:
        self.post_remaining = max(0, self.post_remaining - 1)
        return {"x-rate-limit-limit": "200", "x-rate-limit-remaining": str(self.post_remaining),
                "x-rate-limit-reset": str(self.reset)}

    _tco = itertools.count(1)

    def _create(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        body = req.json() or {}
        text = str(body.get("text") or "")
        if any(t["_original"] == text for t in self.tweets if "_original" in t and t["author_id"] == user["id"]):
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        media_ids = ((body.get("media") or {}).get("media_ids")) or []
        if any(m not in self.media for m in media_ids):
            return Reply(400, {"errors": [{"message": "Your media IDs are invalid."}], "title": "Invalid Request",
                               "detail": "One or more parameters to your request was invalid.",
                               "type": "https://api.twitter.com/2/problems/invalid-request"})
        # X shortens every link to t.co and reports the original in entities.urls
        urls, shown = [], text
        for m in re.finditer(r"https?://\S+", text):
            short = f"https://t.co/{next(self._tco):010d}"
            urls.append({"url": short, "expanded_url": m.group(0), "display_url": m.group(0)[8:30]})
            shown = shown.replace(m.group(0), short, 1)
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        t = self.tweet(user, shown, lang="und", reply_to=reply_to)
        t["created_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        t["_original"] = text
        t["entities"] = {"urls": urls}
        t["media_ids"] = media_ids
        return Reply(201, {"data": {"id": t["id"], "text": shown, "edit_history_tweet_ids": [t["id"]]}},
                     self._post_headers())

    def _delete(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        assert req.match is not None
        found = [t for t in self.tweets if t["id"] == req.match["id"] and t["author_id"] == user["id"]]
        if not found:
            return problem(404, "Not Found Error", f"Could not find tweet with id: [{req.match['id']}].",
                           "https://api.twitter.com/2/problems/resource-not-found")
        self.tweets.remove(found[0])
        return Reply(200, {"data": {"deleted": True}})

    def _me(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        return Reply(200, {"data": {k: user[k] for k in ("id", "name", "username")}})

    def _timeline(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        assert req.match is not None
        rows = [t for t in self.tweets if t["author_id"] == req.match["id"]]
        if req.arg("start_time"):
            rows = [t for t in rows if t["created_at"] >= (req.arg("start_time") or "")]
        rows = list(reversed(rows))[: int(req.arg("max_results", "10") or 10)]
        fields = set((req.arg("tweet.fields") or "").split(","))
        data = [{k: v for k, v in t.items() if k in fields | {"id", "text", "edit_history_tweet_ids"}} for t in rows]
        return Reply(200, {"data": data, "meta": {"result_count": len(data)}} if data else {"meta": {"result_count": 0}})

    def _upload(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        fields, files = form(req)
        if "media" not in files:
            return Reply(400, {"errors": [{"message": "media is required"}], "title": "Invalid Request",
                               "detail": "One or more parameters to your request was invalid.",
                               "type": "https://api.twitter.com/2/problems/invalid-request"})
        mid = str(1_900_000_000_000_000_000 + len(self.media))
        self.media[mid] = {"id": mid, "category": fields.get("media_category"), "size": len(files["media"].data)}
        return Reply(200, {"data": {"id": mid, "media_key": f"3_{mid}", "size": len(files["media"].data)}})

    def _metadata(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        body = req.json() or {}
        if body.get("id") not in self.media:
            return problem(400, "Invalid Request", "media id not found")
        self.media[body["id"]]["alt_text"] = body["metadata"]["alt_text"]["text"]
        return Reply(200, {"data": {"associated_metadata": True, "id": body["id"]}})

    def _token(self, req: Request) -> Reply:
        form_ = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        username = self.refresh_tokens.pop(form_.get("refresh_token", ""), None)
        if form_.get("grant_type") != "refresh_token" or form_.get("client_id") != self.client_id or not username:
            return Reply(400, {"error": "invalid_request", "error_description": "Value passed for the token was "
                               "invalid."})
        n = len(self.user_tokens) + 1
        access, refresh = f"x-user-{n}", f"x-refresh-{n}"
        self.user_token(access, username, refresh=refresh)
        return Reply(200, {"token_type": "bearer", "expires_in": 7200, "access_token": access,
                           "scope": "tweet.write tweet.read users.read offline.access", "refresh_token": refresh})

    def _init(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        body = req.json() or {}
        mid = str(1_900_000_000_000_000_000 + len(self.media))
        self.media[mid] = {"id": mid, "category": body.get("media_category"), "total": int(body["total_bytes"]),
                           "segments": {}, "finalized": False, "checks": self.processing_checks}
        return Reply(200, {"data": {"id": mid, "media_key": f"7_{mid}", "expires_after_secs": 86400}})

    def _append(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        assert req.match is not None
        item = self.media.get(req.match["id"])
        fields, files = form(req)
        if item is None or "media" not in files:
            return problem(400, "Invalid Request", "media id or segment missing")
        item["segments"][int(fields["segment_index"])] = len(files["media"].data)
        return Reply(200, {"data": {"expires_at": 1_900_000_000}})

    def _finalize(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        assert req.match is not None
        item = self.media.get(req.match["id"])
        if item is None or sum(item["segments"].values()) != item["total"]:
            return problem(400, "Invalid Request", "File size does not match the size given at initialize.")
        item["finalized"] = True
        return Reply(200, {"data": {"id": item["id"], "processing_info": {"state": "pending", "check_after_secs": 1}}})

    def _status(self, req: Request) -> Reply:
        user = self._who(req)
        if isinstance(user, Reply):
            return user
        item = self.media.get(req.arg("media_id") or "")
        if item is None or req.arg("command") != "STATUS":
            return problem(400, "Invalid Request", "unknown media id")
        if item["checks"] > 0:
            item["checks"] -= 1
            return Reply(200, {"data": {"id": item["id"], "processing_info": {"state": "in_progress",
                                                                               "check_after_secs": 3,
                                                                               "progress_percent": 50}}})
        return Reply(200, {"data": {"id": item["id"], "processing_info": {"state": "succeeded", "progress_percent": 100}}})
