"""Which listening connectors exist, what they need, and how to get their class.

``get_connector("mastodon")`` → :class:`MastodonConnector`. :data:`PLATFORMS` describes each
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
