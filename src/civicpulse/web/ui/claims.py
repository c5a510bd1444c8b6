"""Rumours & claims pages: the registry (status filter), a claim (wordings, correction, spread, matched items),
the add/edit form, one-click "add as a claim" from a collected item, and the claims panel of an item page
(reply drafted from the official correction).

Routes stay thin: parse the form, call a service (which checks permission and audits), render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from civicpulse.domain.alerts.claims import queries, services
from civicpulse.domain.alerts.claims.models import LANGS, VERDICTS
from civicpulse.domain.alerts.claims.schemas import ClaimCreate, ClaimTextIn, ClaimUpdate
from civicpulse.domain.errors import DomainError
from civicpulse.domain.org import queries as org_queries
from civicpulse.i18n import _
from civicpulse.web.deps import DB, WebContext
from civicpulse.web.ui.render import actor_of, render, signed_in

router = APIRouter(include_in_schema=False)
EXTRA_ROWS = 2


def verdict_labels() -> dict[str, str]:
    return {"unverified": _("Unverified"), "false": _("False"), "misleading": _("Misleading"), "true": _("True"),
            "partly_true": _("Partly true")}


def method_labels() -> dict[str, str]:
    return {"semantic": _("similar meaning"), "lexical": _("same words"), "both": _("same words and meaning"),
            "manual": _("added by hand")}


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()) if not isinstance(p, int))
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return _("The claim is not valid — %(errors)s") % {"errors": "; ".join(parts[:5])}
    return getattr(exc, "message", str(exc))


def _form_values(form: Any) -> dict[str, Any]:
    n = min(int(form.get("texts-count", "0") or 0), 20)
    texts = [{"lang": (form.get(f"texts-{i}-lang") or "en").strip(), "text": form.get(f"texts-{i}-text") or ""}
             for i in range(n)]
    return {
        "unit_id": int(form["unit_id"]) if str(form.get("unit_id", "")).isdigit() else None,
        "texts": [t for t in texts if t["text"].strip()],
        "status": (form.get("status") or "unverified").strip(),
        "correction": {lg: form.get(f"correction_{lg}") or "" for lg in LANGS},
        "correction_url": (form.get("correction_url") or "").strip() or None,
        "notes": form.get("notes") or "",
        "first_seen": (form.get("first_seen") or "").strip(),
    }


def _first_seen(v: str) -> dt.datetime | None:
    if not v:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(v), dt.time(), tzinfo=dt.UTC)
    except ValueError as exc:
        raise DomainError(_("The first-seen date must look like 2026-11-23")) from exc


def _form_page(request: Request, s: Session, actor: Any, *, claim: Any = None, values: dict[str, Any],
               error: str | None = None, status_code: int = 200) -> HTMLResponse:
    units = [u for u in org_queries.all_units(s, actor) if actor.can("claim.manage", u)]
    rows = list(values.get("texts") or []) + [{"lang": "", "text": ""} for _i in range(EXTRA_ROWS)]
    return render(request, "claims/form.html", claim=claim, values=values, rows=rows, units=units,
                  verdicts=VERDICTS, V=verdict_labels(), langs=LANGS, error=error, status_code=status_code)


def _claim_values(c: Any) -> dict[str, Any]:
    return {"unit_id": c.unit_id, "texts": [{"lang": t.lang, "text": t.text} for t in c.texts], "status": c.status,
            "correction": {lg: (c.correction or {}).get(lg, "") for lg in LANGS},
            "correction_url": c.correction_url, "notes": c.notes,
            "first_seen": c.first_seen_at.date().isoformat() if c.first_seen_at else ""}


# ------------------------------------------------------------------ list


@router.get("/claims", response_class=HTMLResponse)
def claims_list(
    request: Request,
    status: str | None = Query(None, max_length=20),
    q: str | None = Query(None, max_length=200),
    page: int = Query(1, ge=1),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    st = status if status in VERDICTS else None
    p = queries.claims(s, actor, status=st, q=q, page=page)
    counts = queries.match_counts(s, actor, [c.id for c in p.items])
    can_add = any(actor.can("claim.manage", u) for u in org_queries.all_units(s, actor))
    return render(request, "claims/list.html", page=p, counts=counts, status=st or "", q=q or "",
                  verdicts=VERDICTS, V=verdict_labels(), can_add=can_add)


# ------------------------------------------------------------------ add / edit


@router.get("/claims/new", response_class=HTMLResponse)
def claim_new(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    lang = getattr(request.state, "lang", "en")
    return _form_page(request, s, actor, values={"texts": [{"lang": lang, "text": ""}], "status": "unverified",
                                                 "correction": {}, "first_seen": ""})


@router.post("/claims/new", response_class=HTMLResponse)
async def claim_create(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    form = await request.form()
    values = _form_values(form)
    try:
        data = ClaimCreate(unit_id=values["unit_id"] or 0,
                           texts=[ClaimTextIn(**t) for t in values["texts"]] if values["texts"] else [],
                           status=values["status"], correction=values["correction"],
                           correction_url=values["correction_url"], notes=values["notes"],
                           first_seen_at=_first_seen(values["first_seen"]))
        claim = services.create_claim(s, actor, data)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (403, 404):
            raise
        s.rollback()
        if isinstance(exc, ValidationError) and not values["texts"]:
            msg = _("The claim text is empty: write the claim as people say it.")
        else:
            msg = _error_message(exc)
        return _form_page(request, s, actor, values=values, error=msg, status_code=422)
    return RedirectResponse(f"/claims/{claim.id}", status_code=303)


@router.get("/claims/{claim_id}/edit", response_class=HTMLResponse)
def claim_edit(request: Request, claim_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    c = services.claim_for(s, actor, claim_id, "claim.manage")
    return _form_page(request, s, actor, claim=c, values=_claim_values(c))


@router.post("/claims/{claim_id}/edit", response_class=HTMLResponse)
async def claim_save(request: Request, claim_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    form = await request.form()
    values = _form_values(form)
    try:
        data = ClaimUpdate(texts=[ClaimTextIn(**t) for t in values["texts"]] if values["texts"] else [],
                           status=values["status"], correction=values["correction"],
                           correction_url=values["correction_url"], notes=values["notes"],
                           first_seen_at=_first_seen(values["first_seen"]))
        services.update_claim(s, actor, claim_id, data)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (403, 404):
            raise
        s.rollback()
        c = services.claim_for(s, actor, claim_id, "claim.manage")
        if isinstance(exc, ValidationError) and not values["texts"]:
            msg = _("The claim text is empty: write the claim as people say it.")
        else:
            msg = _error_message(exc)
        return _form_page(request, s, actor, claim=c, values=values, error=msg, status_code=422)
    return RedirectResponse(f"/claims/{claim_id}", status_code=303)


@router.post("/claims/{claim_id}/delete")
def claim_delete(request: Request, claim_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.delete_claim(s, actor_of(ctx), claim_id)
    return RedirectResponse("/claims", status_code=303)


@router.post("/claims/from-item/{item_id}")
def claim_from_item(request: Request, item_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    c = services.claim_from_item(s, actor_of(ctx), item_id)
    return RedirectResponse(f"/claims/{c.id}/edit", status_code=303)


# ------------------------------------------------------------------ one claim


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
def claim_page(request: Request, claim_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    c = queries.claim(s, actor, claim_id)
    days = queries.timeline(s, actor, claim_id, days=30)
    peak = max((n for _d, n in days), default=0)
    return render(request, "claims/detail.html", c=c, matches=queries.matches(s, actor, claim_id),
                  days=days, peak=peak, total=queries.match_counts(s, actor, [c.id]).get(c.id, 0),
                  can_manage=actor.can("claim.manage", c.unit), V=verdict_labels(), M=method_labels())


@router.get("/claims/for-item/{item_id}", response_class=HTMLResponse)
def item_panel(request: Request, item_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    """The claims panel of an item page (loaded by HTMX): matched claims and the reply drafts."""
    actor = actor_of(ctx)
    found = queries.claims_for_item(s, actor, item_id)
    return render(request, "claims/_item_panel.html", found=found, item_id=item_id, V=verdict_labels(),
                  M=method_labels())
