"""`civicpulse campaigns …` and `civicpulse align`: list campaigns, score a text against one.

The command line is the installation operator's tool: it acts as the system (it sees every campaign), and
it writes nothing, so nothing here needs an audit entry.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from civicpulse.cli_common import console
from civicpulse.cli_common import database as _db
from civicpulse.cli_common import fail as _fail

campaigns_app = typer.Typer(help="Campaign kits sent to the network and their alignment.", no_args_is_help=True)


@campaigns_app.command("list")
def list_campaigns(
    as_json: bool = typer.Option(False, "--json", help="JSON lines for scripts"),
    status: str = typer.Option(None, "--status", help="draft | published | closed"),
) -> None:
    """List campaigns (latest deadline first) with their target units and alignment so far."""
    from civicpulse.domain.campaigns import queries
    from civicpulse.domain.campaigns.models import STATUSES
    from civicpulse.domain.org.permissions import Actor

    if status and status not in STATUSES:
        _fail(f"Unknown status {status!r}; use {', '.join(STATUSES)}")
    db = _db()
    actor = Actor.system_actor("cli", via="cli")
    try:
        with db.session() as s:
            rows: list[dict[str, Any]] = []
            for c in queries.campaigns(s, actor, status=status, per_page=200).items:
                cp = queries.compliance(s, actor, c.id)
                rows.append({"id": c.id, "unit": c.unit.code, "title": c.title, "status": c.status,
                             "start_date": c.start_date.isoformat(), "deadline": c.deadline.isoformat(),
                             "targets": len(c.targets), "published_units": cp.statuses["on_time"] + cp.statuses["late"],
                             "levels": cp.levels})
    finally:
        db.dispose()
    if as_json:
        for r in rows:
            typer.echo(json.dumps(r, ensure_ascii=False))
        return
    if not rows:
        console.print("No campaigns yet.")
        return
    t = Table("id", "unit", "title", "status", "deadline", "published", "aligned", "partly", "off", "contra")
    for r in rows:
        lv = r["levels"]
        t.add_row(str(r["id"]), r["unit"], r["title"], r["status"], r["deadline"],
                  f"{r['published_units']}/{r['targets']}", str(lv["aligned"]), str(lv["partly"]),
                  str(lv["off_message"]), str(lv["contradicting"]))
    console.print(t)


def align(
    campaign: int = typer.Option(..., "--campaign", help="Campaign id (see `civicpulse campaigns list`)"),
    text: str = typer.Option(..., "--text", help="The post text to check"),
    lang: str = typer.Option(None, "--lang", help="vi | th | en (detected when left out)"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Score a text against a campaign: score (0–1), level and the reasons."""
    from civicpulse.domain.campaigns import alignment, queries
    from civicpulse.domain.errors import NotFound
    from civicpulse.domain.org.permissions import Actor

    if lang is not None and lang not in ("vi", "th", "en"):
        _fail(f"Unknown language {lang!r}; use vi, th or en")
    if not text.strip():
        _fail("The text is empty")
    db = _db()
    try:
        with db.session() as s:
            try:
                c = queries.campaign(s, Actor.system_actor("cli", via="cli"), campaign)
            except NotFound:
                _fail(f"Campaign {campaign} was not found")
            r = alignment.score_text(s, c, text, lang)
            title = c.title
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"campaign_id": campaign, **r.as_dict()}, ensure_ascii=False))
        return
    colour = {"green": "green", "amber": "yellow", "red": "red"}[r.light]
    console.print(f"{title}: [bold {colour}]{r.level}[/bold {colour}]  score {r.score:.2f}")
    for x in r.reasons:
        mark = "[green]✓[/green]" if x.ok else "[red]✗[/red]"
        console.print(f"  {mark} {x.message}", highlight=False)
