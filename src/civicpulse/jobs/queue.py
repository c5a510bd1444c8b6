"""The task queue. One huey instance per process, built from Settings.

SQLite (a file under the data dir) needs no server; production sets CIVICPULSE_REDIS_URL.
`civicpulse worker` runs the consumer with the periodic schedules.
"""

from __future__ import annotations

import functools

from huey import Huey, RedisHuey, SqliteHuey

from civicpulse.config import Settings, get_settings


def make_huey(settings: Settings, *, immediate: bool = False) -> Huey:
    if settings.redis_url:
        return RedisHuey("civicpulse", url=settings.redis_url, immediate=immediate, utc=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("civicpulse", filename=str(settings.data_dir / "jobs.sqlite3"), immediate=immediate, utc=True)


@functools.lru_cache(maxsize=1)
def huey() -> Huey:
    return make_huey(get_settings())
