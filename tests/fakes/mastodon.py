"""Fake Mastodon server: timelines with max_id/since_id/min_id/limit, Link headers,
X-RateLimit-* headers, account lookup, instance info, and documented error bodies."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from typing import Any

from fakes.multipart import form
from fakes.server import FakeServer, Reply, Request


class FakeMastodon(FakeServer):
    """Seed with :meth:`add_account` / :meth:`post`; set ``require_token`` / ``tokens``."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.next_id = 110_000_000_000_000_000
        self.tokens: set[str] = {"good-token"}
        self.require_token = False
        self.rate_limit = 300
        self.rate_remaining = 300
        self.rate_reset = "2025-05-01T12:05:00.000Z"
        self.version = "4.3.0"
        self.add("GET", r"/api/v1/timelines/tag/(?P<tag>[^/]+)", self._tag)
        self.add("GET", r"/api/v1/timelines/public", self._public)
        self.add("GET", r"/api/v1/accounts/lookup", self._lookup)
        self.add("GET", r"/api/v1/accounts/(?P<id>\d+)/statuses", self._account_statuses)
        self.add("GET", r"/api/v2/instance", lambda r: Reply(200, {"domain": "social.example", "title": "Social Example",
                                                                    "version": self.version}))
        self.add("GET", r"/api/v1/instance", lambda r: Reply(200, {"uri": "social.example", "title": "Social Example",
                                                                    "version": self.version}))
        self.add("GET", r"/api/v1/apps/verify_credentials", self._verify)
        # publishing
        self.token_accounts: dict[str, dict[str, Any]] = {}  # user token -> account that posts
        self.idempotency: dict[tuple[str, str], dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.scheduled: dict[str, dict[str, Any]] = {}
        self.processing_polls = 0  # answer 202 to uploads and this many polls before the media is ready
        self.max_chars = 500
        self.add("GET", r"/api/v1/accounts/verify_credentials", self._me)
        self.add("POST", r"/api/v1/statuses", self._create_status)
        self.add("DELETE", r"/api/v1/statuses/(?P<id>\d+)", self._delete_status)
        self.add("DELETE", r"/api/v1/scheduled_statuses/(?P<id>\d+)", self._delete_scheduled)
        self.add("POST", r"/api/v2/media", self._upload)
        self.add("GET", r"/api/v1/media/(?P<id>\d+)", self._media)

    # -- seeding ---------------------------------------------------------------------------
    def add_account(self, username: str, *, display_name: str = "", followers: int = 0,
                    domain: str | None = None) -> dict[str, Any]:
        acct = f"{username}@{domain}" if domain else username
        account = {"id": str(len(self.accounts) + 1), "username": username, "acct": acct,
                   "display_name": display_name or username, "followers_count": followers,
                   "url": f"https://social.example/@{username}"}
        self.accounts[acct] = account
        return account

    def post(self, account: dict[str, Any], html: str, *, tags: tuple[str, ...] = (), language: str = "en",
             in_reply_to_id: str | None = None, reblog_of: dict[str, Any] | None = None, local: bool = True,
             favourites: int = 0, reblogs: int = 0, replies: int = 0) -> dict[str, Any]:
        self.next_id += 1000
        sid = str(self.next_id)
        created = dt.datetime(2025, 5, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=len(self.statuses))
        status = {"id": sid, "uri": f"https://social.example/users/{account['username']}/statuses/{sid}",
                  "url": f"https://social.example/@{account['username']}/{sid}",
                  "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "content": html, "spoiler_text": "",
                  "visibility": "public", "language": language, "account": account,
                  "in_reply_to_id": in_reply_to_id, "in_reply_to_account_id": None, "reblog": reblog_of,
                  "replies_count": replies, "reblogs_count": reblogs, "favourites_count": favourites,
                  "tags": [{"name": t, "url": f"https://social.example/tags/{t}"} for t in tags],
                  "_local": local}
        self.statuses.append(status)
        return status

    # -- handlers -----------------------------------------------------------------------------
    def _auth(self, req: Request) -> Reply | None:
        token = req.bearer
        if token is not None and token not in self.tokens:
            return Reply(401, {"error": "The access token is invalid"})
        if self.require_token and token is None:
            return Reply(422, {"error": "This method requires an authenticated user"})
        return None

    def _headers(self) -> dict[str, str]:
        self.rate_remaining = max(0, self.rate_remaining - 1)
        return {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(self.rate_remaining),
                "X-RateLimit-Reset": self.rate_reset}

    def _page(self, req: Request, candidates: list[dict[str, Any]]) -> Reply:
        denied = self._auth(req)
        if denied:
            return denied
        try:
            limit = min(int(req.arg("limit", "20") or 20), 40)
        except ValueError:
            return Reply(422, {"error": "Validation failed: limit is not a number"})
        out = sorted(candidates, key=lambda s: int(s["id"]))
        if req.arg("max_id"):
            out = [s for s in out if int(s["id"]) < int(req.arg("max_id") or 0)]
        if req.arg("since_id"):
            out = [s for s in out if int(s["id"]) > int(req.arg("since_id") or 0)]
        if req.arg("min_id"):
            out = [s for s in out if int(s["id"]) > int(req.arg("min_id") or 0)][:limit]
        else:
            out = out[-limit:]
        out = list(reversed(out))  # always newest first
        headers = self._headers()
        if out:
            path = req.path
            headers["Link"] = (f'<{self.url}{path}?max_id={out[-1]["id"]}>; rel="next", '
                               f'<{self.url}{path}?min_id={out[0]["id"]}>; rel="prev"')
        return Reply(200, [{k: v for k, v in s.items() if not k.startswith("_")} for s in out], headers)

    def _tag(self, req: Request) -> Reply:
        assert req.match is not None
        wanted = {req.match["tag"].lower(), *(t.lower() for t in req.args("any[]"))}
        cands = [s for s in self.statuses if wanted & {t["name"].lower() for t in s["tags"]}]
        if req.arg("local") == "true":
            cands = [s for s in cands if s["_local"]]
        return self._page(req, cands)

    def _public(self, req: Request) -> Reply:
        cands = [s for s in self.statuses if s["visibility"] == "public"]
        if req.arg("local") == "true":
            cands = [s for s in cands if s["_local"]]
        return self._page(req, cands)

    def _lookup(self, req: Request) -> Reply:
        acct = (req.arg("acct") or "").lstrip("@")
        account = self.accounts.get(acct)
        if account is None:
            return Reply(404, {"error": "Record not found"})
        return Reply(200, account, self._headers())

    def _account_statuses(self, req: Request) -> Reply:
        assert req.match is not None
        aid = req.match["id"]
        if aid not in {a["id"] for a in self.accounts.values()}:
            return Reply(404, {"error": "Record not found"})
        cands = [s for s in self.statuses if s["account"]["id"] == aid]
        if req.arg("exclude_reblogs") == "true":
            cands = [s for s in cands if not s["reblog"]]
        if req.arg("exclude_replies") == "true":
            cands = [s for s in cands if not s["in_reply_to_id"]]
        return self._page(req, cands)

    def _verify(self, req: Request) -> Reply:
        if req.bearer not in self.tokens:
            return Reply(401, {"error": "The access token is invalid"})
        return Reply(200, {"name": "civicpulse", "website": None, "scopes": ["read"]})

    @staticmethod
    def too_many() -> Reply:
        return Reply(429, {"error": "Too many requests"}, {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
                                                          "X-RateLimit-Reset": "2025-05-01T12:05:00.000Z"})

    # -- publishing ---------------------------------------------------------------------------------
    def user_token(self, token: str, username: str = "pr_office") -> dict[str, Any]:
        """Let ``token`` post as ``username`` (created if needed)."""
        account = self.accounts.get(username) or self.add_account(username, display_name="PR Office")
        self.tokens.add(token)
        self.token_accounts[token] = account
        return account

    def own_statuses(self, token: str) -> list[dict[str, Any]]:
        acct = self.token_accounts[token]
        return [s for s in self.statuses if s["account"]["id"] == acct["id"]]

    def _user(self, req: Request) -> dict[str, Any] | Reply:
        token = req.bearer
        if token is None or token not in self.tokens:
            return Reply(401, {"error": "The access token is invalid"})
        account = self.token_accounts.get(token)
        if account is None:
            return Reply(422, {"error": "This method requires an authenticated user"})
        return account

    def _me(self, req: Request) -> Reply:
        account = self._user(req)
        return account if isinstance(account, Reply) else Reply(200, account, self._headers())

    def _create_status(self, req: Request) -> Reply:
        account = self._user(req)
        if isinstance(account, Reply):
            return account
        key = req.headers.get("idempotency-key")
        if key and (req.bearer or "", key) in self.idempotency:
            return Reply(200, self.idempotency[(req.bearer or "", key)], self._headers())
        body = req.json() or {}
        text = str(body.get("status") or "")
        counted = re.sub(r"https?://\S+", "x" * 23, text)
        if len(counted) > self.max_chars:
            return Reply(422, {"error": f"Validation failed: Text character limit of {self.max_chars} exceeded"})
        media_ids = [str(m) for m in body.get("media_ids") or []]
        if any(m not in self.media or not self.media[m]["url"] for m in media_ids):
            return Reply(422, {"error": "Validation failed: Media attachments are still being processed"})
        if body.get("scheduled_at"):
            when = dt.datetime.fromisoformat(str(body["scheduled_at"]).replace("Z", "+00:00"))
            if when - dt.datetime.now(dt.UTC) < dt.timedelta(minutes=5):
                return Reply(422, {"error": "Validation failed: Scheduled at The scheduled date must be at least "
                                            "5 minutes in the future"})
            self.next_id += 1000
            sched = {"id": str(self.next_id), "scheduled_at": body["scheduled_at"], "params": body,
                     "media_attachments": []}
            self.scheduled[sched["id"]] = sched
            if key:
                self.idempotency[(req.bearer or "", key)] = sched
            return Reply(200, sched, self._headers())
        content = "".join(f"<p>{htmllib.escape(p).replace(chr(10), '<br />')}</p>" for p in text.split("\n\n"))
        status = self.post(account, content, language=str(body.get("language") or "en"),
                           in_reply_to_id=body.get("in_reply_to_id"))
        status["created_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        status["visibility"] = body.get("visibility", "public")
        status["media_attachments"] = [self.media[m] for m in media_ids]
        public = {k: v for k, v in status.items() if not k.startswith("_")}
        if key:
            self.idempotency[(req.bearer or "", key)] = public
        return Reply(200, public, self._headers())

    def _delete_status(self, req: Request) -> Reply:
        account = self._user(req)
        if isinstance(account, Reply):
            return account
        assert req.match is not None
        found = [s for s in self.statuses if s["id"] == req.match["id"] and s["account"]["id"] == account["id"]]
        if not found:
            return Reply(404, {"error": "Record not found"})
        self.statuses.remove(found[0])
        return Reply(200, {k: v for k, v in found[0].items() if not k.startswith("_")})

    def _delete_scheduled(self, req: Request) -> Reply:
        account = self._user(req)
        if isinstance(account, Reply):
            return account
        assert req.match is not None
        if self.scheduled.pop(req.match["id"], None) is None:
            return Reply(404, {"error": "Record not found"})
        return Reply(200, {})

    def _upload(self, req: Request) -> Reply:
        account = self._user(req)
        if isinstance(account, Reply):
            return account
        fields, files = form(req)
        if "file" not in files:
            return Reply(422, {"error": "Validation failed: File can't be blank"})
        self.next_id += 1
        mid = str(self.next_id)
        f = files["file"]
        ready = self.processing_polls == 0
        item = {"id": mid, "type": f.content_type.split("/")[0], "description": fields.get("description"),
                "url": f"https://files.social.example/{mid}" if ready else None, "size": len(f.data),
                "_polls": self.processing_polls}
        self.media[mid] = item
        return Reply(200 if ready else 202, {k: v for k, v in item.items() if not k.startswith("_")})

    def _media(self, req: Request) -> Reply:
        account = self._user(req)
        if isinstance(account, Reply):
            return account
        assert req.match is not None
        item = self.media.get(req.match["id"])
        if item is None:
            return Reply(404, {"error": "Record not found"})
        if item["_polls"] > 0:
            item["_polls"] -= 1
            return Reply(206, {k: v for k, v in item.items() if not k.startswith("_")})
        item["url"] = f"https://files.social.example/{item['id']}"
        return Reply(200, {k: v for k, v in item.items() if not k.startswith("_")})
