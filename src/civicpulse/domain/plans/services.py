"""All writes of the plans area. Each checks permission (plan.read / plan.edit / plan.approve on the plan's
unit), validates, saves a version snapshot and writes the audit log in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicpulse.domain.listening import queries as listening
from civicpulse.domain.org import audit
from civicpulse.domain.org import services as org
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, require
from civicpulse.domain.plans.models import Plan, PlanComment, PlanNotification, PlanVersion
from civicpulse.domain.plans.plan_templates import sections_for
from civicpulse.domain.plans.schemas import (
    LIVE_SECTIONS,
    PRINCIPLES,
    SECTIONS,
    ApprovalIn,
    ChecklistIn,
    CommentIn,
    CopyIn,
    CrisisIn,
    Faq,
    Message,
    PlanCreate,
    PlanUpdate,
    Sections,
    TransitionIn,
)

log = structlog.get_logger("civicpulse.plans")

# (from, to) -> the action needed on the plan's unit
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "in_review"): "plan.edit",
    ("draft", "closed"): "plan.edit",
    ("in_review", "draft"): "plan.edit",
    ("in_review", "approved"): "plan.approve",
    ("approved", "draft"): "plan.edit",
    ("approved", "active"): "plan.approve",
    ("active", "closed"): "plan.approve",
}
EDITABLE = ("draft", "in_review")
MAX_LINEAGE = 50


# ------------------------------------------------------------------ helpers


def get_plan(session: Session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(f"Plan {plan_id} was not found")
    return plan


def plan_for(session: Session, actor: Actor, plan_id: int, action: str = "plan.read") -> Plan:
    """The plan, if the actor may do ``action`` on it; 404 when its unit is invisible to them."""
    plan = get_plan(session, plan_id)
    if not actor.can_see(plan.unit):
        raise NotFound(f"Plan {plan_id} was not found")
    require(actor, action, plan.unit)
    return plan


def today_for(unit: Unit) -> dt.date:
    try:
        return dt.datetime.now(ZoneInfo(unit.timezone)).date()
    except (KeyError, ValueError):
        return dt.datetime.now(dt.UTC).date()


def _validation(exc: ValidationError, prefix: str = "") -> ValidationFailed:
    details = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        details.append({"field": f"{prefix}{loc}".strip("."), "message": str(e.get("msg", "")).removeprefix(
            "Value error, ")})
    parts = [f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details[:5]]
    return ValidationFailed("The plan is not valid — " + "; ".join(parts), details={"errors": details})


def parse_sections(raw: dict[str, Any]) -> Sections:
    try:
        return Sections.model_validate(raw)
    except ValidationError as exc:
        raise _validation(exc, "sections.") from exc


def _check_version(plan: Plan, version: int | None) -> None:
    if version is not None and version != plan.version:
        raise Conflict(
            f"Plan '{plan.title}' was changed by someone else (it is now at version {plan.version}; you edited "
            f"version {version}). Nothing was saved: reload the plan and apply your change again.",
            details={"current_version": plan.version, "your_version": version},
        )


def _flush(session: Session, plan: Plan) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(f"Plan '{plan.title}' was changed by someone else at the same moment. Nothing was saved: "
                       "reload the plan and apply your change again.") from exc


def _save_version(session: Session, actor: Actor, plan: Plan, note: str | None) -> PlanVersion:
    v = PlanVersion(plan_id=plan.id, number=plan.version, snapshot=plan.snapshot(), author_id=actor.user_id,
                    author_label=actor.label, note=(note or None) and note[:500])
    session.add(v)
    return v


def _check_deadlines(sections: Sections, today: dt.date, old: dict[str, Any] | None = None) -> None:
    """A deadline may not be in the past when it is first set (or moved)."""
    before = {o.get("id"): o.get("deadline") for o in (old or {}).get("objectives", [])}
    for o in sections.objectives:
        if o.deadline is None or o.deadline >= today:
            continue
        if old is not None and before.get(o.id) == o.deadline.isoformat():
            continue  # an unchanged deadline of a running plan may have passed
        raise ValidationFailed(
            f"The deadline {o.deadline.isoformat()} of objective '{o.statement[:60]}' is in the past "
            f"(today is {today.isoformat()})", details={"field": "sections.objectives", "item": o.id})


def _check_refs(session: Session, actor: Actor, unit: Unit, sections: Sections) -> None:
    """Owner units inside the plan's subtree; linked topics and pinned items visible to the actor."""
    for t in sections.tactics:
        if t.owner_unit_id is None:
            continue
        owner = session.get(Unit, t.owner_unit_id)
        if owner is None or not owner.path.startswith(unit.path) or not actor.can_see(owner):
            raise ValidationFailed(
                f"Tactic '{t.name[:60]}': the owner unit {t.owner_unit_id} is not '{unit.code}' or a unit below it",
                details={"field": "sections.tactics", "item": t.id})
    topic_ids = {i for a in sections.audiences for i in a.topic_ids} | {i for k in sections.kpis for i in k.topic_ids}
    for tid in sorted(topic_ids):
        try:
            listening.topic(session, actor, tid)
        except NotFound as exc:
            raise ValidationFailed(f"Saved topic {tid} was not found (or you cannot see it)",
                                   details={"field": "topic_ids", "topic_id": tid}) from exc
    for iid in sorted({i for a in sections.audiences for i in a.evidence_item_ids}):
        try:
            listening.item(session, actor, iid)
        except NotFound as exc:
            raise ValidationFailed(f"Evidence item {iid} was not found (or you cannot see it)",
                                   details={"field": "evidence_item_ids", "item_id": iid}) from exc


def _approvals(actor: Actor, plan: Plan, old: dict[str, Any], new: Sections) -> None:
    """Approval of key messages and FAQ answers is the approver's; an editor's change to an approved
    text sends it back to draft. approved_by / approved_at are set by the server, never by the client."""
    can_approve = actor.can("plan.approve", plan.unit)
    now = utcnow()
    for key, items, text_fields in (("messages", new.messages, ("text",)), ("faq", new.faq, ("question", "answer"))):
        before = {x["id"]: x for x in old.get(key, [])}
        for item in items:
            prev = before.get(item.id)
            was = prev.get("approval") if prev else "draft"
            changed = prev is None or any(
                getattr(item, f).model_dump() != prev.get(f) for f in text_fields)
            if item.approval == "approved":
                if was != "approved" or changed:
                    if not can_approve:
                        if was == "approved" and changed:
                            item.approval, item.approved_by, item.approved_at = "draft", None, None
                            continue
                        raise PermissionDenied(
                            f"Only an approver of '{plan.unit.code}' can approve key messages and FAQ answers "
                            f"({key} {item.id})")
                    item.approved_by, item.approved_at = actor.label, now
                else:
                    assert prev is not None  # an unchanged item (not changed) always has a previous version
                    item.approved_by, item.approved_at = prev.get("approved_by"), _parse_dt(prev.get("approved_at"))
            else:
                item.approved_by, item.approved_at = None, None


def _parse_dt(v: Any) -> dt.datetime | None:
    if not v:
        return None
    return dt.datetime.fromisoformat(v) if isinstance(v, str) else v


def _keep_checklist(old: dict[str, Any], new: Sections, actor: Actor, plan: Plan) -> None:
    """The checklist is scored by the reviewer through :func:`score_checklist`; plain edits keep it."""
    if new.checklist.model_dump(mode="json") != Sections.model_validate(
            {"checklist": old.get("checklist") or {}}).checklist.model_dump(mode="json"):
        if not actor.can("plan.approve", plan.unit):
            raise PermissionDenied("Only an approver (the reviewer) scores the public-communication checklist")
        new.checklist.scored_by, new.checklist.scored_at = actor.label, utcnow()


# ------------------------------------------------------------------ create, update, delete


def create_plan(session: Session, actor: Actor, data: PlanCreate) -> Plan:
    unit = org.get_unit(session, data.unit_id)
    if not actor.can_see(unit):
        raise NotFound(f"Unit {data.unit_id} was not found")
    require(actor, "plan.edit", unit)
    today = today_for(unit)
    if data.sections is not None:
        sections = data.sections
    else:
        sections = parse_sections(sections_for(data.template, data.start_date or today, unit.id))
    _check_deadlines(sections, today)
    _check_refs(session, actor, unit, sections)
    if any(m.approval == "approved" for m in sections.messages) or any(q.approval == "approved" for q in sections.faq):
        if not actor.can("plan.approve", unit):
            raise PermissionDenied(f"Only an approver of '{unit.code}' can approve key messages and FAQ answers")
        approvable: list[Message | Faq] = [*sections.messages, *sections.faq]
        for x in approvable:
            if x.approval == "approved":
                x.approved_by, x.approved_at = actor.label, utcnow()
    if sections.checklist.scores:
        if not actor.can("plan.approve", unit):
            raise PermissionDenied("Only an approver (the reviewer) scores the public-communication checklist")
        sections.checklist.scored_by, sections.checklist.scored_at = actor.label, utcnow()
    plan = Plan(unit_id=unit.id, title=" ".join(data.title.split()), policy=" ".join(data.policy.split()),
                summary=data.summary, language=data.language, template=data.template,
                start_date=data.start_date, end_date=data.end_date, sections=sections.dump(),
                created_by_id=actor.user_id, status="draft")
    plan.unit = unit
    session.add(plan)
    session.flush()
    _save_version(session, actor, plan, f"created from the '{data.template}' template")
    audit.record(session, actor, "plan.create", unit=unit, object_type="plan", object_id=plan.id, after=plan.head())
    return plan


def update_plan(session: Session, actor: Actor, plan_id: int, data: PlanUpdate) -> Plan:
    plan = plan_for(session, actor, plan_id, "plan.edit")
    _check_version(plan, data.version)
    if plan.status == "closed":
        raise Conflict(f"Plan '{plan.title}' is closed; it can no longer change")
    changes = data.model_dump(exclude_unset=True, exclude={"version", "sections", "note"})
    before = plan.snapshot()
    old = dict(plan.sections or {})
    merged = {**old, **(data.sections or {})}
    sections = parse_sections(merged)
    start = changes.get("start_date", plan.start_date)
    end = changes.get("end_date", plan.end_date)
    if start and end and end < start:
        raise ValidationFailed("The plan ends before it starts", details={"field": "end_date"})
    _check_deadlines(sections, today_for(plan.unit), old)
    _check_refs(session, actor, plan.unit, sections)
    _approvals(actor, plan, old, sections)
    _keep_checklist(old, sections, actor, plan)
    new_sections = sections.dump()
    if plan.status not in EDITABLE:
        frozen = [k for k, v in changes.items() if v is not None and getattr(plan, k) != v]
        frozen += [k for k in SECTIONS if k not in LIVE_SECTIONS and new_sections.get(k) != old.get(k)]
        if frozen:
            raise Conflict(
                f"Plan '{plan.title}' is {plan.status.replace('_', ' ')}: only tactics, KPIs, risks and the crisis kit "
                f"can change ({', '.join(frozen)} cannot). Move it back to draft to edit the rest.",
                details={"fields": frozen})
    for key, value in changes.items():
        if key in ("title", "policy") and value is not None:
            value = " ".join(value.split())
        if value is None and key in ("title", "policy", "summary", "language"):
            continue
        setattr(plan, key, value)
    if new_sections != old:
        plan.sections = new_sections
    _flush(session, plan)
    after = plan.snapshot()
    if after != before:
        _save_version(session, actor, plan, data.note)
        b, a = audit.diff(before, after)
        audit.record(session, actor, "plan.update", unit=plan.unit, object_type="plan", object_id=plan.id,
                     before=_short(b), after=_short(a), note=data.note)
    return plan


def _short(d: dict[str, Any]) -> dict[str, Any]:
    """Audit entries name the changed sections; the full text is in the version history."""
    out = dict(d)
    if "sections" in out:
        out["sections"] = sorted((out["sections"] or {}).keys())
    return out


def delete_plan(session: Session, actor: Actor, plan_id: int) -> None:
    plan = plan_for(session, actor, plan_id, "plan.edit")
    if plan.status != "draft":
        raise Conflict(f"Only a draft can be deleted; plan '{plan.title}' is {plan.status.replace('_', ' ')}. "
                       "Close it instead.")
    audit.record(session, actor, "plan.delete", unit=plan.unit, object_type="plan", object_id=plan.id,
                 before=plan.head())
    session.delete(plan)
    session.flush()


# ------------------------------------------------------------------ workflow


def transition(session: Session, actor: Actor, plan_id: int, data: TransitionIn) -> Plan:
    plan = plan_for(session, actor, plan_id, "plan.read")
    _check_version(plan, data.version)
    key = (plan.status, data.to)
    if key not in TRANSITIONS:
        allowed = [to for (fr, to) in TRANSITIONS if fr == plan.status]
        raise Conflict(
            f"A plan that is {plan.status.replace('_', ' ')} cannot become {data.to.replace('_', ' ')}"
            + (f"; it can become: {', '.join(a.replace('_', ' ') for a in allowed)}" if allowed else ""),
            details={"status": plan.status, "allowed": allowed})
    require(actor, TRANSITIONS[key], plan.unit)
    if data.to == "approved":
        sections = parse_sections(plan.sections or {})
        missing = [p for p in PRINCIPLES if (sc := sections.checklist.scores.get(p)) is None or sc.score is None]
        if missing:
            raise ValidationFailed(
                "Score the public-communication checklist before approving (missing: "
                + ", ".join(m.replace("_", " ") for m in missing) + ")", details={"missing": missing})
        if not sections.objectives:
            raise ValidationFailed("A plan needs at least one objective before it is approved")
    before = plan.status
    plan.status = data.to
    _flush(session, plan)
    _save_version(session, actor, plan, data.note or f"{before} → {data.to}")
    audit.record(session, actor, f"plan.{data.to}", unit=plan.unit, object_type="plan", object_id=plan.id,
                 before={"status": before}, after={"status": data.to}, note=data.note)
    return plan


def score_checklist(session: Session, actor: Actor, plan_id: int, data: ChecklistIn) -> Plan:
    plan = plan_for(session, actor, plan_id, "plan.approve")
    _check_version(plan, data.version)
    if plan.status == "closed":
        raise Conflict(f"Plan '{plan.title}' is closed; it can no longer change")
    sections = dict(plan.sections or {})
    checklist = dict(sections.get("checklist") or {})
    scores = dict(checklist.get("scores") or {})
    scores.update({k: v.model_dump() for k, v in data.scores.items()})
    checklist.update(scores=scores, scored_by=actor.label, scored_at=utcnow().isoformat())
    parsed = parse_sections({**sections, "checklist": checklist})
    before = (plan.sections or {}).get("checklist")
    plan.sections = parsed.dump()
    _flush(session, plan)
    _save_version(session, actor, plan, "checklist scored")
    audit.record(session, actor, "plan.checklist", unit=plan.unit, object_type="plan", object_id=plan.id,
                 before={"checklist": (before or {}).get("scores")}, after={"checklist": scores})
    return plan


def set_approval(session: Session, actor: Actor, plan_id: int, data: ApprovalIn) -> Plan:
    plan = plan_for(session, actor, plan_id, "plan.approve")
    _check_version(plan, data.version)
    if plan.status == "closed":
        raise Conflict(f"Plan '{plan.title}' is closed; it can no longer change")
    key = "messages" if data.kind == "message" else "faq"
    sections = dict(plan.sections or {})
    items = [dict(x) for x in sections.get(key, [])]
    hit = next((x for x in items if x.get("id") == data.item_id), None)
    if hit is None:
        raise NotFound(f"There is no {data.kind} {data.item_id!r} in this plan")
    before = hit.get("approval")
    hit["approval"] = data.approval
    hit["approved_by"] = actor.label if data.approval == "approved" else None
    hit["approved_at"] = utcnow().isoformat() if data.approval == "approved" else None
    plan.sections = parse_sections({**sections, key: items}).dump()
    _flush(session, plan)
    _save_version(session, actor, plan, f"{data.kind} {data.item_id} {data.approval}")
    audit.record(session, actor, f"plan.{data.kind}_{data.approval}", unit=plan.unit, object_type="plan",
                 object_id=plan.id, before={"item": data.item_id, "approval": before},
                 after={"item": data.item_id, "approval": data.approval})
    return plan


# ------------------------------------------------------------------ crisis mode


def _network(session: Session, unit: Unit) -> list[Unit]:
    """The units a plan's crisis concerns: its unit, the units above it and every unit below it."""
    above = [int(x) for x in unit.path.strip("/").split("/") if x]
    return list(session.scalars(select(Unit).where(or_(Unit.id.in_(above),
                                                        Unit.path.startswith(unit.path, autoescape=True)))
                                .order_by(Unit.path)))


def _notify(session: Session, settings: Settings | None, plan: Plan, kind: str, subject: str, body: str,
            units: list[Unit]) -> list[PlanNotification]:
    from civicpulse.mail import MailError, send_mail

    out = []
    for u in units:
        n = PlanNotification(plan_id=plan.id, unit_id=u.id, kind=kind, message=body, email_to=u.contact_email)
        if u.contact_email and settings is not None:
            try:
                send_mail(settings, u.contact_email, subject, body)
                n.email_status = "sent"
            except MailError as exc:
                n.email_status, n.email_error = "failed", str(exc)[:1000]
                log.warning("plan notification email failed", unit=u.code, error=str(exc))
        session.add(n)
        out.append(n)
    if units:  # the bell in the header too (the email went out above)
        from civicpulse.domain.org.notifications import notify

        notify(session, None, units=units, kind=f"plan_{kind}", title=subject, body=body,
               link=f"/plans/{plan.id}", email=False, object_type="plan", object_id=plan.id)
    return out


def set_crisis(session: Session, actor: Actor, settings: Settings | None, plan_id: int, data: CrisisIn) -> Plan:
    """Turn crisis mode on or off, or move to another CERC phase. Audited; the network is notified."""
    plan = plan_for(session, actor, plan_id, "plan.edit")
    if plan.status == "closed":
        raise Conflict(f"Plan '{plan.title}' is closed; open a new plan for a new crisis")
    before = {"crisis_active": plan.crisis_active, "crisis_phase": plan.crisis_phase}
    if data.active:
        phase = data.phase or (plan.crisis_phase if plan.crisis_active else "initial")
        if plan.crisis_active and phase == plan.crisis_phase:
            return plan
        kind = "crisis_phase" if plan.crisis_active else "crisis_on"
        if not plan.crisis_active:
            plan.crisis_since = utcnow()
        plan.crisis_active, plan.crisis_phase = True, phase
    else:
        if not plan.crisis_active:
            return plan
        kind = "crisis_off"
        plan.crisis_active, plan.crisis_phase = False, data.phase or "evaluation"
    _flush(session, plan)
    action = {"crisis_on": "plan.crisis_on", "crisis_off": "plan.crisis_off", "crisis_phase": "plan.crisis_phase"}[kind]
    _save_version(session, actor, plan, data.note or action)
    audit.record(session, actor, action, unit=plan.unit, object_type="plan", object_id=plan.id, before=before,
                 after={"crisis_active": plan.crisis_active, "crisis_phase": plan.crisis_phase}, note=data.note)
    phase_name = (plan.crisis_phase or "").replace("_", " ")
    unit_name = plan.unit.name("en")
    if kind == "crisis_on":
        subject = f"[civicpulse] CRISIS MODE ON: {plan.title}"
        head = f"Crisis mode was turned on for the plan '{plan.title}' of {unit_name} (CERC phase: {phase_name})."
    elif kind == "crisis_phase":
        subject = f"[civicpulse] Crisis phase now {phase_name}: {plan.title}"
        head = f"The crisis plan '{plan.title}' of {unit_name} moved to the CERC phase: {phase_name}."
    else:
        subject = f"[civicpulse] Crisis mode off: {plan.title}"
        head = f"Crisis mode was turned off for the plan '{plan.title}' of {unit_name}."
    sections = plan.sections or {}
    holding = [h for h in (sections.get("crisis") or {}).get("holding_statements", [])
               if h.get("pre_cleared") and h.get("phase") == plan.crisis_phase]
    lines = [head, f"By: {actor.label}", ""]
    if data.note:
        lines += [f"Note: {data.note}", ""]
    if kind != "crisis_off" and holding:
        lines.append("Pre-cleared holding statements for this phase:")
        for h in holding:
            t = h.get("text") or {}
            lines.append(f"- {t.get('en') or t.get('vi') or t.get('th')}")
        lines.append("")
    spokes = [c for c in (sections.get("crisis") or {}).get("contacts", []) if c.get("spokesperson")]
    if kind != "crisis_off" and spokes:
        lines.append("Spokespeople: " + "; ".join(f"{c['name']} {c.get('phone') or ''}".strip() for c in spokes))
    lines.append(f"Plan: {settings.base_url.rstrip('/') if settings else ''}/plans/{plan.id}")
    _notify(session, settings, plan, kind, subject, "\n".join(lines), _network(session, plan.unit))
    return plan


def mark_notification_read(session: Session, actor: Actor, notification_id: int) -> PlanNotification:
    n = session.get(PlanNotification, notification_id)
    unit = session.get(Unit, n.unit_id) if n else None
    if n is None or unit is None or not actor.can_see(unit):
        raise NotFound(f"Notification {notification_id} was not found")
    require(actor, "plan.read", unit)
    if n.read_at is None:
        n.read_at = utcnow()
        audit.record(session, actor, "plan.notification_read", unit=unit, object_type="plan_notification",
                     object_id=n.id)
    return n


# ------------------------------------------------------------------ comments


def add_comment(session: Session, actor: Actor, plan_id: int, data: CommentIn) -> PlanComment:
    plan = plan_for(session, actor, plan_id, "plan.edit")
    c = PlanComment(plan_id=plan.id, section=data.section, body=data.body, author_id=actor.user_id,
                    author_label=actor.label, plan_version=plan.version)
    session.add(c)
    session.flush()
    audit.record(session, actor, "plan.comment", unit=plan.unit, object_type="plan", object_id=plan.id,
                 after={"comment": c.id, **c.snapshot()})
    return c


def resolve_comment(session: Session, actor: Actor, plan_id: int, comment_id: int) -> PlanComment:
    plan = plan_for(session, actor, plan_id, "plan.edit")
    c = session.get(PlanComment, comment_id)
    if c is None or c.plan_id != plan.id:
        raise NotFound(f"Comment {comment_id} was not found on this plan")
    if c.resolved_at is None:
        c.resolved_at, c.resolved_by = utcnow(), actor.label
        audit.record(session, actor, "plan.comment_resolve", unit=plan.unit, object_type="plan", object_id=plan.id,
                     after={"comment": c.id})
    return c


# ------------------------------------------------------------------ copy to a unit below


def lineage(session: Session, plan: Plan) -> list[Plan]:
    """The chain of plans this one was copied from (nearest first). Raises on a cycle."""
    out: list[Plan] = []
    seen = {plan.id}
    cur = plan.copied_from
    while cur is not None:
        if cur.id in seen or len(out) >= MAX_LINEAGE:
            raise ValidationFailed(f"The copies of plan {plan.id} form a cycle (through plan {cur.id})")
        seen.add(cur.id)
        out.append(cur)
        cur = cur.copied_from
    return out


def copy_plan(session: Session, actor: Actor, plan_id: int, data: CopyIn) -> Plan:
    """Copy a plan to a unit below its own, as a draft to adapt. Copies never flow upwards or in a circle."""
    source = plan_for(session, actor, plan_id, "plan.read")
    target = org.get_unit(session, data.unit_id)
    if not actor.can_see(target):
        raise NotFound(f"Unit {data.unit_id} was not found")
    require(actor, "plan.edit", target)
    if target.id == source.unit_id or not target.path.startswith(source.unit.path):
        raise ValidationFailed(
            f"A plan is copied down the network: '{target.code}' is not below '{source.unit.code}'",
            details={"field": "unit_id"})
    for ancestor in lineage(session, source):
        if ancestor.unit.path.startswith(target.path):
            raise ValidationFailed(
                f"Copying plan {source.id} to '{target.code}' would make a cycle: it is itself a copy of plan "
                f"{ancestor.id} of '{ancestor.unit.code}', which is at or below '{target.code}'",
                details={"field": "unit_id", "cycle_through": ancestor.id})
    sections = dict(source.sections or {})
    sections["tactics"] = [
        {**t, "owner_unit_id": t.get("owner_unit_id")
         if t.get("owner_unit_id") and _unit_path(session, t["owner_unit_id"]).startswith(target.path) else target.id,
         "status": "planned"}
        for t in sections.get("tactics", [])
    ]
    sections["checklist"] = {}
    parsed = parse_sections(sections)
    plan = Plan(unit_id=target.id, title=" ".join((data.title or source.title).split()), policy=source.policy,
                summary=source.summary, language=target.default_language if target.default_language in (
                    "vi", "th", "en") else source.language, template=source.template, status="draft",
                start_date=source.start_date, end_date=source.end_date, sections=parsed.dump(),
                copied_from_id=source.id, created_by_id=actor.user_id)
    plan.unit = target
    session.add(plan)
    session.flush()
    _save_version(session, actor, plan, f"copied from plan {source.id} ({source.unit.code}, version {source.version})")
    audit.record(session, actor, "plan.copy", unit=target, object_type="plan", object_id=plan.id,
                 after={**plan.head(), "copied_from_id": source.id})
    audit.record(session, actor, "plan.copied", unit=source.unit, object_type="plan", object_id=source.id,
                 after={"copy_id": plan.id, "unit_id": target.id})
    _notify(session, None, plan, "copied",
            f"Plan copied to {target.code}",
            f"{source.unit.name('en')} shared the plan '{source.title}' with {target.name('en')} to adapt.", [target])
    return plan


def _unit_path(session: Session, unit_id: int) -> str:
    u = session.get(Unit, unit_id)
    return u.path if u else "/none/"


# ------------------------------------------------------------------ unit deletion guard


def units_with_plans(session: Session, unit: Unit) -> str | None:
    from sqlalchemy import func

    n = session.scalar(select(func.count()).select_from(Plan).where(Plan.unit_id == unit.id)) or 0
    return f"{n} plan(s)" if n else None


if units_with_plans not in org.UNIT_DELETE_CHECKS:
    org.UNIT_DELETE_CHECKS.append(units_with_plans)

__all__ = ["SECTIONS", "TRANSITIONS", "copy_plan", "create_plan", "set_crisis", "transition", "update_plan"]
