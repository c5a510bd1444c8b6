"""Engine and sessions. SQLite runs in WAL mode with foreign keys on; PostgreSQL via psycopg 3."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from civicpulse.config import Settings, get_settings

#: page size of a new SQLite database file, in bytes
SQLITE_PAGE_SIZE = 16384


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _json_dumps(obj: object) -> str:
    # keep Thai and Vietnamese readable (and searchable) in JSON columns
    return json.dumps(obj, ensure_ascii=False)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def add_sqlite_functions(dbapi_conn: Any) -> None:
    """SQL functions our queries need on SQLite: ``unicode_lower`` (SQLite's own ``lower`` changes ASCII letters
    only, so ``lower('Ủy ban')`` keeps its ``Ủ``; PostgreSQL's ``lower`` and Python's are Unicode-aware)."""
    dbapi_conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)


def make_engine(url: str) -> Engine:
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=_json_dumps
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # 16 KiB pages for a new database file (ignored for an existing one): bulk ingest into the
            # items table and its indexes costs ~15% less CPU than with 4 KiB pages (bench/bench_ingest.py)
            cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            add_sqlite_functions(dbapi_conn)

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=_json_dumps)


class Database:
    """Owns one engine and its session factory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.db_url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        s = self.sessionmaker()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()


@functools.lru_cache(maxsize=4)
def _db_for(url: str) -> Database:
    return Database(get_settings())


def get_database(settings: Settings | None = None) -> Database:
    settings = settings or get_settings()
    if settings is get_settings():
        return _db_for(settings.db_url)
    return Database(settings)
