"""Time values from files, platforms and databases, made timezone-aware UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any


def as_utc(value: Any) -> dt.datetime | None:
    """ISO text (with or without 'Z'), a datetime (naive = UTC) or a date → aware UTC; anything else → None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0, 0), tzinfo=dt.UTC)
    return None
