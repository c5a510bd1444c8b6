"""Reads for the publishing pages of the web UI: calendar periods, who may decide a review step, the usable
channels and units of a person, and a post's full history. Reads only; every write goes through
:mod:`civicpulse.domain.publishing.services` and :mod:`civicpulse.domain.content.services`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from civicpulse.domain.content.models import Post
from civicpulse.domain.org import queries as org_queries
from civicpulse.domain.org.models import AuditEntry, Unit
from civicpulse.domain.org.permissions import RANK, Actor
from civicpulse.domain.publishing import queries
from civicpulse.domain.publishing.models import Channel, Variant

VIEWS = ("month", "week", "list")
#: states a variant can be moved in time from (drag in the calendar, or the date-time field)
MOVABLE = ("draft", "in_review", "approved", "scheduled")


@dataclasses.dataclass
class Period:
    view: str
    day: dt.date  # the day the period was asked for
    start: dt.datetime  # aware, in the display time zone
    end: dt.datetime
    days: list[dt.date]  # every day shown (whole weeks for the month view)
    prev: dt.date
    next: dt.date

    @property
    def weeks(self) -> list[list[dt.date]]:
        return [self.days[i:i + 7] for i in range(0, len(self.days), 7)]


def period(view: str, day: dt.date, tz: str) -> Period:
    """The period shown by a calendar view around ``day`` (weeks start on Monday)."""
    zone = ZoneInfo(tz)
    if view not in VIEWS:
        view = "month"
    if view == "week":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=7)
        days = [first + dt.timedelta(days=i) for i in range(7)]
        prev, nxt = day - dt.timedelta(days=7), day + dt.timedelta(days=7)
    else:
        first_of_month = day.replace(day=1)
        following = (first_of_month + dt.timedelta(days=32)).replace(day=1)
        prev = (first_of_month - dt.timedelta(days=1)).replace(day=1)
        nxt = following
        if view == "list":
            first, last = first_of_month, following
            days = [first + dt.timedelta(days=i) for i in range((last - first).days)]
        else:
            first = first_of_month - dt.timedelta(days=first_of_month.weekday())
            end_week = following + dt.timedelta(days=(7 - following.weekday()) % 7)
            last = end_week
            days = [first + dt.timedelta(days=i) for i in range((last - first).days)]
    start = dt.datetime.combine(first, dt.time(), zone)
    end = dt.datetime.combine(last, dt.time(), zone)
    return Period(view=view, day=day, start=start, end=end, days=days, prev=prev, next=nxt)


def when(v: Variant) -> dt.datetime | None:
    return v.published_at or v.scheduled_at


def entries(session: Session, actor: Actor, p: Period, *, unit_id: int | None = None, channel_id: int | None = None,
            platform: str | None = None, state: str | None = None) -> list[Variant]:
    rows = queries.calendar(session, actor, p.start.astimezone(dt.UTC), p.end.astimezone(dt.UTC), unit_id=unit_id,
                            channel_id=channel_id, state=state or None)
    _preload(session, rows)
    if platform:
        rows = [v for v in rows if v.channel.platform == platform]
    return rows


def _preload(session: Session, rows: list[Variant]) -> None:
    """Load the posts, channels and units of ``rows`` in three queries (instead of three per row): the
    many-to-one relationships then resolve from the session's identity map."""
    post_ids = {v.post_id for v in rows}
    channel_ids = {v.channel_id for v in rows}
    if not rows:
        return
    posts = list(session.scalars(select(Post).where(Post.id.in_(post_ids))))
    chans = list(session.scalars(select(Channel).where(Channel.id.in_(channel_ids))))
    unit_ids = {p.unit_id for p in posts} | {c.unit_id for c in chans}
    list(session.scalars(select(Unit).where(Unit.id.in_(unit_ids))))


def by_day(rows: list[Variant], tz: str) -> dict[dt.date, list[Variant]]:
    zone = ZoneInfo(tz)
    out: dict[dt.date, list[Variant]] = {}
    for v in rows:
        t = when(v)
        if t is not None:
            out.setdefault(t.astimezone(zone).date(), []).append(v)
    return out


def can_move(actor: Actor, v: Variant) -> bool:
    return v.state in MOVABLE and actor.can("content.draft", v.post.unit)


# ------------------------------------------------------------------ units and channels of a person


def draft_units(session: Session, actor: Actor) -> list[Unit]:
    """Units the person may write posts for."""
    return [u for u in org_queries.all_units(session, actor) if actor.can("content.draft", u)]


def usable_channels(session: Session, actor: Actor, unit_id: int) -> list[Channel]:
    """Enabled channels a post of ``unit_id`` may go out on and the person may post for."""
    return [c for c in queries.channels(session, actor, usable_for_unit=unit_id)
            if c.enabled and actor.can("content.draft", c.unit)]


def channel_units(session: Session, actor: Actor) -> list[tuple[Unit, list[Channel]]]:
    """Every visible unit that has channels, or where the person may add one, with its channels."""
    chans = queries.channels(session, actor)
    out: list[tuple[Unit, list[Channel]]] = []
    for u in org_queries.all_units(session, actor):
        mine = [c for c in chans if c.unit_id == u.id]
        if mine or actor.can("channel.manage", u):
            out.append((u, mine))
    return out


# ------------------------------------------------------------------ review


def current_step(post: Post) -> dict[str, Any] | None:
    steps = post.review_steps or []
    if post.review_status != "in_review" or post.review_step >= len(steps):
        return None
    return steps[post.review_step]


def can_decide(session: Session, actor: Actor, post: Post) -> bool:
    """Whether the person may approve or request changes on the post's current step (not its author)."""
    step = current_step(post)
    if step is None or (actor.user_id is not None and actor.user_id == post.created_by_id):
        return False
    path = post.unit_path
    if step.get("unit_id"):
        u = session.get(Unit, step["unit_id"])
        path = u.path if u else path
    role = actor.best_role(path)
    return role is not None and RANK[role] >= RANK[step.get("role", "approver")]


def step_unit_codes(session: Session, post: Post) -> dict[int, str]:
    ids = {s["unit_id"] for s in post.review_steps or [] if s.get("unit_id")}
    return {u.id: u.code for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}


# ------------------------------------------------------------------ history


def post_history(session: Session, actor: Actor, post_id: int, limit: int = 500) -> list[AuditEntry]:
    """Every audited change of the post and of its variants (state changes, edits, schedule, decisions), oldest
    first. The person must be able to see the post."""
    p = queries.post(session, actor, post_id)
    vids = [str(v.id) for v in queries.variants_of(session, actor, p.id)]
    cond: Any = (AuditEntry.object_type == "post") & (AuditEntry.object_id == str(p.id))
    if vids:
        cond = or_(cond, (AuditEntry.object_type == "variant") & AuditEntry.object_id.in_(vids))
    return list(session.scalars(select(AuditEntry).where(cond).order_by(AuditEntry.at, AuditEntry.id).limit(limit)))
