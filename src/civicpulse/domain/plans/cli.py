"""`civicpulse plans …`: list plans and export one to DOCX, PDF or Markdown.

The command line is the installation operator's tool: it acts as the system (it sees every plan), and
what it writes (files) is outside the database, so nothing here needs an audit entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from civicpulse.cli_common import console
from civicpulse.cli_common import database as _db
from civicpulse.cli_common import fail as _fail

plans_app = typer.Typer(help="Policy-communication plans.", no_args_is_help=True)


@plans_app.command("list")
def list_plans(
    as_json: bool = typer.Option(False, "--json", help="JSON lines for scripts"),
    unit: str = typer.Option(None, "--unit", help="Only this unit (code) and the units below it"),
    status: str = typer.Option(None, "--status", help="draft | in_review | approved | active | closed"),
) -> None:
    """List plans (newest first; plans in crisis mode on top)."""
    from sqlalchemy import select

    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.plans import queries
    from civicpulse.domain.plans.models import STATUSES

    if status and status not in STATUSES:
        _fail(f"Unknown status {status!r}; use {', '.join(STATUSES)}")
    db = _db()
    actor = Actor.system_actor("cli", via="cli")
    try:
        with db.session() as s:
            unit_id = None
            if unit:
                u = s.scalar(select(Unit).where(Unit.code == unit))
                if u is None:
                    _fail(f"No unit with code '{unit}'")
                unit_id = u.id  # type: ignore[union-attr]
            page = queries.plans(s, actor, unit_id=unit_id, status=status, per_page=200)
            rows = [{"id": p.id, "unit": p.unit.code, "title": p.title, "policy": p.policy, "status": p.status,
                     "version": p.version, "crisis": p.crisis_phase if p.crisis_active else None,
                     "start_date": p.start_date.isoformat() if p.start_date else None,
                     "end_date": p.end_date.isoformat() if p.end_date else None,
                     "updated_at": p.updated_at.isoformat()} for p in page.items]
    finally:
        db.dispose()
    if as_json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} plan(s)")
    for col in ("id", "unit", "title", "status", "version", "crisis", "period"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), str(r["unit"]), str(r["title"]), str(r["status"]), str(r["version"]),
                      f"[red]{r['crisis']}[/red]" if r["crisis"] else "",
                      f"{r['start_date'] or '?'} – {r['end_date'] or '?'}")
    console.print(table)


@plans_app.command("export")
def export_plan(
    plan_id: int = typer.Argument(..., help="Plan id (see `civicpulse plans list`)"),
    fmt: str = typer.Option("pdf", "--format", "-f", help="docx | pdf | md"),
    out: Path = typer.Option(..., "--out", "-o", help="File to write"),
    lang: str = typer.Option(None, "--lang", help="vi | th | en (default: the plan's language)"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file"),
) -> None:
    """Export a plan for the minister: DOCX, PDF or Markdown with the organisation's header and the timeline."""
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.plans import export, queries

    if fmt not in export.FORMATS:
        _fail(f"Unknown format {fmt!r}; use docx, pdf or md")
    if lang and lang not in ("vi", "th", "en"):
        _fail(f"Unknown language {lang!r}; use vi, th or en")
    if out.exists() and not force:
        _fail(f"{out} already exists; choose another name or add --force")
    db = _db()
    actor = Actor.system_actor("cli", via="cli")
    try:
        with db.session() as s:
            plan = queries.plan(s, actor, plan_id)
            content, _media, _name = export.export(s, actor, plan, fmt, lang)
    except DomainError as exc:
        _fail(exc.message)
    finally:
        db.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    console.print(f"Wrote {out} ({len(content):,} bytes)")
