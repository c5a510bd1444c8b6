"""Reads of the early-warning area, always limited to the units the actor can see."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse.db.base import utcnow
from civicpulse.domain.alerts.models import (
    Alert,
    AlertChannel,
    AlertEvent,
    AlertRule,
    AlertSettings,
    Delivery,
    Issue,
    IssueItem,
)
from civicpulse.domain.alerts.services import alert_for, channel_for, issue_for, rule_for
from civicpulse.domain.errors import ValidationFailed
from civicpulse.domain.listening.models import Item
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, visible_unit
from civicpulse.domain.org.queries import Page, paginate


def _unit(session: Session, actor: Actor, unit_id: int) -> Unit:
    return visible_unit(session, actor, unit_id)


def alerts(session: Session, actor: Actor, *, unit_id: int | None = None, status: str | None = None,
           open_only: bool = False, kind: str | None = None, severity: str | None = None, page: int = 1,
           per_page: int = 50) -> Page[Alert]:
    stmt = select(Alert).where(actor.visible_filter(Alert.unit_path))
    if unit_id is not None:
        stmt = stmt.where(Alert.unit_path.startswith(_unit(session, actor, unit_id).path, autoescape=True))
    if status:
        stmt = stmt.where(Alert.status == status)
    if open_only:
        stmt = stmt.where(Alert.open_key.is_not(None))
    if kind:
        stmt = stmt.where(Alert.kind == kind)
    if severity:
        stmt = stmt.where(Alert.severity == severity)
    return paginate(session, stmt.order_by(Alert.last_at.desc(), Alert.id.desc()), page, per_page)


def alert(session: Session, actor: Actor, alert_id: int) -> Alert:
    return alert_for(session, actor, alert_id)


def events(session: Session, a: Alert) -> list[AlertEvent]:
    return list(session.scalars(select(AlertEvent).where(AlertEvent.alert_id == a.id).order_by(AlertEvent.id)))


def deliveries(session: Session, a: Alert) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.alert_id == a.id).order_by(Delivery.id)))


def evidence_items(session: Session, actor: Actor, ids: list[int], limit: int = 50) -> list[Item]:
    if not ids:
        return []
    rows = {it.id: it for it in session.scalars(select(Item).where(Item.id.in_(ids[:limit]),
                                                                   actor.visible_filter(Item.unit_path)))}
    return [rows[i] for i in ids[:limit] if i in rows]


def issues(session: Session, actor: Actor, *, unit_id: int | None = None, hours: int = 24,
           include_quiet: bool = False, limit: int = 100) -> list[Issue]:
    """Active issues the actor can see (by their unit or a linked unit), ranked by growth × negativity."""
    if hours < 1 or hours > 24 * 30:
        raise ValidationFailed("The window must be between 1 hour and 30 days", details={"field": "hours"})
    stmt = select(Issue).where(Issue.status == "active", actor.visible_filter(Issue.unit_path))
    if not include_quiet:
        stmt = stmt.where(Issue.last_seen >= utcnow() - dt.timedelta(hours=hours))
    if unit_id is not None:
        u = _unit(session, actor, unit_id)
        stmt = stmt.where(Issue.unit_path.startswith(u.path, autoescape=True))
    rows = list(session.scalars(stmt.order_by(Issue.score.desc(), Issue.id.desc()).limit(max(1, min(limit, 500)))))
    return rows


def issue(session: Session, actor: Actor, issue_id: int) -> Issue:
    return issue_for(session, actor, issue_id)


def issue_item_ids(session: Session, actor: Actor, i: Issue, limit: int = 200) -> list[int]:
    return list(session.scalars(select(IssueItem.item_id).join(Item, Item.id == IssueItem.item_id)
                                .where(IssueItem.issue_id == i.id, actor.visible_filter(Item.unit_path))
                                .order_by(IssueItem.at.desc()).limit(limit)))


def issue_alerts(session: Session, actor: Actor, i: Issue) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.issue_id == i.id, actor.visible_filter(Alert.unit_path))
                                .order_by(Alert.id.desc()).limit(20)))


def rules(session: Session, actor: Actor, *, unit_id: int | None = None) -> list[AlertRule]:
    stmt = select(AlertRule).where(actor.visible_filter(AlertRule.unit_path))
    if unit_id is not None:
        stmt = stmt.where(AlertRule.unit_id == _unit(session, actor, unit_id).id)
    return list(session.scalars(stmt.order_by(AlertRule.unit_path, AlertRule.kind, AlertRule.name)))


def rule(session: Session, actor: Actor, rule_id: int) -> AlertRule:
    return rule_for(session, actor, rule_id)


def channels(session: Session, actor: Actor, *, unit_id: int | None = None) -> list[AlertChannel]:
    stmt = select(AlertChannel).where(actor.visible_filter(AlertChannel.unit_path))
    if unit_id is not None:
        stmt = stmt.where(AlertChannel.unit_id == _unit(session, actor, unit_id).id)
    return list(session.scalars(stmt.order_by(AlertChannel.unit_path, AlertChannel.name)))


def channel(session: Session, actor: Actor, channel_id: int) -> AlertChannel:
    return channel_for(session, actor, channel_id)


def unit_settings(session: Session, actor: Actor, unit_id: int) -> AlertSettings:
    _unit(session, actor, unit_id)
    from civicpulse.domain.alerts.delivery import unit_settings as us

    return us(session, unit_id)


def new_count(session: Session, actor: Actor) -> int:
    """Alerts nobody has acknowledged yet, in the units the actor can see."""
    return session.scalar(select(func.count()).select_from(Alert).where(
        actor.visible_filter(Alert.unit_path), Alert.status == "new")) or 0
