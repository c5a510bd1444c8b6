"""The organisation pages: dashboard, units tree, users and roles, audit log, my tokens.

Routes stay thin: parse the form, call a service (which checks permission and audits), render.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse.domain.errors import DomainError, PermissionDenied
from civicpulse.domain.org import queries, services
from civicpulse.domain.org.models import ROLES, UNIT_KINDS, AuditEntry
from civicpulse.domain.org.permissions import Actor, require
from civicpulse.domain.org.schemas import RoleIn, TokenCreate, UnitCreate, UnitUpdate, UserCreate, UserUpdate
from civicpulse.i18n import _
from civicpulse.web.deps import DB, WebContext, settings
from civicpulse.web.ui.auth import send_invitation
from civicpulse.web.ui.render import actor_of, render, signed_in

router = APIRouter(include_in_schema=False)


def _errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in exc.errors():
        field = ".".join(str(p) for p in e.get("loc", ())) or "form"
        out[field.split(".")[0]] = str(e.get("msg", "")).removeprefix("Value error, ")
    return out


def _names(name_vi: str, name_th: str, name_en: str) -> dict[str, str]:
    return {k: v for k, v in {"vi": name_vi, "th": name_th, "en": name_en}.items() if v.strip()}


# ------------------------------------------------------------------ dashboard


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    units = queries.all_units(s, actor)
    people = queries.users(s, actor, per_page=1).total
    recent = queries.audit(s, actor, queries.AuditFilter(), per_page=8).items if actor.is_admin_anywhere() else []
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    week = 0
    if actor.is_admin_anywhere():
        week = s.scalar(
            select(func.count()).select_from(AuditEntry).where(
                AuditEntry.at >= since, actor.filter_for_role(AuditEntry.unit_path, "admin")
            )
        ) or 0
    grants = [(g, next((u for u in units if u.id == g.unit_id), None)) for g in actor.grants]
    return render(request, "dashboard.html", units_count=len(units), people=people, recent=recent,
                  week=week, grants=grants, attention=_attention(s, actor))


def _attention(s: Session, actor: Actor) -> dict[str, Any]:
    """What waits for this person across the areas: new alerts, posts to review, failed posts, campaign kits."""
    from civicpulse.domain.alerts import queries as alerts
    from civicpulse.domain.campaigns import queries as campaigns
    from civicpulse.domain.org import notifications
    from civicpulse.domain.publishing import queries as publishing

    return {
        "alerts": alerts.new_count(s, actor),
        "reviews": len(publishing.review_queue(s, actor, limit=100)),
        "failed": publishing.variants(s, actor, state="failed", per_page=1).total,
        "checks": publishing.variants(s, actor, needs_check=True, per_page=1).total,
        "tasks": campaigns.tasks(s, actor),
        "unread": notifications.unread_count(s, actor),
    }


# ------------------------------------------------------------------ units


@router.get("/units", response_class=HTMLResponse)
def units_tree(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return render(request, "units.html", tree=queries.tree(s, actor_of(ctx)))


def _unit_form(request: Request, s: Session, ctx: WebContext, *, unit=None, parent_id=None, errors=None,  # type: ignore[no-untyped-def]
               values=None, status_code=200):
    actor = actor_of(ctx)
    parents = [u for u in queries.all_units(s, actor) if actor.can("unit.create_child", u)]
    return render(request, "unit_form.html", unit=unit, parent_id=parent_id, parents=parents, kinds=UNIT_KINDS,
                  errors=errors or {}, values=values or {}, status_code=status_code)


@router.get("/units/new", response_class=HTMLResponse)
def unit_new(request: Request, parent: int | None = None, ctx: WebContext = Depends(signed_in),
             s: Session = DB):
    if parent is not None:  # the same answer as posting the form: 404 when hidden, 403 when not an admin there
        require(actor_of(ctx), "unit.create_child", queries.unit(s, actor_of(ctx), parent))
    return _unit_form(request, s, ctx, parent_id=parent)


@dataclasses.dataclass
class UnitForm:
    """The fields of the unit form, shared by create and edit."""

    kind: str = Form("department", max_length=40)
    name_vi: str = Form("", max_length=1000)
    name_th: str = Form("", max_length=1000)
    name_en: str = Form("", max_length=1000)
    contact_email: str = Form("", max_length=1000)
    contact_phone: str = Form("", max_length=100)
    timezone: str = Form("Asia/Bangkok", max_length=100)
    default_language: str = Form("en", max_length=5)

    def fields(self) -> dict[str, Any]:
        return dict(kind=self.kind, names=_names(self.name_vi, self.name_th, self.name_en),
                    contact_email=self.contact_email.strip() or None,
                    contact_phone=self.contact_phone.strip() or None, timezone=self.timezone,
                    default_language=self.default_language)


@router.post("/units/new", response_class=HTMLResponse)
def unit_create(
    request: Request,
    code: str = Form("", max_length=200),
    parent_id: int = Form(...),
    form: UnitForm = Depends(),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    values = dict(code=code, parent_id=parent_id, **dataclasses.asdict(form))
    try:
        data = UnitCreate(code=code.strip(), parent_id=parent_id, **form.fields())
        unit = services.create_unit(s, actor_of(ctx), data)
    except ValidationError as exc:
        return _unit_form(request, s, ctx, parent_id=parent_id, errors=_errors(exc), values=values, status_code=422)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _unit_form(request, s, ctx, parent_id=parent_id, errors={"form": exc.message}, values=values,
                          status_code=exc.status)
    return RedirectResponse(f"/units#unit-{unit.id}", status_code=303)


@router.get("/units/{unit_id}/edit", response_class=HTMLResponse)
def unit_edit(request: Request, unit_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    unit = queries.unit(s, actor_of(ctx), unit_id)
    require(actor_of(ctx), "unit.update", unit)  # no edit form for a unit the person may not change
    return _unit_form(request, s, ctx, unit=unit, parent_id=unit.parent_id)


@router.post("/units/{unit_id}/edit", response_class=HTMLResponse)
def unit_update(
    request: Request,
    unit_id: int,
    version: int = Form(...),
    parent_id: int | None = Form(None),
    form: UnitForm = Depends(),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    unit = queries.unit(s, actor, unit_id)
    fields = {**form.fields(), "version": version}
    if unit.parent_id is not None and parent_id is not None:
        fields["parent_id"] = parent_id
    try:
        services.update_unit(s, actor, unit_id, UnitUpdate(**fields))
    except ValidationError as exc:
        return _unit_form(request, s, ctx, unit=unit, parent_id=parent_id, errors=_errors(exc), status_code=422)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        s.rollback()
        unit = queries.unit(s, actor, unit_id)
        return _unit_form(request, s, ctx, unit=unit, parent_id=parent_id, errors={"form": exc.message},
                          status_code=exc.status)
    return RedirectResponse(f"/units#unit-{unit_id}", status_code=303)


@router.post("/units/{unit_id}/delete")
def unit_delete(request: Request, unit_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.delete_unit(s, actor_of(ctx), unit_id)
    return RedirectResponse("/units", status_code=303)


# ------------------------------------------------------------------ users and roles


@router.get("/users", response_class=HTMLResponse)
def users_list(
    request: Request,
    q: str | None = Query(None, max_length=200),
    unit_id: int | None = None,
    page: int = Query(1, ge=1),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    p = queries.users(s, actor, q=q, unit_id=unit_id, page=page, per_page=50)
    rows = [(u, queries.visible_roles(actor, u)) for u in p.items]
    return render(request, "users.html", page=p, rows=rows, q=q or "", unit_id=unit_id,
                  units=queries.all_units(s, actor))


def _user_form(request: Request, s: Session, ctx: WebContext, *, errors=None, values=None, status_code=200):  # type: ignore[no-untyped-def]
    actor = actor_of(ctx)
    manageable = [u for u in queries.all_units(s, actor) if actor.can("role.manage", u)]
    return render(request, "user_form.html", units=manageable, roles=ROLES, errors=errors or {},
                  values=values or {}, status_code=status_code)


@router.get("/users/new", response_class=HTMLResponse)
def user_new(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _user_form(request, s, ctx)


@router.post("/users/new", response_class=HTMLResponse)
def user_create(
    request: Request,
    email: str = Form("", max_length=1000),
    display_name: str = Form("", max_length=1000),
    language: str = Form("en", max_length=5),
    unit_id: int = Form(...),
    role: str = Form("viewer", max_length=20),
    include_subtree: bool = Form(False),
    password: str = Form("", max_length=1000),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    values = dict(email=email, display_name=display_name, language=language, unit_id=unit_id, role=role,
                  include_subtree=include_subtree)
    try:
        data = UserCreate(email=email, display_name=display_name, language=language,  # type: ignore[arg-type]
                          password=password or None,
                          roles=[RoleIn(unit_id=unit_id, role=role, include_subtree=include_subtree)])  # type: ignore[arg-type]
        user, invite = services.create_user(s, actor_of(ctx), settings(request), data)
    except ValidationError as exc:
        return _user_form(request, s, ctx, errors=_errors(exc), values=values, status_code=422)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _user_form(request, s, ctx, errors={"form": exc.message}, values=values, status_code=exc.status)
    if invite:
        send_invitation(request, user, invite)
        link = f"{settings(request).base_url.rstrip('/')}/password/reset/{invite}"
        return render(request, "user_invited.html", new_user=user, link=link)
    return RedirectResponse(f"/users/{user.id}", status_code=303)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_detail(request: Request, user_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB,
                error: str | None = None):
    actor = actor_of(ctx)
    u = queries.user(s, actor, user_id)
    manageable = [x for x in queries.all_units(s, actor) if actor.can("role.manage", x)]
    return render(request, "user_detail.html", person=u, roles_held=queries.visible_roles(actor, u),
                  units=manageable, roles=ROLES, error=error)


@router.post("/users/{user_id}/roles", response_class=HTMLResponse)
def user_add_role(
    request: Request,
    user_id: int,
    unit_id: int = Form(...),
    role: str = Form(..., max_length=20),
    include_subtree: bool = Form(False),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    try:
        data = RoleIn(unit_id=unit_id, role=role, include_subtree=include_subtree)  # type: ignore[arg-type]
        services.assign_role(s, actor_of(ctx), user_id, data)
    except ValidationError as exc:
        return user_detail(request, user_id, ctx, s, error="; ".join(_errors(exc).values()))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        s.rollback()
        return user_detail(request, user_id, ctx, s, error=exc.message)
    return RedirectResponse(f"/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/roles/{role_id}/delete")
def user_remove_role(request: Request, user_id: int, role_id: int, ctx: WebContext = Depends(signed_in),
                     s: Session = DB):
    services.revoke_role(s, actor_of(ctx), user_id, role_id)
    return RedirectResponse(f"/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/active")
def user_set_active(request: Request, user_id: int, active: bool = Form(...), ctx: WebContext = Depends(signed_in),
                    s: Session = DB):
    services.update_user(s, actor_of(ctx), user_id, UserUpdate(is_active=active))
    return RedirectResponse(f"/users/{user_id}", status_code=303)


# ------------------------------------------------------------------ audit


def _parse_day(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _ui_audit_filter(action: str | None, actor_q: str | None, unit_id: str | None, since: str | None,
                     until: str | None) -> queries.AuditFilter:
    until_dt = _parse_day(until)
    return queries.AuditFilter(
        action=action or None, actor=actor_q or None,
        unit_id=int(unit_id) if unit_id and unit_id.isdigit() else None,
        since=_parse_day(since), until=until_dt + dt.timedelta(days=1) if until_dt else None,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    action: str | None = Query(None, max_length=60),
    actor_q: str | None = Query(None, alias="actor", max_length=254),
    unit_id: str | None = Query(None, max_length=20),
    since: str | None = Query(None, max_length=30),
    until: str | None = Query(None, max_length=30),
    page: int = Query(1, ge=1),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    f = _ui_audit_filter(action, actor_q, unit_id, since, until)
    if f.unit_id is None and not actor.is_admin_anywhere():  # with a unit: 404/403 from queries.audit
        raise PermissionDenied(_("The audit log is for administrators"))
    p = queries.audit(s, actor, f, page=page, per_page=50)
    query = request.url.query
    return render(request, "audit.html", page=p, f=f, since=since or "", until=until or "",
                  units=[u for u in queries.all_units(s, actor) if actor.can("audit.read", u)], query=query)


@router.get("/audit.csv")
def audit_export(
    request: Request,
    action: str | None = Query(None, max_length=60),
    actor_q: str | None = Query(None, alias="actor", max_length=254),
    unit_id: str | None = Query(None, max_length=20),
    since: str | None = Query(None, max_length=30),
    until: str | None = Query(None, max_length=30),
    ctx: WebContext = Depends(signed_in),
):
    from civicpulse.web.api.org import audit_csv_response

    actor = actor_of(ctx)
    f = _ui_audit_filter(action, actor_q, unit_id, since, until)
    if f.unit_id is None and not actor.is_admin_anywhere():
        raise PermissionDenied(_("The audit log is for administrators"))
    return audit_csv_response(request, actor, f)


# ------------------------------------------------------------------ my tokens


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    return render(request, "tokens.html", tokens=queries.tokens(s, actor), units=queries.all_units(s, actor),
                  new_token=None, errors={})


@router.post("/tokens", response_class=HTMLResponse)
def tokens_create(
    request: Request,
    name: str = Form("", max_length=1000),
    scope_write: bool = Form(False),
    unit_id: str = Form("", max_length=20),
    expires_in_days: int = Form(90),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    try:
        data = TokenCreate(name=name, scopes=["read", "write"] if scope_write else ["read"],
                           unit_id=int(unit_id) if unit_id.isdigit() else None, expires_in_days=expires_in_days)
        raw, token = services.create_token(s, actor, data)
    except ValidationError as exc:
        return render(request, "tokens.html", tokens=queries.tokens(s, actor), units=queries.all_units(s, actor),
                      new_token=None, errors=_errors(exc), status_code=422)
    return render(request, "tokens.html", tokens=queries.tokens(s, actor), units=queries.all_units(s, actor),
                  new_token=raw, errors={})


@router.post("/tokens/{token_id}/revoke")
def tokens_revoke(request: Request, token_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    services.revoke_token(s, actor_of(ctx), token_id)
    return RedirectResponse("/tokens", status_code=303)
