"""`civicpulse posts …` and `civicpulse channels …`: bulk import, lists, the dispatcher and channel health.

The command line is the operator's tool: it acts as the system (it sees every unit). Writes (the import, the
dispatcher, health checks) go through the services and are audited as "cli" / "publisher".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from civicpulse.cli_common import cli_actor as _cli_actor
from civicpulse.cli_common import console
from civicpulse.cli_common import fail as _fail
from civicpulse.cli_common import settings_and_db as _env

posts_app = typer.Typer(help="Posts: bulk import of a content calendar, lists, publishing what is due.",
                        no_args_is_help=True)
channels_app = typer.Typer(help="Publishing channels: list them and check their tokens.", no_args_is_help=True)


@posts_app.command("import")
def import_posts(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="CSV (columns: unit,title,channel,language,text,scheduled_at,link,hashtags) "
                                     "or JSON (a list of objects with the same keys)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the file and report; store nothing"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import a content calendar. Every row is checked first: if one row is wrong, nothing is stored."""
    from civicpulse.domain.content.services import import_calendar
    from civicpulse.domain.errors import DomainError

    settings, db = _env()
    try:
        with db.session() as s:
            rep = import_calendar(s, _cli_actor(), file.name, file.read_bytes(), dry_run=dry_run)
    except DomainError as exc:
        _fail(exc.message, 2)
    except UnicodeDecodeError:
        _fail("The file is not UTF-8 text", 2)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps({"ok": rep.ok, "rows": rep.rows, "posts": rep.posts, "variants": rep.variants,
                          "errors": rep.errors, "stored": rep.ok and not dry_run}, ensure_ascii=False))
    elif rep.ok:
        verb = "would be imported" if dry_run else "imported"
        console.print(f"[green]✓[/green] {rep.rows} row(s) checked: {rep.posts} post(s) with {rep.variants} "
                      f"channel variant(s) {verb} as drafts.")
    else:
        console.print(f"[red]✗[/red] {len(rep.errors)} row(s) have problems; nothing was imported:")
        for e in rep.errors:
            console.print(f"  row {e['row']}: " + "; ".join(e["problems"]))
    if not rep.ok:
        raise typer.Exit(1)


@posts_app.command("list")
def list_posts(
    state: str = typer.Option(None, "--state", help="draft, in_review, approved, scheduled, publishing, published, "
                                                   "failed or cancelled"),
    unit: str = typer.Option(None, "--unit", help="Only this unit (code) and the units below it"),
    limit: int = typer.Option(200, "--limit", min=1, max=10000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List channel variants of posts (e.g. every failed one, with the reason)."""
    from sqlalchemy import select

    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.publishing import queries

    settings, db = _env()
    rows: list[dict[str, Any]] = []
    try:
        with db.session() as s:
            unit_id = None
            if unit:
                u = s.scalar(select(Unit).where(Unit.code == unit))
                if u is None:
                    _fail(f"Unit '{unit}' was not found", 2)
                unit_id = u.id  # type: ignore[union-attr]
            page = queries.variants(s, _cli_actor(), state=state, unit_id=unit_id, per_page=min(limit, 200))
            items = list(page.items)
            p = 2
            while len(items) < min(limit, page.total):
                items += queries.variants(s, _cli_actor(), state=state, unit_id=unit_id, page=p, per_page=200).items
                p += 1
            for v in items[:limit]:
                rows.append({"variant_id": v.id, "post_id": v.post_id, "unit": v.post.unit.code, "title": v.post.title,
                             "channel": v.channel.name, "platform": v.channel.platform, "state": v.state,
                             "needs_check": v.needs_check,
                             "scheduled_at": v.scheduled_at.isoformat() if v.scheduled_at else None,
                             "published_at": v.published_at.isoformat() if v.published_at else None,
                             "attempts": v.attempts, "url": v.external_url, "reason": v.reason})
    except DomainError as exc:
        _fail(exc.message, 2)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        console.print("No posts" + (f" in state '{state}'." if state else "."))
        return
    t = Table("variant", "unit", "title", "channel", "state", "when", "reason / address")
    for r in rows:
        st = r["state"] + (" (needs a check)" if r["needs_check"] else "")
        colour = {"failed": "red", "published": "green", "scheduled": "cyan"}.get(r["state"], "white")
        t.add_row(str(r["variant_id"]), r["unit"], r["title"], r["channel"], f"[{colour}]{st}[/{colour}]",
                  r["published_at"] or r["scheduled_at"] or "—", r["reason"] or r["url"] or "")
    console.print(t)


@posts_app.command("publish-due")
def publish_due(
    watch: float = typer.Option(0.0, "--watch", help="Keep running, checking every N seconds (0: once)"),
) -> None:
    """Publish every post that is due now (what `civicpulse worker` does every minute)."""
    from civicpulse.domain.publishing.engine import dispatch_due

    settings, db = _env()
    try:
        while True:
            stats = dispatch_due(db, settings).as_dict()
            if stats["due"] or not watch:
                console.print(", ".join(f"{k}: {v}" for k, v in stats.items()))
            if not watch:
                break
            time.sleep(watch)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        pass
    finally:
        db.dispose()


@channels_app.command("list")
def list_channels(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every channel with its unit, platform and last health check (secrets are never shown)."""
    from civicpulse.domain.publishing import queries

    settings, db = _env()
    try:
        with db.session() as s:
            rows = [queries.channel_out(c, settings).model_dump(mode="json") | {"unit": c.unit.code}
                    for c in queries.channels(s, _cli_actor())]
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    t = Table("id", "unit", "platform", "name", "enabled", "health", "checked")
    for r in rows:
        health = {True: "[green]ok[/green]", False: "[red]needs attention[/red]", None: "not checked"}[r["health_ok"]]
        t.add_row(str(r["id"]), r["unit"], r["platform"], r["name"], "yes" if r["enabled"] else "no", health,
                  r["health_checked_at"] or "—")
    console.print(t)


@channels_app.command("check")
def check_channels(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check every enabled channel's token now: green when it works, red with the platform's words and the fix.
    Exits with 1 when a channel is red (for monitoring)."""
    from sqlalchemy import select

    from civicpulse.domain.publishing import platforms
    from civicpulse.domain.publishing.engine import check_channel
    from civicpulse.domain.publishing.models import Channel

    settings, db = _env()
    out: list[dict[str, Any]] = []
    try:
        with db.session() as s:
            chans = [(c.id, c.name, c.platform, c.unit.code) for c in s.scalars(
                select(Channel).where(Channel.enabled.is_(True)).order_by(Channel.unit_path, Channel.name))]
        for cid, name, platform, unit in chans:
            h = check_channel(db, settings, cid)
            out.append({"id": cid, "unit": unit, "name": name, "platform": platform, "ok": h.ok, "message": h.message})
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    elif not out:
        console.print("No channels yet. Add one in the web interface (Channels) or through the API.")
    else:
        for r in out:
            mark = "[green]● ok[/green]" if r["ok"] else "[red]● needs attention[/red]"
            console.print(f"{mark}  {r['unit']} · {r['name']} ({platforms.label(r['platform'])}): {r['message']}")
        bad = sum(1 for r in out if not r["ok"])
        console.print(f"{len(out) - bad} channel(s) ok, {bad} need attention.")
    if any(not r["ok"] for r in out):
        raise typer.Exit(1)


@channels_app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every channel's secrets with the current CIVICPULSE_SECRET_KEY (after a key change, with the old
    key in CIVICPULSE_PREVIOUS_SECRET_KEYS)."""
    from civicpulse.crypto import SecretError
    from civicpulse.domain.publishing.services import rotate_secrets

    settings, db = _env()
    try:
        with db.session() as s:
            n = rotate_secrets(s, settings)
    except SecretError as exc:
        _fail(str(exc))
    finally:
        db.dispose()
    console.print(f"Re-encrypted the secrets of {n} channel(s).")
