"""Which connector publishes for a channel's platform, and how it is built from a channel.

The platform connectors live in :mod:`civicpulse.connectors` (their publishing side is described by
``registry.PUBLISHING_PLATFORMS``); the website channel is :mod:`civicpulse.connectors.website`.
:func:`register` adds or replaces a platform's class (extensions, local test peers).
"""

from __future__ import annotations

import importlib
from typing import Any

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.connectors.base import Connector, RateLimit
from civicpulse.domain.errors import ValidationFailed

_EXTRA: dict[str, type[Connector]] = {}
LABELS = {"website": "Website", "facebook": "Facebook", "x": "X", "line": "LINE", "youtube": "YouTube",
          "telegram": "Telegram", "zalo": "Zalo", "mastodon": "Mastodon", "bluesky": "Bluesky",
          "newsletter": "Email newsletter", "webhook": "Webhook"}


def register(platform: str, cls: type[Connector]) -> None:
    _EXTRA[platform] = cls


def unregister(platform: str) -> None:
    _EXTRA.pop(platform, None)


def _publishing_infos() -> dict[str, Any]:
    from civicpulse.connectors import registry

    return {p.platform: p for p in getattr(registry, "PUBLISHING_PLATFORMS", ())}


def known_platforms() -> list[str]:
    return sorted({"website", *_publishing_infos(), *_EXTRA})


def label(platform: str) -> str:
    return LABELS.get(platform, platform)


def connector_class(platform: str) -> type[Connector]:
    if platform in _EXTRA:
        return _EXTRA[platform]
    if platform == "website":
        from civicpulse.connectors.website import WebsiteConnector

        return WebsiteConnector
    info = _publishing_infos().get(platform)
    if info is None:
        raise ValidationFailed(f"Unknown platform '{platform}'. Known platforms: {', '.join(known_platforms())}",
                               details={"field": "platform"})
    cls = getattr(importlib.import_module(info.module), info.class_name)
    assert issubclass(cls, Connector)
    return cls


def secret_field_names(platform: str) -> set[str]:
    info = _publishing_infos().get(platform)
    return {f.name for f in getattr(info, "fields", ()) if getattr(f, "secret", False)}


def rate_limits(platform: str, config: dict[str, Any] | None = None) -> tuple[RateLimit, ...]:
    """The platform's published limits; a channel may lower them with ``config["max_per_minute"]``."""
    try:
        limits = tuple(connector_class(platform).rate_limits)
    except ValidationFailed:
        limits = ()
    per_minute = (config or {}).get("max_per_minute")
    if per_minute:
        limits = (*limits, RateLimit(int(per_minute), 60.0, "set on the channel"))
    return limits


def build(channel: Any, settings: Settings, db: Any = None) -> Connector:
    """A ready connector for ``channel`` (a :class:`~civicpulse.domain.publishing.models.Channel`)."""
    cls = connector_class(channel.platform)
    config = {**(channel.config or {}), **crypto.decrypt(settings, channel.secrets)}
    if getattr(cls, "uses_database", False):
        config.update({"channel_id": channel.id, "unit_id": channel.unit_id})
        return cls(config, db=db)  # type: ignore[call-arg]
    return cls(config)
