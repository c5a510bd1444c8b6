"""The `civicpulse` command line (Typer + Rich)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from civicpulse.cli_common import console, err
from civicpulse.cli_common import fail as _fail
from civicpulse.config import Settings, SettingsError, get_settings

app = typer.Typer(help="civicpulse: listen, plan and speak with one voice.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
user_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
unit_app = typer.Typer(help="Units of the organisation network.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(unit_app, name="unit")



def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        err.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


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
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org import queries as org_queries
    from civicpulse.domain.org import services
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import RoleIn, UnitCreate, UserCreate

    db = _db(settings)
    actor = Actor.system_actor("cli:init", via="cli")
    try:
        with db.session() as s:
            root = org_queries.head_office(s)
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
                # soft_wrap: never fold the link across lines (it must stay copyable in any terminal width)
                console.print(f"Invitation link: {settings.base_url.rstrip('/')}/password/reset/{invite}",
                              soft_wrap=True)
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


# ------------------------------------------------------------------ listening

ingest_app = typer.Typer(help="Collect items from files and feeds.", no_args_is_help=True)
sources_app = typer.Typer(help="Listening sources.", no_args_is_help=True)
dedup_app = typer.Typer(help="Near-duplicate clusters.", no_args_is_help=True)
enrich_app = typer.Typer(help="Language, sentiment, voice, toxicity, entities and embeddings of items.",
                         no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(sources_app, name="sources")
app.add_typer(dedup_app, name="dedup")
app.add_typer(enrich_app, name="enrich")


def _unit_id(s, code: str | None) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from civicpulse.domain.org.models import Unit

    if code:
        u = s.scalar(select(Unit).where(Unit.code == code))
        if u is None:
            _fail(f"No unit with code '{code}'")
        return u.id  # type: ignore[union-attr]
    roots = list(s.scalars(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id)))
    if len(roots) != 1:
        _fail("Say which unit the items belong to with --unit CODE")
    return roots[0].id


def _progress():  # type: ignore[no-untyped-def]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False)


def _print_stats(stats, as_json: bool = False) -> None:  # type: ignore[no-untyped-def]
    if as_json:
        print(json.dumps({"inserted": stats.inserted, "duplicates": stats.duplicates, "rejected": stats.rejected,
                          "reasons": stats.reasons}, ensure_ascii=False))
        return
    console.print(f"inserted: [bold]{stats.inserted}[/bold]   duplicates: {stats.duplicates}   "
                  f"rejected: {stats.rejected}")
    for r in stats.reasons[:20]:
        console.print(f"  [yellow]rejected[/yellow] {r}")
    if stats.rejected > 20:
        console.print(f"  … and {stats.rejected - 20} more (see Sources → Rejected items)")


def _enrich_after(settings: Settings, db) -> None:  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening.enrich import enrich_pending, pending_count

    n = pending_count(db)
    if not n:
        return
    with _progress() as prog:
        task = prog.add_task("Analysing (language, words, sentiment)", total=n)
        enrich_pending(db, settings, progress=lambda done, total: prog.update(task, completed=done, total=total))


@ingest_app.command("file")
def ingest_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    source: str = typer.Option(..., "--source", help="Name of the file source (created on first use)"),
    fmt: str = typer.Option(None, "--format", help="csv | jsonl | xlsx (default: detected)"),
    unit: str = typer.Option(None, "--unit", help="Unit code (default: the top unit)"),
    map_: list[str] = typer.Option(None, "--map", help="Column mapping, e.g. --map text=message --map time=created"),
    no_enrich: bool = typer.Option(False, "--no-enrich", help="Store only; analyse later with `enrich run`"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import a CSV, JSONL or XLSX export, printing inserted / duplicates / rejected."""
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.listening import services
    from civicpulse.domain.org.permissions import Actor

    if fmt and fmt not in ("csv", "jsonl", "xlsx", "json"):
        _fail(f"Unknown format '{fmt}'; use csv, jsonl or xlsx")
    mapping = None
    if map_:
        mapping = {}
        for m in map_:
            key, sep, col = m.partition("=")
            if not sep:
                _fail(f"--map takes target=column, got '{m}'")
            mapping[key.strip()] = col.strip()
    settings = _settings()
    db = _db(settings)
    try:
        with db.session() as s:
            unit_id = _unit_id(s, unit)
        with _progress() as prog:
            task = prog.add_task(f"Importing {path.name}", total=None)
            stats = services.import_file(db, settings, Actor.system_actor("cli", via="cli"), unit_id, source, path,
                                         fmt=fmt, mapping=mapping, progress=lambda n: prog.update(task, completed=n))
        _print_stats(stats, as_json)
        if not no_enrich and stats.inserted:
            _enrich_after(settings, db)
    except DomainError as exc:
        _fail(exc.message)
    finally:
        db.dispose()


@ingest_app.command("feed")
def ingest_feed(
    url: str = typer.Argument(..., help="RSS or Atom feed URL"),
    unit: str = typer.Option(..., "--unit", help="Unit code"),
    name: str = typer.Option(None, "--name", help="Source name (default: the feed's host)"),
    interval: int = typer.Option(30, "--interval", help="Minutes between polls"),
) -> None:
    """Add an RSS/Atom feed as a source and fetch it once."""
    from urllib.parse import urlparse

    from civicpulse.connectors.base import ConnectorError
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.schemas import SourceCreate
    from civicpulse.domain.org.permissions import Actor

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        _fail(f"'{url}' is not an http(s) URL")
    settings = _settings()
    db = _db(settings)
    actor = Actor.system_actor("cli", via="cli")
    try:
        with db.session() as s:
            src, _ = services.create_source(s, actor, settings, SourceCreate(
                unit_id=_unit_id(s, unit), name=name or parsed.netloc, platform="rss", config={"url": url},
                interval_minutes=interval))
            sid = src.id
        with console.status(f"Fetching {url}…"):
            stats = services.run_source(db, settings, sid)
        _print_stats(stats)
        if stats.inserted:
            _enrich_after(settings, db)
    except ConnectorError as exc:
        _fail(f"The source was added but the first fetch failed: {exc.message}")
    except DomainError as exc:
        _fail(exc.message)
    finally:
        db.dispose()


@sources_app.command("run")
def sources_run(as_json: bool = typer.Option(False, "--json")) -> None:
    """Poll every source that is due, once."""
    from civicpulse.connectors.base import ConnectorError
    from civicpulse.domain.listening import services

    settings = _settings()
    db = _db(settings)
    results: list[dict[str, Any]] = []
    failed = 0
    try:
        due = services.due_sources(db)
        with _progress() as prog:
            task = prog.add_task("Polling sources", total=len(due))
            for sid in due:
                try:
                    st = services.run_source(db, settings, sid)
                    results.append({"source_id": sid, "inserted": st.inserted, "duplicates": st.duplicates,
                                    "rejected": st.rejected, "error": None})
                except ConnectorError as exc:
                    failed += 1
                    results.append({"source_id": sid, "inserted": 0, "duplicates": 0, "rejected": 0,
                                    "error": exc.message})
                prog.advance(task)
        if any(r["inserted"] for r in results):
            _enrich_after(settings, db)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        t = Table("source", "inserted", "duplicates", "rejected", "error")
        for r in results:
            t.add_row(str(r["source_id"]), str(r["inserted"]), str(r["duplicates"]), str(r["rejected"]),
                      r["error"] or "")
        console.print(t if results else "No source is due.")
    if failed:
        raise typer.Exit(1)


@sources_app.command("list")
def sources_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List sources with their health."""
    from sqlalchemy import select

    from civicpulse.domain.listening.models import Source

    settings = _settings()
    db = _db(settings)
    with db.session() as s:
        rows = [{"id": x.id, "unit": x.unit.code, "name": x.name, "platform": x.platform, "items": x.items_count,
                 "enabled": x.enabled, "last_success_at": x.last_success_at.isoformat() if x.last_success_at else None,
                 "last_error": x.last_error} for x in s.scalars(select(Source).order_by(Source.id))]
    db.dispose()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    t = Table("id", "unit", "name", "platform", "items", "last success", "last error")
    for r in rows:
        t.add_row(str(r["id"]), r["unit"], r["name"], r["platform"], str(r["items"]), r["last_success_at"] or "—",
                  r["last_error"] or "")
    console.print(t)


@app.command()
def search(
    query: str = typer.Argument(..., help='Boolean query, e.g. \'ค่าไฟ OR "xử phạt" lang:th\''),
    as_json: bool = typer.Option(False, "--json"),
    limit: int = typer.Option(20, "--limit", min=1, max=1000),
) -> None:
    """Full-text search over collected items (Thai, Vietnamese, English)."""
    import re as _re

    from civicpulse.domain.errors import ValidationFailed
    from civicpulse.domain.listening import queries
    from civicpulse.domain.org.permissions import Actor

    settings = _settings()
    db = _db(settings)
    try:
        with db.session() as s:
            res = queries.search(s, Actor.system_actor("cli", via="cli"), query, limit=limit,
                                 count_cap=queries.SEARCH_COUNT_CAP)
            hits = [{"id": h.item.id, "score": round(h.score, 4), "lang": h.item.lang, "source_id": h.item.source_id,
                     "published_at": h.item.published_at.isoformat() if h.item.published_at else None,
                     "author": h.item.author_handle, "url": h.item.url, "text": h.item.text[:500],
                     "snippet": h.snippet} for h in res.hits]
    except ValidationFailed as exc:
        pointer = exc.details.get("pointer")
        _fail(exc.message + (f"\n{pointer}" if pointer else ""), code=2)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps({"query": query, "total": res.total, "total_capped": res.total_capped, "hits": hits}, ensure_ascii=False))
        return
    console.print(f"{res.total:,}{'+' if res.total_capped else ''} match(es)")
    for h in hits:
        snippet = _re.sub(r"<mark>(.*?)</mark>", r"[bold yellow]\1[/bold yellow]", str(h["snippet"]).replace("[", r"\["))
        import html as _html

        console.print(f"[dim]#{h['id']} {h['published_at'] or ''} {h['lang'] or ''}[/dim]  {_html.unescape(snippet)}")


@dedup_app.command("run")
def dedup_run(threshold: float = typer.Option(0.7, "--threshold", min=0.3, max=1.0)) -> None:
    """Group near-identical items into clusters; prints how many clusters there are."""
    from civicpulse.domain.listening import services

    settings = _settings()
    db = _db(settings)
    try:
        with _progress() as prog:
            task = prog.add_task("Comparing items", total=None)
            n = services.dedup_run(db, threshold=threshold,
                                   progress=lambda done, total: prog.update(task, completed=done, total=total))
    finally:
        db.dispose()
    console.print(f"{n} near-duplicate clusters")


@enrich_app.command("run")
def enrich_run(
    embeddings: bool = typer.Option(False, "--embeddings", help="Also compute embeddings (slow lane)"),
    limit: int = typer.Option(None, "--limit", help="At most this many items"),
) -> None:
    """Analyse every item that is still pending (restartable)."""
    from civicpulse.domain.listening.enrich import embed_pending, enrich_pending, pending_count

    settings = _settings()
    db = _db(settings)
    try:
        total = pending_count(db)
        with _progress() as prog:
            task = prog.add_task("Analysing", total=min(total, limit) if limit else total)
            st = enrich_pending(db, settings, limit=limit,
                                progress=lambda done, tot: prog.update(task, completed=done, total=tot))
            console.print(f"Analysed {st.done} item(s) ({st.per_second:,.0f}/s).")
            if embeddings:
                task2 = prog.add_task("Embeddings", total=None)
                st2 = embed_pending(db, limit=limit,
                                    progress=lambda done, tot: prog.update(task2, completed=done, total=tot))
                console.print(f"Embedded {st2.done} item(s) ({st2.per_second:,.1f}/s).")
    finally:
        db.dispose()


@app.command()
def worker(workers: int = typer.Option(2, "--workers", min=1, max=16)) -> None:
    """Run the background jobs (polling sources, analysing new items) until stopped."""
    from civicpulse.jobs import tasks  # noqa: F401 - registers the tasks
    from civicpulse.jobs.queue import huey
    from civicpulse.logs import configure

    settings = _settings()
    configure(settings.log_level)
    q = huey()
    where = settings.redis_url or str(settings.data_dir / "jobs.sqlite3")
    console.print(f"civicpulse worker: {workers} worker(s), queue at {where}. Ctrl+C to stop.")
    q.create_consumer(workers=workers, worker_type="thread", periodic=True).run()


from civicpulse.nlp.cli import nlp_app  # noqa: E402 - the offline language tools bring their own sub-commands

app.add_typer(nlp_app, name="nlp", help="Offline language tools: predict, evaluate, train, models, activate, rollback.")

from civicpulse.domain.plans.cli import plans_app  # noqa: E402 - plans bring their own sub-commands

app.add_typer(plans_app, name="plans")

from civicpulse.domain.alerts.cli import alerts_app, issues_app  # noqa: E402 - early warning sub-commands

app.add_typer(issues_app, name="issues")
app.add_typer(alerts_app, name="alerts")

from civicpulse.domain.alerts.claims.cli import claims_app  # noqa: E402 - rumours and claims sub-commands

app.add_typer(claims_app, name="claims")

from civicpulse.domain.publishing.cli import channels_app, posts_app  # noqa: E402 - publishing sub-commands

app.add_typer(posts_app, name="posts")
app.add_typer(channels_app, name="channels")

from civicpulse.domain.campaigns.cli import align as align_command  # noqa: E402 - campaign kits and alignment
from civicpulse.domain.campaigns.cli import campaigns_app  # noqa: E402

app.add_typer(campaigns_app, name="campaigns")
app.command("align")(align_command)


def main() -> None:  # pragma: no cover
    app(prog_name="civicpulse")


if __name__ == "__main__":  # pragma: no cover
    main()
