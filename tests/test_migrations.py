"""Migrations, on a fresh SQLite file and (with CIVICPULSE_TEST_DATABASE_URL) a fresh PostgreSQL database:
empty → head, no drift between models and migrations, head → base leaves nothing, and up again."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from civicpulse.config import Settings
from civicpulse.db import migrate
from civicpulse.db.session import make_engine
from tests.conftest import PG_ADMIN_URL, TEST_SECRET, _pg_url

BACKENDS = ["sqlite"] + (["postgresql"] if PG_ADMIN_URL else [])


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(env="test", secret_key=TEST_SECRET, database_url=f"sqlite:///{tmp_path / 'm.sqlite3'}",
                       data_dir=tmp_path)
        return
    assert PG_ADMIN_URL
    name = f"civicpulse_mig_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield Settings(env="test", secret_key=TEST_SECRET, database_url=_pg_url(name), data_dir=tmp_path)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def tables(cfg: Settings) -> set[str]:
    eng = make_engine(cfg.db_url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def append_only_guard_works(cfg: Settings) -> bool:
    eng = make_engine(cfg.db_url)
    try:
        with eng.begin() as c:
            c.execute(text("INSERT INTO audit_log (at, actor_label, via, action) "
                           "VALUES (CURRENT_TIMESTAMP, 'migration-test', 'system', 'test')"))
        try:
            with eng.begin() as c:
                c.execute(text("DELETE FROM audit_log"))
        except Exception as exc:  # noqa: BLE001 - the database's own error type
            return "append-only" in str(exc)
        return False
    finally:
        eng.dispose()


def test_up_check_down_up(empty_db: Settings) -> None:
    cfg = empty_db
    assert migrate.current(cfg) is None
    assert tables(cfg) - {"alembic_version"} == set()

    migrate.upgrade(cfg)
    head = migrate.current(cfg)
    assert head is not None
    created = tables(cfg)
    assert {"units", "users", "role_assignments", "api_tokens", "web_sessions", "password_resets", "login_attempts",
            "audit_log", "alembic_version"} <= created
    migrate.check(cfg)  # raises when the models and the migrations disagree
    assert append_only_guard_works(cfg)

    migrate.downgrade(cfg, "base")
    assert migrate.current(cfg) is None
    assert tables(cfg) == {"alembic_version"}, tables(cfg)
    if cfg.is_sqlite:
        eng = make_engine(cfg.db_url)
        with eng.connect() as c:
            leftovers = c.execute(text("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                                       "AND tbl_name <> 'alembic_version'")).all()
        eng.dispose()
        assert leftovers == []
    else:
        eng = make_engine(cfg.db_url)
        with eng.connect() as c:
            funcs = c.execute(text("SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                                   "WHERE n.nspname = 'public'")).scalars().all()
            types = c.execute(text("SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                                   "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')")).scalars().all()
        eng.dispose()
        assert funcs == [] and types == []

    migrate.upgrade(cfg)
    assert migrate.current(cfg) == head
    assert tables(cfg) == created
    migrate.check(cfg)
    assert append_only_guard_works(cfg)


def test_check_detects_drift(empty_db: Settings) -> None:
    """The drift check is real: a column the models do not know about makes it fail."""
    cfg = empty_db
    migrate.upgrade(cfg)
    eng = make_engine(cfg.db_url)
    with eng.begin() as c:
        c.execute(text("ALTER TABLE units ADD COLUMN surprise VARCHAR(10)"))
    eng.dispose()
    with pytest.raises(Exception, match="(?i)new upgrade operations detected|surprise"):
        migrate.check(cfg)


def test_cli_db_upgrade_and_check(empty_db: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from civicpulse.cli import app
    from civicpulse.config import reset_settings_cache

    monkeypatch.setenv("CIVICPULSE_DATABASE_URL", empty_db.db_url)
    monkeypatch.setenv("CIVICPULSE_DATA_DIR", str(empty_db.data_dir))
    monkeypatch.setenv("CIVICPULSE_ENV", "dev")
    reset_settings_cache()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["db", "upgrade"])
        assert r.exit_code == 0, r.output
        assert "Database at revision" in r.output
        assert migrate.current(empty_db) is not None
        r = runner.invoke(app, ["db", "check"])
        assert r.exit_code == 0 and "agree" in r.output, r.output
    finally:
        reset_settings_cache()


def test_mention_keys_filled_from_stored_entities(empty_db: Settings) -> None:
    """0013 fills item_mentions from the entities items already have, so old items are found by mentions:."""
    cfg = empty_db
    migrate.upgrade(cfg, "0012_training_cancel")
    eng = make_engine(cfg.db_url)
    ents = {1: '[{"id": "vn:ha-noi", "name": "Hà Nội", "text": "HN"}]', 2: "[]", 3: None, 4: "null",
            5: '[{"id": "th:bkk", "name": "กรุงเทพมหานคร", "text": "กทม."}, "not a span"]'}
    now = "2026-12-07 00:00:00"
    with eng.begin() as c:
        c.execute(text("INSERT INTO units (id, code, path, kind, names, timezone, default_language, created_at, "
                       "updated_at, version) VALUES (1, 'GOV', '/1/', 'ministry', '{}', 'Asia/Bangkok', 'th', "
                       ":t, :t, 1)"), {"t": now})
        c.execute(text("INSERT INTO sources (id, unit_id, name, platform, config, cursor, interval_minutes, enabled, "
                       "items_count, created_at) VALUES (1, 1, 's', 'file', '{}', '{}', 60, true, 0, :t)"), {"t": now})
        for i, e in ents.items():
            c.execute(text("INSERT INTO items (id, source_id, unit_id, unit_path, external_id, kind, text, collected_at, "
                           "content_hash, index_text, entities) VALUES (:i, 1, 1, '/1/', :x, 'post', 't', :t, :x, '', "
                           + ("NULL" if e is None else ":e") + ")"), {"i": i, "x": f"x{i}", "t": now, "e": e})
    migrate.upgrade(cfg)
    with eng.connect() as c:
        rows = sorted(c.execute(text("SELECT item_id, key FROM item_mentions")).all())
    eng.dispose()
    assert rows == [(1, ":ha-noi"), (1, "hn"), (1, "hà nội"), (1, "vn:ha-noi"),
                    (5, ":bkk"), (5, "th:bkk"), (5, "กทม."), (5, "กรุงเทพมหานคร")]
