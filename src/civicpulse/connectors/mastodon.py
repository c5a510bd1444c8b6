"""Mastodon (any instance) — hashtag, public and account timelines via the REST API.

Config keys:

* ``instance_url`` (required) — e.g. ``https://mastodon.social`` (SSRF-guarded).
* ``mode`` — ``"hashtag"`` (default when ``hashtag`` is set), ``"public"`` or ``"account"``.
* ``hashtag`` — without ``#``; ``any``/``all``/``none`` (lists) add extra tags (hashtag mode).
* ``account`` — ``user`` or ``user@domain`` (looked up with ``/api/v1/accounts/lookup``) or a numeric id.
* ``local`` / ``remote`` / ``only_media`` (bool) — timeline filters as documented.
* ``exclude_replies`` (bool, account mode); ``include_reblogs`` (bool, default False: boosts are skipped).
* ``access_token`` (secret, optional) — sent as ``Authorization: Bearer``; some instances require it
  for the public and hashtag timelines.
* ``limit`` (≤ 40, default 40), ``max_pages`` (default 5) per fetch; ``timeout``, ``allow_private``.

Cursor (JSON)::

    {"min_id": "<newest status id collected>" | None, "account_id": "<resolved id>" | None}

The first fetch takes the newest page; later fetches page forward with ``min_id`` (the statuses
immediately newer than the cursor, so nothing is skipped even when more than a page arrived).
Rate limit: 300 requests per 5 minutes (documented default), and the server's
``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` headers are honoured.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar
from urllib.parse import quote

from civicpulse.connectors._common import HttpConnector, as_int, html_to_text, parse_time
from civicpulse.connectors._publish import PublishingMixin, compose_text, publish_error, read_media, same_text
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


def _id_key(value: str) -> tuple[int, str]:
    """Order Mastodon ids: numeric strings by value (ids are snowflake-like), others lexically."""
    return (int(value), "") if value.isdigit() else (len(value), value)


class MastodonConnector(HttpConnector):
    """Reads statuses from a Mastodon-compatible server."""

    platform: ClassVar[str] = "mastodon"
    service: ClassVar[str] = "The Mastodon server"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(300, 300.0, "300 requests per 5 minutes per account or IP (docs.joinmastodon.org/api/rate-limits)"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        base = str(config.get("instance_url") or "").rstrip("/")
        if not base:
            raise ValueError("mastodon connector needs config['instance_url']")
        self.base = base
        self.mode = str(config.get("mode") or ("hashtag" if config.get("hashtag") else
                                              "account" if config.get("account") else "public"))
        if self.mode not in ("hashtag", "public", "account"):
            raise ValueError(f"unknown mastodon mode {self.mode!r}")
        if self.mode == "hashtag" and not config.get("hashtag"):
            raise ValueError("mastodon hashtag mode needs config['hashtag']")
        if self.mode == "account" and not config.get("account"):
            raise ValueError("mastodon account mode needs config['account']")
        self.limit = max(1, min(40, int(config.get("limit", 40))))

    # -- http ---------------------------------------------------------------------------------
    @property
    def _headers(self) -> dict[str, str]:
        token = self.config.get("access_token")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def note_rate_headers(self, resp: Response) -> None:
        remaining = header_int(resp.headers, "x-ratelimit-remaining")
        self.limiter.note_server(remaining, parse_reset(resp.headers.get("x-ratelimit-reset"), now=self.epoch()))

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        err = map_http_error(resp.status, body, resp.headers, service=self.service, now=self.epoch())
        said = err.platform_message or ""
        if resp.status == 401 or (resp.status == 422 and "authenticated" in said.lower()):
            msg = ("The Mastodon access token was refused" if self.config.get("access_token")
                   else f"{self.base} only shows this timeline to signed-in apps; add an access token")
            return ConnectorError("auth", f"{msg}. Reconnect the account in Settings → Channels."
                                  + (f" ({said})" if said else ""), platform_message=said, status=resp.status)
        if resp.status == 403:
            return ConnectorError("auth", f"The Mastodon server refused access ({said or 'forbidden'}).",
                                  platform_message=said, status=403)
        if resp.status == 429:
            err.message = (f"{self.base} says we are sending too many requests."
                           + (f" Waiting {round(err.retry_after)} s." if err.retry_after is not None else ""))
        return err

    # -- fetching -------------------------------------------------------------------------------
    def _account_id(self, cursor: dict[str, Any]) -> str:
        if cursor.get("account_id"):
            return str(cursor["account_id"])
        acct = str(self.config["account"]).lstrip("@")
        if acct.isdigit():
            return acct
        try:
            body = self.get_json(f"{self.base}/api/v1/accounts/lookup", {"acct": acct}, headers=self._headers)
        except ConnectorError as exc:
            if exc.status == 404:
                raise ConnectorError("permanent", f"The Mastodon account @{acct} was not found on {self.base}.",
                                     status=404) from exc
            raise
        return str(body["id"])

    def _endpoint(self, cursor: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        cfg = self.config
        params: dict[str, Any] = {"limit": self.limit}
        if self.mode == "hashtag":
            tag = str(cfg["hashtag"]).lstrip("#")
            url = f"{self.base}/api/v1/timelines/tag/{quote(tag, safe='')}"
            for key in ("any", "all", "none"):
                if cfg.get(key):
                    params[f"{key}[]"] = [str(t).lstrip("#") for t in cfg[key]]
            for key in ("local", "remote", "only_media"):
                if cfg.get(key):
                    params[key] = True
        elif self.mode == "public":
            url = f"{self.base}/api/v1/timelines/public"
            for key in ("local", "remote", "only_media"):
                if cfg.get(key):
                    params[key] = True
        else:
            account_id = self._account_id(cursor)
            cursor["account_id"] = account_id
            url = f"{self.base}/api/v1/accounts/{quote(account_id, safe='')}/statuses"
            for key in ("only_media", "exclude_replies"):
                if cfg.get(key):
                    params[key] = True
            if not cfg.get("include_reblogs"):
                params["exclude_reblogs"] = True
        return url, params

    def _fetch(self, cursor: dict[str, Any]) -> FetchResult:
        cursor = {"min_id": cursor.get("min_id"), "account_id": cursor.get("account_id")}
        url, params = self._endpoint(cursor)
        items: list[FetchedItem] = []
        ids: set[str] = set()
        max_pages = 1 if cursor["min_id"] is None else max(1, int(self.config.get("max_pages", 5)))
        for _ in range(max_pages):
            page_params = dict(params)
            if cursor["min_id"] is not None:
                page_params["min_id"] = cursor["min_id"]
            statuses = self.get_json(url, page_params, headers=self._headers)
            if not isinstance(statuses, list) or not statuses:
                break
            newest = max((str(s["id"]) for s in statuses), key=_id_key)
            for status in sorted(statuses, key=lambda s: _id_key(str(s["id"]))):
                item = self._item(status)
                if item is not None and item.external_id not in ids:
                    ids.add(item.external_id)
                    items.append(item)
            if cursor["min_id"] is None or _id_key(newest) > _id_key(str(cursor["min_id"])):
                cursor["min_id"] = newest
            if len(statuses) < self.limit:
                break
        return FetchResult(items=items, cursor=cursor)

    def _item(self, status: dict[str, Any]) -> FetchedItem | None:
        if status.get("reblog"):
            if not self.config.get("include_reblogs"):
                return None
            status = status["reblog"]
        account = status.get("account") or {}
        text = html_to_text(status.get("content"))
        if status.get("spoiler_text"):
            text = f"{status['spoiler_text']}\n{text}".strip()
        reply_to = status.get("in_reply_to_id")
        return FetchedItem(
            external_id=str(status["id"]),
            text=text,
            url=status.get("url") or status.get("uri"),
            kind="reply" if reply_to else "post",
            author_handle=account.get("acct"),
            author_name=account.get("display_name") or account.get("username"),
            author_followers=as_int(account.get("followers_count")),
            published_at=parse_time(status.get("created_at")),
            likes=as_int(status.get("favourites_count")),
            shares=as_int(status.get("reblogs_count")),
            comments=as_int(status.get("replies_count")),
            parent_external_id=str(reply_to) if reply_to else None,
            language=status.get("language"),
            raw=status,
        )

    # -- health ----------------------------------------------------------------------------------
    def health(self) -> Health:
        """``GET /api/v2/instance`` (falls back to v1 on older servers); with a token, also
        ``GET /api/v1/apps/verify_credentials``."""
        try:
            try:
                info = self.get_json(f"{self.base}/api/v2/instance")
                version = 2
            except ConnectorError as exc:
                if exc.status != 404:
                    raise
                info = self.get_json(f"{self.base}/api/v1/instance")
                version = 1
            title = info.get("title") or info.get("domain") or info.get("uri") or self.base
            details: dict[str, Any] = {"instance_version": info.get("version"), "api": version}
            if self.config.get("access_token"):
                app = self.get_json(f"{self.base}/api/v1/apps/verify_credentials", headers=self._headers)
                details["app"] = app.get("name")
        except ConnectorError as exc:
            return self._health_error(exc)
        return self._health(True, f"Connected to {title} (Mastodon {info.get('version', '?')}).", **details)


class MastodonPublisher(PublishingMixin, MastodonConnector):
    """Posts statuses to one Mastodon account.

    * media: ``POST /api/v2/media`` (multipart ``file`` + ``description`` = alt text); a 202 answer
      means "still processing", polled with ``GET /api/v1/media/:id`` until it has a ``url``.
    * status: ``POST /api/v1/statuses`` ``{status, media_ids[], visibility, language, in_reply_to_id,
      scheduled_at}`` with the ``Idempotency-Key`` header (the server returns the first status for a repeated
      key for one hour: ``idempotent_retry`` is True). ``scheduled_at`` is sent only when it is at least
      5 minutes ahead (Mastodon refuses earlier times); the answer is then a ScheduledStatus and the
      external ID is ``scheduled:<id>``.
    * look-up: ``GET /api/v1/accounts/verify_credentials`` → own ID, ``GET /api/v1/accounts/:id/statuses``
      (40 newest) and match the exact text inside the look-up window.
    * delete: ``DELETE /api/v1/statuses/:id`` (or ``/api/v1/scheduled_statuses/:id``).
    * health: ``GET /api/v1/accounts/verify_credentials``.

    Errors: ``{"error": "..."}``; 401 → auth, 422 (validation, e.g. "Text character limit of 500 exceeded")
    → permanent, 429 → rate_limited (``X-RateLimit-Reset``), 5xx → transient.
    Config keys: ``instance_url``, ``access_token`` (secret, scope ``write:statuses write:media read:accounts``),
    ``visibility`` (default ``public``), ``timeout``, ``allow_private``.
    """

    can_lookup: ClassVar[bool] = True
    idempotent_retry: ClassVar[bool] = True
    min_schedule_ahead: ClassVar[dt.timedelta] = dt.timedelta(minutes=5)
    media_poll: ClassVar[int] = 10

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        PublishingMixin.__init__(self, config, **kw)
        base = str(config.get("instance_url") or "").rstrip("/")
        if not base:
            raise ValueError("mastodon publishing needs config['instance_url']")
        if not config.get("access_token"):
            raise ValueError("mastodon publishing needs config['access_token']")
        self.base = base
        self._my_id: str | None = None

    def auth_headers(self) -> dict[str, str]:
        return self._headers

    def map_error(self, resp: Response) -> ConnectorError:
        err = MastodonConnector.map_error(self, resp)
        if resp.status == 422 and err.kind == "permanent":
            return publish_error("permanent", "Mastodon refused the post.", said=err.platform_message, status=422)
        return err

    def _upload(self, m: MediaRef) -> str:
        files = {"file": (m.path.rsplit("/", 1)[-1], read_media(m, self.service), m.mime)}
        data = {"description": m.alt_text} if m.alt_text else None
        resp = self.send("POST", f"{self.base}/api/v2/media", files=files, data=data)
        media = resp.json() or {}
        tries = 0
        # 202 from the upload / 206 from GET /api/v1/media/:id: still processing, no url yet.
        while resp.status in (202, 206) and not media.get("url"):
            if tries >= self.media_poll:
                raise ConnectorError("transient", "Mastodon is still processing the attached file; we will try "
                                     "again.")
            tries += 1
            self.wait(min(2.0 * tries, 10.0))
            resp = self.send("GET", f"{self.base}/api/v1/media/{quote(str(media['id']), safe='')}")
            media = resp.json() or {}
        return str(media["id"])

    def publish(self, request: PublishRequest) -> Published:
        payload: dict[str, Any] = {"status": compose_text(request),
                                   "visibility": str(self.config.get("visibility") or "public")}
        if request.media:
            payload["media_ids"] = [self._upload(m) for m in request.media]
        if request.language:
            payload["language"] = request.language
        if request.reply_to:
            payload["in_reply_to_id"] = request.reply_to
        if request.options.get("spoiler_text"):
            payload["spoiler_text"] = str(request.options["spoiler_text"])
        scheduled = request.scheduled_at
        if scheduled is not None and scheduled - self._now() >= self.min_schedule_ahead:
            payload["scheduled_at"] = scheduled.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        body = self.send_json("POST", f"{self.base}/api/v1/statuses", json=payload,
                              headers={"Idempotency-Key": request.idempotency_key})
        if "scheduled_at" in body and "content" not in body:
            return Published(external_id=f"scheduled:{body['id']}", published_at=parse_time(body["scheduled_at"]),
                             raw=body)
        return Published(external_id=str(body["id"]), url=body.get("url") or body.get("uri"),
                         published_at=parse_time(body.get("created_at")), raw=body)

    def _me(self) -> dict[str, Any]:
        me = self.send_json("GET", f"{self.base}/api/v1/accounts/verify_credentials")
        self._my_id = str(me["id"])
        return me

    def lookup(self, request: PublishRequest) -> Published | None:
        if self._my_id is None:
            self._me()
        statuses = self.send_json("GET", f"{self.base}/api/v1/accounts/{self._my_id}/statuses",
                                  params={"limit": 40, "exclude_reblogs": True})
        want = compose_text(request)
        for status in statuses or []:
            when = parse_time(status.get("created_at"))
            if when is not None and when < self.since():
                continue
            if same_text(html_to_text(status.get("content")), want):
                return Published(external_id=str(status["id"]), url=status.get("url"), published_at=when,
                                 raw=status)
        return None

    def delete(self, external_id: str) -> None:
        if external_id.startswith("scheduled:"):
            self.send("DELETE", f"{self.base}/api/v1/scheduled_statuses/{quote(external_id[10:], safe='')}")
        else:
            self.send("DELETE", f"{self.base}/api/v1/statuses/{quote(external_id, safe='')}")

    health = PublishingMixin.health

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        me = self._me()
        return (f"Signed in to {self.base} as @{me.get('acct') or me.get('username')}.", None,
                {"account_id": me.get("id")})
