"""`civicpulse claims …`: add a claim, list the registry, match a text against it, run the matching job, and
evaluate matching on the labelled set.

The command line is the installation operator's tool: it acts as the system (it sees every claim). Registry
writes go through the services, so they are audited (as "cli").
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from civicpulse.cli_common import cli_actor as _actor
from civicpulse.cli_common import console
from civicpulse.cli_common import database as _db
from civicpulse.cli_common import fail as _fail

claims_app = typer.Typer(help="Rumours and claims: the registry, matching, evaluation.", no_args_is_help=True)


@claims_app.command("add")
def add(
    text: str = typer.Option(..., "--text", help="The claim as people say it"),
    verdict: str = typer.Option("unverified", "--verdict",
                                help="unverified | false | misleading | true | partly_true"),
    correction: str = typer.Option("", "--correction", help="The official correction (in --lang)"),
    link: str = typer.Option(None, "--link", help="Link to the official correction (http/https)"),
    unit: str = typer.Option(None, "--unit", help="Owner unit code (default: the top unit)"),
    lang: str = typer.Option(None, "--lang", help="th | vi | en (default: detected)"),
    as_json: bool = typer.Option(False, "--json", help="Print the new claim as JSON"),
) -> None:
    """Add a claim to the registry; recent items are matched against it at once."""
    from pydantic import ValidationError
    from sqlalchemy import select

    from civicpulse.domain.alerts.claims import services
    from civicpulse.domain.alerts.claims.models import LANGS, VERDICTS
    from civicpulse.domain.alerts.claims.schemas import ClaimCreate
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.org.models import Unit
    from civicpulse.domain.org.queries import head_office

    if verdict not in VERDICTS:
        _fail(f"Unknown verdict {verdict!r}; use {', '.join(VERDICTS)}")
    if lang and lang not in LANGS:
        _fail(f"Unknown language {lang!r}; use th, vi or en")
    if not lang:
        from civicpulse.nlp import detect

        detected = detect(text)[0] if text.strip() else "en"
        lang = detected if detected in LANGS else "en"
    db = _db()
    try:
        with db.session() as s:
            if unit:
                u = s.scalar(select(Unit).where(Unit.code == unit))
                if u is None:
                    _fail(f"No unit with code '{unit}'")
            else:
                u = head_office(s)
                if u is None:
                    _fail("There are no units yet; create one first (civicpulse unit create)")
            assert u is not None
            try:
                data = ClaimCreate(unit_id=u.id, texts=[{"lang": lang, "text": text}],  # type: ignore[list-item]
                                   status=verdict,  # type: ignore[arg-type]
                                   correction={lang: correction} if correction else {}, correction_url=link)
            except ValidationError as exc:
                _fail("; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors()))
            try:
                c = services.create_claim(s, _actor(), data)
            except DomainError as exc:
                _fail(exc.message)
            row = {"id": c.id, "unit": u.code, "status": c.status, "text": c.title,
                   "matches": services.match_count(s, c.id)}
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(row, ensure_ascii=False))
    else:
        console.print(f"Added claim {row['id']} ({row['status']}) for {row['unit']}; "
                      f"{row['matches']} recent item(s) already repeat it.")


@claims_app.command("list")
def list_claims(
    as_json: bool = typer.Option(False, "--json", help="JSON lines for scripts"),
    status: str = typer.Option(None, "--status", help="Only this verdict"),
) -> None:
    """List the claims (recently changed first) with their number of matched items."""
    from civicpulse.domain.alerts.claims import queries
    from civicpulse.domain.alerts.claims.models import VERDICTS

    if status and status not in VERDICTS:
        _fail(f"Unknown verdict {status!r}; use {', '.join(VERDICTS)}")
    db = _db()
    actor = _actor()
    try:
        with db.session() as s:
            page = queries.claims(s, actor, status=status, per_page=200)
            counts = queries.match_counts(s, actor, [c.id for c in page.items])
            rows: list[dict[str, Any]] = [{"id": c.id, "unit": c.unit.code, "status": c.status, "text": c.title,
                     "languages": [t.lang for t in c.texts], "correction_url": c.correction_url,
                     "matches": counts.get(c.id, 0), "updated_at": c.updated_at.isoformat()} for c in page.items]
    finally:
        db.dispose()
    if as_json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} claim(s)")
    for col in ("id", "unit", "verdict", "claim", "languages", "matches"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), str(r["unit"]), str(r["status"]), str(r["text"])[:80],
                      ",".join(r["languages"]), str(r["matches"]))
    console.print(table)


@claims_app.command("match")
def match(
    text: str = typer.Option(..., "--text", help="A post or message to check"),
    lang: str = typer.Option(None, "--lang", help="th | vi | en (default: detected)"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Which known claims does this text repeat? Best first."""
    from civicpulse.domain.alerts.claims import queries

    if not text.strip():
        _fail("The text is empty")
    if lang and lang not in ("th", "vi", "en"):
        _fail(f"Unknown language {lang!r}; use th, vi or en")
    db = _db()
    try:
        with db.session() as s:
            found = queries.match_text(s, _actor(), text.strip(), lang=lang)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps([f.model_dump() for f in found], ensure_ascii=False))
        return
    if not found:
        console.print("No known claim matches this text.")
        return
    table = Table(title=f"{len(found)} matching claim(s)")
    for col in ("claim", "verdict", "score", "how", "text"):
        table.add_column(col)
    for f in found:
        table.add_row(str(f.claim_id), f.status, f"{f.score:.2f}", f.method, f.text[:80])
    console.print(table)


@claims_app.command("run")
def run() -> None:
    """Match the items not matched yet (what the background job does every minute)."""
    from civicpulse.domain.alerts.claims.services import run_matching

    db = _db()
    try:
        st = run_matching(db)
    finally:
        db.dispose()
    console.print(f"Compared {st.lexical} item(s) by words and {st.semantic} by meaning; {st.matches} new match(es).")


@claims_app.command("evaluate")
def evaluate(
    tune: bool = typer.Option(False, "--tune", help="Choose centroids and thresholds on the tuning half"),
    write: bool = typer.Option(False, "--write", help="With --tune: save the language centroids"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
) -> None:
    """Precision and recall of matching on the labelled set (held-out half); takes a few minutes."""
    from civicpulse.domain.alerts.claims.evaluate import evaluate as run_eval

    with console.status("Embedding and scoring the labelled set…"):
        res = run_eval(tune=tune, write=write and tune)
    if as_json:
        print(json.dumps(res, ensure_ascii=False))
        return
    console.print_json(json.dumps(res))
