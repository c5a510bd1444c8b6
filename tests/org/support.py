"""Shared support for the organisation-area tests (tests/org and tests/web).

* ``fast_passwords``: argon2id with minimal cost, so that building people is cheap in tests
  (the real parameters cost ~0.5 s per hash on the 2-core CI machine).
* ``World``: the network R ─┬─ A ── A1, └─ B built ONCE per test run, with a person per role on A,
  "root-admin" on R, "admin@B" on B and a "resident" viewer on each of A, A1 and B (the person an
  endpoint acts on). Each role has a read+write API token and a browser client signed in through the
  real login form. ``World.restore()`` puts the database back to that seeded state in milliseconds
  (SQLite backup API) or a few tens of ms (PostgreSQL DELETE + re-insert), so each test still starts clean.
* ``snapshot``: the rows of the org tables, to prove that a refused request changed nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, func, select, text

from civicpulse.config import Settings
from civicpulse.db import migrate
from civicpulse.db.base import Base
from civicpulse.db.registry import import_all_models
from civicpulse.db.session import Database
from civicpulse.domain.org import security
from tests.conftest import PASSWORD, PG_ADMIN_URL, TEST_SECRET, _pg_url, csrf_from, login

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
FAST_DUMMY_HASH = FAST_HASHER.hash("civicpulse-dummy-password")

ROLES = ("viewer", "analyst", "editor", "approver", "admin")
TARGETS = ("A", "A1", "B")
HOME = "A"  # every role-holder of the matrix holds the role on A, with its subtree
PARENT: dict[str, str | None] = {"R": None, "A": "R", "A1": "A", "B": "R"}


def covers(home: str, target: str | None) -> bool:
    """A role held on ``home`` with its subtree covers ``target`` (walks up the declared tree)."""
    while target is not None:
        if target == home:
            return True
        target = PARENT[target]
    return False


def expected(role: str, target: str, need: str) -> int | str:
    """THE RULE of both authorization matrices, for a role held on HOME (A) with its subtree.

    Returns "ok" (the endpoint's success status), "absent" (a 200 list without the target), 403 or 404:
    reads need any role covering the unit; writes (and the audit log) need admin covering it, and
    deleting a unit also needs admin on its parent; a unit not covered is 404; covered but short is 403.
    """
    if not covers(HOME, target):
        return "absent" if need == "list" else 404
    if need in ("list", "read"):
        return "ok"
    if role != "admin":
        return 403
    if need == "admin+parent" and not covers(HOME, PARENT[target]):
        return 403
    return "ok"


def email(key: str) -> str:
    return f"{key.replace('@', '.at.').lower()}@example.org"


@contextlib.contextmanager
def fast_passwords() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setattr(security, "_hasher", FAST_HASHER)
    mp.setattr(security, "_DUMMY_HASH", FAST_DUMMY_HASH)  # unknown accounts are checked against it
    try:
        yield
    finally:
        mp.undo()


# ---------------------------------------------------------------- snapshots

IGNORED_COLUMNS = {("api_tokens", "last_used_at"), ("web_sessions", "last_seen_at")}
ORG_TABLES = ("units", "users", "role_assignments", "audit_log", "api_tokens", "password_resets", "web_sessions")


def snapshot(db: Database, tables: tuple[str, ...] | None = ORG_TABLES, *,
             ignore_actions: tuple[str, ...] = ("token.use",)) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables`` (sorted; None: every table of every area), minus bookkeeping that reads
    legitimately touch."""
    import_all_models()
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as c:
        for name in tables if tables is not None else sorted(Base.metadata.tables):
            t = Base.metadata.tables[name]
            cols = [col for col in t.columns if (name, col.name) not in IGNORED_COLUMNS]
            stmt = select(*cols)
            if name == "audit_log" and ignore_actions:
                stmt = stmt.where(t.c.action.not_in(ignore_actions))
            rows = [tuple(repr(v) for v in r) for r in c.execute(stmt)]
            out[name] = sorted(rows)
    return out


def max_audit_id(db: Database) -> int:
    from civicpulse.domain.org.models import AuditEntry

    with db.session() as s:
        return s.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))) or 0


def audit_after(db: Database, since_id: int, action: str | None = None) -> list[Any]:
    from civicpulse.domain.org.models import AuditEntry

    with db.session() as s:
        stmt = select(AuditEntry).where(AuditEntry.id > since_id).order_by(AuditEntry.id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list(s.scalars(stmt))


# ---------------------------------------------------------------- the seeded world


@dataclasses.dataclass
class World:
    cfg: Settings
    db: Database
    app: Any
    units: dict[str, int]
    users: dict[str, int]  # "viewer@A", ..., "admin@A", "root-admin", "admin@B", "res@A", "res@A1", "res@B"
    resident_role: dict[str, int]  # target -> id of the resident's role assignment on it
    tokens: dict[str, str]  # person key -> raw read+write token
    clients: dict[str, TestClient]  # person key -> browser signed in through the form
    csrf: dict[str, str]  # person key -> that browser session's CSRF token
    _restore: Any = None

    def restore(self) -> None:
        self._restore()

    def bearer(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[key]}"}

    def anonymous(self) -> TestClient:
        return TestClient(self.app)

    def resident(self, target: str) -> int:
        return self.users[f"res@{target}"]


def _seed(db: Database, cfg: Settings) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, str]]:
    from civicpulse.domain.org import services
    from civicpulse.domain.org.models import User
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import RoleIn, TokenCreate, UnitCreate, UserCreate

    sysactor = Actor.system_actor("test", via="cli")
    units: dict[str, int] = {}
    users: dict[str, int] = {}
    resident_role: dict[str, int] = {}
    tokens: dict[str, str] = {}
    with db.session() as s:
        for code in ("R", "A", "A1", "B"):
            parent = PARENT[code]
            u = services.create_unit(s, sysactor, UnitCreate(
                code=code, parent_id=units[parent] if parent else None,
                names={"en": f"Unit {code}", "th": f"หน่วย {code}", "vi": f"Đơn vị {code}"}))
            units[code] = u.id
        people = [("root-admin", "R", "admin")] + [(f"{r}@A", "A", r) for r in ROLES] + [("admin@B", "B", "admin")]
        for key, unit, role in people:
            user, _ = services.create_user(s, sysactor, cfg, UserCreate(
                email=email(key), display_name=key, password=PASSWORD,
                roles=[RoleIn(unit_id=units[unit], role=role, include_subtree=True)]))
            users[key] = user.id
        for target in TARGETS:  # residents: no password (an invitation), so no hashing at all
            user, _ = services.create_user(s, sysactor, cfg, UserCreate(
                email=email(f"res@{target}"), display_name=f"Resident of {target}",
                roles=[RoleIn(unit_id=units[target], role="viewer", include_subtree=True)]))
            users[f"res@{target}"] = user.id
            s.flush()
            resident_role[target] = user.roles[0].id
        for key, _unit, _role in people:
            actor = services.actor_for(s, s.get(User, users[key]), via="ui")
            raw, _ = services.create_token(s, actor, TokenCreate(name=f"{key} rw", scopes=["read", "write"]))
            tokens[key] = raw
    return units, users, resident_role, tokens


def _pg_admin():  # type: ignore[no-untyped-def]
    assert PG_ADMIN_URL
    return create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def fresh_database(tmp_dir: Path, template: str | None = None) -> Iterator[str]:
    """A new, migrated database: a SQLite file (copied from the session template when given) or a new
    PostgreSQL database (created here and dropped afterwards)."""
    if PG_ADMIN_URL:
        name = f"civicpulse_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = _pg_admin()
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = _pg_url(name)
        try:
            migrate.upgrade(Settings(env="test", secret_key=TEST_SECRET, database_url=url))
            yield url
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        path = tmp_dir / "live.sqlite3"
        if template:
            src = sqlite3.connect(template)
            dst = sqlite3.connect(path)
            src.backup(dst)
            dst.close()
            src.close()
        else:
            migrate.upgrade(Settings(env="test", secret_key=TEST_SECRET, database_url=f"sqlite:///{path}"))
        yield f"sqlite:///{path}"


def _sqlite_restorer(db: Database, live: Path, seed: Path):  # type: ignore[no-untyped-def]
    db.engine.dispose()
    src = sqlite3.connect(live)
    dst = sqlite3.connect(seed)
    src.backup(dst)
    dst.close()
    src.close()

    # Test databases need no durability: no fsync for the app's connections nor for the restore. The
    # backup API rewrites the live file page by page under a lock; the app's idle pooled connections see
    # the restored content at their next transaction (SQLite notices the change), so no dispose is needed.
    event.listen(db.engine, "connect", _no_fsync)
    s = sqlite3.connect(seed, check_same_thread=False)
    d = sqlite3.connect(live, check_same_thread=False)
    d.execute("PRAGMA synchronous=OFF")

    def restore() -> None:
        s.backup(d)

    return restore


def _no_fsync(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


def _pg_no_sync(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("SET synchronous_commit TO off")  # test data needs no durability: no WAL flush per commit
    cur.close()
    dbapi_conn.commit()


def _pg_restorer(db: Database):  # type: ignore[no-untyped-def]
    import_all_models()
    db.engine.dispose()
    event.listen(db.engine, "connect", _pg_no_sync)
    tables = [t for t in Base.metadata.sorted_tables]
    saved: dict[str, list[dict[str, Any]]] = {}
    with db.engine.connect() as c:
        for t in tables:
            saved[t.name] = [dict(r._mapping) for r in c.execute(select(t))]
        all_tables = [r[0] for r in c.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
    serial = [t.name for t in tables if "id" in t.c and t.c.id.primary_key and t.c.id.type.python_type is int]

    def restore() -> None:
        # DELETE is much faster than TRUNCATE on tiny tables; the replica role skips triggers (the audit
        # log's append-only guard) and foreign-key checks for this transaction only
        with db.engine.begin() as c:
            c.execute(text("SET LOCAL synchronous_commit = off"))
            c.execute(text("SET LOCAL session_replication_role = replica"))
            for n in all_tables:
                c.execute(text(f'DELETE FROM "{n}"'))
            for t in tables:
                if saved[t.name]:
                    c.execute(t.insert(), saved[t.name])
            for n in serial:
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{n}\"', 'id'), "
                               f"COALESCE((SELECT MAX(id) FROM \"{n}\"), 0) + 1, false)"))

    return restore


def _pg_wipe(url: str) -> None:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        for (n,) in c.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")):
            c.execute(text(f'DELETE FROM "{n}"'))
    eng.dispose()


@contextlib.contextmanager
def build_world(tmp_dir: Path, template: str, pg_url: str | None = None) -> Iterator[World]:
    """The seeded world in a copy of the SQLite template, or in ``pg_url`` (wiped first)."""
    from civicpulse.web.app import create_app

    if pg_url:
        _pg_wipe(pg_url)
        database: contextlib.AbstractContextManager[str] = contextlib.nullcontext(pg_url)
    else:
        database = fresh_database(tmp_dir, template)
    with database as url:
        cfg = Settings(env="test", secret_key=TEST_SECRET, database_url=url, data_dir=tmp_dir / "data",
                       base_url="http://testserver")
        db = Database(cfg)
        app = create_app(cfg, db)
        clients: dict[str, TestClient] = {}
        csrf: dict[str, str] = {}
        stack = contextlib.ExitStack()
        try:
            with fast_passwords():  # only while seeding: the seeded hashes stay cheap to verify
                units, users, resident_role, tokens = _seed(db, cfg)
                for key in tokens:
                    client = stack.enter_context(TestClient(app))
                    csrf[key] = login(client, email(key), PASSWORD)
                    clients[key] = client
            if url.startswith("sqlite"):
                restore = _sqlite_restorer(db, Path(url.split("///", 1)[1]), tmp_dir / "seed.sqlite3")
            else:
                restore = _pg_restorer(db)
            yield World(cfg=cfg, db=db, app=app, units=units, users=users, resident_role=resident_role,
                        tokens=tokens, clients=clients, csrf=csrf, _restore=restore)
        finally:
            stack.close()
            db.dispose()


# fixtures, imported by tests/org/conftest.py and tests/web/conftest.py


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory, _template: str) -> Iterator[World]:
    """Built once per run (a few seconds on a busy 2-core machine); tests get it through ``w``."""
    tmp = tmp_path_factory.mktemp("world")
    if PG_ADMIN_URL:
        with fresh_database(tmp) as url, build_world(tmp, _template, url) as built:
            yield built
    else:
        with build_world(tmp, _template) as built:
            yield built


@pytest.fixture
def w(world: World) -> World:
    """The seeded world, restored to its seeded state for this test."""
    world.restore()
    return world


@pytest.fixture(autouse=True)
def _fast_passwords(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("browser"):
        yield
        return
    with fast_passwords():
        yield


__all__ = ["World", "covers", "csrf_from", "email", "snapshot", "world", "w"]
