"""The foundation's command line, run in-process with CliRunner against a database in a temporary directory:
init, unit add, user add, backup + restore (SQLite, and PostgreSQL through pg_dump when available), demo, db."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from civicpulse.cli import app
from civicpulse.config import Settings, reset_settings_cache
from civicpulse.db.session import Database
from civicpulse.domain.org.models import RoleAssignment, Unit, User
from tests.conftest import PG_ADMIN_URL, _pg_url
from tests.org.support import fast_passwords

ADMIN_PASSWORD = "first-admin-password"


class Cli:
    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.env = {"CIVICPULSE_DATABASE_URL": url, "CIVICPULSE_DATA_DIR": str(data_dir), "CIVICPULSE_ENV": "dev",
                    "CIVICPULSE_BASE_URL": "http://cp.example"}
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        reset_settings_cache()  # get_settings() is cached per process; each command reads the env afresh
        try:
            r = self.runner.invoke(app, list(args), env=self.env)
        finally:
            reset_settings_cache()
        if ok:
            assert r.exit_code == 0, f"{args}: {r.output}\n{r.exception!r}"
        else:
            assert r.exit_code != 0, f"{args} should have failed: {r.output}"
        return r

    def count(self, model, *where) -> int:  # type: ignore[no-untyped-def]
        db = Database(Settings(env="dev", database_url=self.url))
        try:
            with db.session() as s:
                return s.scalar(select(func.count()).select_from(model).where(*where)) or 0
        finally:
            db.dispose()


@pytest.fixture(autouse=True)
def _cheap_hashing() -> Iterator[None]:
    with fast_passwords():
        yield


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in list(os.environ):
        if name.startswith("CIVICPULSE_"):
            monkeypatch.delenv(name)
    return Cli(f"sqlite:///{tmp_path / 'cli.sqlite3'}", tmp_path)


def init(cli: Cli) -> None:
    r = cli("init", "--admin-email", "Chief@Example.org", "--admin-password", ADMIN_PASSWORD,
            "--unit-code", "MOI", "--unit-name", "Ministry of Information")
    assert "Ready." in r.output


def test_init_is_non_interactive_and_creates_the_first_admin(cli: Cli) -> None:
    init(cli)
    assert cli.count(Unit, Unit.code == "MOI", Unit.parent_id.is_(None)) == 1
    assert cli.count(User, User.email == "chief@example.org") == 1  # normalised
    assert cli.count(RoleAssignment, RoleAssignment.role == "admin") == 1
    # the admin can sign in with that password
    from fastapi.testclient import TestClient

    from civicpulse.web.app import create_app
    from tests.conftest import csrf_from

    cfg = Settings(env="dev", database_url=cli.url)
    with TestClient(create_app(cfg)) as c:
        page = c.get("/login")
        r = c.post("/login", data={"email": "chief@example.org", "password": ADMIN_PASSWORD,
                                   "csrf_token": csrf_from(page.text)}, follow_redirects=False)
        assert r.status_code == 303
        app_db = c.app.state.db  # type: ignore[attr-defined]
    app_db.dispose()
    # a second init does not create a second admin with the same email
    r = cli("init", "--admin-email", "chief@example.org", "--admin-password", ADMIN_PASSWORD, ok=False)
    assert "already exists" in r.output
    assert cli.count(User) == 1


def test_init_refuses_a_short_password(cli: Cli) -> None:
    r = cli("init", "--admin-email", "chief@example.org", "--admin-password", "short", ok=False)
    assert "at least 10 characters" in r.output
    assert cli.count(User) == 0


def test_unit_add_and_user_add(cli: Cli) -> None:
    init(cli)
    r = cli("unit", "add", "PRD", "--name", "Public Relations", "--name-th", "กรมประชาสัมพันธ์", "--parent", "MOI",
            "--kind", "department")
    assert "Added unit PRD" in r.output
    cli("unit", "add", "PRD-N", "--name", "North office", "--parent", "PRD", "--kind", "provincial_office")
    r = cli("unit", "list", "--json")
    listed = {u["code"]: u for u in json.loads(r.output)}
    assert set(listed) == {"MOI", "PRD", "PRD-N"}
    assert listed["PRD"]["names"] == {"en": "Public Relations", "th": "กรมประชาสัมพันธ์"}
    assert listed["PRD-N"]["parent_id"] == listed["PRD"]["id"]

    r = cli("user", "add", "editor@example.org", "--name", "Ed Itor", "--unit", "PRD", "--role", "editor",
            "--password", "an-editor-password", "--language", "th")
    assert "Added editor@example.org as editor of PRD" in r.output
    cli.env["CIVICPULSE_BASE_URL"] = "https://civicpulse.public-relations.department.example.go.th"
    r = cli("user", "add", "invited@example.org", "--name", "In Vited", "--unit", "PRD-N", "--only-this-unit")
    # the link is printed whole on one line, however long (a folded link cannot be copied)
    link = re.search(r"Invitation link: (\S+)\n", r.output)
    assert link, r.output
    token = link.group(1).removeprefix("https://civicpulse.public-relations.department.example.go.th/password/reset/")
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token), link.group(1)
    assert cli.count(RoleAssignment, RoleAssignment.include_subtree.is_(False)) == 1

    # mistakes are explained, and change nothing
    before = (cli.count(Unit), cli.count(User))
    assert "No unit with code 'NOPE'" in cli("unit", "add", "X1", "--name", "x", "--parent", "NOPE", ok=False).output
    assert "code" in cli("unit", "add", "bad code", "--name", "x", "--parent", "MOI", ok=False).output
    assert "kind" in cli("unit", "add", "X2", "--name", "x", "--parent", "MOI", "--kind", "galaxy", ok=False).output
    assert "already exists" in cli("unit", "add", "PRD", "--name", "again", "--parent", "MOI", ok=False).output
    assert "No unit with code 'NOPE'" in cli("user", "add", "a@example.org", "--name", "A", "--unit", "NOPE",
                                             ok=False).output
    assert "role" in cli("user", "add", "b@example.org", "--name", "B", "--unit", "PRD", "--role", "boss",
                         ok=False).output
    assert "already exists" in cli("user", "add", "editor@example.org", "--name", "E", "--unit", "PRD",
                                   ok=False).output
    assert (cli.count(Unit), cli.count(User)) == before


def test_backup_and_restore_round_trip_on_sqlite(cli: Cli, tmp_path: Path) -> None:
    init(cli)
    cli("unit", "add", "KEEP", "--name", "Kept unit", "--parent", "MOI")
    cli("user", "add", "kept@example.org", "--name", "Kept", "--unit", "KEEP", "--password", "a-kept-password")
    backup = tmp_path / "backups" / "cp.backup"
    backup.parent.mkdir()
    r = cli("backup", str(backup))
    assert "Backup written" in r.output and backup.stat().st_size > 0
    assert "already exists" in cli("backup", str(backup), ok=False).output

    cli("unit", "add", "LATER", "--name", "Added after the backup", "--parent", "MOI")
    assert cli.count(Unit, Unit.code == "LATER") == 1
    r = cli("restore", "--yes", str(backup))
    assert "Restored" in r.output
    assert cli.count(Unit, Unit.code == "LATER") == 0
    assert cli.count(Unit, Unit.code == "KEEP") == 1
    assert cli.count(User, User.email == "kept@example.org") == 1
    # the restored database is usable (and still append-only)
    cli("unit", "add", "AFTER", "--name", "After restore", "--parent", "KEEP")
    db_path = Path(cli.url.split("///", 1)[1])
    con = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM audit_log")
    con.close()


@pytest.mark.parametrize("kind", ["garbage", "empty-sqlite", "truncated"])
def test_restoring_a_bad_file_fails_clearly_and_changes_nothing(cli: Cli, tmp_path: Path, kind: str) -> None:
    init(cli)
    cli("unit", "add", "KEEP", "--name", "Kept unit", "--parent", "MOI")
    bad = tmp_path / f"{kind}.backup"
    if kind == "garbage":
        bad.write_bytes(b"this is not a database at all\n" * 100)
    elif kind == "empty-sqlite":
        con = sqlite3.connect(bad)
        con.execute("CREATE TABLE something (x)")
        con.commit()
        con.close()
    else:
        good = tmp_path / "good.backup"
        cli("backup", str(good))
        bad.write_bytes(good.read_bytes()[: 4096 + 100])
    db_path = Path(cli.url.split("///", 1)[1])
    before = db_path.read_bytes()
    r = cli("restore", "--yes", str(bad), ok=False)
    assert "nothing was changed" in r.output or "not a civicpulse" in r.output, r.output
    assert str(bad.name) in r.output.replace("\n", "")
    assert cli.count(Unit, Unit.code == "KEEP") == 1
    assert db_path.read_bytes() == before


def test_restore_of_a_missing_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    init(cli)
    r = cli("restore", "--yes", str(tmp_path / "nope.backup"), ok=False)
    assert "does not exist" in r.output


def test_demo_no_serve_loads_and_is_idempotent(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The organisation part of the demo (areas' own demo hooks are exercised by the areas' tests)."""
    import civicpulse.demo as demo

    calls: list[str] = []
    monkeypatch.setattr(demo, "DEMO_HOOKS", [lambda db, settings, progress: calls.append(settings.db_url)])
    r = cli("demo", "--no-serve")
    assert "Loaded the demo organisation" in r.output
    assert "admin@demo.civicpulse.org" in r.output
    units, users, roles = cli.count(Unit), cli.count(User), cli.count(RoleAssignment)
    assert units == len(demo.UNITS) and users == len(demo.PEOPLE) and roles == len(demo.PEOPLE)
    r = cli("demo", "--no-serve")
    assert "already loaded" in r.output
    assert (cli.count(Unit), cli.count(User), cli.count(RoleAssignment)) == (units, users, roles)
    assert calls == [cli.url, cli.url], "area hooks run every time (they must be idempotent themselves)"


def test_db_upgrade_on_an_empty_directory(cli: Cli) -> None:
    r = cli("db", "upgrade")
    assert "Database at revision" in r.output
    assert "Database at revision" in cli("db", "upgrade").output  # again: nothing to do, no error
    cli("db", "check")


# ------------------------------------------------------------------ PostgreSQL (pg_dump / pg_restore)


@pytest.fixture
def pg_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    if not PG_ADMIN_URL:
        pytest.skip("set CIVICPULSE_TEST_DATABASE_URL to test the PostgreSQL backup")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore are not installed (Debian package postgresql-client)")
    for name in list(os.environ):
        if name.startswith("CIVICPULSE_"):
            monkeypatch.delenv(name)
    name = f"civicpulse_cli_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield Cli(_pg_url(name).replace("postgresql+psycopg://", "postgresql://"), tmp_path)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_backup_and_restore_round_trip_on_postgresql(pg_cli: Cli, tmp_path: Path) -> None:
    cli = pg_cli
    init(cli)
    cli("unit", "add", "KEEP", "--name", "Kept unit", "--parent", "MOI")
    backup = tmp_path / "cp.pgdump"
    assert "Backup written" in cli("backup", str(backup)).output
    cli("unit", "add", "LATER", "--name", "Added after the backup", "--parent", "MOI")
    assert "Restored" in cli("restore", "--yes", str(backup)).output
    assert cli.count(Unit, Unit.code == "LATER") == 0
    assert cli.count(Unit, Unit.code == "KEEP") == 1
    assert cli.count(User, User.email == "chief@example.org") == 1
    cli("unit", "add", "AFTER", "--name", "After restore", "--parent", "KEEP")  # sequences were restored too
    # a garbage file is refused before anything is touched
    bad = tmp_path / "garbage.pgdump"
    bad.write_bytes(b"PGDMP but not really" * 50)
    r = cli("restore", "--yes", str(bad), ok=False)
    assert "not a civicpulse PostgreSQL backup" in r.output and "nothing was changed" in r.output
    assert cli.count(Unit, Unit.code == "AFTER") == 1
