"""One base for every platform connector.

A *listening* connector turns a platform's API into :class:`FetchedItem` objects:
``fetch(cursor) -> FetchResult(items, cursor)``. A *publishing* connector (added by the
publishing area) implements ``publish``/``lookup``/``delete``. Both declare their rate
limits and answer ``health()``.

Errors always map to one of four kinds so that the job layer can decide what to do:
transient (retry with backoff), auth (stop, tell the owner to fix the token),
permanent (stop, show the reason), rate_limited (wait ``retry_after`` seconds).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, ClassVar, Literal

ErrorKind = Literal["transient", "auth", "permanent", "rate_limited"]


class ConnectorError(Exception):
    """A failure talking to a platform, with a plain-words message for officers."""

    def __init__(self, kind: ErrorKind, message: str, *, retry_after: float | None = None,
                 platform_message: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.retry_after = retry_after
        self.platform_message = platform_message
        self.status = status

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


@dataclasses.dataclass(slots=True)
class FetchedItem:
    """One collected post / comment / article / reply, normalised across platforms."""

    external_id: str
    text: str
    url: str | None = None
    kind: str = "post"  # post | comment | article | reply
    title: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    author_followers: int | None = None
    published_at: dt.datetime | None = None  # timezone-aware UTC
    likes: int | None = None
    shares: int | None = None
    comments: int | None = None
    views: int | None = None
    parent_external_id: str | None = None
    thread_external_id: str | None = None
    language: str | None = None  # as declared by the platform, if any
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class FetchResult:
    items: list[FetchedItem]
    cursor: dict[str, Any]  # JSON-serialisable state; stored on the source and passed back next time
    rejected: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (external id or row ref, reason)


@dataclasses.dataclass(slots=True)
class Health:
    ok: bool
    message: str  # plain words, e.g. "Token expired on 3 May; reconnect the page in Settings → Channels"
    checked_at: dt.datetime
    token_expires_at: dt.datetime | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``calls`` requests per ``per_seconds`` (a published platform limit)."""

    calls: int
    per_seconds: float
    note: str = ""


@dataclasses.dataclass(slots=True)
class MediaRef:
    """A file attached to a post (stored by civicpulse; connectors upload it the platform's way)."""

    path: str  # local file path
    mime: str  # e.g. image/jpeg, video/mp4, application/pdf
    size: int = 0  # bytes
    alt_text: str = ""  # required for images (accessibility)
    width: int | None = None
    height: int | None = None


@dataclasses.dataclass(slots=True)
class PublishRequest:
    """One variant of a post, ready for one channel.

    ``idempotency_key`` is stable for the variant across retries and worker restarts. Connectors pass it
    to the platform where the API supports one (e.g. Mastodon's ``Idempotency-Key`` header) and use it in
    :meth:`Connector.lookup` to find a post whose outcome is unknown (crash, timeout) before posting again.
    """

    idempotency_key: str
    text: str
    title: str | None = None  # website, email newsletter, YouTube
    link: str | None = None
    media: list[MediaRef] = dataclasses.field(default_factory=list)
    language: str | None = None
    reply_to: str | None = None  # platform id of the post/comment this answers
    scheduled_at: dt.datetime | None = None  # for platforms that schedule natively (not used by default)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class Published:
    """What the platform answered: its id and public address of the post."""

    external_id: str
    url: str | None = None
    published_at: dt.datetime | None = None
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)


class Connector:
    """Base class: subclasses set ``platform`` and implement what they support."""

    platform: ClassVar[str] = "base"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = ()

    def __init__(self, config: dict[str, Any], *, http: Any | None = None) -> None:
        self.config = config
        self._http = http

    # listening
    def fetch(self, cursor: dict[str, Any] | None) -> FetchResult:
        raise NotImplementedError(f"{self.platform} cannot collect items")

    # publishing
    #: True when :meth:`lookup` can find a post by its idempotency key (reconciliation after a crash).
    can_lookup: ClassVar[bool] = False
    #: True when publishing again with the same ``idempotency_key`` cannot create a second post, because the
    #: platform (or receiver) deduplicates on it (Mastodon ``Idempotency-Key``, LINE ``X-Line-Retry-Key``,
    #: the signed webhook's ``Idempotency-Key``). A request whose outcome is unknown may then simply be retried.
    idempotent_retry: ClassVar[bool] = False

    def publish(self, request: PublishRequest) -> Published:
        raise NotImplementedError(f"{self.platform} cannot publish")

    def lookup(self, request: PublishRequest) -> Published | None:
        """The post made earlier for ``request.idempotency_key``, or None if the platform has none."""
        raise NotImplementedError(f"{self.platform} cannot look a post up")

    def delete(self, external_id: str) -> None:
        raise NotImplementedError(f"{self.platform} cannot delete posts")

    # both directions
    def health(self) -> Health:
        raise NotImplementedError(f"{self.platform} has no health check")
