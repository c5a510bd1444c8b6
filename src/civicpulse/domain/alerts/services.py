"""All writes of the early-warning area: rules, alerts and their lifecycle, issues (rename, merge, split),
notification settings and channels. Each checks permission (``alert.manage`` for analysts' work on alerts and
issues, ``alert.configure`` for rules and channels) and writes the audit log in the same transaction.

The evaluation pass (:func:`run_pass`) runs as the system: it raises or updates alerts, audits each new alert
and each escalation, and hands them to :mod:`civicpulse.domain.alerts.delivery`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.alerts import delivery, issues, rules, stats
from civicpulse.domain.alerts.models import (
    Alert,
    AlertChannel,
    AlertEvent,
    AlertRule,
    AlertSettings,
    Issue,
    IssueItem,
)
from civicpulse.domain.alerts.schemas import (
    ChannelCreate,
    ChannelUpdate,
    Finding,
    IssueMerge,
    IssueRename,
    IssueSplit,
    RuleCreate,
    RuleUpdate,
    SettingsIn,
    TransitionIn,
)
from civicpulse.domain.errors import Conflict, ValidationFailed
from civicpulse.domain.listening.models import Item, SavedTopic
from civicpulse.domain.org import audit
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, get_scoped, require, visible_unit
from civicpulse.timeutil import as_utc

log = structlog.get_logger("civicpulse.alerts")
SYSTEM = Actor.system_actor("alerts", via="system")

# from -> allowed targets
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "in_progress", "resolved", "false_alarm"),
    "acknowledged": ("in_progress", "resolved", "false_alarm"),
    "in_progress": ("resolved", "false_alarm"),
    "resolved": ("in_progress",),  # reopen
    "false_alarm": ("in_progress",),
}
# events about one object (a claim, a copied post, an issue, an author): raised once, at the deepest unit
# concerned, rather than again by every unit above it whose rules also see those items
OBJECT_KEYS = ("claim:", "viral:", "issue:", "reach:")
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("volume_spike", "Volume spike (all items)"),
    ("issue_spike", "Emerging issue growing fast"),
    ("negative_surge", "Negative-share surge"),
    ("toxicity_surge", "Toxicity surge"),
    ("viral_spread", "Viral spread of copies or a claim"),
    ("high_reach", "Mention by a high-reach author"),
    ("claim_match", "Known false claim circulating"),
)


# ------------------------------------------------------------------ lookups


def _unit(session: Session, actor: Actor, unit_id: int) -> Unit:
    return visible_unit(session, actor, unit_id)


def rule_for(session: Session, actor: Actor, rule_id: int, action: str = "alert.read") -> AlertRule:
    return get_scoped(session, actor, AlertRule, rule_id, action, "Alert rule")


def alert_for(session: Session, actor: Actor, alert_id: int, action: str = "alert.read") -> Alert:
    return get_scoped(session, actor, Alert, alert_id, action, "Alert")


def issue_for(session: Session, actor: Actor, issue_id: int, action: str = "alert.read") -> Issue:
    return get_scoped(session, actor, Issue, issue_id, action, "Issue")


def channel_for(session: Session, actor: Actor, channel_id: int, action: str = "alert.read") -> AlertChannel:
    return get_scoped(session, actor, AlertChannel, channel_id, action, "Notification channel")


# ------------------------------------------------------------------ rules


def check_rule_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    out = stats.check_params(params, rules.PARAMS[kind])
    merged = {**rules.DEFAULTS[kind], **out}
    if kind in ("negative_surge", "toxicity_surge") and merged["window_hours"] > merged["history_days"] * 24:
        raise ValidationFailed("The window cannot be longer than the history it is compared with "
                               f"({merged['window_hours']} h > {merged['history_days']} days)",
                               details={"field": "params.window_hours"})
    return out


def ensure_default_rules(session: Session, unit: Unit, topics: list[SavedTopic] | None = None) -> int:
    """Every unit gets the default rules, and a spike rule per saved topic of the unit. Returns how many were
    added. Default rules can be tuned or disabled, not deleted, so they are not re-added behind anyone's back."""
    have = {(r.kind, r.topic_id) for r in session.scalars(select(AlertRule).where(AlertRule.unit_id == unit.id))}
    names = set(session.scalars(select(AlertRule.name).where(AlertRule.unit_id == unit.id)))
    added = 0
    for kind, name in DEFAULT_RULES:
        if (kind, None) not in have and name not in names:
            session.add(AlertRule(unit_id=unit.id, unit_path=unit.path, kind=kind, name=name, params={},
                                  is_default=True))
            added += 1
    for t in topics if topics is not None else session.scalars(select(SavedTopic).where(SavedTopic.unit_id == unit.id)):
        if t.unit_id != unit.id or ("volume_spike", t.id) in have:
            continue
        name = f"Spike: {t.name}"[:200]
        if name in names:
            continue
        session.add(AlertRule(unit_id=unit.id, unit_path=unit.path, kind="volume_spike", name=name, topic_id=t.id,
                              params={}, is_default=True))
        added += 1
    if added:
        session.flush()
    return added


def create_rule(session: Session, actor: Actor, data: RuleCreate) -> AlertRule:
    unit = _unit(session, actor, data.unit_id)
    require(actor, "alert.configure", unit)
    params = check_rule_params(data.kind, data.params)
    if data.topic_id is not None:
        if data.kind != "volume_spike":
            raise ValidationFailed("Only a volume-spike rule can watch a saved topic", details={"field": "topic_id"})
        t = session.get(SavedTopic, data.topic_id)
        if t is None or not actor.can_see(t.unit):
            raise ValidationFailed(f"Saved topic {data.topic_id} was not found (or you cannot see it)",
                                   details={"field": "topic_id"})
    if session.scalar(select(AlertRule.id).where(AlertRule.unit_id == unit.id, AlertRule.name == data.name)):
        raise Conflict(f"Unit '{unit.code}' already has a rule named '{data.name}'", details={"field": "name"})
    rule = AlertRule(unit_id=unit.id, unit_path=unit.path, kind=data.kind, name=data.name, topic_id=data.topic_id,
                     params=params, enabled=data.enabled)
    session.add(rule)
    session.flush()
    audit.record(session, actor, "alert_rule.create", unit=unit, object_type="alert_rule", object_id=rule.id,
                 after=rule.snapshot())
    return rule


def update_rule(session: Session, actor: Actor, rule_id: int, data: RuleUpdate) -> AlertRule:
    rule = rule_for(session, actor, rule_id, "alert.configure")
    before = rule.snapshot()
    if data.params is not None:
        rule.params = check_rule_params(rule.kind, data.params)
    if data.name is not None and data.name.strip() != rule.name:
        name = data.name.strip()
        if session.scalar(select(AlertRule.id).where(AlertRule.unit_id == rule.unit_id, AlertRule.name == name)):
            raise Conflict(f"Unit '{rule.unit.code}' already has a rule named '{name}'", details={"field": "name"})
        rule.name = name
    if data.enabled is not None:
        rule.enabled = data.enabled
    session.flush()
    b, a = audit.diff(before, rule.snapshot())
    audit.record(session, actor, "alert_rule.update", unit=rule.unit, object_type="alert_rule", object_id=rule.id,
                 before=b, after=a)
    return rule


def delete_rule(session: Session, actor: Actor, rule_id: int) -> None:
    rule = rule_for(session, actor, rule_id, "alert.configure")
    if rule.is_default:
        raise ValidationFailed(f"'{rule.name}' is a default rule: switch it off instead of deleting it")
    audit.record(session, actor, "alert_rule.delete", unit=rule.unit, object_type="alert_rule", object_id=rule.id,
                 before=rule.snapshot())
    session.delete(rule)
    session.flush()


# ------------------------------------------------------------------ alerts


def _event(session: Session, alert: Alert, actor_label: str, action: str, frm: str | None = None,
           to: str | None = None, note: str | None = None) -> None:
    session.add(AlertEvent(alert_id=alert.id, actor_label=actor_label, action=action, from_status=frm,
                           to_status=to, note=note))


def raise_or_update(session: Session, settings: Settings | None, rule: AlertRule, f: Finding,
                    now: dt.datetime) -> tuple[Alert | None, str]:
    """One alert per ongoing event: the open alert with the same key is updated (and escalated when the severity
    rises, which notifies again); otherwise a new alert is raised, unless one with the same key was closed
    within the rule's cooldown at the same or a higher severity. Returns (alert, "raised" | "updated" |
    "escalated" | "suppressed" | "covered")."""
    unit = rule.unit
    alert = session.scalar(select(Alert).where(Alert.unit_id == unit.id, Alert.open_key == f.key))
    if alert is not None:
        alert.last_at = now
        alert.updates += 1
        alert.evidence = f.evidence
        alert.summary = f.summary
        alert.score = f.score
        alert.item_ids = list(dict.fromkeys([*f.item_ids, *(alert.item_ids or [])]))[:200]
        if rules.SEVERITY_RANK[f.severity] > rules.SEVERITY_RANK[alert.severity]:
            before = alert.snapshot()
            alert.severity = f.severity
            alert.revision += 1
            _event(session, alert, SYSTEM.label, "escalated", note=f"{before['severity']} → {f.severity}")
            audit.record(session, SYSTEM, "alert.escalate", unit=unit, object_type="alert", object_id=alert.id,
                         before=before, after=alert.snapshot())
            session.flush()
            delivery.dispatch(session, settings, alert, now)
            return alert, "escalated"
        session.flush()
        return alert, "updated"
    if f.key.startswith(OBJECT_KEYS) and session.scalar(select(Alert.id).where(
            Alert.open_key == f.key, Alert.unit_id != unit.id,
            Alert.unit_path.startswith(unit.path, autoescape=True)).limit(1)) is not None:
        return None, "covered"  # a unit below already has this event open; its alert reaches this unit as parent
    cooldown = dt.timedelta(hours=int(rules.effective(rule).get("cooldown_hours", 6)))
    recent = session.scalar(select(Alert).where(Alert.unit_id == unit.id, Alert.key == f.key,
                                                Alert.closed_at.is_not(None), Alert.closed_at >= now - cooldown)
                            .order_by(Alert.closed_at.desc()).limit(1))
    if recent is not None and rules.SEVERITY_RANK[f.severity] <= rules.SEVERITY_RANK[recent.severity]:
        return None, "suppressed"
    alert = Alert(unit_id=unit.id, unit_path=unit.path, rule_id=rule.id, issue_id=f.issue_id, kind=f.kind,
                  key=f.key, open_key=f.key, severity=f.severity, status="new", label=f.label[:300],
                  summary=f.summary, score=f.score, evidence=f.evidence, item_ids=f.item_ids[:200],
                  first_at=now, last_at=now, event_at=f.event_at)
    session.add(alert)
    session.flush()
    _event(session, alert, SYSTEM.label, "raised", to="new", note=f.summary)
    audit.record(session, SYSTEM, "alert.raise", unit=unit, object_type="alert", object_id=alert.id,
                 after={**alert.snapshot(), "kind": alert.kind, "key": alert.key, "rule_id": rule.id})
    delivery.dispatch(session, settings, alert, now)
    return alert, "raised"


def transition(session: Session, actor: Actor, alert_id: int, data: TransitionIn) -> Alert:
    alert = alert_for(session, actor, alert_id, "alert.manage")
    if data.status == alert.status:
        return alert
    allowed = TRANSITIONS.get(alert.status, ())
    if data.status not in allowed:
        raise ValidationFailed(
            f"An alert that is '{alert.status}' cannot become '{data.status}' (it can become: "
            f"{', '.join(allowed) or 'nothing'})", details={"field": "status", "allowed": list(allowed)})
    before = alert.snapshot()
    if data.status in ("resolved", "false_alarm"):
        alert.open_key, alert.closed_at = None, utcnow()
    elif alert.open_key is None:
        if session.scalar(select(Alert.id).where(Alert.unit_id == alert.unit_id, Alert.open_key == alert.key)):
            raise Conflict("A newer alert for the same event is open; work on that one instead")
        alert.open_key, alert.closed_at = alert.key, None
    frm = alert.status
    alert.status = data.status
    _event(session, alert, actor.label, data.status, frm, data.status, (data.note or "").strip() or None)
    audit.record(session, actor, "alert.transition", unit=alert.unit, object_type="alert", object_id=alert.id,
                 before=before, after=alert.snapshot(), note=data.note)
    session.flush()
    return alert


# ------------------------------------------------------------------ issues


def rename_issue(session: Session, actor: Actor, issue_id: int, data: IssueRename) -> Issue:
    issue = issue_for(session, actor, issue_id, "alert.manage")
    label = data.label.strip()
    if not label:
        raise ValidationFailed("The issue name cannot be blank", details={"field": "label"})
    before = issue.snapshot()
    issue.label, issue.label_locked = label, True
    audit.record(session, actor, "issue.rename", unit=issue.unit, object_type="issue", object_id=issue.id,
                 before=before, after=issue.snapshot())
    session.flush()
    return issue


def merge_issues(session: Session, actor: Actor, issue_id: int, data: IssueMerge) -> Issue:
    into = issue_for(session, actor, issue_id, "alert.manage")
    if into.status != "active":
        raise ValidationFailed(f"Issue {into.id} is {into.status}; merge into an active issue")
    before = into.snapshot()
    merged: list[int] = []
    for oid in dict.fromkeys(data.other_ids):
        if oid == into.id:
            raise ValidationFailed("An issue cannot be merged into itself", details={"field": "other_ids"})
        other = issue_for(session, actor, oid, "alert.manage")
        if other.status != "active":
            raise ValidationFailed(f"Issue {oid} is {other.status} and cannot be merged")
        issues.absorb(session, into, other)
        audit.record(session, actor, "issue.merge", unit=other.unit, object_type="issue", object_id=other.id,
                     before=other.snapshot() | {"status": "active"}, after=other.snapshot())
        merged.append(oid)
    # a merged issue covers both units: widen its scope to the common unit
    paths = [into.unit_path] + [session.get(Issue, i).unit_path for i in merged]  # type: ignore[union-attr]
    path = issues.common_path(paths)
    if path != into.unit_path:
        unit = issues._unit_for_path(session, path)  # noqa: SLF001
        if unit is not None:
            into.unit_id, into.unit_path = unit.id, unit.path
    issues.refresh(session, into, now=utcnow(), topics=list(session.scalars(select(SavedTopic))))
    audit.record(session, actor, "issue.merge_into", unit=into.unit, object_type="issue", object_id=into.id,
                 before=before, after=into.snapshot() | {"merged": merged})
    session.flush()
    return into


def split_issue(session: Session, actor: Actor, issue_id: int, data: IssueSplit) -> Issue:
    src = issue_for(session, actor, issue_id, "alert.manage")
    ids = list(dict.fromkeys(data.item_ids))
    members = list(session.scalars(select(IssueItem).where(IssueItem.issue_id == src.id,
                                                           IssueItem.item_id.in_(ids))))
    missing = sorted(set(ids) - {m.item_id for m in members})
    if missing:
        raise ValidationFailed(f"Items {', '.join(map(str, missing[:10]))} are not part of issue {src.id}",
                               details={"field": "item_ids", "missing": missing})
    if len(members) >= src.size:
        raise ValidationFailed("Splitting every item off would leave the issue empty; rename it instead")
    paths = list(session.scalars(select(Item.unit_path).where(Item.id.in_(ids))))
    unit = issues._unit_for_path(session, issues.common_path(paths)) or src.unit  # noqa: SLF001
    new = Issue(unit_id=unit.id, unit_path=unit.path, label=(data.label or "").strip(),
                label_locked=bool((data.label or "").strip()), size=len(members), stats={"split_from": src.id},
                first_seen=min(as_utc(m.at) for m in members),  # type: ignore[type-var]
                last_seen=max(as_utc(m.at) for m in members))  # type: ignore[type-var]
    session.add(new)
    session.flush()
    for m in members:
        m.issue_id = new.id
    src.stats = {**(src.stats or {}), "split_into": [*(src.stats or {}).get("split_into", []), new.id]}
    new.stats = {"split_from": src.id}
    session.flush()
    issues.recompute_centroid(session, src)
    issues.recompute_centroid(session, new)
    topics = list(session.scalars(select(SavedTopic)))
    now = utcnow()
    issues.refresh(session, src, now=now, topics=topics)
    issues.refresh(session, new, now=now, topics=topics)
    new.stats = {**new.stats, "split_from": src.id}
    audit.record(session, actor, "issue.split", unit=src.unit, object_type="issue", object_id=src.id,
                 after={"new_issue_id": new.id, "item_ids": ids})
    session.flush()
    return new


# ------------------------------------------------------------------ settings and channels


def settings_of(session: Session, unit_id: int) -> AlertSettings:
    st = session.get(AlertSettings, unit_id)
    return st if st is not None else AlertSettings(unit_id=unit_id, quiet_start=None, quiet_end=None, digest=False,
                                                   digest_minutes=60, min_severity="low")


def update_settings(session: Session, actor: Actor, unit_id: int, data: SettingsIn) -> AlertSettings:
    unit = _unit(session, actor, unit_id)
    require(actor, "alert.configure", unit)
    if (data.quiet_start is None) != (data.quiet_end is None):
        raise ValidationFailed("Quiet hours need both a start and an end hour (or neither)",
                               details={"field": "quiet_end" if data.quiet_end is None else "quiet_start"})
    if data.quiet_start is not None and data.quiet_start == data.quiet_end:
        raise ValidationFailed("Quiet hours that start and end at the same hour would silence nothing or "
                               "everything: pick two different hours", details={"field": "quiet_end"})
    st = session.get(AlertSettings, unit_id)
    before = st.snapshot() if st else {}
    if st is None:
        st = AlertSettings(unit_id=unit_id)
        session.add(st)
    st.quiet_start, st.quiet_end, st.digest = data.quiet_start, data.quiet_end, data.digest
    st.digest_minutes, st.min_severity = data.digest_minutes, data.min_severity
    session.flush()
    audit.record(session, actor, "alert_settings.update", unit=unit, object_type="alert_settings", object_id=unit.id,
                 before=before, after=st.snapshot())
    return st


REQUIRED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (config keys, secret keys)
    "webhook": (("url",), ("signing_key",)),
    "telegram": (("chat_id",), ("bot_token",)),
    "line": (("to",), ("channel_access_token",)),
    "email": (("to",), ()),
}


def _check_channel(kind: str, config: dict[str, Any], secrets: dict[str, str]) -> None:
    need_cfg, need_sec = REQUIRED[kind]
    for k in need_cfg:
        if not str(config.get(k) or "").strip():
            raise ValidationFailed(f"A {kind} channel needs '{k}'", details={"field": f"config.{k}"})
    for k in need_sec:
        if not str(secrets.get(k) or "").strip():
            raise ValidationFailed(f"A {kind} channel needs the secret '{k}'", details={"field": f"secrets.{k}"})
    if kind == "webhook":
        url = str(config["url"])
        if not url.startswith(("https://", "http://")):
            raise ValidationFailed("The webhook address must start with https:// (or http://)",
                                   details={"field": "config.url"})
    if kind == "email" and "@" not in str(config.get("to")):
        raise ValidationFailed("The email channel needs an address with an @", details={"field": "config.to"})


def create_channel(session: Session, actor: Actor, settings: Settings, data: ChannelCreate) -> AlertChannel:
    unit = _unit(session, actor, data.unit_id)
    require(actor, "alert.configure", unit)
    _check_channel(data.kind, data.config, data.secrets)
    name = data.name.strip()
    if session.scalar(select(AlertChannel.id).where(AlertChannel.unit_id == unit.id, AlertChannel.name == name)):
        raise Conflict(f"Unit '{unit.code}' already has a channel named '{name}'", details={"field": "name"})
    ch = AlertChannel(unit_id=unit.id, unit_path=unit.path, kind=data.kind, name=name, config=dict(data.config),
                      secrets=crypto.encrypt(settings, dict(data.secrets)) if data.secrets else None,
                      enabled=data.enabled)
    session.add(ch)
    session.flush()
    audit.record(session, actor, "alert_channel.create", unit=unit, object_type="alert_channel", object_id=ch.id,
                 after=ch.snapshot())
    return ch


def update_channel(session: Session, actor: Actor, settings: Settings, channel_id: int,
                   data: ChannelUpdate) -> AlertChannel:
    ch = channel_for(session, actor, channel_id, "alert.configure")
    before = ch.snapshot()
    secrets = crypto.decrypt(settings, ch.secrets) if ch.secrets else {}
    if data.secrets:
        secrets.update({k: v for k, v in data.secrets.items() if v})
    config = dict(data.config) if data.config is not None else dict(ch.config or {})
    _check_channel(ch.kind, config, secrets)
    ch.config = config
    ch.secrets = crypto.encrypt(settings, secrets) if secrets else None
    if data.name is not None:
        ch.name = data.name.strip()
    if data.enabled is not None:
        ch.enabled = data.enabled
    session.flush()
    b, a = audit.diff(before, ch.snapshot())
    audit.record(session, actor, "alert_channel.update", unit=ch.unit, object_type="alert_channel",
                 object_id=ch.id, before=b, after=a | ({"secrets": "replaced"} if data.secrets else {}))
    return ch


def delete_channel(session: Session, actor: Actor, channel_id: int) -> None:
    ch = channel_for(session, actor, channel_id, "alert.configure")
    audit.record(session, actor, "alert_channel.delete", unit=ch.unit, object_type="alert_channel", object_id=ch.id,
                 before=ch.snapshot())
    session.delete(ch)
    session.flush()


def test_channel(session: Session, actor: Actor, settings: Settings, channel_id: int) -> str:
    """Send a test message now; returns "sent" or raises ValidationFailed with the channel's error."""
    ch = channel_for(session, actor, channel_id, "alert.configure")
    err = delivery.send_test(settings, ch)
    ch.last_status, ch.last_error = ("failed", err) if err else ("sent", None)
    audit.record(session, actor, "alert_channel.test", unit=ch.unit, object_type="alert_channel", object_id=ch.id,
                 after={"status": ch.last_status})
    session.flush()
    if err:
        raise ValidationFailed(f"The test message to '{ch.name}' failed: {err}")
    return "sent"


# ------------------------------------------------------------------ the evaluation pass


@dataclasses.dataclass
class PassResult:
    issues: list[Issue]
    alerts: list[tuple[Alert, str]]
    rules_checked: int = 0
    deliveries: dict[str, int] = dataclasses.field(default_factory=dict)


def evaluate_rules(session: Session, settings: Settings | None, *, now: dt.datetime | None = None,
                   unit_ids: list[int] | None = None) -> tuple[list[tuple[Alert, str]], int]:
    """One evaluation of every enabled rule (adding default rules to units that lack them)."""
    now = now or utcnow()
    units = list(session.scalars(select(Unit).order_by(Unit.path)))
    topics = list(session.scalars(select(SavedTopic)))
    for u in units:
        ensure_default_rules(session, u, [t for t in topics if t.unit_id == u.id])
    # deepest units first, so that an event about one object is raised where it happens (see OBJECT_KEYS)
    stmt = (select(AlertRule).where(AlertRule.enabled.is_(True))
            .order_by(func.length(AlertRule.unit_path).desc(), AlertRule.unit_path, AlertRule.id))
    if unit_ids is not None:
        stmt = stmt.where(AlertRule.unit_id.in_(unit_ids))
    out: list[tuple[Alert, str]] = []
    n = 0
    for rule in session.scalars(stmt).all():
        n += 1
        try:
            with session.begin_nested():
                findings = rules.evaluate(session, rule, now)
                for f in findings:
                    alert, what = raise_or_update(session, settings, rule, f, now)
                    if alert is not None:
                        out.append((alert, what))
        except Exception as exc:  # one broken rule must not stop the others
            log.warning("alert rule failed", rule_id=rule.id, kind=rule.kind, error=str(exc))
    return out, n


def run_pass(session: Session, settings: Settings | None, *, now: dt.datetime | None = None,
             detect_issues: bool = True, send: bool = True) -> PassResult:
    """Issue detection, rule evaluation and delivery of what is due: the every-minute job."""
    now = now or utcnow()
    found = issues.detect(session, now=now) if detect_issues else []
    alerts, n = evaluate_rules(session, settings, now=now)
    sent = delivery.send_due(session, settings, now=now) if send and settings is not None else {}
    return PassResult(found, alerts, n, sent)
