"""Reads of the campaigns area, limited to what the actor may see.

A campaign is visible to the people of its unit (and above) and to the people of its target units: a
province sees the kits sent to it, not the rest of the head office's work. The compliance table shows only
the target units the reader can see.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from civicpulse.domain.campaigns import services
from civicpulse.domain.campaigns.models import LEVELS, Campaign, CampaignPost, CampaignTarget, OwnAccount
from civicpulse.domain.errors import NotFound
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.queries import Page, paginate
from civicpulse.i18n import _


def _visible(actor: Actor) -> Any:
    tu = aliased(Unit)
    via_target = exists().where(CampaignTarget.campaign_id == Campaign.id, tu.id == CampaignTarget.unit_id,
                                actor.visible_filter(tu.path))
    return or_(actor.visible_filter(Unit.path), via_target)


def campaigns(session: Session, actor: Actor, *, status: str | None = None, q: str | None = None,
              include_deleted: bool = False, page: int = 1, per_page: int = 50) -> Page[Campaign]:
    stmt = (select(Campaign).join(Unit, Unit.id == Campaign.unit_id).where(_visible(actor))
            .order_by(Campaign.deadline.desc(), Campaign.id.desc()))
    if not include_deleted:
        stmt = stmt.where(Campaign.deleted_at.is_(None))
    if status:
        stmt = stmt.where(Campaign.status == status)
    if q:
        stmt = stmt.where(func.lower(Campaign.title).like(f"%{q.lower()}%"))
    return paginate(session, stmt, page, per_page)


def campaign(session: Session, actor: Actor, campaign_id: int, *, include_deleted: bool = False) -> Campaign:
    return services.campaign_for(session, actor, campaign_id, include_deleted=include_deleted)


def tasks(session: Session, actor: Actor) -> list[tuple[Campaign, Unit]]:
    """Published kits awaiting adaptation by a unit where the actor may post (editor or higher)."""
    stmt = (select(Campaign, Unit).join(CampaignTarget, CampaignTarget.campaign_id == Campaign.id)
            .join(Unit, Unit.id == CampaignTarget.unit_id)
            .where(Campaign.status == "published", Campaign.deleted_at.is_(None),
                   actor.filter_for_role(Unit.path, "editor"))
            .where(~exists().where(CampaignPost.campaign_id == Campaign.id, CampaignPost.unit_id == Unit.id,
                                   CampaignPost.published_at.is_not(None)))
            .order_by(Campaign.deadline, Campaign.id, Unit.path))
    if actor.system:
        return []
    rows = [(c, u) for c, u in session.execute(stmt).all()]
    done: dict[int, set[int]] = {}
    for c, _u in rows:
        if c.id not in done:  # units that published through the publishing area
            done[c.id] = set(services.published_units(session, c))
    return [(c, u) for c, u in rows if u.id not in done[c.id]]


def posts(session: Session, actor: Actor, campaign_id: int, *, unit_id: int | None = None) -> list[CampaignPost]:
    c = campaign(session, actor, campaign_id, include_deleted=True)
    stmt = (select(CampaignPost).where(CampaignPost.campaign_id == c.id, actor.visible_filter(CampaignPost.unit_path))
            .order_by(CampaignPost.published_at.desc().nulls_last(), CampaignPost.id.desc()))
    if unit_id is not None:
        stmt = stmt.where(CampaignPost.unit_id == unit_id)
    return list(session.scalars(stmt))


def post(session: Session, actor: Actor, post_id: int) -> CampaignPost:
    p = session.get(CampaignPost, post_id)
    if p is None or not actor.can_see(p.unit_path):
        raise NotFound(_("Post %(id)s was not found") % {"id": post_id})
    campaign(session, actor, p.campaign_id, include_deleted=True)
    return p


def campaign_of_post(session: Session, actor: Actor, post_id: int) -> Campaign | None:
    """The campaign a publishing-area post was adapted from (for the compose screen's traffic light), if any."""
    cid = session.scalar(select(CampaignPost.campaign_id).where(CampaignPost.post_id == post_id)
                         .order_by(CampaignPost.id.desc()).limit(1))
    if cid is None:
        return None
    try:
        return campaign(session, actor, cid)
    except NotFound:
        return None


def own_accounts(session: Session, actor: Actor) -> list[OwnAccount]:
    u = aliased(Unit)
    return list(session.scalars(select(OwnAccount).join(u, u.id == OwnAccount.unit_id)
                                .where(actor.visible_filter(u.path)).order_by(OwnAccount.id)))


# ------------------------------------------------------------------ compliance


@dataclasses.dataclass
class UnitRow:
    unit: Unit
    status: str  # on_time | late | missing | pending
    first_published: dt.datetime | None
    channels: list[str]
    posts: int
    levels: dict[str, int]
    mean_score: float | None
    reach: int
    engagement: int
    replies: dict[str, int]


@dataclasses.dataclass
class Compliance:
    campaign: Campaign
    rows: list[UnitRow]
    levels: dict[str, int]
    statuses: dict[str, int]
    replies: dict[str, int]
    reach: int
    engagement: int
    today: dt.date


def _status(first: dt.datetime | None, deadline: dt.date, tz: str, today: dt.date) -> str:
    from zoneinfo import ZoneInfo

    if first is None:
        return "missing" if today > deadline else "pending"
    try:
        local = first.astimezone(ZoneInfo(tz)).date()
    except (KeyError, ValueError):
        local = first.date()
    return "on_time" if local <= deadline else "late"


def compliance(session: Session, actor: Actor, campaign_id: int, *, today: dt.date | None = None) -> Compliance:
    from civicpulse.domain.campaigns import integration
    from civicpulse.domain.listening.models import Item

    c = campaign(session, actor, campaign_id, include_deleted=True)
    day = today or services.today_for(c.unit)
    all_posts = posts(session, actor, c.id)
    variants = integration.published_variants(session, c, actor)
    item_ids = [p.item_id for p in all_posts if p.item_id]
    items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(item_ids)))} if item_ids else {}
    # citizen responses: items whose parent is the agency post (same source, parent external id)
    replies_by_item: dict[int, Counter[str]] = {}
    if items:
        parents = [and_(Item.source_id == it.source_id, Item.parent_external_id == it.external_id)
                   for it in items.values()]
        for r in session.scalars(select(Item).where(or_(*parents))):
            owner = next((it.id for it in items.values() if it.source_id == r.source_id
                          and it.external_id == r.parent_external_id), None)
            if owner is not None:
                replies_by_item.setdefault(owner, Counter())[r.sentiment or "unscored"] += 1
    rows: list[UnitRow] = []
    tot_levels: Counter[str] = Counter()
    tot_status: Counter[str] = Counter()
    tot_replies: Counter[str] = Counter()
    for t in c.targets:
        if not actor.can_see(t.unit):
            continue
        mine = [p for p in all_posts if p.unit_id == t.unit_id]
        pub = [p.published_at for p in mine if p.published_at] + [v.published_at for v in variants
                                                                   if v.unit_id == t.unit_id]
        first = min(pub) if pub else None
        lv = Counter(p.level for p in mine if p.level)
        reach = engagement = 0
        rep: Counter[str] = Counter()
        for p in mine:
            it = items.get(p.item_id or -1)
            if it is not None:
                reach += int(it.views or 0)
                engagement += int((it.likes or 0) + (it.shares or 0) + (it.comments or 0))
                rep.update(replies_by_item.get(it.id, Counter()))
        scores = [p.score for p in mine if p.score is not None]
        channels = sorted({p.channel for p in mine if p.published_at} | {v.channel for v in variants
                                                                           if v.unit_id == t.unit_id})
        st = _status(first, c.deadline, t.unit.timezone, day)
        rows.append(UnitRow(unit=t.unit, status=st, first_published=first, channels=channels, posts=len(mine),
                            levels={k: lv.get(k, 0) for k in LEVELS},
                            mean_score=round(sum(scores) / len(scores), 3) if scores else None,
                            reach=reach, engagement=engagement, replies=dict(rep)))
        tot_levels.update(lv)
        tot_status[st] += 1
        tot_replies.update(rep)
    rows.sort(key=lambda r: r.unit.path)
    return Compliance(campaign=c, rows=rows, levels={k: tot_levels.get(k, 0) for k in LEVELS},
                      statuses={k: tot_status.get(k, 0) for k in ("on_time", "late", "missing", "pending")},
                      replies=dict(tot_replies), reach=sum(r.reach for r in rows),
                      engagement=sum(r.engagement for r in rows), today=day)


def compliance_json(cp: Compliance, lang: str = "en") -> dict[str, Any]:
    return {
        "campaign_id": cp.campaign.id, "deadline": cp.campaign.deadline.isoformat(), "today": cp.today.isoformat(),
        "levels": cp.levels, "statuses": cp.statuses, "replies": cp.replies, "reach": cp.reach,
        "engagement": cp.engagement,
        "units": [{"unit_id": r.unit.id, "unit": r.unit.code, "name": r.unit.name(lang), "status": r.status,
                   "first_published": r.first_published.isoformat() if r.first_published else None,
                   "channels": r.channels, "posts": r.posts, "levels": r.levels, "mean_score": r.mean_score,
                   "reach": r.reach, "engagement": r.engagement, "replies": r.replies} for r in cp.rows],
    }
