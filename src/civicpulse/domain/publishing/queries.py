"""Reads of the content and publishing areas, always limited to what the actor may see.

Signatures for the web UI:

* :func:`posts`, :func:`post`, :func:`variants_of`, :func:`variants`, :func:`history`, :func:`attempts`
* :func:`review_queue` (posts waiting for a step the actor may decide)
* :func:`calendar` (+ :func:`calendar_ics`, :func:`calendar_csv`) across all channels of visible units
* :func:`channels`, :func:`channel`, :func:`channel_out` (never the secrets), :func:`workflow`
* :func:`dashboard` (failed, needs a check, stuck), :func:`library`, :func:`media`
* public (no actor): :func:`public_unit`, :func:`website_posts`
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.content.models import LibraryEntry, MediaAsset, Post
from civicpulse.domain.errors import NotFound, ValidationFailed
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import RANK, Actor
from civicpulse.domain.org.queries import Page, paginate
from civicpulse.domain.publishing.models import (
    STATES,
    ApprovalEvent,
    Channel,
    PublishAttempt,
    Variant,
    WebsitePost,
)
from civicpulse.domain.publishing.schemas import ChannelOut
from civicpulse.domain.publishing.services import get_channel, get_post, get_variant, workflow_for


def _unit_filter(session: Session, actor: Actor, unit_id: int | None, subtree: bool, path_col: Any,
                 id_col: Any) -> Any:
    if unit_id is None:
        return None
    unit = session.get(Unit, unit_id)
    if unit is None or not actor.can_see(unit):
        raise NotFound(f"Unit {unit_id} was not found")
    return path_col.startswith(unit.path, autoescape=True) if subtree else id_col == unit_id


def posts(session: Session, actor: Actor, *, unit_id: int | None = None, subtree: bool = True,
          review_status: str | None = None, state: str | None = None, q: str | None = None, page: int = 1,
          per_page: int = 50) -> Page[Post]:
    stmt = select(Post).where(actor.visible_filter(Post.unit_path)).order_by(Post.updated_at.desc(), Post.id.desc())
    cond = _unit_filter(session, actor, unit_id, subtree, Post.unit_path, Post.unit_id)
    if cond is not None:
        stmt = stmt.where(cond)
    if review_status:
        stmt = stmt.where(Post.review_status == review_status)
    if state:
        if state not in STATES:
            raise ValidationFailed(f"Unknown state '{state}'; use one of {', '.join(STATES)}")
        stmt = stmt.where(Post.id.in_(select(Variant.post_id).where(Variant.state == state)))
    if q:
        stmt = stmt.where(func.lower(Post.title).like(f"%{q.lower()}%"))
    return paginate(session, stmt, page, per_page)


def post(session: Session, actor: Actor, post_id: int) -> Post:
    return get_post(session, actor, post_id, "content.read")


def variants_of(session: Session, actor: Actor, post_id: int) -> list[Variant]:
    p = post(session, actor, post_id)
    return list(session.scalars(select(Variant).where(Variant.post_id == p.id).order_by(Variant.id)))


def variant(session: Session, actor: Actor, variant_id: int) -> Variant:
    return get_variant(session, actor, variant_id, "content.read")


def variants(session: Session, actor: Actor, *, state: str | None = None, channel_id: int | None = None,
             unit_id: int | None = None, subtree: bool = True, needs_check: bool | None = None, page: int = 1,
             per_page: int = 50) -> Page[Variant]:
    stmt = select(Variant).where(actor.visible_filter(Variant.unit_path)).order_by(Variant.updated_at.desc(),
                                                                                    Variant.id.desc())
    cond = _unit_filter(session, actor, unit_id, subtree, Variant.unit_path, Variant.unit_id)
    if cond is not None:
        stmt = stmt.where(cond)
    if state:
        if state not in STATES:
            raise ValidationFailed(f"Unknown state '{state}'; use one of {', '.join(STATES)}")
        stmt = stmt.where(Variant.state == state)
    if channel_id is not None:
        stmt = stmt.where(Variant.channel_id == channel_id)
    if needs_check is not None:
        stmt = stmt.where(Variant.needs_check.is_(needs_check))
    return paginate(session, stmt, page, per_page)


def history(session: Session, actor: Actor, post_id: int) -> list[ApprovalEvent]:
    p = post(session, actor, post_id)
    return list(session.scalars(select(ApprovalEvent).where(ApprovalEvent.post_id == p.id)
                                .order_by(ApprovalEvent.id)))


def attempts(session: Session, actor: Actor, variant_id: int) -> list[PublishAttempt]:
    v = variant(session, actor, variant_id)
    return list(session.scalars(select(PublishAttempt).where(PublishAttempt.variant_id == v.id)
                                .order_by(PublishAttempt.id)))


def review_queue(session: Session, actor: Actor, limit: int = 200) -> list[Post]:
    """Posts in review whose current step the actor may decide (role high enough on the step's unit)."""
    out = []
    for p in session.scalars(select(Post).where(Post.review_status == "in_review").order_by(Post.updated_at)
                             .limit(limit * 5)):
        step = (p.review_steps or [])[p.review_step] if p.review_step < len(p.review_steps or []) else None
        if step is None:
            continue
        path = p.unit_path
        if step.get("unit_id"):
            u = session.get(Unit, step["unit_id"])
            path = u.path if u else path
        role = "admin" if actor.system else actor.best_role(path)
        if role is not None and RANK[role] >= RANK[step["role"]] and p.created_by_id != actor.user_id:
            out.append(p)
        if len(out) >= limit:
            break
    return out


# ------------------------------------------------------------------ calendar


def calendar(session: Session, actor: Actor, start: dt.datetime, end: dt.datetime, *, unit_id: int | None = None,
             channel_id: int | None = None, state: str | None = None, limit: int = 5000) -> list[Variant]:
    """Variants planned or published between ``start`` and ``end`` (by scheduled or published time)."""
    if end <= start:
        raise ValidationFailed("The end of the period must be after its start")
    when = func.coalesce(Variant.published_at, Variant.scheduled_at)
    stmt = (select(Variant).where(actor.visible_filter(Variant.unit_path), when >= start, when < end,
                                  Variant.state != "cancelled").order_by(when, Variant.id).limit(limit))
    cond = _unit_filter(session, actor, unit_id, True, Variant.unit_path, Variant.unit_id)
    if cond is not None:
        stmt = stmt.where(cond)
    if channel_id is not None:
        stmt = stmt.where(Variant.channel_id == channel_id)
    if state:
        stmt = stmt.where(Variant.state == state)
    return list(session.scalars(stmt))


def _ics_text(s: str) -> str:
    return s.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r", "").replace("\n", "\\n")


def _fold(line: str) -> str:
    out, cur = [], ""
    for ch in line:
        if len((cur + ch).encode()) > 73:
            out.append(cur)
            cur = " " + ch
        else:
            cur += ch
    out.append(cur)
    return "\r\n".join(out)


def calendar_ics(rows: list[Variant], *, host: str = "civicpulse", base_url: str = "") -> str:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//civicpulse//publishing calendar//EN", "CALSCALE:GREGORIAN"]
    for v in rows:
        when = v.published_at or v.scheduled_at
        if when is None:
            continue
        t = when.astimezone(dt.UTC)
        lines += ["BEGIN:VEVENT", f"UID:variant-{v.id}@{host}", f"DTSTAMP:{stamp}",
                  f"DTSTART:{t:%Y%m%dT%H%M%SZ}", f"DTEND:{t + dt.timedelta(minutes=15):%Y%m%dT%H%M%SZ}",
                  _fold(f"SUMMARY:{_ics_text(f'[{v.channel.name}] {v.post.title}')}"),
                  _fold(f"DESCRIPTION:{_ics_text(f'{v.state}: {v.text[:500]}')}"),
                  f"STATUS:{'CONFIRMED' if v.state in ('scheduled', 'published') else 'TENTATIVE'}"]
        if base_url:
            lines.append(_fold(f"URL:{base_url.rstrip('/')}/content/posts/{v.post_id}"))
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


CSV_COLUMNS = ("variant_id", "post_id", "unit", "channel", "platform", "title", "language", "state", "scheduled_at",
               "published_at", "external_url", "reason", "text")


def _cell(v: str) -> str:
    return "'" + v if v[:1] in ("=", "+", "-", "@") else v  # no formulas when opened in a spreadsheet


def calendar_csv(rows: list[Variant]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for v in rows:
        w.writerow([v.id, v.post_id, v.post.unit.code, _cell(v.channel.name), v.channel.platform, _cell(v.post.title),
                    v.language or "", v.state, v.scheduled_at.isoformat() if v.scheduled_at else "",
                    v.published_at.isoformat() if v.published_at else "", v.external_url or "",
                    _cell(v.reason or ""), _cell(v.text)])
    return buf.getvalue()


# ------------------------------------------------------------------ channels


def channels(session: Session, actor: Actor, *, unit_id: int | None = None, platform: str | None = None,
             usable_for_unit: int | None = None) -> list[Channel]:
    """Channels of visible units. ``usable_for_unit``: the channels a post of that unit may use (its own and
    those of the units above it)."""
    stmt = select(Channel).where(actor.visible_filter(Channel.unit_path)).order_by(Channel.unit_path, Channel.name)
    cond = _unit_filter(session, actor, unit_id, True, Channel.unit_path, Channel.unit_id)
    if cond is not None:
        stmt = stmt.where(cond)
    if platform:
        stmt = stmt.where(Channel.platform == platform)
    if usable_for_unit is not None:
        unit = session.get(Unit, usable_for_unit)
        if unit is None or not actor.can_see(unit):
            raise NotFound(f"Unit {usable_for_unit} was not found")
        ids = [x for x in unit.path.strip("/").split("/") if x]
        paths = ["/" + "/".join(ids[:i]) + "/" for i in range(1, len(ids) + 1)]
        stmt = stmt.where(or_(Channel.unit_path.in_(paths), Channel.unit_path.startswith(unit.path, autoescape=True)))
    return list(session.scalars(stmt))


def channel(session: Session, actor: Actor, channel_id: int) -> Channel:
    return get_channel(session, actor, channel_id, "content.read")


def channel_out(ch: Channel, settings: Settings) -> ChannelOut:
    try:
        names = sorted(crypto.decrypt(settings, ch.secrets)) if ch.secrets else []
    except crypto.SecretError:
        names = ["(cannot be decrypted with the current key)"]
    public = None
    if ch.platform == "website":
        public = f"{settings.base_url.rstrip('/')}/u/{ch.unit.code}/news"
    return ChannelOut(id=ch.id, unit_id=ch.unit_id, platform=ch.platform, name=ch.name, config=dict(ch.config or {}),
                      secret_fields=names, enabled=ch.enabled, health_ok=ch.health_ok, health_message=ch.health_message,
                      health_checked_at=ch.health_checked_at, token_expires_at=ch.token_expires_at,
                      secrets_updated_at=ch.secrets_updated_at, public_url=public)


def workflow(session: Session, actor: Actor, unit_id: int) -> dict[str, Any]:
    unit = session.get(Unit, unit_id)
    if unit is None or not actor.can_see(unit):
        raise NotFound(f"Unit {unit_id} was not found")
    steps, crisis, default = workflow_for(session, unit)
    return {"unit_id": unit.id, "steps": steps, "crisis_steps": crisis, "is_default": default}


# ------------------------------------------------------------------ dashboard


@dataclasses.dataclass
class Dashboard:
    failed: list[Variant]
    needs_check: list[Variant]
    stuck: list[Variant]  # publishing past its lease, or scheduled and overdue
    unhealthy_channels: list[Channel]

    @property
    def total(self) -> int:
        return len(self.failed) + len(self.needs_check) + len(self.stuck) + len(self.unhealthy_channels)


def dashboard(session: Session, actor: Actor, *, overdue: dt.timedelta = dt.timedelta(minutes=10),
              limit: int = 200) -> Dashboard:
    """Nothing fails silently: failed posts, posts that need a human check, stuck jobs, red channels."""
    now = utcnow()
    vis = actor.visible_filter(Variant.unit_path)
    failed = list(session.scalars(select(Variant).where(vis, Variant.state == "failed", Variant.needs_check.is_(False))
                                  .order_by(Variant.updated_at.desc()).limit(limit)))
    check = list(session.scalars(select(Variant).where(vis, Variant.state == "failed", Variant.needs_check.is_(True))
                                 .order_by(Variant.updated_at.desc()).limit(limit)))
    stuck = list(session.scalars(select(Variant).where(vis, or_(
        (Variant.state == "publishing") & (Variant.lease_until < now),
        (Variant.state == "scheduled") & (Variant.next_attempt_at < now - overdue)))
        .order_by(Variant.next_attempt_at).limit(limit)))
    red = list(session.scalars(select(Channel).where(actor.visible_filter(Channel.unit_path),
                                                     Channel.enabled.is_(True), Channel.health_ok.is_(False))))
    return Dashboard(failed=failed, needs_check=check, stuck=stuck, unhealthy_channels=red)


def state_counts(session: Session, actor: Actor) -> dict[str, int]:
    rows = session.execute(select(Variant.state, func.count()).where(actor.visible_filter(Variant.unit_path))
                           .group_by(Variant.state))
    return {s: 0 for s in STATES} | {str(k): int(n) for k, n in rows}


# ------------------------------------------------------------------ library and media


def library(session: Session, actor: Actor, unit_id: int, *, kind: str | None = None, q: str | None = None,
            include_archived: bool = False) -> list[LibraryEntry]:
    """Approved messages and hashtags usable by a unit: its own and those of the units above it."""
    unit = session.get(Unit, unit_id)
    if unit is None or not actor.can_see(unit):
        raise NotFound(f"Unit {unit_id} was not found")
    ids = [x for x in unit.path.strip("/").split("/") if x]
    paths = ["/" + "/".join(ids[:i]) + "/" for i in range(1, len(ids) + 1)]
    stmt = select(LibraryEntry).where(LibraryEntry.unit_path.in_(paths)).order_by(LibraryEntry.kind, LibraryEntry.id)
    if kind:
        stmt = stmt.where(LibraryEntry.kind == kind)
    if not include_archived:
        stmt = stmt.where(LibraryEntry.archived.is_(False))
    rows = list(session.scalars(stmt))
    if q:
        ql = q.lower()
        rows = [r for r in rows if any(ql in t.lower() for t in (r.texts or {}).values())]
    return rows


def media(session: Session, actor: Actor, media_id: int) -> MediaAsset:
    m = session.get(MediaAsset, media_id)
    if m is None or not actor.can_see(m.unit_path):
        raise NotFound(f"Media file {media_id} was not found")
    return m


# ------------------------------------------------------------------ public news page (no sign-in)


def public_unit(session: Session, code: str) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == code))
    has_site = unit is not None and session.scalar(select(Channel.id).where(
        Channel.unit_id == unit.id, Channel.platform == "website", Channel.enabled.is_(True)).limit(1)) is not None
    if unit is None or not has_site:
        raise NotFound(f"There is no news page for '{code}'")
    return unit


def website_posts(session: Session, unit: Unit, *, limit: int = 50) -> list[WebsitePost]:
    return list(session.scalars(select(WebsitePost).where(WebsitePost.unit_id == unit.id,
                                                          WebsitePost.deleted.is_(False))
                                .order_by(WebsitePost.published_at.desc(), WebsitePost.id.desc()).limit(limit)))
