"""Fake YouTube Data API v3: commentThreads.list, comments.list, videos.list, channels.list,
with pageToken paging, quota accounting and Google-style error bodies."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs

from fakes.multipart import parts
from fakes.server import FakeServer, Reply, Request

AUTH_ERROR = Reply(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected "
                                   "OAuth 2 access token, login cookie or other valid authentication credential.",
                                   "errors": [{"message": "Invalid Credentials", "domain": "global",
                                               "reason": "authError", "location": "Authorization",
                                               "locationType": "header"}], "status": "UNAUTHENTICATED"}})


def google_error(code: int, reason: str, message: str) -> Reply:
    return Reply(code, {"error": {"code": code, "message": message,
                                  "errors": [{"message": message, "domain": "youtube.quota" if "uota" in reason
                                              else "global", "reason": reason}]}})


class FakeYouTube(FakeServer):
    PREFIX = "/youtube/v3"

    def __init__(self) -> None:
        super().__init__()
        self.keys = {"good-key"}
        self.threads: list[dict[str, Any]] = []  # newest last
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.videos = {"vid123": "UCchannel"}
        self.disabled: set[str] = set()
        self.quota_used = 0
        self.quota_limit = 10_000
        self.n = 0
        self.add("GET", rf"{self.PREFIX}/commentThreads", self._threads)
        self.add("GET", rf"{self.PREFIX}/comments", self._comments)
        self.add("GET", rf"{self.PREFIX}/videos", self._videos)
        self.add("GET", rf"{self.PREFIX}/channels", self._channels)
        # publishing (OAuth bearer tokens)
        self.oauth_tokens = {"yt-oauth": "UCmine"}  # access token -> channel id
        self.refresh_tokens = {"yt-refresh": "UCmine"}
        self.client = ("yt-client", "yt-secret")
        self.uploaded: list[dict[str, Any]] = []  # newest last
        self.add("POST", r"/upload/youtube/v3/videos", self._insert)
        self.add("DELETE", rf"{self.PREFIX}/videos", self._delete_video)
        self.add("GET", rf"{self.PREFIX}/playlistItems", self._playlist)
        self.add("POST", r"/token", self._token)

    @property
    def base_url(self) -> str:
        return self.url + self.PREFIX

    def _comment(self, video: str, text: str, author: str, parent: str | None, likes: int) -> dict[str, Any]:
        self.n += 1
        when = (dt.datetime(2025, 5, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=self.n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        cid = f"Ugx{self.n:06d}" if parent is None else f"{parent}.{self.n:06d}"
        sn: dict[str, Any] = {"channelId": self.videos.get(video, "UCchannel"), "videoId": video,
                              "textDisplay": text, "textOriginal": text, "authorDisplayName": author,
                              "authorChannelUrl": f"http://www.youtube.com/{author}",
                              "authorChannelId": {"value": f"UC{author}"}, "canRate": True, "viewerRating": "none",
                              "likeCount": likes, "publishedAt": when, "updatedAt": when}
        if parent:
            sn["parentId"] = parent
        return {"kind": "youtube#comment", "etag": f"e{self.n}", "id": cid, "snippet": sn}

    def thread(self, video: str, text: str, *, author: str = "@citizen", likes: int = 0) -> dict[str, Any]:
        top = self._comment(video, text, author, None, likes)
        thread = {"kind": "youtube#commentThread", "etag": f"t{self.n}", "id": top["id"],
                  "snippet": {"channelId": self.videos.get(video, "UCchannel"), "videoId": video,
                              "topLevelComment": top, "canReply": True, "totalReplyCount": 0, "isPublic": True}}
        self.threads.append(thread)
        self.replies[top["id"]] = []
        return thread

    def reply(self, thread: dict[str, Any], text: str, *, author: str = "@officer") -> dict[str, Any]:
        c = self._comment(thread["snippet"]["videoId"], text, author, thread["id"], 0)
        self.replies[thread["id"]].append(c)
        thread["snippet"]["totalReplyCount"] += 1
        return c

    # -- handlers ------------------------------------------------------------------------------
    def _gate(self, req: Request, cost: int = 1) -> Reply | None:
        key = req.arg("key")
        if not key:
            return google_error(403, "forbidden", "The request is missing a valid API key.")
        if key not in self.keys:
            return Reply(400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                         "errors": [{"message": "API key not valid. Please pass a valid API key.",
                                                     "domain": "global", "reason": "badRequest"}],
                                         "status": "INVALID_ARGUMENT",
                                         "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                                      "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}})
        if self.quota_used + cost > self.quota_limit:
            return google_error(403, "quotaExceeded", "The request cannot be completed because you have exceeded "
                                "your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.")
        self.quota_used += cost
        return None

    def _page(self, req: Request, rows: list[dict[str, Any]], kind: str) -> Reply:
        try:
            size = int(req.arg("maxResults", "20") or 20)
        except ValueError:
            size = -1
        if not 1 <= size <= 100:
            return google_error(400, "invalidParameter", "Invalid value for maxResults")
        start = int((req.arg("pageToken") or "P0")[1:])
        page = rows[start:start + size]
        body: dict[str, Any] = {"kind": kind, "etag": "x", "pageInfo": {"totalResults": len(rows),
                                                                        "resultsPerPage": size}, "items": page}
        if start + size < len(rows):
            body["nextPageToken"] = f"P{start + size}"
        return Reply(200, body)

    def _threads(self, req: Request) -> Reply:
        denied = self._gate(req)
        if denied:
            return denied
        if set((req.arg("part") or "").split(",")) - {"snippet", "replies", "id"}:
            return google_error(400, "invalidPart", "part is invalid")
        video, channel = req.arg("videoId"), req.arg("allThreadsRelatedToChannelId")
        if video:
            if video not in self.videos:
                return google_error(404, "videoNotFound", "The video identified by the videoId parameter could "
                                    "not be found.")
            if video in self.disabled:
                return google_error(403, "commentsDisabled", "The video identified by the videoId parameter has "
                                    "disabled comments.")
            rows = [t for t in self.threads if t["snippet"]["videoId"] == video]
        elif channel:
            rows = [t for t in self.threads if t["snippet"]["channelId"] == channel]
        else:
            return google_error(400, "missingRequiredParameter", "No filter selected.")
        rows = list(reversed(rows))  # order=time: newest first
        out = []
        for t in rows:
            t = dict(t)
            if "replies" in (req.arg("part") or "") and self.replies.get(t["id"]):
                t["replies"] = {"comments": list(reversed(self.replies[t["id"]]))[:5]}
            out.append(t)
        return self._page(req, out, "youtube#commentThreadListResponse")

    def _comments(self, req: Request) -> Reply:
        denied = self._gate(req)
        if denied:
            return denied
        return self._page(req, list(self.replies.get(req.arg("parentId") or "", [])), "youtube#commentListResponse")

    def _videos(self, req: Request) -> Reply:
        if req.bearer is not None:
            return self._my_videos(req)
        denied = self._gate(req)
        if denied:
            return denied
        ids = [i for i in (req.arg("id") or "").split(",") if i in self.videos]
        return Reply(200, {"kind": "youtube#videoListResponse", "items": [{"kind": "youtube#video", "id": i}
                                                                            for i in ids]})

    def _channels(self, req: Request) -> Reply:
        if req.bearer is not None or req.arg("mine"):
            return self._my_channel(req)
        denied = self._gate(req)
        if denied:
            return denied
        ids = [i for i in (req.arg("id") or "").split(",") if i in set(self.videos.values())]
        return Reply(200, {"kind": "youtube#channelListResponse", "items": [{"kind": "youtube#channel", "id": i}
                                                                              for i in ids]})

    # -- publishing ----------------------------------------------------------------------------------
    def _oauth(self, req: Request, cost: int) -> str | Reply:
        channel = self.oauth_tokens.get(req.bearer or "")
        if channel is None:
            return AUTH_ERROR
        if self.quota_used + cost > self.quota_limit:
            return google_error(403, "quotaExceeded", "The request cannot be completed because you have exceeded "
                                "your quota.")
        self.quota_used += cost
        return channel

    def _my_channel(self, req: Request) -> Reply:
        channel = self._oauth(req, 1)
        if isinstance(channel, Reply):
            return channel
        return Reply(200, {"kind": "youtube#channelListResponse", "items": [{
            "kind": "youtube#channel", "id": channel, "snippet": {"title": "Provincial PR Office"},
            "contentDetails": {"relatedPlaylists": {"uploads": "UU" + channel[2:]}}}]})

    def _my_videos(self, req: Request) -> Reply:
        channel = self._oauth(req, 1)
        if isinstance(channel, Reply):
            return channel
        ids = set((req.arg("id") or "").split(","))
        return Reply(200, {"kind": "youtube#videoListResponse",
                           "items": [v for v in self.uploaded if v["id"] in ids]})

    def _playlist(self, req: Request) -> Reply:
        channel = self._oauth(req, 1)
        if isinstance(channel, Reply):
            return channel
        if req.arg("playlistId") != "UU" + channel[2:]:
            return google_error(404, "playlistNotFound", "The playlist identified with the request's playlistId "
                                "parameter cannot be found.")
        rows = [{"kind": "youtube#playlistItem", "id": f"PI{v['id']}", "contentDetails": {"videoId": v["id"]}}
                for v in reversed(self.uploaded)]
        return self._page(req, rows, "youtube#playlistItemListResponse")

    def _insert(self, req: Request) -> Reply:
        channel = self._oauth(req, 1600)
        if isinstance(channel, Reply):
            return channel
        if req.arg("uploadType") != "multipart" or not req.headers.get("content-type", "").startswith(
                "multipart/related"):
            return google_error(400, "badContent", "Media type is not supported.")
        found = parts(req)
        if len(found) != 2 or found[0].content_type != "application/json" or not found[1].content_type.startswith(
                "video/"):
            return google_error(400, "invalidMetadata", "The request metadata is invalid.")
        meta = json.loads(found[0].data)
        snippet, status = meta.get("snippet") or {}, meta.get("status") or {}
        if not snippet.get("title") or len(snippet["title"]) > 100:
            return google_error(400, "invalidTitle", "The request metadata specifies an invalid video title.")
        if len(str(snippet.get("description", "")).encode()) > 5000:
            return google_error(400, "invalidDescription", "The request metadata specifies an invalid video "
                                "description.")
        self.n += 1
        vid = f"vid{self.n:08d}"
        video = {"kind": "youtube#video", "id": vid,
                 "snippet": {**snippet, "channelId": channel,
                             "publishedAt": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
                 "status": {"uploadStatus": "uploaded", **status}, "_bytes": len(found[1].data)}
        self.uploaded.append(video)
        self.videos[vid] = channel
        return Reply(200, {k: v for k, v in video.items() if not k.startswith("_")})

    def _delete_video(self, req: Request) -> Reply:
        channel = self._oauth(req, 50)
        if isinstance(channel, Reply):
            return channel
        before = len(self.uploaded)
        self.uploaded = [v for v in self.uploaded if v["id"] != req.arg("id")]
        if len(self.uploaded) == before:
            return google_error(404, "videoNotFound", "The video that you are trying to delete cannot be found.")
        return Reply(204, b"")

    def _token(self, req: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != self.client:
            return Reply(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
        channel = self.refresh_tokens.get(form.get("refresh_token", ""))
        if channel is None:
            return Reply(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        token = f"yt-oauth-{len(self.oauth_tokens) + 1}"
        self.oauth_tokens[token] = channel
        return Reply(200, {"access_token": token, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/youtube",
                           "token_type": "Bearer"})
