"""In-app notifications (with an email copy) for every area.

Raising one::

    from civicpulse.domain.org.notifications import notify
    notify(session, settings, units=[unit], kind="post_failed", title="…", body="…", link="/content/posts/7",
           users=[author], include_ancestors=False, email=True, object_type="post", object_id=7)

* ``units``: each unit gets one notification that every person holding a role *on that unit* sees
  (a head-office admin whose role covers the subtree is not flooded with every province's messages;
  pass ``include_ancestors=True`` to send a copy up the chain as well).
* ``users``: personal notifications (e.g. the author and the approvers of a failed post), addressed to the
  person and shown only to them. The person's unit is the first of ``units`` (or their first role's unit).
* Email goes to the unit's contact address, and to each addressed person; a failed email never fails the
  caller: the notification records ``email_status="failed"`` and the reason, and stays visible in-app.
  In development without an SMTP server no copy is attempted (the bell is enough).

Notifications are a side effect of a write that the calling service already checked and audited, so
``notify`` itself checks nothing; reading and marking read are scoped to the signed-in person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import structlog
from sqlalchemy import Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session

from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.errors import PermissionDenied
from civicpulse.domain.org import audit
from civicpulse.domain.org.models import Notification, NotificationRead, RoleAssignment, Unit, User
from civicpulse.domain.org.permissions import Actor

log = structlog.get_logger("civicpulse.notifications")


def _with_ancestors(session: Session, units: Iterable[Unit]) -> list[Unit]:
    seen: dict[int, Unit] = {}
    for u in units:
        seen.setdefault(u.id, u)
        ids = [int(x) for x in u.path.strip("/").split("/") if x]
        for anc in session.scalars(select(Unit).where(Unit.id.in_(ids))):
            seen.setdefault(anc.id, anc)
    return sorted(seen.values(), key=lambda u: u.path)


def _email(settings: Settings | None, n: Notification, to: str | None) -> None:
    if not to or settings is None:
        return
    if not settings.smtp_host and settings.env != "production":
        return  # dev and the demo: the bell is enough; production without SMTP records the failure below
    from civicpulse.mail import MailError, send_mail

    n.email_to = to
    body = n.body + (f"\n\n{settings.base_url.rstrip('/')}{n.link}" if n.link else "")
    try:
        send_mail(settings, to, f"[civicpulse] {n.title}", body)
        n.email_status = "sent"
    except MailError as exc:
        n.email_status, n.email_error = "failed", str(exc)[:1000]
        log.warning("notification email failed", to=to, kind=n.kind, error=str(exc))


def notify(
    session: Session,
    settings: Settings | None,
    *,
    units: Sequence[Unit] = (),
    kind: str,
    title: str,
    body: str = "",
    link: str | None = None,
    users: Sequence[User] = (),
    include_ancestors: bool = False,
    email: bool = True,
    object_type: str | None = None,
    object_id: object | None = None,
) -> list[Notification]:
    """Create the notifications (flushed, in the caller's transaction) and send their emails."""
    if not units and not users:
        raise ValueError("notify needs at least one unit or one person")
    targets = _with_ancestors(session, units) if include_ancestors else list(dict.fromkeys(units))
    common = {"kind": kind[:40], "title": title[:300], "body": body, "link": link, "object_type": object_type,
              "object_id": None if object_id is None else str(object_id)}
    out: list[Notification] = []
    for u in targets:
        n = Notification(unit_id=u.id, **common)
        _email(settings if email else None, n, u.contact_email)
        session.add(n)
        out.append(n)
    for person in dict.fromkeys(users):
        if not person.is_active:
            continue
        unit_id = units[0].id if units else session.scalar(
            select(RoleAssignment.unit_id).where(RoleAssignment.user_id == person.id).limit(1)
        )
        if unit_id is None:
            continue
        n = Notification(unit_id=unit_id, user_id=person.id, **common)
        _email(settings if email else None, n, person.email)
        session.add(n)
        out.append(n)
    session.flush()
    return out


# ------------------------------------------------------------------ reading


def _mine(actor: Actor) -> Select[Notification]:
    stmt = select(Notification)
    if actor.system:
        return stmt
    unit_ids = sorted({g.unit_id for g in actor.grants})
    personal = Notification.user_id == actor.user_id if actor.user_id is not None else false()
    return stmt.where(or_(and_(Notification.user_id.is_(None), Notification.unit_id.in_(unit_ids)), personal))


def _unread(actor: Actor):  # type: ignore[no-untyped-def]
    return ~exists().where(NotificationRead.notification_id == Notification.id,
                           NotificationRead.user_id == actor.user_id)


def unread_count(session: Session, actor: Actor) -> int:
    if actor.user_id is None:
        return 0
    return session.scalar(select(func.count()).select_from(_mine(actor).where(_unread(actor)).subquery())) or 0


def for_actor(session: Session, actor: Actor, *, unread_only: bool = False, limit: int = 50,
              offset: int = 0) -> list[tuple[Notification, bool]]:
    """The person's notifications, newest first, each with whether they have read it."""
    stmt = _mine(actor)
    if unread_only and actor.user_id is not None:
        stmt = stmt.where(_unread(actor))
    rows = list(session.scalars(stmt.order_by(Notification.created_at.desc(), Notification.id.desc())
                                .limit(limit).offset(offset)))
    read: set[int] = set()
    if rows and actor.user_id is not None:
        read = set(session.scalars(select(NotificationRead.notification_id).where(
            NotificationRead.user_id == actor.user_id,
            NotificationRead.notification_id.in_([n.id for n in rows]))))
    return [(n, n.id in read) for n in rows]


def mark_read(session: Session, actor: Actor, ids: Sequence[int] | None = None) -> int:
    """Mark some (or, with ``ids=None``, all) of the person's notifications read. Returns how many changed."""
    if actor.user_id is None:
        return 0
    if "write" not in actor.scopes:
        raise PermissionDenied("Marking notifications read needs a token with the write scope")
    stmt = _mine(actor).where(_unread(actor)).with_only_columns(Notification.id)
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    todo = list(session.scalars(stmt))
    now = utcnow()
    for nid in todo:
        session.add(NotificationRead(notification_id=nid, user_id=actor.user_id, read_at=now))
    if todo:
        audit.record(session, actor, "notification.read", object_type="notification",
                     object_id=todo[0] if len(todo) == 1 else None, after={"count": len(todo), "ids": todo[:100]})
    session.flush()
    return len(todo)


def recent_for_unit(session: Session, unit: Unit, *, since: dt.datetime | None = None,
                    kind: str | None = None) -> list[Notification]:
    """What a unit was told (tests, digests, the unit's page)."""
    stmt = select(Notification).where(Notification.unit_id == unit.id)
    if since is not None:
        stmt = stmt.where(Notification.created_at >= since)
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    return list(session.scalars(stmt.order_by(Notification.id)))
