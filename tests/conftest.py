"""Shared fixtures: a real database per test (SQLite file, or PostgreSQL when CIVICPULSE_TEST_DATABASE_URL is set).

The suite runs twice in CI: on SQLite, and on the real PostgreSQL server with
CIVICPULSE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres (a fresh database is
created for the run and dropped at the end).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from civicpulse.config import Settings
from civicpulse.db import migrate
from civicpulse.db.session import Database

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PG_ADMIN_URL = os.environ.get("CIVICPULSE_TEST_DATABASE_URL")
PASSWORD = "correct-horse-battery"


def pytest_report_header(config: pytest.Config) -> str:
    return f"civicpulse database: {'PostgreSQL ' + PG_ADMIN_URL if PG_ADMIN_URL else 'SQLite'}"


def _pg_url(dbname: str) -> str:
    assert PG_ADMIN_URL
    base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return re.sub(r"/[^/?]*(\?|$)", f"/{dbname}\\1", base.split("://", 1)[1], count=1).join(
        [base.split("://", 1)[0] + "://", ""]
    )


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database made once per run: a SQLite file to copy, or a PostgreSQL database."""
    if PG_ADMIN_URL:
        name = f"civicpulse_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = _pg_url(name)
        migrate.upgrade(Settings(env="test", secret_key=TEST_SECRET, database_url=url))
        yield url
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        d = tmp_path_factory.mktemp("template")
        path = d / "template.sqlite3"
        migrate.upgrade(Settings(env="test", secret_key=TEST_SECRET, database_url=f"sqlite:///{path}"))
        yield str(path)


def _truncate_all(url: str) -> None:
    """Empties every table between tests. DELETE with triggers off (replica role: no FK checks, no audit
    append-only trigger) costs milliseconds, where TRUNCATE costs ~0.5 s per test; sequences restart at 1."""
    eng = create_engine(url)
    with eng.begin() as c:
        tables = [r[0] for r in c.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        c.execute(text("SET LOCAL session_replication_role = replica"))
        for t in tables:
            c.execute(text(f'DELETE FROM "{t}"'))
        for (seq,) in c.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname='public'")):
            c.execute(text("SELECT setval(:s, 1, false)"), {"s": f'"{seq}"'})
    eng.dispose()


@pytest.fixture
def cfg(tmp_path: Path, _template: str) -> Settings:
    if PG_ADMIN_URL:
        _truncate_all(_template)
        url = _template
    else:
        path = tmp_path / "civicpulse.sqlite3"
        shutil.copyfile(_template, path)
        url = f"sqlite:///{path}"
    return Settings(env="test", secret_key=TEST_SECRET, database_url=url, data_dir=tmp_path / "data",
                    base_url="http://testserver")


@pytest.fixture
def db(cfg: Settings) -> Iterator[Database]:
    database = Database(cfg)
    yield database
    database.dispose()


@pytest.fixture
def app(cfg: Settings, db: Database):  # type: ignore[no-untyped-def]
    from civicpulse.web.app import create_app

    return create_app(cfg, db)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@dataclasses.dataclass
class Org:
    """A small network: R (head office) ─┬─ A ── A1
                                          └─ B
    and, for each role, a person holding it on A (with subtree), plus an admin on R."""

    units: dict[str, int]
    users: dict[str, int]  # "admin@A" -> id, "root-admin" -> id

    def email(self, key: str) -> str:
        return f"{key.replace('@', '.at.').lower()}@example.org"


ROLES = ("viewer", "analyst", "editor", "approver", "admin")


@pytest.fixture
def org(db: Database, cfg: Settings) -> Org:
    from civicpulse.domain.org import services
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import RoleIn, UnitCreate, UserCreate

    sysactor = Actor.system_actor("test", via="cli")
    units: dict[str, int] = {}
    users: dict[str, int] = {}
    o = Org(units, users)
    with db.session() as s:
        for code, parent in (("R", None), ("A", "R"), ("A1", "A"), ("B", "R")):
            u = services.create_unit(s, sysactor, UnitCreate(code=code, parent_id=units.get(parent) if parent else None,
                                                             names={"en": f"Unit {code}", "th": f"หน่วย {code}",
                                                                    "vi": f"Đơn vị {code}"}))
            units[code] = u.id
        people = [("root-admin", "R", "admin")] + [(f"{r}@A", "A", r) for r in ROLES] + [("admin@B", "B", "admin")]
        for key, unit, role in people:
            user, _ = services.create_user(s, sysactor, cfg, UserCreate(
                email=o.email(key), display_name=key, password=PASSWORD,
                roles=[RoleIn(unit_id=units[unit], role=role, include_subtree=True)]))
            users[key] = user.id
    return o


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client, email: str, password: str = PASSWORD) -> str:  # type: ignore[no-untyped-def]
    """Signs a TestClient in through the real form; returns the session's CSRF token."""
    page = client.get("/login")
    token = csrf_from(page.text)
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_from(client.get("/tokens").text)


@pytest.fixture
def token_for(db: Database):  # type: ignore[no-untyped-def]
    """Makes a personal API token for a user id: token_for(user_id, scopes=("read","write"))."""
    from civicpulse.domain.org import services
    from civicpulse.domain.org.models import User
    from civicpulse.domain.org.schemas import TokenCreate

    def make(user_id: int, scopes: tuple[str, ...] = ("read", "write"), unit_id: int | None = None) -> str:
        with db.session() as s:
            actor = services.actor_for(s, s.get(User, user_id), via="ui")
            raw, _ = services.create_token(s, actor, TokenCreate(name="test", scopes=list(scopes), unit_id=unit_id))
        return raw

    return make


class SmtpInbox:
    """What a real local SMTP server (aiosmtpd) received: a list of (recipients, parsed message)."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        from email import message_from_bytes

        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp(cfg: Settings) -> Iterator[SmtpInbox]:
    """A real SMTP server on a free local port; ``cfg`` is pointed at it."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    cfg.smtp_host, cfg.smtp_port = "127.0.0.1", port
    yield inbox
    controller.stop()
