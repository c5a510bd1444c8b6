"""Fake YouTube Data API v3: commentThreads.list, comments.list, videos.list, channels.list,
with pageToken paging, quota accounting and Google-style error bodies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fakes.server import FakeServer, Reply, Request


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
        denied = self._gate(req)
        if denied:
            return denied
        ids = [i for i in (req.arg("id") or "").split(",") if i in self.videos]
        return Reply(200, {"kind": "youtube#videoListResponse", "items": [{"kind": "youtube#video", "id": i}
                                                                            for i in ids]})

    def _channels(self, req: Request) -> Reply:
        denied = self._gate(req)
        if denied:
            return denied
        ids = [i for i in (req.arg("id") or "").split(",") if i in set(self.videos.values())]
        return Reply(200, {"kind": "youtube#channelListResponse", "items": [{"kind": "youtube#channel", "id": i}
                                                                              for i in ids]})
