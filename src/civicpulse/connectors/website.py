"""The website channel: the unit's own public news page and RSS/Atom feed, served by civicpulse.

Publishing stores a public post (``pub_website_posts``); ``/u/<unit code>/news`` and ``/u/<unit code>/feed.xml``
show it without sign-in. The idempotency key is unique per channel, so publishing twice stores one post, and
``lookup`` finds a post whose outcome was unknown.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from civicpulse.connectors.base import Connector, ConnectorError, Health, Published, PublishRequest, RateLimit
from civicpulse.db.base import utcnow


class WebsiteConnector(Connector):
    platform: ClassVar[str] = "website"
    rate_limits: ClassVar[tuple[RateLimit, ...]] = ()
    can_lookup: ClassVar[bool] = True
    uses_database: ClassVar[bool] = True

    def __init__(self, config: dict[str, Any], *, http: Any | None = None, db: Any = None) -> None:
        super().__init__(config, http=http)
        if db is None:
            from civicpulse.db.session import get_database

            db = get_database()
        self.db = db
        self.channel_id = int(config["channel_id"])
        self.unit_id = int(config["unit_id"])

    def _url(self, post_id: int) -> str:
        from civicpulse.domain.org.models import Unit

        with self.db.session() as s:
            unit = s.get(Unit, self.unit_id)
            code = unit.code if unit else str(self.unit_id)
        base = self.db.settings.base_url.rstrip("/")
        return f"{base}/u/{code}/news#post-{post_id}"

    def _published(self, row: Any) -> Published:
        return Published(external_id=str(row.id), url=self._url(row.id), published_at=row.published_at)

    def lookup(self, request: PublishRequest) -> Published | None:
        from civicpulse.domain.publishing.models import WebsitePost

        with self.db.session() as s:
            row = s.scalar(select(WebsitePost).where(WebsitePost.channel_id == self.channel_id,
                                                     WebsitePost.idempotency_key == request.idempotency_key))
            return None if row is None or row.deleted else self._published(row)

    def publish(self, request: PublishRequest) -> Published:
        from civicpulse.domain.publishing.models import WebsitePost

        if not request.text.strip():
            raise ConnectorError("permanent", "the post has no text")
        try:
            with self.db.session() as s:
                row = WebsitePost(channel_id=self.channel_id, unit_id=self.unit_id,
                                  idempotency_key=request.idempotency_key, title=request.title or "",
                                  body=request.text, link=request.link, language=request.language,
                                  published_at=utcnow())
                s.add(row)
                s.flush()
                out = self._published(row)
            return out
        except IntegrityError:
            found = self.lookup(request)
            if found is None:
                raise ConnectorError("transient", "the news page could not store the post") from None
            return found

    def delete(self, external_id: str) -> None:
        from civicpulse.domain.publishing.models import WebsitePost

        with self.db.session() as s:
            row = s.get(WebsitePost, int(external_id))
            if row is None or row.channel_id != self.channel_id:
                raise ConnectorError("permanent", f"news post {external_id} was not found")
            row.deleted = True

    def health(self) -> Health:
        return Health(ok=True, message="The news page is served by civicpulse", checked_at=utcnow())
