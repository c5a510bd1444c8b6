"""Facebook Pages — posts and comments through the Graph API.

* Posts: ``GET /{version}/{page-id}/posts?fields=id,message,created_time,permalink_url,from,shares,
  reactions.summary(true).limit(0),comments.summary(true).limit(0)&limit=…&since=…&after=…``
* Comments: ``GET /{version}/{post-id}/comments?fields=id,message,created_time,from,like_count,
  comment_count,parent{id},permalink_url&filter=stream&order=reverse_chronological&limit=…&after=…``

Paging follows ``paging.cursors.after`` while ``paging.next`` is present.

Config keys: ``page_id`` (required in posts mode); ``access_token`` (secret, a Page access token);
``mode`` (``"posts"`` default, or ``"comments"`` with ``post_ids``); ``include_comments`` (posts mode:
also collect comments on the newest ``comment_posts`` posts, default 10); ``graph_version``
(default ``v21.0``); ``base_url`` (default ``https://graph.facebook.com``); ``limit`` (default 50,
max 100); ``max_pages`` (default 5); ``timeout``; ``allow_private``.

Cursor (JSON)::

    {"posts": {"watermark", "pending", "seen"},            # posts mode
     "comments": {"<post id>": {"watermark", "pending", "seen"}, ...}}

Errors: ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``; code 190 (and
102, 10, 200–299) → auth, codes 4/17/32/613/80001–80014 → rate_limited, 1/2 → transient.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar
from urllib.parse import quote

from civicpulse.connectors._common import HttpConnector, as_int, newest_first, parse_time, ts_key
from civicpulse.connectors._publish import (
    PublishingMixin,
    compose_text,
    is_video,
    normal_text,
    publish_error,
    read_media,
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
from civicpulse.connectors.http import Response, map_http_error

DEFAULT_BASE = "https://graph.facebook.com"
DEFAULT_VERSION = "v21.0"
POST_FIELDS = ("id,message,created_time,permalink_url,from,shares,status_type,"
               "reactions.summary(true).limit(0),comments.summary(true).limit(0)")
COMMENT_FIELDS = "id,message,created_time,from,like_count,comment_count,parent{id},permalink_url"
_RATE_CODES = {4, 17, 32, 613} | set(range(80001, 80015))
_EXPIRED_SUBCODES = {463, 467}


class FacebookConnector(HttpConnector):
    """Reads a Facebook Page's posts and their comments."""

    platform: ClassVar[str] = "facebook"
    service: ClassVar[str] = "Facebook"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = (
        RateLimit(200, 3600.0, "Graph API platform limit: about 200 calls per user per hour; Pages use "
                               "Business Use Case limits reported in X-Business-Use-Case-Usage"),
    )

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        super().__init__(config, **kw)
        self.mode = str(config.get("mode") or "posts")
        if self.mode not in ("posts", "comments"):
            raise ValueError(f"unknown facebook mode {self.mode!r}")
        if self.mode == "posts" and not config.get("page_id"):
            raise ValueError("facebook posts mode needs config['page_id']")
        if self.mode == "comments" and not config.get("post_ids"):
            raise ValueError("facebook comments mode needs config['post_ids']")
        base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")
        self.root = f"{base}/{config.get('graph_version') or DEFAULT_VERSION}"
        self.limit = max(1, min(100, int(config.get("limit", 50))))

    # -- http --------------------------------------------------------------------------------------
    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        err = map_http_error(resp.status, body, resp.headers, service=self.service, now=self.epoch())
        info: dict[str, Any] = (body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict)
                                else {})
        code, sub = as_int(info.get("code")), as_int(info.get("error_subcode"))
        said = info.get("message") or err.platform_message
        if code == 190 or code == 102 or code == 10 or (code is not None and 200 <= code <= 299):
            if code == 190 and sub in _EXPIRED_SUBCODES:
                plain = "The Facebook Page token has expired. Reconnect the Page in Settings → Channels."
            elif code == 190 and sub == 460:
                plain = ("The Facebook Page token stopped working because the password was changed. "
                         "Reconnect the Page in Settings → Channels.")
            elif code == 190:
                plain = "The Facebook Page token is not valid. Reconnect the Page in Settings → Channels."
            else:
                plain = ("Facebook says the Page token lacks a permission this source needs. Reconnect the Page "
                         "and grant pages_read_engagement / pages_read_user_content.")
            return ConnectorError("auth", plain, platform_message=said, status=resp.status)
        if code in _RATE_CODES or resp.status == 429:
            wait = _buc_wait(resp) or err.retry_after or (600.0 if code == 4 else 3600.0)
            return ConnectorError("rate_limited", f"Facebook says we are making too many calls; waiting "
                                  f"{round(wait / 60)} min.", retry_after=wait, platform_message=said,
                                  status=resp.status)
        if code in (1, 2):
            return ConnectorError("transient", "Facebook had a temporary problem; we will try again.",
                                  platform_message=said, status=resp.status)
        if code == 100 and sub == 33:
            return ConnectorError("permanent", "Facebook could not find the Page or post (check the ID in the "
                                  "source settings, and that the token belongs to this Page).",
                                  platform_message=said, status=resp.status)
        err.platform_message = said
        return err

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        token = self.config.get("access_token")
        return self.get_json(f"{self.root}/{path}", {**params, "access_token": token} if token else params)

    # -- fetching -----------------------------------------------------------------------------------
    def _walk(self, path: str, params: dict[str, Any], state: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        def page(token: str | None) -> tuple[list[Any], str | None]:
            body = self._get(path, {**params, "after": token})
            paging = body.get("paging") or {}
            nxt = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            return list(body.get("data") or []), nxt

        return newest_first(page, key=lambda r: ts_key(r.get("created_time")), ident=lambda r: r["id"],
                            state=state, max_pages=max(1, int(self.config.get("max_pages", 5))))

    def _comments(self, post_id: str, state: dict[str, Any]) -> tuple[list[FetchedItem], dict[str, Any]]:
        rows, new_state = self._walk(f"{quote(post_id, safe='')}/comments",
                                     {"fields": COMMENT_FIELDS, "filter": "stream", "order": "reverse_chronological",
                                      "limit": self.limit}, state)
        return [self._comment_item(c, post_id) for c in rows], new_state

    def _fetch(self, cursor: dict[str, Any]) -> FetchResult:
        items: list[FetchedItem] = []
        comment_states: dict[str, Any] = dict(cursor.get("comments") or {})
        new_cursor: dict[str, Any] = {}
        if self.mode == "posts":
            state = dict(cursor.get("posts") or {})
            params: dict[str, Any] = {"fields": POST_FIELDS, "limit": self.limit}
            if state.get("watermark"):
                since = parse_time(state["watermark"])
                if since is not None:
                    params["since"] = int(since.timestamp())
            posts, new_cursor["posts"] = self._walk(f"{quote(str(self.config['page_id']), safe='')}/posts",
                                                    params, state)
            items.extend(self._post_item(p) for p in posts)
            if self.config.get("include_comments"):
                keep = int(self.config.get("comment_posts", 10))
                order = [p["id"] for p in sorted(posts, key=lambda p: p.get("created_time", ""), reverse=True)]
                order += [pid for pid in comment_states if pid not in order]
                comment_states = {pid: comment_states.get(pid, {}) for pid in order[:keep]}
        else:
            comment_states = {str(pid): comment_states.get(str(pid), {}) for pid in self.config["post_ids"]}
        if self.mode == "comments" or self.config.get("include_comments"):
            for pid, cstate in list(comment_states.items()):
                # A post seen for the first time gets all its comments (up to max_pages), hence the
                # lowest possible watermark rather than "newest page only".
                got, comment_states[pid] = self._comments(pid, {**cstate, "watermark": cstate.get("watermark") or "0"})
                items.extend(got)
            new_cursor["comments"] = comment_states
        return FetchResult(items=items, cursor=new_cursor)

    # -- mapping --------------------------------------------------------------------------------------
    def _post_item(self, post: dict[str, Any]) -> FetchedItem:
        author = post.get("from") or {}
        return FetchedItem(
            external_id=post["id"], text=str(post.get("message") or ""), url=post.get("permalink_url"), kind="post",
            author_handle=author.get("id") or str(self.config.get("page_id")), author_name=author.get("name"),
            published_at=parse_time(post.get("created_time")),
            likes=as_int(((post.get("reactions") or {}).get("summary") or {}).get("total_count")),
            shares=as_int((post.get("shares") or {}).get("count")) or 0,
            comments=as_int(((post.get("comments") or {}).get("summary") or {}).get("total_count")),
            raw=post,
        )

    def _comment_item(self, comment: dict[str, Any], post_id: str) -> FetchedItem:
        author = comment.get("from") or {}
        parent = (comment.get("parent") or {}).get("id")
        return FetchedItem(
            external_id=comment["id"], text=str(comment.get("message") or ""),
            url=comment.get("permalink_url"), kind="reply" if parent else "comment",
            author_handle=author.get("id"), author_name=author.get("name"),
            published_at=parse_time(comment.get("created_time")), likes=as_int(comment.get("like_count")),
            comments=as_int(comment.get("comment_count")), parent_external_id=parent or post_id,
            thread_external_id=post_id, raw=comment,
        )

    # -- health ----------------------------------------------------------------------------------------
    def health(self) -> Health:
        """``GET /debug_token`` (validity, ``expires_at``) then ``GET /me?fields=id,name``."""
        token = self.config.get("access_token")
        expires: dt.datetime | None = None
        details: dict[str, Any] = {}
        try:
            try:
                dbg = self.get_json(f"{self.root}/debug_token", {"input_token": token, "access_token": token})
                data = dbg.get("data") or {}
                if data.get("is_valid") is False:
                    reason = (data.get("error") or {}).get("message") or "the token is not valid"
                    return Health(ok=False, message=f"The Facebook Page token does not work ({reason}). Reconnect "
                                  "the Page in Settings → Channels.", checked_at=self._now(), details=data)
                if data.get("expires_at"):
                    expires = dt.datetime.fromtimestamp(int(data["expires_at"]), dt.UTC)
                details["scopes"] = data.get("scopes")
                details["token_type"] = data.get("type")
            except ConnectorError as exc:
                if exc.kind == "auth":
                    raise
                details["debug_token"] = exc.message
            me = self._get("me", {"fields": "id,name"})
        except ConnectorError as exc:
            return self._health_error(exc)
        msg = f"Connected to the Facebook Page \u201c{me.get('name', me.get('id'))}\u201d."
        if expires is not None:
            msg += f" The token expires on {expires:%d %b %Y}."
            if expires <= self._now():
                return Health(ok=False, message="The Facebook Page token has expired. Reconnect the Page in "
                              "Settings → Channels.", checked_at=self._now(), token_expires_at=expires)
        else:
            msg += " The token does not expire."
        return self._health(True, msg, token_expires_at=expires, page_id=me.get("id"), **details)


def _buc_wait(resp: Response) -> float | None:
    """Seconds from ``X-Business-Use-Case-Usage`` / ``X-App-Usage`` ``estimated_time_to_regain_access`` (minutes)."""
    raw = resp.headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [int(entry.get("estimated_time_to_regain_access") or 0)
               for entries in usage.values() if isinstance(entries, list) for entry in entries if isinstance(entry, dict)]
    best = max(minutes, default=0)
    return best * 60.0 if best else None


class FacebookPublisher(PublishingMixin, FacebookConnector):
    """Publishes on a Facebook Page with a Page access token (``pages_manage_posts``, ``pages_read_engagement``).

    * text / link: ``POST /{page-id}/feed`` (form ``message``, ``link``, ``published=true``) → ``{"id"}``
    * one image: ``POST /{page-id}/photos`` (multipart ``source``, ``message``, ``alt_text_custom``) →
      ``{"id", "post_id"}``; several images: each uploaded with ``published=false``, then ``/feed`` with
      ``attached_media[i]={"media_fbid": id}``; a video: ``POST /{page-id}/videos`` (``source``, ``description``).
    * the public address: ``GET /{post-id}?fields=permalink_url,created_time``.
    * look-up: ``GET /{page-id}/posts?fields=id,message,created_time,permalink_url&since=…`` and match the
      exact message inside the look-up window. A publish refused as a duplicate (code 506) is answered with
      the post found that way, so a repeat never shows twice.
    * delete: ``DELETE /{post-id}``. Health: ``debug_token`` (validity, expiry) then ``/me``.

    Errors (Graph error object ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``):
    190 → auth (463/467 expired, 460 password changed), 10/200–299 → auth (missing permission),
    4/17/32/613 → rate_limited, 368 → permanent (blocked by Facebook's policies), 506 → duplicate,
    1/2 → transient.
    """

    can_lookup: ClassVar[bool] = True

    def __init__(self, config: dict[str, Any], **kw: Any) -> None:
        PublishingMixin.__init__(self, config, **kw)
        if not config.get("page_id") or not config.get("access_token"):
            raise ValueError("facebook publishing needs config['page_id'] and config['access_token']")
        self.mode = "posts"
        base = str(config.get("base_url") or DEFAULT_BASE).rstrip("/")
        self.root = f"{base}/{config.get('graph_version') or DEFAULT_VERSION}"
        self.limit = 50
        self.page_id = str(config["page_id"])

    def map_error(self, resp: Response) -> ConnectorError:
        body = resp.json()
        info: dict[str, Any] = (body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict)
                                else {})
        code, said = as_int(info.get("code")), info.get("message")
        if code == 368:
            return publish_error("permanent", "Facebook blocked this post because it looks abusive or against its "
                                 "Community Standards. Change the text or link, or appeal in Meta Business Suite.",
                                 said=said, status=resp.status)
        if code == 506:
            return publish_error("permanent", "Facebook refused the post as a duplicate of a recent one.",
                                 said=said, status=resp.status)
        if code == 10 or (code is not None and 200 <= code <= 299):
            return publish_error("auth", "The Page token lacks the permission to publish. Reconnect the Page and "
                                 "grant pages_manage_posts and pages_read_engagement.", said=said, status=resp.status)
        return FacebookConnector.map_error(self, resp)

    def _form(self, **values: Any) -> dict[str, str]:
        out = {k: str(v) for k, v in values.items() if v is not None}
        out["access_token"] = str(self.config["access_token"])
        return out

    def _photo(self, m: MediaRef, *, message: str | None, published: bool) -> dict[str, Any]:
        files = {"source": (m.path.rsplit("/", 1)[-1], read_media(m, self.service), m.mime)}
        data = self._form(message=message, published="true" if published else "false",
                          alt_text_custom=m.alt_text or None)
        return self.send_json("POST", f"{self.root}/{self.page_id}/photos", data=data, files=files)

    def publish(self, request: PublishRequest) -> Published:
        try:
            post_id = self._publish(request)
        except ConnectorError as exc:
            if exc.platform_message and "duplicate" in exc.platform_message.lower():
                found = self.lookup(request)
                if found is not None:
                    return found
            raise
        return self._published(post_id)

    def _publish(self, request: PublishRequest) -> str:
        media = list(request.media)
        message = request.text.strip()
        videos = [m for m in media if is_video(m)]
        if videos:
            m = videos[0]
            files = {"source": (m.path.rsplit("/", 1)[-1], read_media(m, self.service), m.mime)}
            body = self.send_json("POST", f"{self.root}/{self.page_id}/videos", files=files,
                                  data=self._form(description=compose_text(request), title=request.title))
            return str(body.get("post_id") or f"{self.page_id}_{body['id']}")
        if len(media) == 1:
            body = self._photo(media[0], message=compose_text(request), published=True)
            return str(body.get("post_id") or body["id"])
        form = self._form(message=message, link=request.link, published="true")
        for i, m in enumerate(media):
            photo = self._photo(m, message=None, published=False)
            form[f"attached_media[{i}]"] = json.dumps({"media_fbid": str(photo["id"])})
        if media:
            form["message"] = compose_text(request)
            form.pop("link", None)
        body = self.send_json("POST", f"{self.root}/{self.page_id}/feed", data=form)
        return str(body["id"])

    def _published(self, post_id: str) -> Published:
        try:
            info = self.send_json("GET", f"{self.root}/{quote(post_id, safe='')}",
                                  params=self._form(fields="permalink_url,created_time"))
        except ConnectorError:
            info = {}
        return Published(external_id=post_id, url=info.get("permalink_url") or f"https://www.facebook.com/{post_id}",
                         published_at=parse_time(info.get("created_time")) or self._now(), raw=info)

    def lookup(self, request: PublishRequest) -> Published | None:
        body = self.send_json("GET", f"{self.root}/{self.page_id}/posts",
                              params=self._form(fields="id,message,created_time,permalink_url", limit=50,
                                                since=int(self.since().timestamp())))
        wanted = {normal_text(request.text), normal_text(compose_text(request))}
        for post in body.get("data") or []:
            if normal_text(post.get("message")) in wanted:
                return Published(external_id=str(post["id"]), url=post.get("permalink_url"),
                                 published_at=parse_time(post.get("created_time")), raw=post)
        return None

    def delete(self, external_id: str) -> None:
        self.send_json("DELETE", f"{self.root}/{quote(external_id, safe='')}", params=self._form())

    def health(self) -> Health:
        """The listening check (``debug_token`` validity and expiry, ``/me``) plus the publishing permission."""
        h = FacebookConnector.health(self)
        scopes = h.details.get("scopes")
        if h.ok and isinstance(scopes, list) and "pages_manage_posts" not in scopes:
            return Health(ok=False, message="The Facebook Page token works but may not publish: it lacks the "
                          "pages_manage_posts permission. Reconnect the Page and allow managing posts.",
                          checked_at=h.checked_at, token_expires_at=h.token_expires_at, details=h.details)
        return h
