"""X (Twitter) API v2 — recent search.

``GET {base_url}/2/tweets/search/recent?query=…&max_results=10..100&since_id=…&next_token=…
&tweet.fields=created_at,public_metrics,author_id,lang,conversation_id,referenced_tweets
&expansions=author_id&user.fields=username,name,public_metrics`` with ``Authorization: Bearer``.

Config keys: ``query`` (required, X search syntax, e.g. ``"น้ำท่วม lang:th -is:retweet"``);
``bearer_token`` (secret, required); ``base_url`` (default ``https://api.x.com``); ``max_results``
(10–100, default 100); ``max_pages`` (default 5); ``rate_limit_per_15min`` (default 60 — set it to
your tier's published limit); ``timeout``; ``allow_private``.

Cursor (JSON)::

    {"watermark": "<zero-padded newest tweet id>", "pending": {"page": next_token, "top"} | None,
     "seen": [tweet ids]}

The watermark is sent as ``since_id``; a fetch that runs out of pages keeps ``next_token`` in
``pending`` and finishes the same query next time. Rate-limit headers ``x-rate-limit-remaining`` /
``x-rate-limit-reset`` are honoured; 429 → rate_limited, 401/403 → auth.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any, ClassVar

from civicpulse.connectors._common import HttpConnector, as_int, newest_first, parse_time
from civicpulse.connectors._publish import (
    PublishingMixin,
    compose_text,
    is_video,
    oauth_refresh,
    publish_error,
    read_media,
    same_text,
)
from civicpulse.connectors.base import (
    ConnectorError,
    FetchedItem,
    FetchResult,
    Health,
    MediaRef,
    Published,
    PublishRequest,
    RateLimit,
)
from civicpulse.connectors.http import Response, header_int, map_http_error, parse_reset

DEFAULT_BASE = "https://api.x.com"
TWEET_FIELDS = "created_at,public_metrics,author_id,lang,conversation_id,referenced_tweets"
USER_FIELDS = "username,name,public_metrics"


def _pad(tweet_id: str) -> str:
    return tweet_id.zfill(20)


class XConnector(HttpConnector):
    """Reads recent posts matching a search query."""

    platform: ClassVar[str] = "x"
    service: ClassVar[str] = "X"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(60, 900.0, "recent search, app-only bearer token: 60 requests / 15 min (Basic tier); "
                             "higher tiers allow more — see rate_limit_per_15min"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        if not config.get("query"):
            raise ValueError("x connector needs config['query']")
        if not config.get("bearer_token"):
            raise ValueError("x connector needs config['bearer_token']")
        self.base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")
        self.max_results = max(10, min(100, int(config.get("max_results", 100))))

    def effective_rate_limits(self) -> tuple[RateLimit, ...]:
        per_15 = self.config.get("rate_limit_per_15min")
        if per_15:
            return (RateLimit(int(per_15), 900.0, "configured tier limit"),)
        return self.rate_limits

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config['bearer_token']}"}

    def note_rate_headers(self, resp: Response) -> None:
        self.limiter.note_server(header_int(resp.headers, "x-rate-limit-remaining"),
                                 parse_reset(resp.headers.get("x-rate-limit-reset"), now=self.epoch()))

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        err = map_http_error(resp.status, body, resp.headers, service=self.service, now=self.epoch())
        body = body if isinstance(body, dict) else {}
        title, detail = body.get("title"), body.get("detail")
        said = err.platform_message
        problem = str(body.get("type") or "")
        if resp.status == 429 or title == "UsageCapExceeded" or problem.endswith("usage-capped"):
            if title == "UsageCapExceeded" or problem.endswith("usage-capped"):
                return ConnectorError("rate_limited", f"The X API monthly usage cap is reached ({detail}). Collection "
                                      "resumes when the cap resets or the plan is upgraded.",
                                      retry_after=err.retry_after or 86_400.0, platform_message=said,
                                      status=resp.status)
            wait = err.retry_after
            return ConnectorError("rate_limited", "X says we are sending too many requests."
                                  + (f" Waiting {round(wait)} s." if wait is not None else ""),
                                  retry_after=wait if wait is not None else 900.0, platform_message=said,
                                  status=resp.status)
        if resp.status == 401:
            return ConnectorError("auth", "X did not accept the bearer token. Paste a new one in Settings → Channels.",
                                  platform_message=said, status=401)
        if resp.status == 403:
            if body.get("reason") == "client-not-enrolled" or "client-forbidden" in problem:
                plain = ("The X developer app is not attached to a Project with API v2 access. Fix it in the X "
                         "developer portal.")
            else:
                plain = "X refused access with this token (HTTP 403). Check the app's access level."
            return ConnectorError("auth", plain, platform_message=said, status=403)
        if resp.status == 400:
            msgs = [str(e.get("message")) for e in body.get("errors") or [] if isinstance(e, dict) and e.get("message")]
            return ConnectorError("permanent", "X rejected the search: " + ("; ".join(msgs) or detail or "invalid "
                                  "request") + ". Check the query in the source settings.", platform_message=said,
                                  status=400)
        return err

    def _fetch(self, cursor: dict[str, Any]) -> FetchResult:
        params: dict[str, Any] = {"query": self.config["query"], "max_results": self.max_results,
                                  "tweet.fields": TWEET_FIELDS, "expansions": "author_id", "user.fields": USER_FIELDS}
        if cursor.get("watermark"):
            params["since_id"] = str(cursor["watermark"]).lstrip("0") or "0"
        users: dict[str, dict[str, Any]] = {}
        rejected: list[tuple[str, str]] = []

        def page(token: str | None) -> tuple[list[Any], str | None]:
            body = self.get_json(f"{self.base}/2/tweets/search/recent", {**params, "next_token": token},
                                 headers=self._headers)
            for user in (body.get("includes") or {}).get("users") or []:
                users[str(user["id"])] = user
            for problem in body.get("errors") or []:
                if isinstance(problem, dict):
                    rejected.append((str(problem.get("value") or problem.get("resource_id") or "?"),
                                     str(problem.get("detail") or problem.get("title") or problem)))
            return list(body.get("data") or []), (body.get("meta") or {}).get("next_token")

        tweets, state = newest_first(page, key=lambda t: _pad(str(t["id"])), ident=lambda t: str(t["id"]),
                                     state=cursor, max_pages=max(1, int(self.config.get("max_pages", 5))),
                                     stop_at_watermark=False)
        items = [self._item(t, users.get(str(t.get("author_id")))) for t in tweets]
        return FetchResult(items=items, cursor=state, rejected=rejected)

    def _item(self, tweet: dict[str, Any], user: dict[str, Any] | None) -> FetchedItem:
        metrics = tweet.get("public_metrics") or {}
        refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or [] if isinstance(r, dict)}
        parent = refs.get("replied_to")
        user = user or {}
        username = user.get("username")
        tid = str(tweet["id"])
        kind = "reply" if parent else "post"
        shares = None
        if "retweet_count" in metrics or "quote_count" in metrics:
            shares = int(metrics.get("retweet_count") or 0) + int(metrics.get("quote_count") or 0)
        raw = dict(tweet)
        if user:
            raw["author"] = user
        return FetchedItem(
            external_id=tid, text=str(tweet.get("text") or ""),
            url=f"https://x.com/{username or 'i/web'}/status/{tid}", kind=kind,
            author_handle=username, author_name=user.get("name"),
            author_followers=as_int((user.get("public_metrics") or {}).get("followers_count")),
            published_at=parse_time(tweet.get("created_at")), likes=as_int(metrics.get("like_count")),
            shares=shares, comments=as_int(metrics.get("reply_count")),
            views=as_int(metrics.get("impression_count")), parent_external_id=parent,
            thread_external_id=str(tweet["conversation_id"]) if tweet.get("conversation_id") else None,
            language=tweet.get("lang") if tweet.get("lang") not in (None, "und", "zxx") else None, raw=raw,
        )

    def health(self) -> Health:
        """``GET /2/users/by/username/:username`` (default ``X``): checks the token cheaply."""
        name = str(self.config.get("health_username") or "X")
        try:
            body = self.get_json(f"{self.base}/2/users/by/username/{name}", headers=self._headers)
        except ConnectorError as exc:
            return self._health_error(exc)
        remaining = self.limiter.wait_needed()
        return self._health(True, f"The X bearer token works (looked up @{(body.get('data') or {}).get('username', name)}).",
                            wait_seconds=remaining)


class XPublisher(PublishingMixin, XConnector):
    """Posts on X with an OAuth 2.0 user access token (scopes ``tweet.write tweet.read users.read
    media.write offline.access``).

    * images: ``POST /2/media/upload`` (multipart ``media``, ``media_category=tweet_image|tweet_gif``) →
      ``{"data": {"id"}}``; alt text with ``POST /2/media/metadata`` ``{"id", "metadata": {"alt_text": {"text"}}}``.
    * a video: chunked ``POST /2/media/upload/initialize`` → ``/{id}/append`` → ``/{id}/finalize``, then
      ``GET /2/media/upload?command=STATUS&media_id=…`` until ``processing_info.state`` is ``succeeded``.
    * post: ``POST /2/tweets`` ``{"text", "media": {"media_ids"}, "reply": {"in_reply_to_tweet_id"}}`` → 201
      ``{"data": {"id", "text"}}``.
    * look-up: ``GET /2/users/me`` → own ID, ``GET /2/users/:id/tweets?start_time=…&tweet.fields=created_at,
      entities`` and match the exact text after expanding t.co links from ``entities.urls``. A post refused
      as duplicate content (403) is answered with the post found that way.
    * delete: ``DELETE /2/tweets/:id``. Health: ``GET /2/users/me``.
    * the access token lives 2 hours; with ``refresh_token`` and ``client_id`` (and ``client_secret`` for
      confidential apps) it is renewed through ``POST /2/oauth2/token`` (new tokens in ``credential_updates``).

    Errors are problem details ``{"title", "detail", "type", "status"}``: 401 → auth, 403 → auth (or
    permanent for duplicates and policy refusals), 429 → rate_limited until ``x-rate-limit-reset``,
    5xx → transient. Rate limit: 200 posts per 15 minutes per user (``rate_limit_per_15min`` overrides).
    Config keys: ``access_token`` (secret), ``refresh_token`` (secret), ``client_id``, ``client_secret`` (secret),
    ``base_url`` (default ``https://api.x.com``), ``timeout``, ``allow_private``.
    """

    can_lookup: ClassVar[bool] = True
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(200, 900.0, "POST /2/tweets: 200 requests per 15 minutes per user"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        PublishingMixin.__init__(self, config, **kw)
        if not config.get("access_token") and not config.get("refresh_token"):
            raise ValueError("x publishing needs config['access_token']")
        self.base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")
        self._me: dict[str, Any] | None = None

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.get('access_token') or ''}"}

    def can_refresh(self) -> bool:
        return bool(self.config.get("refresh_token") and self.config.get("client_id"))

    def refresh_credentials(self) -> None:
        headers = {}
        if self.config.get("client_secret"):
            pair = f"{self.config['client_id']}:{self.config['client_secret']}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        oauth_refresh(self, f"{self.base}/2/oauth2/token", headers=headers,
                      form={"grant_type": "refresh_token", "refresh_token": str(self.config["refresh_token"]),
                            "client_id": str(self.config["client_id"])})

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        info = body if isinstance(body, dict) else {}
        detail = str(info.get("detail") or "")
        if resp.status == 403 and "duplicate content" in detail.lower():
            return publish_error("permanent", "X refused the post as a duplicate of a recent one.", said=detail,
                                 status=403)
        if resp.status == 403 and ("not permitted" in detail.lower() or "policy" in detail.lower()):
            return publish_error("permanent", "X refused this post.", said=detail, status=403)
        if resp.status == 401:
            return publish_error("auth", "The X sign-in has expired or was revoked. Reconnect the account in "
                                 "Settings → Channels.", said=detail or info.get("title"), status=401)
        return XConnector.map_error(self, resp)

    CHUNK: ClassVar[int] = 4 * 1024 * 1024
    STATUS_POLLS: ClassVar[int] = 30

    def _upload_video(self, m: MediaRef) -> str:
        """Chunked upload: ``initialize`` → ``{id}/append`` (4 MB segments) → ``{id}/finalize``, then
        ``GET /2/media/upload?command=STATUS`` while X processes the video."""
        data = read_media(m, self.service)
        init = self.send_json("POST", f"{self.base}/2/media/upload/initialize",
                              json={"media_type": m.mime, "total_bytes": len(data), "media_category": "tweet_video"})
        media_id = str((init.get("data") or {})["id"])
        for i, start in enumerate(range(0, len(data), self.CHUNK)):
            self.send("POST", f"{self.base}/2/media/upload/{media_id}/append", data={"segment_index": str(i)},
                      files={"media": (m.path.rsplit("/", 1)[-1], data[start:start + self.CHUNK], m.mime)})
        info = (self.send_json("POST", f"{self.base}/2/media/upload/{media_id}/finalize").get("data") or {})
        for _ in range(self.STATUS_POLLS):
            state = (info.get("processing_info") or {}).get("state", "succeeded")
            if state == "succeeded":
                return media_id
            if state == "failed":
                error = ((info.get("processing_info") or {}).get("error") or {}).get("message")
                raise publish_error("permanent", "X could not process the video (check its format and length: MP4, "
                                    "H.264, at most 140 seconds).", said=error)
            self.wait(float((info.get("processing_info") or {}).get("check_after_secs") or 2))
            info = self.send_json("GET", f"{self.base}/2/media/upload",
                                  params={"command": "STATUS", "media_id": media_id}).get("data") or {}
        raise ConnectorError("transient", "X is still processing the video; we will try again.")

    def _upload(self, m: MediaRef) -> str:
        if is_video(m):
            media_id = self._upload_video(m)
        else:
            media_id = self._upload_image(m)
        if m.alt_text and not is_video(m):
            self.send_json("POST", f"{self.base}/2/media/metadata",
                           json={"id": media_id, "metadata": {"alt_text": {"text": m.alt_text[:1000]}}})
        return media_id

    def _upload_image(self, m: MediaRef) -> str:
        category = "tweet_gif" if m.mime == "image/gif" else "tweet_image"
        files = {"media": (m.path.rsplit("/", 1)[-1], read_media(m, self.service), m.mime)}
        body = self.send_json("POST", f"{self.base}/2/media/upload", files=files,
                              data={"media_category": category, "media_type": m.mime})
        return str((body.get("data") or {}).get("id") or body.get("media_id_string"))

    def publish(self, request: PublishRequest) -> Published:
        payload: dict[str, Any] = {"text": compose_text(request)}
        if request.media:
            payload["media"] = {"media_ids": [self._upload(m) for m in request.media]}
        if request.reply_to:
            payload["reply"] = {"in_reply_to_tweet_id": str(request.reply_to)}
        try:
            body = self.send_json("POST", f"{self.base}/2/tweets", json=payload)
        except ConnectorError as exc:
            if exc.status == 403 and "duplicate" in (exc.platform_message or "").lower():
                found = self.lookup(request)
                if found is not None:
                    return found
            raise
        data = body.get("data") or {}
        tid = str(data["id"])
        return Published(external_id=tid, url=self._url(tid), published_at=self._now(), raw=body)

    def _url(self, tid: str) -> str:
        user = (self._me or {}).get("username") or "i/web"
        return f"https://x.com/{user}/status/{tid}"

    def _whoami(self) -> dict[str, Any]:
        if self._me is None:
            self._me = self.send_json("GET", f"{self.base}/2/users/me").get("data") or {}
        return self._me

    def lookup(self, request: PublishRequest) -> Published | None:
        me = self._whoami()
        start = self.since().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = self.send_json("GET", f"{self.base}/2/users/{me['id']}/tweets",
                              params={"max_results": 100, "start_time": start,
                                      "tweet.fields": "created_at,entities"})
        want = compose_text(request)
        for tweet in body.get("data") or []:
            text = str(tweet.get("text") or "")
            for u in ((tweet.get("entities") or {}).get("urls") or []):
                if u.get("url") and u.get("expanded_url"):
                    text = text.replace(u["url"], u["expanded_url"])
            if same_text(text, want):
                tid = str(tweet["id"])
                return Published(external_id=tid, url=self._url(tid), published_at=parse_time(tweet.get("created_at")),
                                 raw=tweet)
        return None

    def delete(self, external_id: str) -> None:
        self.send_json("DELETE", f"{self.base}/2/tweets/{external_id}")

    health = PublishingMixin.health

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        self._me = None
        me = self._whoami()
        return f"Signed in to X as @{me.get('username')}.", None, {"user_id": me.get("id")}
