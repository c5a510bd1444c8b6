"""Bluesky / AT Protocol — post search, author feeds (AppView) and raw repo reads (PDS).

Modes (config ``mode``):

* ``"search"`` — ``GET /xrpc/app.bsky.feed.searchPosts`` with ``q``, ``sort=latest``, ``since``,
  ``limit`` (1–100), ``cursor``; optional ``lang``, ``author``, ``tag`` filters.
* ``"author"`` — ``GET /xrpc/app.bsky.feed.getAuthorFeed`` with ``actor``, ``filter``, ``limit``, ``cursor``.
* ``"repo"`` — ``GET /xrpc/com.atproto.repo.listRecords`` (``repo``, ``collection=app.bsky.feed.post``,
  ``limit``, ``cursor``, ``reverse``) straight from the account's PDS; works without an AppView.

Config keys: ``mode``; ``q``; ``lang``; ``author``; ``tag``; ``actor`` (handle or DID; author/repo);
``filter`` (author mode, default ``posts_with_replies``); ``include_reposts`` (bool, author mode);
``base_url`` (AppView, default ``https://public.api.bsky.app``); ``pds_url`` (repo mode and login,
default ``https://bsky.social``); ``identifier`` + ``app_password`` (secret, optional: log in with
``com.atproto.server.createSession`` and send AppView calls through the PDS); ``limit`` (default
100); ``max_pages`` (default 5); ``backfill`` (repo mode: read the whole repo oldest-first on the
first run instead of only the newest page); ``timeout``; ``allow_private``.

Cursors (JSON):

* search / author: ``{"watermark": "<UTC timestamp>", "pending": {"page", "top"} | None, "seen": [uris]}``
* repo: ``{"rkey": "<last record key read>", "did": "did:..."}`` — record keys are TIDs, so
  ``listRecords(reverse=true, cursor=rkey)`` returns exactly the newer posts.

Errors: XRPC bodies ``{"error": "...", "message": "..."}``; ``ExpiredToken``/``InvalidToken``/
``AuthMissing``/``AuthRequired`` → auth, ``RateLimitExceeded`` → rate_limited (``ratelimit-reset``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any, ClassVar

import regex

from civicpulse.connectors._common import HttpConnector, as_int, newest_first, parse_time, ts_key
from civicpulse.connectors._publish import PublishingMixin, compose_text, is_image, read_media
from civicpulse.connectors.base import (
    ConnectorError,
    FetchedItem,
    FetchResult,
    Health,
    Published,
    PublishRequest,
    RateLimit,
)
from civicpulse.connectors.http import Response, header_int, map_http_error, parse_reset

DEFAULT_APPVIEW = "https://public.api.bsky.app"
DEFAULT_PDS = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
_AUTH_ERRORS = {"ExpiredToken", "InvalidToken", "AuthMissing", "AuthRequired", "AuthenticationRequired",
                "AccountTakedown", "InvalidSignature", "BadJwt", "BadJwtSignature"}


def at_uri_parts(uri: str) -> tuple[str, str, str]:
    """``at://did/collection/rkey`` → ``(did, collection, rkey)``."""
    if not uri.startswith("at://"):
        raise ValueError(f"not an at:// URI: {uri}")
    parts = uri[5:].split("/")
    if len(parts) != 3:
        raise ValueError(f"not a record URI: {uri}")
    return parts[0], parts[1], parts[2]


def web_url(uri: str) -> str | None:
    """``at://<did>/app.bsky.feed.post/<rkey>`` → ``https://bsky.app/profile/<did>/post/<rkey>``."""
    try:
        did, collection, rkey = at_uri_parts(uri)
    except ValueError:
        return None
    if collection != POST_COLLECTION:
        return None
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def jwt_expiry(token: str | None) -> dt.datetime | None:
    """The ``exp`` claim of a JWT (not verified — only to show when a session ends)."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    except (ValueError, KeyError, TypeError):
        return None


class BlueskyConnector(HttpConnector):
    """Reads Bluesky posts through XRPC."""

    platform: ClassVar[str] = "bluesky"
    service: ClassVar[str] = "Bluesky"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(3000, 300.0, "3000 requests per 5 minutes per IP (docs.bsky.app/docs/advanced-guides/rate-limits)"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        self.mode = str(config.get("mode") or ("search" if config.get("q") else "author"))
        if self.mode not in ("search", "author", "repo"):
            raise ValueError(f"unknown bluesky mode {self.mode!r}")
        if self.mode == "search" and not config.get("q"):
            raise ValueError("bluesky search mode needs config['q']")
        if self.mode in ("author", "repo") and not config.get("actor"):
            raise ValueError(f"bluesky {self.mode} mode needs config['actor']")
        self.base_url = str(config.get("base_url") or DEFAULT_APPVIEW).rstrip("/")
        self.pds_url = str(config.get("pds_url") or DEFAULT_PDS).rstrip("/")
        self.limit = max(1, min(100, int(config.get("limit", 100))))
        self._access: str | None = None
        self._session: dict[str, Any] = {}

    # -- http / auth ------------------------------------------------------------------------------
    def note_rate_headers(self, resp: Response) -> None:
        self.limiter.note_server(header_int(resp.headers, "ratelimit-remaining"),
                                 parse_reset(resp.headers.get("ratelimit-reset"), now=self.epoch()))

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        name = body.get("error") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) else None
        said = f"{name}: {message}" if name and message else (name or message)
        err = map_http_error(resp.status, body, resp.headers, service=self.service, now=self.epoch())
        err.platform_message = said
        if name in _AUTH_ERRORS:
            plain = ("The Bluesky session has expired" if name == "ExpiredToken"
                     else "Bluesky did not accept our sign-in")
            return ConnectorError("auth", f"{plain}. Check the handle and app password in Settings → Channels."
                                  f" ({said})", platform_message=said, status=resp.status)
        if name == "RateLimitExceeded" or resp.status == 429:
            wait = err.retry_after
            return ConnectorError("rate_limited", "Bluesky says we are sending too many requests."
                                  + (f" Waiting {round(wait)} s." if wait is not None else ""),
                                  retry_after=wait, platform_message=said, status=resp.status)
        if message and "No service configured" in message:
            return ConnectorError("permanent", f"The server {resp.url.split('/xrpc/')[0]} cannot answer "
                                  f"{resp.url.split('/xrpc/')[-1].split('?')[0]} (it has no AppView). Use the "
                                  "“repo” mode to read an account straight from its PDS.",
                                  platform_message=said, status=resp.status)
        if name in ("RepoNotFound", "ActorNotFound", "RecordNotFound") or \
                (message and ("Could not find repo" in message or "Profile not found" in message)):
            return ConnectorError("permanent", f"Bluesky could not find the account {self.config.get('actor')}.",
                                  platform_message=said, status=resp.status)
        if name and err.kind == "permanent":
            err.message = f"Bluesky rejected the request ({said})."
        return err

    def _login(self) -> None:
        ident, password = self.config.get("identifier"), self.config.get("app_password")
        if not ident or not password:
            return
        resp = self.request("POST", f"{self.pds_url}/xrpc/com.atproto.server.createSession",
                            json={"identifier": ident, "password": password})
        self._session = resp.json() or {}
        self._access = self._session.get("accessJwt")

    def _xrpc(self, method: str, params: dict[str, Any], *, base: str | None = None) -> Any:
        """GET an XRPC query. Logged-in calls go to the PDS (which proxies ``app.bsky.*``)."""
        if self._access is None and self.config.get("identifier") and self.config.get("app_password"):
            self._login()
        host = base or (self.pds_url if self._access else self.base_url)
        headers = {"Authorization": f"Bearer {self._access}"} if self._access else {}
        try:
            return self.get_json(f"{host}/xrpc/{method}", params, headers=headers)
        except ConnectorError as exc:
            if self._access and exc.kind == "auth" and "ExpiredToken" in (exc.platform_message or ""):
                self._access = None
                self._login()
                headers = {"Authorization": f"Bearer {self._access}"} if self._access else {}
                return self.get_json(f"{host}/xrpc/{method}", params, headers=headers)
            raise

    # -- fetching ----------------------------------------------------------------------------------
    def _fetch(self, cursor: dict[str, Any]) -> FetchResult:
        if self.mode == "repo":
            return self._fetch_repo(cursor)
        max_pages = max(1, int(self.config.get("max_pages", 5)))
        if self.mode == "search":
            params: dict[str, Any] = {"q": self.config["q"], "sort": "latest", "limit": self.limit}
            for key in ("lang", "author", "mentions", "domain", "url"):
                if self.config.get(key):
                    params[key] = self.config[key]
            if self.config.get("tag"):
                params["tag"] = list(self.config["tag"]) if isinstance(self.config["tag"], list) else [self.config["tag"]]
            since = cursor.get("watermark") or self.config.get("since")
            if since:
                params["since"] = since

            def page(token: str | None) -> tuple[list[Any], str | None]:
                body = self._xrpc("app.bsky.feed.searchPosts", {**params, "cursor": token})
                return list(body.get("posts") or []), body.get("cursor")

            posts, state = newest_first(page, key=lambda p: ts_key(p.get("indexedAt")), ident=lambda p: p["uri"],
                                        state=cursor, max_pages=max_pages, stop_at_watermark=False)
        else:
            params = {"actor": self.config["actor"], "limit": self.limit,
                      "filter": self.config.get("filter", "posts_with_replies")}

            def page(token: str | None) -> tuple[list[Any], str | None]:
                body = self._xrpc("app.bsky.feed.getAuthorFeed", {**params, "cursor": token})
                entries = list(body.get("feed") or [])
                if not self.config.get("include_reposts"):
                    entries = [e for e in entries if not _is_repost(e)]
                return entries, body.get("cursor")

            entries, state = newest_first(page, key=lambda e: ts_key(e["post"].get("indexedAt")),
                                          ident=lambda e: e["post"]["uri"], state=cursor, max_pages=max_pages)
            posts = [e["post"] for e in entries]
        items = [self._item_from_view(p) for p in posts]
        return FetchResult(items=items, cursor=state)

    def _fetch_repo(self, cursor: dict[str, Any]) -> FetchResult:
        actor = str(self.config["actor"])
        rkey = cursor.get("rkey")
        state = {"rkey": rkey, "did": cursor.get("did")}
        base = self.pds_url
        items: list[FetchedItem] = []
        params: dict[str, Any] = {"repo": actor, "collection": POST_COLLECTION, "limit": self.limit}
        if rkey is None and not self.config.get("backfill"):
            body = self._xrpc("com.atproto.repo.listRecords", params, base=base)
            records = sorted(body.get("records") or [], key=lambda r: at_uri_parts(r["uri"])[2])
        else:
            records = []
            page_cursor = rkey
            for _ in range(max(1, int(self.config.get("max_pages", 5)))):
                body = self._xrpc("com.atproto.repo.listRecords", {**params, "reverse": True, "cursor": page_cursor},
                                  base=base)
                page = sorted(body.get("records") or [], key=lambda r: at_uri_parts(r["uri"])[2])
                page = [r for r in page if page_cursor is None or at_uri_parts(r["uri"])[2] > page_cursor]
                records.extend(page)
                if len(body.get("records") or []) < self.limit or not page:
                    break
                page_cursor = at_uri_parts(page[-1]["uri"])[2]
        handle = None if actor.startswith("did:") else actor.lstrip("@")
        for rec in records:
            did, _coll, key = at_uri_parts(rec["uri"])
            state["did"] = did
            if state["rkey"] is None or key > state["rkey"]:
                state["rkey"] = key
            items.append(self._item_from_record(rec, handle))
        return FetchResult(items=items, cursor=state)

    # -- mapping ------------------------------------------------------------------------------------
    @staticmethod
    def _reply_refs(record: dict[str, Any]) -> tuple[str | None, str | None]:
        reply = record.get("reply") or {}
        parent = (reply.get("parent") or {}).get("uri")
        root = (reply.get("root") or {}).get("uri")
        return parent, root

    def _item_from_view(self, post: dict[str, Any]) -> FetchedItem:
        record = post.get("record") or {}
        author = post.get("author") or {}
        parent, root = self._reply_refs(record)
        langs = record.get("langs") or []
        return FetchedItem(
            external_id=post["uri"], text=str(record.get("text") or ""), url=web_url(post["uri"]),
            kind="reply" if parent else "post", author_handle=author.get("handle"),
            author_name=author.get("displayName") or author.get("handle"),
            author_followers=as_int(author.get("followersCount")),
            published_at=parse_time(record.get("createdAt") or post.get("indexedAt")),
            likes=as_int(post.get("likeCount")),
            shares=_sum(post.get("repostCount"), post.get("quoteCount")),
            comments=as_int(post.get("replyCount")),
            parent_external_id=parent, thread_external_id=root, language=langs[0] if langs else None, raw=post,
        )

    def _item_from_record(self, rec: dict[str, Any], handle: str | None) -> FetchedItem:
        value = rec.get("value") or {}
        did = at_uri_parts(rec["uri"])[0]
        parent, root = self._reply_refs(value)
        langs = value.get("langs") or []
        return FetchedItem(
            external_id=rec["uri"], text=str(value.get("text") or ""), url=web_url(rec["uri"]),
            kind="reply" if parent else "post", author_handle=handle or did, author_name=handle,
            published_at=parse_time(value.get("createdAt")), parent_external_id=parent, thread_external_id=root,
            language=langs[0] if langs else None, raw=rec,
        )

    # -- health ---------------------------------------------------------------------------------------
    def health(self) -> Health:
        """``GET /xrpc/_health`` on the server we read from; repo mode also reads one record and
        sign-in (if configured) reports when the session token expires."""
        base = self.pds_url if (self.mode == "repo" or self.config.get("identifier")) else self.base_url
        try:
            info = self.get_json(f"{base}/xrpc/_health")
            expires = None
            if self.config.get("identifier") and self.config.get("app_password"):
                self._login()
                expires = jwt_expiry(self._access)
            if self.mode == "repo":
                self._xrpc("com.atproto.repo.listRecords",
                           {"repo": self.config["actor"], "collection": POST_COLLECTION, "limit": 1}, base=base)
        except ConnectorError as exc:
            return self._health_error(exc)
        return self._health(True, f"Connected to {base} (version {info.get('version', '?')}).",
                            token_expires_at=expires, server_version=info.get("version"))


def _is_repost(entry: dict[str, Any]) -> bool:
    reason = entry.get("reason") or {}
    return str(reason.get("$type", "")).endswith("reasonRepost")


def _sum(*values: Any) -> int | None:
    nums = [as_int(v) for v in values if as_int(v) is not None]
    return sum(nums) if nums else None  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- publishing

FACET = "app.bsky.richtext.facet"
_LINK_RE = regex.compile(r"(?:(?<=^)|(?<=[\s(]))(https?://[^\s<>\"]+)", regex.IGNORECASE)
_MENTION_RE = regex.compile(r"(?:(?<=^)|(?<=[\s(]))@([a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?\.[a-zA-Z][a-zA-Z0-9-]*)")
_TAG_RE = regex.compile(r"(?:(?<=^)|(?<=\s))[#＃]((?!\ufe0f)[^\s\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2]*"
                        r"[^\d\s\p{P}\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2]+"
                        r"[^\s\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2]*)")
_TRAILING_PUNCT = ".,;:!?)]}'\"\u201d\u2019"
#: the record field that carries the idempotency key, so a look-up can find the post (lexicons are open:
#: extra fields are kept and ignored by apps)
KEY_FIELD = "civicpulseKey"


def _byte_span(text: str, start: int, end: int) -> dict[str, int]:
    b = len(text[:start].encode("utf-8"))
    return {"byteStart": b, "byteEnd": b + len(text[start:end].encode("utf-8"))}


def facets(text: str, resolve: Any = None) -> list[dict[str, Any]]:
    """Rich-text facets for links, mentions and hashtags, indexed by UTF-8 byte offsets.

    ``resolve(handle) -> did | None`` turns a mention into a DID; unresolvable mentions stay plain text.
    """
    out: list[dict[str, Any]] = []
    for m in _LINK_RE.finditer(text):
        start, end = m.span(1)
        while end > start and text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        uri = text[start:end]
        out.append({"index": _byte_span(text, start, end), "features": [{"$type": f"{FACET}#link", "uri": uri}]})
    for m in _MENTION_RE.finditer(text):
        handle = m.group(1).lower()
        did = resolve(handle) if resolve else None
        if did:
            out.append({"index": _byte_span(text, m.start(), m.end(1)),
                        "features": [{"$type": f"{FACET}#mention", "did": did}]})
    for m in _TAG_RE.finditer(text):
        tag = m.group(1)
        stripped = regex.sub(r"\p{P}+$", "", tag)  # as the official client does: no trailing punctuation
        if not stripped or len(regex.findall(r"\X", stripped)) > 64:
            continue
        end = m.start(1) + len(stripped)
        out.append({"index": _byte_span(text, m.start(), end), "features": [{"$type": f"{FACET}#tag", "tag": stripped}]})
    out.sort(key=lambda f: f["index"]["byteStart"])
    return out


class BlueskyPublisher(PublishingMixin, BlueskyConnector):
    """Posts to one Bluesky account on its PDS (AT Protocol).

    * sign-in: ``com.atproto.server.createSession`` with the handle and an app password; the session is
      renewed once when a call answers ``ExpiredToken``.
    * images: ``com.atproto.repo.uploadBlob`` (raw bytes, ≤ 1,000,000 bytes each, up to 4) embedded as
      ``app.bsky.embed.images`` with alt text and ``aspectRatio``.
    * post: ``com.atproto.repo.createRecord`` of an ``app.bsky.feed.post`` with ``text``, ``createdAt``,
      ``langs``, ``facets`` (links, mentions resolved with ``com.atproto.identity.resolveHandle``, hashtags; UTF-8
      byte offsets), ``reply`` (root/parent strong refs read with ``getRecord``) and the idempotency key in
      the ``civicpulseKey`` field.
    * look-up: ``com.atproto.repo.listRecords`` (newest 50) and match ``civicpulseKey``.
    * delete: ``com.atproto.repo.deleteRecord``.
    * health: ``createSession``.

    Rate limits are the PDS write points: a create costs 3 points, a delete 1; 5000 points per hour and
    35,000 per day per account. Config keys: ``pds_url`` (default ``https://bsky.social``), ``identifier``
    (handle), ``app_password`` (secret), ``timeout``, ``allow_private``.
    """

    can_lookup: ClassVar[bool] = True
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(5000, 3600.0, "PDS write points: 5000 per hour per account (create = 3, delete = 1)"),
        RateLimit(35_000, 86_400.0, "PDS write points: 35,000 per day per account"),
    )
    CREATE_COST: ClassVar[float] = 3.0
    DELETE_COST: ClassVar[float] = 1.0

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        PublishingMixin.__init__(self, config, **kw)
        if not config.get("identifier") or not config.get("app_password"):
            raise ValueError("bluesky publishing needs config['identifier'] and config['app_password']")
        self.pds_url = str(config.get("pds_url") or DEFAULT_PDS).rstrip("/")
        self.base_url = self.pds_url
        self._access = None
        self._session = {}

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access}"} if self._access else {}

    def can_refresh(self) -> bool:
        return True

    def refresh_credentials(self) -> None:
        self._access = None
        self._login()

    def _did(self) -> str:
        if self._access is None:
            self._login()
        return str(self._session["did"])

    def _x(self, method: str, nsid: str, *, cost: float = 0.0, **kw: Any) -> Any:
        self._did()
        return self.send_json(method, f"{self.pds_url}/xrpc/{nsid}", cost=cost, **kw)

    def _resolve(self, handle: str) -> str | None:
        try:
            return self._x("GET", "com.atproto.identity.resolveHandle", params={"handle": handle}).get("did")
        except ConnectorError as exc:
            if exc.kind in ("permanent",):
                return None
            raise

    def _strong_ref(self, uri: str) -> tuple[dict[str, str], dict[str, str]]:
        did, collection, rkey = at_uri_parts(uri)
        rec = self._x("GET", "com.atproto.repo.getRecord", params={"repo": did, "collection": collection, "rkey": rkey})
        parent = {"uri": rec["uri"], "cid": rec["cid"]}
        root = ((rec.get("value") or {}).get("reply") or {}).get("root") or parent
        return {"uri": root["uri"], "cid": root["cid"]}, parent

    def record(self, request: PublishRequest) -> dict[str, Any]:
        text = compose_text(request)
        now = self._now().astimezone(dt.UTC)
        rec: dict[str, Any] = {"$type": POST_COLLECTION, "text": text,
                               "createdAt": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                               KEY_FIELD: request.idempotency_key}
        found = facets(text, self._resolve)
        if found:
            rec["facets"] = found
        if request.language:
            rec["langs"] = [request.language]
        if request.reply_to:
            root, parent = self._strong_ref(request.reply_to)
            rec["reply"] = {"root": root, "parent": parent}
        images = []
        for m in request.media:
            if not is_image(m):
                raise ConnectorError("permanent", f"Bluesky posts from civicpulse take images only; "
                                     f"{m.path.rsplit('/', 1)[-1]} is {m.mime}.")
            blob = self._x("POST", "com.atproto.repo.uploadBlob", content=read_media(m, self.service),
                           headers={"Content-Type": m.mime})["blob"]
            img: dict[str, Any] = {"alt": m.alt_text, "image": blob}
            if m.width and m.height:
                img["aspectRatio"] = {"width": m.width, "height": m.height}
            images.append(img)
        if images:
            rec["embed"] = {"$type": "app.bsky.embed.images", "images": images}
        return rec

    def publish(self, request: PublishRequest) -> Published:
        rec = self.record(request)
        body = self._x("POST", "com.atproto.repo.createRecord", cost=self.CREATE_COST,
                       json={"repo": self._did(), "collection": POST_COLLECTION, "record": rec})
        return Published(external_id=body["uri"], url=web_url(body["uri"]), published_at=parse_time(rec["createdAt"]),
                         raw={"uri": body["uri"], "cid": body.get("cid"), "record": rec})

    def lookup(self, request: PublishRequest) -> Published | None:
        body = self._x("GET", "com.atproto.repo.listRecords",
                       params={"repo": self._did(), "collection": POST_COLLECTION, "limit": 50})
        for rec in body.get("records") or []:
            value = rec.get("value") or {}
            if value.get(KEY_FIELD) == request.idempotency_key:
                return Published(external_id=rec["uri"], url=web_url(rec["uri"]),
                                 published_at=parse_time(value.get("createdAt")), raw=rec)
        return None

    def delete(self, external_id: str) -> None:
        did, collection, rkey = at_uri_parts(external_id)
        self._x("POST", "com.atproto.repo.deleteRecord", cost=self.DELETE_COST,
                json={"repo": did, "collection": collection, "rkey": rkey})

    health = PublishingMixin.health

    def check(self) -> tuple[str, Any, dict[str, Any]]:
        self._access = None
        self._login()
        return (f"Signed in to {self.pds_url} as {self._session.get('handle')}.", None,
                {"did": self._session.get("did"), "session_expires_at": str(jwt_expiry(self._access) or "")})
