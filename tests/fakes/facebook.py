"""Fake Facebook Graph API: /{page}/posts, /{post}/comments with cursor paging, /debug_token, /me,
and Graph error bodies (OAuthException 190/463, rate limit codes)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from fakes.multipart import form
from fakes.server import FakeServer, Reply, Request


def graph_error(code: int, message: str, *, subcode: int | None = None, type_: str = "OAuthException",
                status: int = 400, headers: dict[str, str] | None = None) -> Reply:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        err["error_subcode"] = subcode
    return Reply(status, {"error": err}, headers or {})


POLICY_BLOCK = graph_error(368, "It looks like you were misusing this feature by going too fast. You've been "
                                "blocked from using it.", type_="OAuthException", status=400)
RATE_LIMIT = graph_error(32, "Page request limit reached", type_="OAuthException", status=400,
                         headers={"x-business-use-case-usage": json.dumps({"1234567890": [{
                             "type": "pages", "call_count": 100, "total_cputime": 10, "total_time": 10,
                             "estimated_time_to_regain_access": 5}]})})
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
        # publishing
        self.photos: dict[str, dict[str, Any]] = {}
        self.scopes = ["pages_read_engagement", "pages_read_user_content"]  # granted to the Page token
        self.add("POST", rf"{v}/(?P<page>\d+)/feed", self._feed)
        self.add("POST", rf"{v}/(?P<page>\d+)/photos", self._photos)
        self.add("POST", rf"{v}/(?P<page>\d+)/videos", self._videos)
        self.add("GET", rf"{v}/(?P<post>\d+_\d+)", self._get_post)
        self.add("DELETE", rf"{v}/(?P<post>\d+_\d+)", self._delete_post)

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
                                    "scopes": list(self.scopes),
                                    "user_id": "42"}})

    def _me(self, req: Request) -> Reply:
        denied = self._token(req)
        if denied:
            return denied
        return Reply(200, dict(self.page))

    # -- publishing --------------------------------------------------------------------------------
    def _args(self, req: Request) -> dict[str, Any]:
        fields, files = form(req)
        return {**{k: v[0] for k, v in req.query.items()}, **fields, "_files": files}

    def _publish_gate(self, req: Request, args: dict[str, Any]) -> Reply | None:
        token = args.get("access_token") or req.bearer
        if not token:
            return graph_error(104, "An access token is required to request this resource.")
        if token not in self.tokens:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        assert req.match is not None
        if "page" in req.match.groupdict() and req.match["page"] != self.page["id"]:
            return graph_error(100, "Unsupported post request.", subcode=33, type_="GraphMethodException")
        return None

    def _new_post(self, message: str, **extra: Any) -> dict[str, Any]:
        if any(p.get("message") == message and message for p in self.posts):
            raise _Duplicate
        self.n += 1
        pid = f"{self.page['id']}_{100 + self.n}"
        post: dict[str, Any] = {"id": pid, "message": message,
                                "created_time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                                "permalink_url": f"https://www.facebook.com/{self.page['id']}/posts/{100 + self.n}",
                                "from": dict(self.page), "status_type": "mobile_status_update",
                                "reactions": {"data": [], "summary": {"total_count": 0}},
                                "comments": {"data": [], "summary": {"total_count": 0}}, **extra}
        self.posts.append(post)
        self.comments[pid] = []
        return post

    def _feed(self, req: Request) -> Reply:
        args = self._args(req)
        denied = self._publish_gate(req, args)
        if denied:
            return denied
        message = str(args.get("message") or "")
        attached = [json.loads(v)["media_fbid"] for k, v in sorted(args.items()) if k.startswith("attached_media[")]
        if not message and not args.get("link") and not attached:
            return graph_error(100, "(#100) Missing message or attachment", type_="OAuthException")
        if any(a not in self.photos for a in attached):
            return graph_error(100, "(#100) Invalid media_fbid", type_="OAuthException")
        try:
            post = self._new_post(message, link=args.get("link"), attached=attached)
        except _Duplicate:
            return graph_error(506, "Duplicate status message", type_="OAuthException")
        return Reply(200, {"id": post["id"]})

    def _photos(self, req: Request) -> Reply:
        args = self._args(req)
        denied = self._publish_gate(req, args)
        if denied:
            return denied
        files = args["_files"]
        if "source" not in files and not args.get("url"):
            return graph_error(324, "(#324) Requires upload file", type_="OAuthException")
        self.n += 1
        photo_id = str(500_000 + self.n)
        self.photos[photo_id] = {"id": photo_id, "alt_text_custom": args.get("alt_text_custom"),
                                 "size": len(files["source"].data) if "source" in files else 0}
        if args.get("published", "true") == "false":
            return Reply(200, {"id": photo_id})
        try:
            post = self._new_post(str(args.get("message") or ""), attached=[photo_id])
        except _Duplicate:
            return graph_error(506, "Duplicate status message", type_="OAuthException")
        return Reply(200, {"id": photo_id, "post_id": post["id"]})

    def _videos(self, req: Request) -> Reply:
        args = self._args(req)
        denied = self._publish_gate(req, args)
        if denied:
            return denied
        self.n += 1
        video_id = str(700_000 + self.n)
        self._new_post(str(args.get("description") or ""), video=video_id)
        return Reply(200, {"id": video_id})

    def _get_post(self, req: Request) -> Reply:
        args = self._args(req)
        denied = self._publish_gate(req, args)
        if denied:
            return denied
        assert req.match is not None
        post = next((p for p in self.posts if p["id"] == req.match["post"]), None)
        if post is None:
            return graph_error(100, "Unsupported get request.", subcode=33, type_="GraphMethodException")
        want = set((args.get("fields") or "id").split(",")) | {"id"}
        return Reply(200, {k: v for k, v in post.items() if k in want})

    def _delete_post(self, req: Request) -> Reply:
        args = self._args(req)
        denied = self._publish_gate(req, args)
        if denied:
            return denied
        assert req.match is not None
        before = len(self.posts)
        self.posts = [p for p in self.posts if p["id"] != req.match["post"]]
        if len(self.posts) == before:
            return graph_error(100, "Unsupported delete request.", subcode=33, type_="GraphMethodException")
        return Reply(200, {"success": True})


class _Duplicate(Exception):
    pass


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
