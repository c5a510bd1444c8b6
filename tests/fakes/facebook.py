"""Fake Facebook Graph API: /{page}/posts, /{post}/comments with cursor paging, /debug_token, /me,
and Graph error bodies (OAuthException 190/463, rate limit codes)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from fakes.server import FakeServer, Reply, Request


def graph_error(code: int, message: str, *, subcode: int | None = None, type_: str = "OAuthException",
                status: int = 400, headers: dict[str, str] | None = None) -> Reply:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        err["error_subcode"] = subcode
    return Reply(status, {"error": err}, headers or {})


EXPIRED = graph_error(190, "Error validating access token: Session has expired on Thursday, 01-May-25 04:00:00 "
                           "PDT. The current time is Thursday, 01-May-25 05:00:00 PDT.", subcode=463)


class FakeGraph(FakeServer):
    def __init__(self, version: str = "v21.0") -> None:
        super().__init__()
        self.version = version
        self.page = {"id": "1234567890", "name": "Provincial PR Office"}
        self.tokens: dict[str, int] = {"page-token": 1_767_225_600}  # token → expires_at (0 = never)
        self.posts: list[dict[str, Any]] = []  # newest last
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.n = 0
        v = rf"/{version}"
        self.add("GET", rf"{v}/(?P<page>\d+)/posts", self._posts)
        self.add("GET", rf"{v}/(?P<post>\d+_\d+)/comments", self._comments)
        self.add("GET", rf"{v}/debug_token", self._debug)
        self.add("GET", rf"{v}/me", self._me)

    def _stamp(self) -> str:
        self.n += 1
        return (dt.datetime(2025, 5, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=self.n)).strftime("%Y-%m-%dT%H:%M:%S+0000")

    def post(self, message: str, *, reactions: int = 0, shares: int | None = None) -> dict[str, Any]:
        created = self._stamp()
        pid = f"{self.page['id']}_{100 + self.n}"
        post: dict[str, Any] = {"id": pid, "message": message, "created_time": created,
                                "permalink_url": f"https://www.facebook.com/{self.page['id']}/posts/{100 + self.n}",
                                "from": dict(self.page), "status_type": "mobile_status_update",
                                "reactions": {"data": [], "summary": {"total_count": reactions,
                                                                      "viewer_reaction": "NONE"}},
                                "comments": {"data": [], "summary": {"order": "ranked", "total_count": 0,
                                                                     "can_comment": True}}}
        if shares is not None:
            post["shares"] = {"count": shares}
        self.posts.append(post)
        self.comments[pid] = []
        return post

    def comment(self, post: dict[str, Any], message: str, *, name: str = "Somchai", parent: str | None = None,
                likes: int = 0) -> dict[str, Any]:
        cid = f"{post['id'].split('_')[1]}_{900 + self.n}"
        c: dict[str, Any] = {"id": cid, "message": message, "created_time": self._stamp(),
                             "from": {"id": f"77{self.n}", "name": name}, "like_count": likes, "comment_count": 0,
                             "permalink_url": f"{post['permalink_url']}?comment_id={cid}"}
        if parent:
            c["parent"] = {"id": parent}
        self.comments[post["id"]].append(c)
        post["comments"]["summary"]["total_count"] += 1
        return c

    # -- handlers --------------------------------------------------------------------------------
    def _token(self, req: Request) -> Reply | None:
        token = req.arg("access_token") or req.bearer
        if not token:
            return graph_error(104, "An access token is required to request this resource.")
        if token not in self.tokens:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        return None

    def _paged(self, req: Request, rows: list[dict[str, Any]], fields: str) -> Reply:
        limit = min(int(req.arg("limit", "25") or 25), 100)
        after = req.arg("after")
        start = int(base64.b64decode(after).decode()) if after else 0
        page = rows[start:start + limit]
        want = {f.split(".")[0].split("{")[0] for f in _split_fields(fields)} | {"id"}
        data = [{k: v for k, v in r.items() if k in want} for r in page]
        body: dict[str, Any] = {"data": data}
        if page:
            body["paging"] = {"cursors": {"before": base64.b64encode(str(start).encode()).decode(),
                                          "after": base64.b64encode(str(start + len(page)).encode()).decode()}}
            if start + limit < len(rows):
                body["paging"]["next"] = f"{self.url}{req.path}?after={body['paging']['cursors']['after']}"
        usage = {self.page["id"]: [{"type": "pages", "call_count": 1, "total_cputime": 1, "total_time": 1,
                                    "estimated_time_to_regain_access": 0}]}
        return Reply(200, body, {"x-business-use-case-usage": json.dumps(usage)})

    def _posts(self, req: Request) -> Reply:
        denied = self._token(req)
        if denied:
            return denied
        assert req.match is not None
        if req.match["page"] != self.page["id"]:
            return graph_error(100, f"Unsupported get request. Object with ID '{req.match['page']}' does not exist, "
                               "cannot be loaded due to missing permissions, or does not support this operation.",
                               subcode=33, type_="GraphMethodException")
        rows = list(reversed(self.posts))
        if req.arg("since"):
            since = int(req.arg("since") or 0)
            rows = [p for p in rows if _epoch(p["created_time"]) >= since]
        return self._paged(req, rows, req.arg("fields") or "id,message,created_time")

    def _comments(self, req: Request) -> Reply:
        denied = self._token(req)
        if denied:
            return denied
        assert req.match is not None
        rows = self.comments.get(req.match["post"])
        if rows is None:
            return graph_error(100, "Unsupported get request.", subcode=33, type_="GraphMethodException")
        if req.arg("filter") != "stream":
            rows = [c for c in rows if "parent" not in c]
        if req.arg("order") == "reverse_chronological":
            rows = list(reversed(rows))
        return self._paged(req, rows, req.arg("fields") or "id,message,created_time")

    def _debug(self, req: Request) -> Reply:
        denied = self._token(req)
        if denied:
            return denied
        tok = req.arg("input_token") or ""
        if tok not in self.tokens:
            return Reply(200, {"data": {"is_valid": False, "error": {"code": 190, "message": "Invalid OAuth access "
                                                                     "token - Cannot parse access token"}}})
        return Reply(200, {"data": {"app_id": "555", "type": "PAGE", "application": "civicpulse",
                                    "data_access_expires_at": 1_770_000_000, "expires_at": self.tokens[tok],
                                    "is_valid": True, "issued_at": 1_740_000_000, "profile_id": self.page["id"],
                                    "scopes": ["pages_read_engagement", "pages_read_user_content"],
                                    "user_id": "42"}})

    def _me(self, req: Request) -> Reply:
        denied = self._token(req)
        if denied:
            return denied
        return Reply(200, dict(self.page))


def _split_fields(fields: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in fields:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def _epoch(stamp: str) -> int:
    return int(dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp())
