"""Reads of the organisation area, always filtered to what the actor may see."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Generic, TypeVar

from sqlalchemy import Select, String, cast, func, select
from sqlalchemy.orm import Session, selectinload

from civicpulse.domain.errors import NotFound, PermissionDenied
from civicpulse.domain.org.models import ApiToken, AuditEntry, RoleAssignment, Unit, User
from civicpulse.domain.org.permissions import Actor, require

T = TypeVar("T")
MAX_PAGE = 200


@dataclasses.dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paginate(session: Session, stmt: Select, page: int, per_page: int) -> Page:
    page = max(1, page)
    per_page = max(1, min(MAX_PAGE, per_page))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, total=total, page=page, per_page=per_page)


def units(session: Session, actor: Actor, *, q: str | None = None, page: int = 1, per_page: int = 50) -> Page[Unit]:
    stmt = select(Unit).where(actor.visible_filter(Unit.path)).order_by(Unit.path)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(func.lower(Unit.code).like(like) | func.lower(cast(Unit.names, String)).like(like))
    return paginate(session, stmt, page, per_page)


def all_units(session: Session, actor: Actor) -> list[Unit]:
    return list(session.scalars(select(Unit).where(actor.visible_filter(Unit.path)).order_by(Unit.path)))


def head_office(session: Session) -> Unit | None:
    """The network's head office: the first root unit (network-wide settings are checked against it)."""
    return session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id).limit(1))


def unit(session: Session, actor: Actor, unit_id: int) -> Unit:
    u = session.get(Unit, unit_id)
    if u is None or not actor.can_see(u):
        raise NotFound(f"Unit {unit_id} was not found")
    return u


def unit_by_code(session: Session, actor: Actor, code: str) -> Unit:
    u = session.scalar(select(Unit).where(Unit.code == code))
    if u is None or not actor.can_see(u):
        raise NotFound(f"Unit '{code}' was not found")
    return u


@dataclasses.dataclass
class TreeNode:
    unit: Unit
    children: list[TreeNode]


def tree(session: Session, actor: Actor) -> list[TreeNode]:
    """The visible part of the network as a forest (a unit whose parent is hidden becomes a root)."""
    rows = all_units(session, actor)
    nodes = {u.id: TreeNode(u, []) for u in rows}
    roots: list[TreeNode] = []
    for u in rows:
        if u.parent_id in nodes:
            nodes[u.parent_id].children.append(nodes[u.id])
        else:
            roots.append(nodes[u.id])
    return roots


def _visible_user_ids(actor: Actor):  # type: ignore[no-untyped-def]
    return (
        select(RoleAssignment.user_id)
        .join(Unit, Unit.id == RoleAssignment.unit_id)
        .where(actor.visible_filter(Unit.path))
    )


def users(session: Session, actor: Actor, *, q: str | None = None, unit_id: int | None = None,
          page: int = 1, per_page: int = 50) -> Page[User]:
    stmt = select(User).options(selectinload(User.roles)).order_by(User.email)
    if not actor.system:
        stmt = stmt.where(User.id.in_(_visible_user_ids(actor)))
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(func.lower(User.email).like(like) | func.lower(User.display_name).like(like))
    if unit_id is not None:
        unit(session, actor, unit_id)  # filtering by a unit the actor cannot see is a 404, like reading it
        stmt = stmt.where(User.id.in_(select(RoleAssignment.user_id).where(RoleAssignment.unit_id == unit_id)))
    return paginate(session, stmt, page, per_page)


def user(session: Session, actor: Actor, user_id: int) -> User:
    u = session.get(User, user_id)
    if u is None:
        raise NotFound(f"User {user_id} was not found")
    if actor.system or actor.user_id == u.id:
        return u
    if not any(actor.can_see(ra.unit) for ra in u.roles):
        raise NotFound(f"User {user_id} was not found")
    return u


def visible_roles(actor: Actor, u: User) -> list[RoleAssignment]:
    return [ra for ra in u.roles if actor.system or actor.user_id == u.id or actor.can_see(ra.unit)]


def tokens(session: Session, actor: Actor) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.created_at.desc())))


@dataclasses.dataclass
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    unit_id: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _audit_stmt(actor: Actor, f: AuditFilter) -> Select:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if not actor.system:
        stmt = stmt.where(actor.filter_for_role(AuditEntry.unit_path, "admin"))
    if f.action:
        stmt = stmt.where(AuditEntry.action.startswith(f.action, autoescape=True))
    if f.actor:
        stmt = stmt.where(func.lower(AuditEntry.actor_label).like(f"%{f.actor.lower()}%"))
    if f.unit_id is not None:
        stmt = stmt.where(AuditEntry.unit_id == f.unit_id)
    if f.object_type:
        stmt = stmt.where(AuditEntry.object_type == f.object_type)
    if f.object_id:
        stmt = stmt.where(AuditEntry.object_id == f.object_id)
    if f.since:
        stmt = stmt.where(AuditEntry.at >= f.since)
    if f.until:
        stmt = stmt.where(AuditEntry.at < f.until)
    return stmt


def require_audit_access(session: Session, actor: Actor, f: AuditFilter) -> None:
    """The audit log needs the admin role: on the filtered unit (404 when it is invisible), or somewhere."""
    if actor.system:
        return
    if f.unit_id is not None:
        require(actor, "audit.read", unit(session, actor, f.unit_id))
    elif not actor.is_admin_anywhere():
        raise PermissionDenied("The audit log is for administrators")


def audit(session: Session, actor: Actor, f: AuditFilter, *, page: int = 1, per_page: int = 50) -> Page[AuditEntry]:
    require_audit_access(session, actor, f)
    return paginate(session, _audit_stmt(actor, f), page, per_page)


AUDIT_COLUMNS = ["id", "at", "actor_id", "actor_label", "via", "unit_id", "action", "object_type", "object_id",
                 "before", "after", "ip", "note"]


def _csv_safe(value: str) -> str:
    # spreadsheet formula injection: a cell starting with = + - @ is shown as text
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def audit_csv(session: Session, actor: Actor, f: AuditFilter, *, batch: int = 1000) -> Iterator[str]:
    """Streams the filtered audit log as CSV rows (header first)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(AUDIT_COLUMNS)
    yield buf.getvalue()
    last_id: int | None = None
    while True:
        stmt = _audit_stmt(actor, f).limit(batch)
        if last_id is not None:
            stmt = stmt.where(AuditEntry.id < last_id)
        rows = list(session.scalars(stmt))
        if not rows:
            return
        buf.seek(0)
        buf.truncate()
        for e in rows:
            w.writerow([
                e.id, e.at.isoformat(), e.actor_id or "", _csv_safe(e.actor_label), e.via, e.unit_id or "",
                e.action, e.object_type or "", e.object_id or "",
                _csv_safe(json.dumps(e.before, ensure_ascii=False)) if e.before is not None else "",
                _csv_safe(json.dumps(e.after, ensure_ascii=False)) if e.after is not None else "",
                e.ip or "", _csv_safe(e.note or ""),
            ])
        yield buf.getvalue()
        last_id = rows[-1].id
