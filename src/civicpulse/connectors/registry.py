"""Which connectors exist, what they need, and how to get their class.

``get_connector("mastodon")`` → :class:`MastodonConnector` (listening); ``get_publisher("mastodon")`` →
:class:`MastodonPublisher` (publishing, described by :data:`PUBLISHING_PLATFORMS`). :data:`PLATFORMS` describes each
platform and its config fields so the UI can render a form (name, label, type, required, secret).
Field types: ``str``, ``url``, ``int``, ``bool``, ``choice`` (see ``choices``), ``list`` (of strings).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from civicpulse.connectors.base import Connector


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigField:
    name: str
    label: str
    type: str = "str"
    required: bool = False
    secret: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class PlatformInfo:
    platform: str
    label: str
    description: str
    module: str
    class_name: str
    fields: tuple[ConfigField, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"platform": self.platform, "label": self.label, "description": self.description,
                "fields": [f.as_dict() for f in self.fields]}


_COMMON = (
    ConfigField("timeout", "Time limit per request (seconds)", "int", default=10),
)

PLATFORMS: tuple[PlatformInfo, ...] = (
    PlatformInfo("rss", "RSS / Atom feed", "News sites, agency press releases and blogs that publish a feed.",
                 "civicpulse.connectors.rss", "RssConnector", (
                     ConfigField("url", "Feed address", "url", required=True),
                     ConfigField("full_text", "Fetch the full article when the feed has only a summary", "bool",
                                 default=False),
                     ConfigField("max_items", "Most entries per collection", "int", default=200),
                     *_COMMON)),
    PlatformInfo("mastodon", "Mastodon", "Public posts on a Mastodon server: a hashtag, the public timeline or "
                 "one account.", "civicpulse.connectors.mastodon", "MastodonConnector", (
                     ConfigField("instance_url", "Server address", "url", required=True,
                                 help="For example https://mastodon.social"),
                     ConfigField("mode", "What to follow", "choice", default="hashtag",
                                 choices=("hashtag", "public", "account")),
                     ConfigField("hashtag", "Hashtag (without #)"),
                     ConfigField("account", "Account (user or user@server)"),
                     ConfigField("local", "Only posts from this server", "bool", default=False),
                     ConfigField("access_token", "Access token", secret=True,
                                 help="Needed on servers that only show timelines to signed-in apps."),
                     *_COMMON)),
    PlatformInfo("bluesky", "Bluesky", "Bluesky posts: a search, one account's feed, or an account read straight "
                 "from its server (PDS).", "civicpulse.connectors.bluesky", "BlueskyConnector", (
                     ConfigField("mode", "What to follow", "choice", default="search",
                                 choices=("search", "author", "repo")),
                     ConfigField("q", "Search words"),
                     ConfigField("lang", "Language filter (e.g. th, vi, en)"),
                     ConfigField("actor", "Account handle or DID"),
                     ConfigField("base_url", "AppView address", "url", default="https://public.api.bsky.app"),
                     ConfigField("pds_url", "PDS address (repo mode and sign-in)", "url", default="https://bsky.social"),
                     ConfigField("identifier", "Sign-in handle (optional)"),
                     ConfigField("app_password", "App password (optional)", secret=True),
                     *_COMMON)),
    PlatformInfo("youtube", "YouTube comments", "Comments on one video or on everything related to a channel "
                 "(YouTube Data API v3).", "civicpulse.connectors.youtube", "YouTubeConnector", (
                     ConfigField("api_key", "API key", required=True, secret=True),
                     ConfigField("video_id", "Video ID"),
                     ConfigField("channel_id", "Channel ID (instead of a video)"),
                     ConfigField("search_terms", "Only comments containing"),
                     ConfigField("fetch_all_replies", "Read every reply (uses more quota)", "bool", default=False),
                     ConfigField("daily_quota", "Daily quota units", "int", default=10_000),
                     *_COMMON)),
    PlatformInfo("facebook", "Facebook Page", "Posts on a Facebook Page and the comments under them (Graph API).",
                 "civicpulse.connectors.facebook", "FacebookConnector", (
                     ConfigField("page_id", "Page ID", required=True),
                     ConfigField("access_token", "Page access token", required=True, secret=True),
                     ConfigField("mode", "What to collect", "choice", default="posts", choices=("posts", "comments")),
                     ConfigField("include_comments", "Also collect comments on recent posts", "bool", default=False),
                     ConfigField("post_ids", "Post IDs (comments mode)", "list"),
                     ConfigField("graph_version", "Graph API version", default="v21.0"),
                     *_COMMON)),
    PlatformInfo("x", "X (Twitter)", "Recent posts on X matching a search (API v2, last 7 days).",
                 "civicpulse.connectors.x", "XConnector", (
                     ConfigField("query", "Search query", required=True,
                                 help='X search syntax, e.g. "น้ำท่วม lang:th -is:retweet"'),
                     ConfigField("bearer_token", "Bearer token", required=True, secret=True),
                     ConfigField("rate_limit_per_15min", "Requests per 15 minutes allowed by your plan", "int",
                                 default=60),
                     *_COMMON)),
)

_BY_NAME = {p.platform: p for p in PLATFORMS}

_OAUTH_APP = (
    ConfigField("refresh_token", "Refresh token (renews the sign-in automatically)", secret=True),
    ConfigField("client_id", "App client ID (for renewing the sign-in)"),
    ConfigField("client_secret", "App client secret (for renewing the sign-in)", secret=True),
)

#: The publishing side: one entry per platform a channel can publish to (the website channel, served by
#: civicpulse itself, is handled by the publishing area). ``get_publisher(platform)`` returns the class.
PUBLISHING_PLATFORMS: tuple[PlatformInfo, ...] = (
    PlatformInfo("facebook", "Facebook Page", "Posts, photos and videos on a Facebook Page (Graph API).",
                 "civicpulse.connectors.facebook", "FacebookPublisher", (
                     ConfigField("page_id", "Page ID", required=True),
                     ConfigField("access_token", "Page access token", required=True, secret=True,
                                 help="Needs pages_manage_posts and pages_read_engagement."),
                     ConfigField("graph_version", "Graph API version", default="v21.0"),
                     *_COMMON)),
    PlatformInfo("x", "X (Twitter)", "Posts with up to 4 images on one X account (API v2, OAuth 2.0 user token).",
                 "civicpulse.connectors.x", "XPublisher", (
                     ConfigField("access_token", "User access token", required=True, secret=True,
                                 help="Scopes tweet.write tweet.read users.read media.write offline.access."),
                     *_OAUTH_APP,
                     ConfigField("rate_limit_per_15min", "Posts per 15 minutes allowed by your plan", "int",
                                 default=200),
                     *_COMMON)),
    PlatformInfo("line", "LINE Official Account", "Broadcast, narrowcast or push messages from a LINE Official "
                 "Account (Messaging API).", "civicpulse.connectors.line", "LineConnector", (
                     ConfigField("channel_access_token", "Channel access token", required=True, secret=True),
                     ConfigField("mode", "Who receives it", "choice", default="broadcast",
                                 choices=("broadcast", "narrowcast", "push", "multicast")),
                     ConfigField("to", "User or group ID (push) / user IDs (multicast)", "list"),
                     ConfigField("audience_group_id", "Audience ID (narrowcast)", "int"),
                     ConfigField("notification_disabled", "Send without a notification sound", "bool", default=False),
                     *_COMMON)),
    PlatformInfo("youtube", "YouTube channel", "Video uploads with title and description (YouTube Data API v3).",
                 "civicpulse.connectors.youtube", "YouTubePublisher", (
                     ConfigField("access_token", "OAuth access token", required=True, secret=True),
                     *_OAUTH_APP,
                     ConfigField("privacy_status", "Visibility", "choice", default="public",
                                 choices=("public", "unlisted", "private")),
                     ConfigField("category_id", "Category ID", default="25", help="25 is News & Politics."),
                     ConfigField("daily_quota", "Daily quota units", "int", default=10_000),
                     *_COMMON)),
    PlatformInfo("telegram", "Telegram channel", "Posts in a Telegram channel through a bot that is one of its "
                 "administrators (Bot API).", "civicpulse.connectors.telegram", "TelegramConnector", (
                     ConfigField("bot_token", "Bot token (from @BotFather)", required=True, secret=True),
                     ConfigField("chat_id", "Channel (@name or -100… ID)", required=True),
                     ConfigField("disable_notification", "Post silently", "bool", default=False),
                     ConfigField("disable_link_preview", "Hide link previews", "bool", default=False),
                     *_COMMON)),
    PlatformInfo("zalo", "Zalo Official Account", "Articles for the followers of a Zalo Official Account (or a "
                 "message to one user).", "civicpulse.connectors.zalo", "ZaloConnector", (
                     ConfigField("access_token", "OA access token", required=True, secret=True),
                     ConfigField("refresh_token", "Refresh token", secret=True,
                                 help="Renews the access token (about every 25 hours)."),
                     ConfigField("app_id", "App ID"),
                     ConfigField("secret_key", "App secret key", secret=True),
                     ConfigField("kind", "What to publish", "choice", default="article", choices=("article", "message")),
                     ConfigField("user_id", "User ID (message)"),
                     ConfigField("author", "Article author"),
                     ConfigField("cover_url", "Article cover image (https address)", "url"),
                     *_COMMON)),
    PlatformInfo("mastodon", "Mastodon", "Posts with media on one Mastodon account.",
                 "civicpulse.connectors.mastodon", "MastodonPublisher", (
                     ConfigField("instance_url", "Server address", "url", required=True),
                     ConfigField("access_token", "Access token", required=True, secret=True,
                                 help="Scopes write:statuses write:media read:accounts."),
                     ConfigField("visibility", "Visibility", "choice", default="public",
                                 choices=("public", "unlisted", "private")),
                     *_COMMON)),
    PlatformInfo("bluesky", "Bluesky", "Posts with images on one Bluesky account (AT Protocol).",
                 "civicpulse.connectors.bluesky", "BlueskyPublisher", (
                     ConfigField("pds_url", "PDS address", "url", default="https://bsky.social"),
                     ConfigField("identifier", "Handle", required=True, help="For example agency.bsky.social"),
                     ConfigField("app_password", "App password", required=True, secret=True,
                                 help="Create one under Settings → Privacy and security → App passwords."),
                     *_COMMON)),
    PlatformInfo("newsletter", "Email newsletter", "An email to a list of subscribers through your SMTP server, "
                 "with one-click unsubscribe.", "civicpulse.connectors.newsletter", "NewsletterConnector", (
                     ConfigField("smtp_host", "SMTP server", required=True),
                     ConfigField("smtp_port", "SMTP port", "int", default=587),
                     ConfigField("security", "Connection security", "choice", default="starttls",
                                 choices=("starttls", "ssl", "none")),
                     ConfigField("username", "SMTP user name"),
                     ConfigField("password", "SMTP password", secret=True),
                     ConfigField("from_address", "From address", required=True),
                     ConfigField("recipients", "Subscribers", "list", required=True),
                     ConfigField("unsubscribe_url", "Unsubscribe address", "url",
                                 help="{email} is replaced by the subscriber's address."),
                     ConfigField("unsubscribe_mailto", "Unsubscribe mailbox"),
                     ConfigField("list_id", "List ID (e.g. news.ministry.example)"),
                     ConfigField("reply_to", "Reply-to address"),
                     ConfigField("timeout", "Time limit per connection (seconds)", "int", default=30))),
    PlatformInfo("webhook", "Webhook", "Signed JSON sent to an address of your choice (HMAC-SHA256).",
                 "civicpulse.connectors.webhook", "WebhookConnector", (
                     ConfigField("url", "Address", "url", required=True),
                     ConfigField("secret", "Signing secret", required=True, secret=True),
                     ConfigField("allow_private", "The receiver is on the internal network", "bool", default=False),
                     *_COMMON)),
)

_PUBLISHERS = {p.platform: p for p in PUBLISHING_PLATFORMS}


def platform_info(platform: str) -> PlatformInfo:
    try:
        return _BY_NAME[platform.lower()]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise KeyError(f"unknown platform {platform!r}; known platforms: {known}") from None


def get_connector(platform: str) -> type[Connector]:
    """The connector class for ``platform`` (imported lazily)."""
    info = platform_info(platform)
    cls = getattr(importlib.import_module(info.module), info.class_name)
    assert issubclass(cls, Connector)
    return cls


def list_platforms() -> list[dict[str, Any]]:
    """JSON-ready descriptions for the UI."""
    return [p.as_dict() for p in PLATFORMS]


def publishing_info(platform: str) -> PlatformInfo:
    try:
        return _PUBLISHERS[platform.lower()]
    except KeyError:
        known = ", ".join(sorted(_PUBLISHERS))
        raise KeyError(f"unknown publishing platform {platform!r}; known platforms: {known}") from None


def get_publisher(platform: str) -> type[Connector]:
    """The publishing connector class for ``platform`` (imported lazily)."""
    info = publishing_info(platform)
    cls = getattr(importlib.import_module(info.module), info.class_name)
    assert issubclass(cls, Connector)
    return cls


def list_publishing_platforms() -> list[dict[str, Any]]:
    """JSON-ready descriptions of the publishing platforms for the UI."""
    return [p.as_dict() for p in PUBLISHING_PLATFORMS]
