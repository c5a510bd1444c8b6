"""YouTube Data API v3 — comments on a video or on everything related to a channel.

``GET {base_url}/commentThreads?part=snippet,replies&videoId=…|allThreadsRelatedToChannelId=…
&maxResults=100&order=time&textFormat=plainText&pageToken=…&key=…`` (1 quota unit per call).
With ``fetch_all_replies`` the connector also calls ``comments.list?part=snippet&parentId=…``
(1 unit per page) when a thread has more replies than the thread resource carries.

Config keys: ``api_key`` (secret, required); ``video_id`` or ``channel_id`` (one required);
``search_terms``; ``base_url`` (default ``https://www.googleapis.com/youtube/v3``);
``max_pages`` (default 5); ``daily_quota`` (default 10000 units); ``fetch_all_replies`` (bool);
``timeout``; ``allow_private``.

Cursor (JSON)::

    {"watermark": "<UTC time of newest thread>", "pending": {"page", "top"} | None, "seen": [thread ids],
     "quota": {"day": "YYYY-MM-DD" (Pacific Time, when Google resets quotas), "used": <units>}}

Threads come newest first (``order=time``); a fetch stops at the watermark. New replies to
threads older than the watermark are not revisited (a YouTube API limitation without per-thread polling).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from civicpulse.connectors._common import HttpConnector, as_int, newest_first, parse_time, ts_key
from civicpulse.connectors._publish import (
    PublishingMixin,
    compose_text,
    is_video,
    key_tag,
    oauth_refresh,
    publish_error,
    read_media,
)
from civicpulse.connectors.base import (
    ConnectorError,
    FetchedItem,
    FetchResult,
    Health,
    Published,
    PublishRequest,
    RateLimit,
)
from civicpulse.connectors.http import Response, map_http_error

DEFAULT_BASE = "https://www.googleapis.com/youtube/v3"
DAILY_QUOTA = 10_000
PACIFIC = ZoneInfo("America/Los_Angeles")
_RATE_REASONS = {"quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded", "userRateLimitExceeded"}
_AUTH_REASONS = {"keyInvalid", "keyExpired", "accessNotConfigured", "forbidden", "ipRefererBlocked",
                 "authError", "unauthorized", "insufficientPermissions", "API_KEY_INVALID"}


class YouTubeConnector(HttpConnector):
    """Reads comment threads (and replies) through the YouTube Data API v3."""

    platform: ClassVar[str] = "youtube"
    service: ClassVar[str] = "YouTube"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(10_000, 86_400.0, "10,000 quota units per day per project; commentThreads.list costs 1"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        if not config.get("api_key"):
            raise ValueError("youtube connector needs config['api_key']")
        if not (config.get("video_id") or config.get("channel_id")):
            raise ValueError("youtube connector needs config['video_id'] or config['channel_id']")
        self.base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")
        self.daily_quota = int(config.get("daily_quota", DAILY_QUOTA))
        self._quota: dict[str, Any] = {}

    # -- quota ------------------------------------------------------------------------------------
    def _today(self) -> str:
        return self._now().astimezone(PACIFIC).date().isoformat()

    def _seconds_to_reset(self) -> float:
        local = self._now().astimezone(PACIFIC)
        midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=PACIFIC)
        return max(1.0, (midnight - local).total_seconds())

    def _load_quota(self, cursor: dict[str, Any]) -> None:
        q = dict(cursor.get("quota") or {})
        if q.get("day") != self._today():
            q = {"day": self._today(), "used": 0}
        self._quota = q

    def quota_left(self) -> int:
        return self.daily_quota - int(self._quota.get("used", 0))

    def _spend(self, units: int = 1) -> None:
        if self.quota_left() < units:
            raise ConnectorError("rate_limited", f"The YouTube daily quota ({self.daily_quota:,} units) is used up; "
                                 "collection resumes after midnight Pacific Time.",
                                 retry_after=self._seconds_to_reset())
        self._quota["used"] = int(self._quota.get("used", 0)) + units

    # -- http --------------------------------------------------------------------------------------
    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        err = map_http_error(resp.status, body, resp.headers, service=self.service, now=self.epoch())
        info: dict[str, Any] = (body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict)
                                else {})
        errors = info.get("errors") or []
        reasons = [str(e.get("reason")) for e in errors if isinstance(e, dict) and e.get("reason")]
        detail = _detail_reason(info)
        if detail:
            reasons.insert(0, detail)  # e.g. API_KEY_INVALID beside the generic "badRequest"
        reason = next((r for r in reasons if r in _RATE_REASONS | _AUTH_REASONS), reasons[0] if reasons else "")
        said = info.get("message") or err.platform_message
        if reason in _RATE_REASONS:
            if reason in ("quotaExceeded", "dailyLimitExceeded"):
                self._quota["used"] = self.daily_quota
                return ConnectorError("rate_limited", "YouTube says the daily API quota is used up; collection "
                                      "resumes after midnight Pacific Time.", retry_after=self._seconds_to_reset(),
                                      platform_message=said, status=resp.status)
            return ConnectorError("rate_limited", "YouTube says we are sending requests too fast.",
                                  retry_after=err.retry_after or 60.0, platform_message=said, status=resp.status)
        if reason in _AUTH_REASONS or resp.status == 401:
            if reason == "accessNotConfigured":
                plain = "The YouTube Data API is not enabled for this API key's Google Cloud project"
            elif reason in ("keyExpired",):
                plain = "The YouTube API key has expired"
            else:
                plain = "YouTube did not accept the API key"
            return ConnectorError("auth", f"{plain}. Update the key in Settings → Channels. ({said})",
                                  platform_message=said, status=resp.status)
        if reason == "commentsDisabled":
            return ConnectorError("permanent", "Comments are turned off for this video.", platform_message=said,
                                  status=resp.status)
        if reason in ("videoNotFound", "channelNotFound", "commentThreadNotFound"):
            what = "video" if reason == "videoNotFound" else "channel" if reason == "channelNotFound" else "thread"
            return ConnectorError("permanent", f"YouTube could not find the {what} (check the ID in the source "
                                  "settings).", platform_message=said, status=resp.status)
        err.platform_message = f"{reason}: {said}" if reason else said
        return err

    def _call(self, resource: str, params: dict[str, Any]) -> Any:
        self._spend(1)
        return self.get_json(f"{self.base}/{resource}", {**params, "key": self.config["api_key"]})

    # -- fetching ------------------------------------------------------------------------------------
    def _fetch(self, cursor: dict[str, Any]) -> FetchResult:
        self._load_quota(cursor)
        if self.quota_left() < 1:
            self._spend(1)  # raises rate_limited with the reset time
        params: dict[str, Any] = {"part": "snippet,replies", "maxResults": 100, "order": "time",
                                  "textFormat": "plainText"}
        if self.config.get("video_id"):
            params["videoId"] = self.config["video_id"]
        else:
            params["allThreadsRelatedToChannelId"] = self.config["channel_id"]
        if self.config.get("search_terms"):
            params["searchTerms"] = self.config["search_terms"]
        max_pages = min(max(1, int(self.config.get("max_pages", 5))), self.quota_left())

        def page(token: str | None) -> tuple[list[Any], str | None]:
            body = self._call("commentThreads", {**params, "pageToken": token})
            return list(body.get("items") or []), body.get("nextPageToken")

        threads, state = newest_first(
            page, key=lambda t: ts_key(t["snippet"]["topLevelComment"]["snippet"].get("publishedAt")),
            ident=lambda t: t["id"], state=cursor, max_pages=max_pages)
        items: list[FetchedItem] = []
        rejected: list[tuple[str, str]] = []
        for thread in threads:
            top = thread["snippet"]["topLevelComment"]
            items.append(self._item(top, thread))
            replies = list((thread.get("replies") or {}).get("comments") or [])
            total = int(thread["snippet"].get("totalReplyCount") or 0)
            if self.config.get("fetch_all_replies") and total > len(replies):
                try:
                    replies = self._all_replies(thread["id"])
                except ConnectorError as exc:
                    if exc.kind != "rate_limited":
                        raise
                    rejected.append((thread["id"], f"Not all replies were read: {exc.message}"))
            for reply in sorted(replies, key=lambda c: c["snippet"].get("publishedAt", "")):
                items.append(self._item(reply, thread))
        state["quota"] = dict(self._quota)
        return FetchResult(items=items, cursor=state, rejected=rejected)

    def _all_replies(self, parent_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(20):
            body = self._call("comments", {"part": "snippet", "parentId": parent_id, "maxResults": 100,
                                           "textFormat": "plainText", "pageToken": token})
            out.extend(body.get("items") or [])
            token = body.get("nextPageToken")
            if not token:
                break
        return out

    def _item(self, comment: dict[str, Any], thread: dict[str, Any]) -> FetchedItem:
        sn = comment.get("snippet") or {}
        video_id = sn.get("videoId") or thread["snippet"].get("videoId")
        parent = sn.get("parentId")
        is_top = not parent
        url = f"https://www.youtube.com/watch?v={video_id}&lc={comment['id']}" if video_id else sn.get("authorChannelUrl")
        return FetchedItem(
            external_id=comment["id"], text=str(sn.get("textOriginal") or sn.get("textDisplay") or ""), url=url,
            kind="comment" if is_top else "reply",
            author_handle=sn.get("authorDisplayName"), author_name=sn.get("authorDisplayName"),
            published_at=parse_time(sn.get("publishedAt")), likes=as_int(sn.get("likeCount")),
            comments=as_int(thread["snippet"].get("totalReplyCount")) if is_top else None,
            parent_external_id=parent or video_id, thread_external_id=thread["id"],
            raw=comment if not is_top else thread,
        )

    # -- health ---------------------------------------------------------------------------------------
    def health(self) -> Health:
        """One 1-unit call: ``videos.list?part=id`` (or ``channels.list?part=id``) for the configured target."""
        self._load_quota({})
        try:
            if self.config.get("video_id"):
                body = self._call("videos", {"part": "id", "id": self.config["video_id"]})
                what = f"video {self.config['video_id']}"
            else:
                body = self._call("channels", {"part": "id", "id": self.config["channel_id"]})
                what = f"channel {self.config['channel_id']}"
        except ConnectorError as exc:
            return self._health_error(exc)
        if not body.get("items"):
            return Health(ok=False, message=f"The API key works, but YouTube could not find the {what}.",
                          checked_at=self._now())
        return self._health(True, f"The YouTube API key works and the {what} exists.",
                            daily_quota=self.daily_quota)


def _detail_reason(info: dict[str, Any]) -> str | None:
    for detail in info.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return None


class YouTubePublisher(PublishingMixin, YouTubeConnector):
    """Uploads videos to a YouTube channel with an OAuth 2.0 token (scopes ``youtube.upload`` and ``youtube``).

    * upload: ``POST {upload_url}/videos?uploadType=multipart&part=snippet,status`` with a ``multipart/related``
      body: the JSON resource (``snippet.title`` ≤ 100, ``snippet.description`` ≤ 5000 bytes, ``tags``,
      ``categoryId``, ``defaultLanguage``; ``status.privacyStatus``, ``publishAt`` for a native schedule,
      ``selfDeclaredMadeForKids``) followed by the video bytes. Costs ``insert_cost`` quota units (1600 by
      default, as documented for ``videos.insert``).
    * the idempotency key travels as a tag (``cp<hash>``); look-up: ``channels.list?part=contentDetails&mine=true``
      → uploads playlist, ``playlistItems.list`` (newest 25), ``videos.list?part=snippet`` and match the tag
      (3 units).
    * delete: ``videos.delete`` (50 units). Health: ``channels.list?part=id,snippet&mine=true`` (1 unit).
    * community posts have no API, so text-only posts are refused with a clear reason.
    * tokens live one hour; with ``refresh_token``, ``client_id`` and ``client_secret`` they are renewed at
      ``token_url`` (default ``https://oauth2.googleapis.com/token``).

    Errors ``{"error": {"code", "message", "errors": [{"reason"}]}}``: ``quotaExceeded`` → rate_limited until
    midnight Pacific Time, ``uploadLimitExceeded`` → rate_limited (a day), 401/``authError`` → auth,
    ``forbidden``/``insufficientPermissions`` → auth, other 4xx → permanent, 5xx → transient.
    """

    can_lookup: ClassVar[bool] = True
    INSERT_COST: ClassVar[int] = 1600

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        PublishingMixin.__init__(self, config, **kw)
        if not config.get("access_token") and not config.get("refresh_token"):
            raise ValueError("youtube publishing needs config['access_token'] (OAuth)")
        self.base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")
        self.upload_url = str(config.get("upload_url") or "https://www.googleapis.com/upload/youtube/v3").rstrip("/")
        self.daily_quota = int(config.get("daily_quota", DAILY_QUOTA))
        self.insert_cost = int(config.get("insert_cost", self.INSERT_COST))
        self._quota = {"day": self._today(), "used": int(config.get("quota_used_today", 0))}

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.get('access_token') or ''}"}

    def can_refresh(self) -> bool:
        return all(self.config.get(k) for k in ("refresh_token", "client_id", "client_secret"))

    def refresh_credentials(self) -> None:
        oauth_refresh(self, str(self.config.get("token_url") or "https://oauth2.googleapis.com/token"),
                      form={"grant_type": "refresh_token", "refresh_token": str(self.config["refresh_token"]),
                            "client_id": str(self.config["client_id"]),
                            "client_secret": str(self.config["client_secret"])})

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        info: dict[str, Any] = (body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict)
                                else {})
        reasons = {str(e.get("reason")) for e in info.get("errors") or [] if isinstance(e, dict)}
        said = info.get("message")
        if "uploadLimitExceeded" in reasons:
            return publish_error("rate_limited", "The YouTube channel reached its daily upload limit; the upload "
                                 "resumes tomorrow.", said=said, status=resp.status, retry_after=self._seconds_to_reset())
        if resp.status == 401 or reasons & {"authError", "unauthorized"}:
            return publish_error("auth", "The YouTube sign-in has expired or was revoked. Reconnect the channel in "
                                 "Settings → Channels.", said=said, status=resp.status)
        if reasons & {"forbidden", "insufficientPermissions"}:
            return publish_error("auth", "The YouTube account did not grant the permission to upload. Reconnect "
                                 "the channel and allow managing videos.", said=said, status=resp.status)
        return YouTubeConnector.map_error(self, resp)

    def _api(self, method: str, resource: str, units: int, **kw: Any) -> Any:
        if self._quota.get("day") != self._today():
            self._quota = {"day": self._today(), "used": 0}
        self._spend(units)
        return self.send_json(method, f"{self.base}/{resource}", **kw)

    def publish(self, request: PublishRequest) -> Published:
        videos = [m for m in request.media if is_video(m)]
        if not videos:
            raise ConnectorError("permanent", "YouTube publishes videos only (community posts have no API); "
                                 "attach one video.")
        if not (request.title or "").strip():
            raise ConnectorError("permanent", "A YouTube video needs a title.")
        video = videos[0]
        snippet: dict[str, Any] = {"title": request.title.strip()[:100],  # type: ignore[union-attr]
                                   "description": compose_text(request),
                                   "tags": [*request.options.get("tags", []), key_tag(request.idempotency_key)],
                                   "categoryId": str(self.config.get("category_id") or "25")}
        if request.language:
            snippet["defaultLanguage"] = request.language
        status: dict[str, Any] = {"privacyStatus": str(self.config.get("privacy_status") or "public"),
                                  "selfDeclaredMadeForKids": False}
        if request.scheduled_at is not None and request.scheduled_at > self._now():
            status["privacyStatus"] = "private"
            status["publishAt"] = request.scheduled_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        boundary = f"cp{key_tag(request.idempotency_key)}"
        meta = json.dumps({"snippet": snippet, "status": status}).encode("utf-8")
        content = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode() + meta
                   + f"\r\n--{boundary}\r\nContent-Type: {video.mime}\r\n\r\n".encode()
                   + read_media(video, self.service) + f"\r\n--{boundary}--\r\n".encode())
        if self._quota.get("day") != self._today():
            self._quota = {"day": self._today(), "used": 0}
        self._spend(self.insert_cost)
        body = self.send_json("POST", f"{self.upload_url}/videos", content=content,
                              params={"uploadType": "multipart", "part": "snippet,status"},
                              headers={"Content-Type": f"multipart/related; boundary={boundary}"})
        return Published(external_id=str(body["id"]), url=f"https://www.youtube.com/watch?v={body['id']}",
                         published_at=parse_time((body.get("snippet") or {}).get("publishedAt")) or self._now(),
                         raw=body)

    def lookup(self, request: PublishRequest) -> Published | None:
        tag = key_tag(request.idempotency_key)
        channels = self._api("GET", "channels", 1, params={"part": "contentDetails", "mine": "true"})
        items = channels.get("items") or []
        if not items:
            return None
        uploads = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        playlist = self._api("GET", "playlistItems", 1,
                             params={"part": "contentDetails", "playlistId": uploads, "maxResults": 25})
        ids = [it["contentDetails"]["videoId"] for it in playlist.get("items") or []]
        if not ids:
            return None
        videos = self._api("GET", "videos", 1, params={"part": "snippet", "id": ",".join(ids)})
        for v in videos.get("items") or []:
            if tag in ((v.get("snippet") or {}).get("tags") or []):
                return Published(external_id=str(v["id"]), url=f"https://www.youtube.com/watch?v={v['id']}",
                                 published_at=parse_time(v["snippet"].get("publishedAt")), raw=v)
        return None

    def delete(self, external_id: str) -> None:
        self._api("DELETE", "videos", 50, params={"id": external_id})

    health = PublishingMixin.health

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        body = self._api("GET", "channels", 1, params={"part": "id,snippet", "mine": "true"})
        items = body.get("items") or []
        if not items:
            raise ConnectorError("auth", "The YouTube account has no channel. Create one or sign in with the "
                                 "channel's account in Settings → Channels.")
        title = (items[0].get("snippet") or {}).get("title") or items[0]["id"]
        return (f"Signed in to the YouTube channel “{title}”.", None,
                {"channel_id": items[0]["id"], "quota_used_today": self._quota.get("used")})
