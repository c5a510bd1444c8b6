"""The `civicpulse` command line (Typer + Rich)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from civicpulse.config import Settings, SettingsError, get_settings

app = typer.Typer(help="civicpulse: listen, plan and speak with one voice.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
unit_app = typer.Typer(help="Units of the organisation network.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(unit_app, name="unit")

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        err.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]Error:[/red] {message}")
    raise typer.Exit(code)


def _db(settings: Settings):  # type: ignore[no-untyped-def]
    from civicpulse.db.session import Database

    return Database(settings)


# ------------------------------------------------------------------ database


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations (creates the database if needed)."""
    from civicpulse.db import migrate

    settings = _settings()
    migrate.upgrade(settings, revision)
    console.print(f"Database at revision [bold]{migrate.current(settings)}[/bold]")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base")) -> None:
    """Revert migrations."""
    from civicpulse.db import migrate

    settings = _settings()
    migrate.downgrade(settings, revision)
    console.print(f"Database at revision [bold]{migrate.current(settings)}[/bold]")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    from civicpulse.db import migrate

    migrate.check(_settings())
    console.print("Models and migrations agree.")


# ------------------------------------------------------------------ init


def _create_admin(settings: Settings, email: str, password: str, name: str, unit_code: str, unit_name: str) -> None:
    from sqlalchemy import select

    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org import services
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import RoleIn, UnitCreate, UserCreate

    db = _db(settings)
    actor = Actor.system_actor("cli:init", via="cli")
    try:
        with db.session() as s:
            root = s.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
            if root is None:
                root = services.create_unit(s, actor, UnitCreate(code=unit_code, kind="ministry", names={"en": unit_name}))
            services.create_user(s, actor, settings, UserCreate(
                email=email, display_name=name, password=password,
                roles=[RoleIn(unit_id=root.id, role="admin", include_subtree=True)]))
    except DomainError as exc:
        _fail(exc.message)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        db.dispose()


@app.command()
def init(
    admin_email: str = typer.Option(None, "--admin-email", help="First administrator's email"),
    admin_password: str = typer.Option(None, "--admin-password", help="First administrator's password"),
    admin_name: str = typer.Option("Administrator", "--admin-name"),
    unit_code: str = typer.Option("HQ", "--unit-code", help="Code of the top unit (e.g. the ministry)"),
    unit_name: str = typer.Option("Head office", "--unit-name"),
) -> None:
    """Create the database, run migrations and create the first administrator."""
    from civicpulse.db import migrate

    settings = _settings()
    migrate.upgrade(settings)
    if admin_email is None:
        admin_email = typer.prompt("Administrator email")
    if admin_password is None:
        admin_password = typer.prompt("Administrator password", hide_input=True, confirmation_prompt=True)
    _create_admin(settings, admin_email, admin_password, admin_name, unit_code, unit_name)
    console.print(f"[green]Ready.[/green] Database: {settings.db_url}\nSign in as [bold]{admin_email}[/bold] "
                  "after `civicpulse serve`.")


# ------------------------------------------------------------------ serve and demo


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from civicpulse.logs import configure
    from civicpulse.web.app import create_app

    configure(settings.log_level)
    console.print(f"civicpulse is running at [bold]http://{host}:{port}[/bold]  (Ctrl+C to stop)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", proxy_headers=True,
                forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))


@app.command()
def serve(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8000, "--port")) -> None:
    """Run the web interface and API."""
    settings = _settings()
    from civicpulse.db import migrate

    if migrate.current(settings) is None:
        _fail("The database is empty. Run `civicpulse init` (or `civicpulse demo`) first.")
    _serve(settings, host, port)


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    no_serve: bool = typer.Option(False, "--no-serve", help="Only load the demo data"),
) -> None:
    """Load a realistic demo organisation (SQLite by default) and serve it."""
    from civicpulse.db import migrate
    from civicpulse.demo import DEMO_PASSWORD, load_demo

    settings = _settings()
    migrate.upgrade(settings)
    db = _db(settings)
    try:
        logins = load_demo(db, settings, progress=console)
    finally:
        db.dispose()
    table = Table(title=f"Demo sign-ins (password for all: {DEMO_PASSWORD})")
    table.add_column("email")
    table.add_column("role")
    table.add_column("unit")
    for email, role, unit in logins:
        table.add_row(email, role, unit)
    console.print(table)
    if not no_serve:
        settings.base_url = f"http://{host}:{port}"
        _serve(settings, host, port)


# ------------------------------------------------------------------ users and units


@user_app.command("add")
def user_add(
    email: str = typer.Argument(...),
    name: str = typer.Option(..., "--name"),
    unit: str = typer.Option(..., "--unit", help="Unit code"),
    role: str = typer.Option("viewer", "--role", help="viewer | analyst | editor | approver | admin"),
    password: str = typer.Option(None, "--password", help="Omit to print an invitation link"),
    language: str = typer.Option("en", "--language"),
    only_this_unit: bool = typer.Option(False, "--only-this-unit", help="Role does not cover units below"),
) -> None:
    """Add a person with a role on a unit."""
    from pydantic import ValidationError
    from sqlalchemy import select

    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org import services
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import RoleIn, UserCreate

    settings = _settings()
    db = _db(settings)
    try:
        with db.session() as s:
            u = s.scalar(select(Unit).where(Unit.code == unit))
            if u is None:
                _fail(f"No unit with code '{unit}'")
            data = UserCreate(email=email, display_name=name, password=password, language=language,  # type: ignore[arg-type]
                              roles=[RoleIn(unit_id=u.id, role=role, include_subtree=not only_this_unit)])  # type: ignore[arg-type, union-attr]
            user, invite = services.create_user(s, Actor.system_actor("cli", via="cli"), settings, data)
            console.print(f"Added {user.email} as {role} of {unit}.")
            if invite:
                console.print(f"Invitation link: {settings.base_url.rstrip('/')}/password/reset/{invite}")
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    except DomainError as exc:
        _fail(exc.message)
    finally:
        db.dispose()


@unit_app.command("add")
def unit_add(
    code: str = typer.Argument(...),
    name: str = typer.Option(..., "--name", help="English name"),
    name_vi: str = typer.Option(None, "--name-vi"),
    name_th: str = typer.Option(None, "--name-th"),
    parent: str = typer.Option(None, "--parent", help="Parent unit code (omit for a top-level unit)"),
    kind: str = typer.Option("department", "--kind"),
) -> None:
    """Add a unit to the organisation network."""
    from pydantic import ValidationError
    from sqlalchemy import select

    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org import services
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import UnitCreate

    settings = _settings()
    db = _db(settings)
    try:
        with db.session() as s:
            parent_id = None
            if parent:
                p = s.scalar(select(Unit).where(Unit.code == parent))
                if p is None:
                    _fail(f"No unit with code '{parent}'")
                parent_id = p.id  # type: ignore[union-attr]
            names = {k: v for k, v in {"en": name, "vi": name_vi, "th": name_th}.items() if v}
            u = services.create_unit(s, Actor.system_actor("cli", via="cli"),
                                     UnitCreate(code=code, parent_id=parent_id, kind=kind, names=names))
            console.print(f"Added unit {u.code} (id {u.id}).")
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()))
    except DomainError as exc:
        _fail(exc.message)
    finally:
        db.dispose()


@unit_app.command("list")
def unit_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List all units."""
    from sqlalchemy import select

    from civicpulse.domain.org.models import Unit

    settings = _settings()
    db = _db(settings)
    with db.session() as s:
        units = list(s.scalars(select(Unit).order_by(Unit.path)))
        if as_json:
            print(json.dumps([{"id": u.id, "code": u.code, "parent_id": u.parent_id, "kind": u.kind, "names": u.names}
                              for u in units], ensure_ascii=False))
            return
        t = Table("code", "name", "kind")
        for u in units:
            t.add_row(u.code, "  " * u.depth + u.name("en"), u.kind)
        console.print(t)
    db.dispose()


# ------------------------------------------------------------------ backup and restore


def _sqlite_path(settings: Settings) -> Path:
    url = settings.db_url
    return Path(url.split("///", 1)[1])


@app.command()
def backup(out: Path = typer.Argument(..., help="Backup file to write")) -> None:
    """Back up the database (SQLite online backup, or pg_dump for PostgreSQL)."""
    settings = _settings()
    if out.exists():
        _fail(f"{out} already exists; choose a new file name")
    if settings.is_sqlite:
        src_path = _sqlite_path(settings)
        if not src_path.exists():
            _fail(f"No database at {src_path}")
        src = sqlite3.connect(src_path)
        dst = sqlite3.connect(out)
        try:
            with console.status("Backing up…"):
                src.backup(dst, pages=1024)
        finally:
            dst.close()
            src.close()
    else:
        if not shutil.which("pg_dump"):
            _fail("pg_dump is not installed (Debian package postgresql-client)")
        url = settings.db_url.replace("postgresql+psycopg://", "postgresql://")
        res = subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={out}", url],
                             capture_output=True, text=True)
        if res.returncode != 0:
            out.unlink(missing_ok=True)
            _fail(f"pg_dump failed: {res.stderr.strip()}")
    console.print(f"Backup written to {out} ({out.stat().st_size:,} bytes)")


@app.command()
def restore(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A file made by `civicpulse backup`"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
) -> None:
    """Replace the database with a backup. The backup is checked before anything is touched."""
    settings = _settings()
    if not yes and not typer.confirm("This replaces the current database. Continue?"):
        raise typer.Exit(1)
    if settings.is_sqlite:
        try:
            src = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
            ok = src.execute("PRAGMA integrity_check").fetchone()[0]
            rev = src.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError as exc:
            _fail(f"{file} is not a civicpulse SQLite backup: {exc}")
        if ok != "ok" or rev is None:
            _fail(f"{file} failed the integrity check ({ok}); nothing was changed")
        dst_path = _sqlite_path(settings)
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(dst_path)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        if not shutil.which("pg_restore"):
            _fail("pg_restore is not installed (Debian package postgresql-client)")
        listing = subprocess.run(["pg_restore", "--list", str(file)], capture_output=True, text=True)
        if listing.returncode != 0 or "alembic_version" not in listing.stdout:
            _fail(f"{file} is not a civicpulse PostgreSQL backup; nothing was changed")
        url = settings.db_url.replace("postgresql+psycopg://", "postgresql://")
        res = subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                              f"--dbname={url}", str(file)], capture_output=True, text=True)
        if res.returncode != 0:
            _fail(f"pg_restore failed (the database was left as it was): {res.stderr.strip()}")
    console.print(f"Restored from {file}.")


def _mount_optional() -> None:
    """Areas that bring their own sub-commands."""
    try:
        from civicpulse.nlp.cli import nlp_app
    except ImportError as exc:  # pragma: no cover - only while the nlp package is missing
        if "civicpulse.nlp" not in str(exc):
            raise
    else:
        app.add_typer(nlp_app, name="nlp", help="Offline language tools: predict, evaluate, train, models.")


_mount_optional()


def main() -> None:  # pragma: no cover
    app(prog_name="civicpulse")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
