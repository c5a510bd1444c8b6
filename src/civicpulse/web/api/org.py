"""/api/v1 for the organisation area: units, users and roles, audit log, personal tokens."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from civicpulse.domain.org import queries, services
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.schemas import (
    AuditOut,
    RoleIn,
    RoleOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UnitCreate,
    UnitOut,
    UnitUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from civicpulse.web.api.common import ERRORS, PageOut, page_params
from civicpulse.web.deps import DB, api_actor, settings

router = APIRouter(responses=ERRORS)


def _user_out(actor: Actor, u) -> UserOut:  # type: ignore[no-untyped-def]
    out = UserOut.model_validate(u)
    out.roles = [RoleOut.model_validate(r) for r in queries.visible_roles(actor, u)]
    return out


# ------------------------------------------------------------------ units


@router.get("/units", response_model=PageOut[UnitOut], tags=["units"], summary="Units you can see")
def list_units(
    q: str | None = Query(None, max_length=200),
    paging: tuple[int, int] = Depends(page_params),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    p = queries.units(s, actor, q=q, page=paging[0], per_page=paging[1])
    return PageOut[UnitOut](items=[UnitOut.model_validate(u) for u in p.items], total=p.total, page=p.page, per_page=p.per_page)


@router.post("/units", response_model=UnitOut, status_code=201, tags=["units"])
def create_unit(data: UnitCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    return UnitOut.model_validate(services.create_unit(s, actor, data))


@router.get("/units/{unit_id}", response_model=UnitOut, tags=["units"])
def get_unit(unit_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return UnitOut.model_validate(queries.unit(s, actor, unit_id))


@router.patch("/units/{unit_id}", response_model=UnitOut, tags=["units"])
def update_unit(unit_id: int, data: UnitUpdate, actor: Actor = Depends(api_actor), s: Session = DB):
    return UnitOut.model_validate(services.update_unit(s, actor, unit_id, data))


@router.delete("/units/{unit_id}", status_code=204, tags=["units"])
def delete_unit(unit_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_unit(s, actor, unit_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ users


@router.get("/users", response_model=PageOut[UserOut], tags=["users"], summary="People holding roles in units you can see")
def list_users(
    q: str | None = Query(None, max_length=200),
    unit_id: int | None = None,
    paging: tuple[int, int] = Depends(page_params),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    p = queries.users(s, actor, q=q, unit_id=unit_id, page=paging[0], per_page=paging[1])
    return PageOut[UserOut](items=[_user_out(actor, u) for u in p.items], total=p.total, page=p.page, per_page=p.per_page)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def create_user(
    data: UserCreate, request: Request, actor: Actor = Depends(api_actor), s: Session = DB
):
    from civicpulse.web.ui.auth import send_invitation

    user, invite = services.create_user(s, actor, settings(request), data)
    if invite:
        send_invitation(request, user, invite)
    s.refresh(user)
    return _user_out(actor, user)


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
def get_user(user_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return _user_out(actor, queries.user(s, actor, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def update_user(user_id: int, data: UserUpdate, actor: Actor = Depends(api_actor), s: Session = DB):
    return _user_out(actor, services.update_user(s, actor, user_id, data))


@router.post("/users/{user_id}/roles", response_model=RoleOut, status_code=201, tags=["users"])
def add_role(user_id: int, data: RoleIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return RoleOut.model_validate(services.assign_role(s, actor, user_id, data))


@router.delete("/users/{user_id}/roles/{role_id}", status_code=204, tags=["users"])
def remove_role(user_id: int, role_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.revoke_role(s, actor, user_id, role_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ audit


def _audit_filter(
    action: str | None = Query(None, max_length=60),
    actor_q: str | None = Query(None, alias="actor", max_length=254),
    unit_id: int | None = None,
    object_type: str | None = Query(None, max_length=60),
    object_id: str | None = Query(None, max_length=100),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> queries.AuditFilter:
    def aware(t: dt.datetime | None) -> dt.datetime | None:
        return t.replace(tzinfo=dt.UTC) if t is not None and t.tzinfo is None else t

    return queries.AuditFilter(action=action, actor=actor_q, unit_id=unit_id, object_type=object_type,
                               object_id=object_id, since=aware(since), until=aware(until))


@router.get("/audit", response_model=PageOut[AuditOut], tags=["audit"],
            summary="Audit log of the units you administer (newest first)")
def list_audit(
    f: queries.AuditFilter = Depends(_audit_filter),
    paging: tuple[int, int] = Depends(page_params),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    p = queries.audit(s, actor, f, page=paging[0], per_page=paging[1])
    return PageOut[AuditOut](items=[AuditOut.model_validate(e) for e in p.items], total=p.total, page=p.page, per_page=p.per_page)


@router.get("/audit.csv", tags=["audit"], response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "CSV export"}})
def export_audit(
    request: Request,
    f: queries.AuditFilter = Depends(_audit_filter),
    actor: Actor = Depends(api_actor),
):
    return audit_csv_response(request, actor, f)


def audit_csv_response(request: Request, actor: Actor, f: queries.AuditFilter) -> StreamingResponse:
    db = request.app.state.db
    with db.session() as s:  # refuse (or fail on a bad filter) before streaming: mid-stream it is a broken 200
        queries.audit(s, actor, f, page=1, per_page=1)

    def rows():  # type: ignore[no-untyped-def]
        with db.session() as s:
            yield from queries.audit_csv(s, actor, f)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        rows(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="civicpulse-audit-{stamp}.csv"'},
    )


# ------------------------------------------------------------------ me and tokens


@router.get("/me", response_model=UserOut, tags=["me"])
def me(actor: Actor = Depends(api_actor), s: Session = DB):
    assert actor.user_id is not None
    return _user_out(actor, queries.user(s, actor, actor.user_id))


@router.get("/me/tokens", response_model=list[TokenOut], tags=["me"])
def my_tokens(actor: Actor = Depends(api_actor), s: Session = DB):
    return [TokenOut.model_validate(t) for t in queries.tokens(s, actor)]


@router.post("/me/tokens", response_model=TokenCreated, status_code=201, tags=["me"],
             summary="Create a personal token (only from a signed-in browser session)")
def create_token(data: TokenCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    raw, token = services.create_token(s, actor, data)
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=raw)


@router.delete("/me/tokens/{token_id}", status_code=204, tags=["me"])
def revoke_token(token_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.revoke_token(s, actor, token_id)
    return Response(status_code=204)
