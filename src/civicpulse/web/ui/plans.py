"""Plan pages: list and create, the plan itself (insight, Gantt, KPIs, comments, workflow, crisis mode),
a form per section, the version history with diffs, exports and the iCal feed.

Routes stay thin: parse the form, call a service (which checks permission and audits), render.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from civicpulse.domain.errors import DomainError, ValidationFailed
from civicpulse.domain.listening import queries as listening
from civicpulse.domain.org import queries as org_queries
from civicpulse.domain.plans import export, queries, services
from civicpulse.domain.plans.models import CERC_PHASES, STATUSES, TEMPLATES
from civicpulse.domain.plans.plan_templates import DESCRIPTIONS
from civicpulse.domain.plans.schemas import (
    APPROVAL,
    CURRENCIES,
    KPI_LEVELS,
    KPI_METRICS,
    LIVE_SECTIONS,
    OBJECTIVE_TYPES,
    PRINCIPLES,
    SECTIONS,
    TACTIC_STATUSES,
    ApprovalIn,
    Change,
    ChecklistIn,
    CommentIn,
    CopyIn,
    CrisisIn,
    PlanCreate,
    PlanUpdate,
    Score,
    TransitionIn,
)
from civicpulse.i18n import _
from civicpulse.web.api.plans import export_response, ics_response
from civicpulse.web.deps import DB, WebContext, settings
from civicpulse.web.ui.render import actor_of, render, signed_in

router = APIRouter(include_in_schema=False)

# The editable row groups of each section: (group, field, kind). Kinds: text, area, number, date, check,
# select:<options>, multi:<options>, lang (vi/th/en), csv (comma list), ids (comma list of integers),
# readings (one "YYYY-MM-DD value note" per line). Groups other than the section name live inside it.
FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "objectives": [("objectives", "statement", "area"), ("objectives", "type", "select:objective_types"),
                   ("objectives", "metric", "text"), ("objectives", "baseline_value", "number"),
                   ("objectives", "baseline_date", "date"), ("objectives", "baseline_source", "text"),
                   ("objectives", "target_value", "number"), ("objectives", "deadline", "date")],
    "audiences": [("audiences", "name", "text"), ("audiences", "description", "area"),
                  ("audiences", "topic_ids", "multi:topics"), ("audiences", "evidence_item_ids", "ids"),
                  ("audiences", "notes", "area")],
    "messages": [("messages", "kind", "select:message_kinds"), ("messages", "audience_id", "select:audiences"),
                 ("messages", "text", "lang")],
    "forbidden": [("forbidden", "phrase", "text"), ("forbidden", "reason", "text"), ("forbidden", "instead", "text")],
    "faq": [("faq", "question", "lang"), ("faq", "answer", "lang")],
    "tactics": [("tactics", "name", "text"), ("tactics", "channels", "csv"), ("tactics", "audience_id", "select:audiences"),
                ("tactics", "owner_unit_id", "select:owner_units"), ("tactics", "start", "date"),
                ("tactics", "end", "date"), ("tactics", "budget", "number"), ("tactics", "currency", "select:currencies"),
                ("tactics", "status", "select:tactic_statuses"), ("tactics", "notes", "text")],
    "kpis": [("kpis", "name", "text"), ("kpis", "level", "select:kpi_levels"), ("kpis", "metric", "select:kpi_metrics"),
             ("kpis", "objective_id", "select:objectives"), ("kpis", "topic_ids", "multi:topics"),
             ("kpis", "unit_label", "text"), ("kpis", "baseline", "number"), ("kpis", "target", "number"),
             ("kpis", "direction", "select:directions"), ("kpis", "readings", "readings")],
    "risks": [("risks", "description", "area"), ("risks", "likelihood", "select:one_to_five"),
              ("risks", "impact", "select:one_to_five"), ("risks", "mitigation", "area"), ("risks", "owner", "text")],
    "crisis": [("holding_statements", "phase", "select:phases"), ("holding_statements", "pre_cleared", "check"),
               ("holding_statements", "text", "lang"), ("contacts", "name", "text"), ("contacts", "role", "text"),
               ("contacts", "phone", "text"), ("contacts", "email", "text"), ("contacts", "spokesperson", "check"),
               ("contacts", "reports_to", "select:contacts")],
}
# fields kept from the stored row (changed through their own buttons, not the section form)
KEEP = {"messages": ("approval", "approved_by", "approved_at"), "faq": ("approval", "approved_by", "approved_at")}


def section_titles() -> dict[str, str]:
    return {"summary": _("Strategy"), "objectives": _("Objectives"), "audiences": _("Audiences and insight"),
            "messages": _("Key messages"), "forbidden": _("Forbidden phrasings"),
            "faq": _("Frequently asked questions"), "tactics": _("Channels and tactics"), "kpis": _("KPIs"),
            "risks": _("Risks"), "crisis": _("Crisis communication (CERC)"),
            "checklist": _("Public-communication checklist"), "general": _("General")}


def field_labels() -> dict[str, str]:
    return {"statement": _("Statement"), "type": _("Type"), "metric": _("Metric"), "baseline_value": _("Baseline"),
            "baseline_date": _("Baseline date"), "baseline_source": _("Source"), "target_value": _("Target"),
            "deadline": _("Deadline"), "name": _("Name"), "description": _("Description"),
            "topic_ids": _("Saved topics"), "evidence_item_ids": _("Evidence items (ids)"), "notes": _("Notes"),
            "kind": _("Kind"), "audience_id": _("Audience"), "text": _("Text"), "phrase": _("Do not say"),
            "reason": _("Why"), "instead": _("Say instead"), "question": _("Question"), "answer": _("Answer"),
            "channels": _("Channels (comma-separated)"), "owner_unit_id": _("Owner unit"), "start": _("Start"),
            "end": _("End"), "budget": _("Budget"), "currency": _("Currency"), "status": _("Status"),
            "level": _("Level"), "objective_id": _("Objective"), "unit_label": _("Unit of measure"),
            "baseline": _("Baseline"), "target": _("Target"), "direction": _("Direction"),
            "readings": _("Figures (one per line: date value note)"), "likelihood": _("Likelihood (1–5)"),
            "impact": _("Impact (1–5)"), "mitigation": _("Mitigation"), "owner": _("Owner"), "phase": _("Phase"),
            "pre_cleared": _("Pre-cleared"), "role": _("Role"), "phone": _("Phone"), "email": _("Email"),
            "spokesperson": _("Spokesperson"), "reports_to": _("Reports to"), "scenario": _("Scenario"),
            "approval_shortcut": _("Approval shortcut")}


def group_titles() -> dict[str, str]:
    return {"holding_statements": _("Holding statements"), "contacts": _("Spokespeople and contact tree")}


# ------------------------------------------------------------------ helpers


def _editable_sections(actor: Any, plan: Any) -> list[str]:
    if not actor.can("plan.edit", plan.unit) or plan.status == "closed":
        return []
    if plan.status in services.EDITABLE:
        return ["summary", *[s for s in SECTIONS if s != "checklist"]]
    return list(LIVE_SECTIONS)


def _options(s: Session, actor: Any, plan: Any, lang: str, sections: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    units = [u for u in org_queries.all_units(s, actor) if u.path.startswith(plan.unit.path)]
    topics = [t for t in listening.topics(s, actor)]
    labels = export.L
    return {
        "objective_types": [(x, labels(x)) for x in OBJECTIVE_TYPES],
        "message_kinds": [("core", labels("core")), ("supporting", labels("supporting"))],
        "audiences": [("", _("Everyone"))] + [(a["id"], a["name"]) for a in sections.get("audiences", [])],
        "owner_units": [("", "—")] + [(str(u.id), "— " * (u.depth - plan.unit.depth) + u.name(lang)) for u in units],
        "currencies": [(c, c) for c in ["VND", "THB", "USD", "EUR", *sorted(CURRENCIES - {"VND", "THB", "USD", "EUR"})]],
        "tactic_statuses": [(x, labels(x)) for x in TACTIC_STATUSES],
        "kpi_levels": [(x, labels(x)) for x in KPI_LEVELS],
        "kpi_metrics": [(x, labels(x)) for x in KPI_METRICS],
        "objectives": [("", "—")] + [(o["id"], o["statement"][:60]) for o in sections.get("objectives", [])],
        "directions": [("increase", labels("increase")), ("decrease", labels("decrease"))],
        "one_to_five": [(str(i), str(i)) for i in range(1, 6)],
        "phases": [(p, labels(p)) for p in CERC_PHASES],
        "contacts": [("", "—")] + [(c["id"], c["name"]) for c in (sections.get("crisis") or {}).get("contacts", [])],
        "topics": [(str(t.id), t.name) for t in topics],
    }


def _rows_for(section: str, sections: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for group, _f, _k in FIELDS[section]:
        if group in groups:
            continue
        stored = (sections.get("crisis") or {}).get(group, []) if section == "crisis" else sections.get(group, [])
        groups[group] = [dict(x) for x in stored] + [{} for _i in range(2)]
    return groups


def _parse_rows(form: Any, section: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The section's rows from the submitted form; empty new rows are skipped, ticked 'remove' rows dropped."""
    out: dict[str, list[dict[str, Any]]] = {}
    keep = KEEP.get(section, ())
    for group in dict.fromkeys(g for g, _f, _k in FIELDS[section]):
        fields = [(f, k) for g, f, k in FIELDS[section] if g == group]
        before = {x.get("id"): x for x in ((stored.get("crisis") or {}).get(group, []) if section == "crisis"
                                           else stored.get(group, []))}
        rows = []
        n = int(form.get(f"{group}-count", "0") or 0)
        for i in range(min(n, 500)):
            p = f"{group}-{i}-"
            if form.get(p + "remove"):
                continue
            row: dict[str, Any] = {}
            filled = False
            for f, kind in fields:
                v: Any  # the field's parsed value: its type depends on the field kind
                if kind == "lang":
                    v = {lg: (form.get(f"{p}{f}_{lg}") or "").strip() for lg in ("vi", "th", "en")}
                    filled |= any(v.values())
                elif kind.startswith("multi:"):
                    v = [int(x) for x in form.getlist(p + f) if str(x).isdigit()]
                    filled |= bool(v)
                elif kind == "check":
                    v = bool(form.get(p + f))
                elif kind == "csv":
                    v = [x.strip() for x in (form.get(p + f) or "").split(",") if x.strip()]
                    filled |= bool(v)
                elif kind == "ids":
                    raw = [x.strip() for x in (form.get(p + f) or "").replace(";", ",").split(",") if x.strip()]
                    bad = [x for x in raw if not x.isdigit()]
                    if bad:
                        raise ValidationFailed(_("Evidence items are listed by their numeric id: %(bad)s")
                                           % {"bad": ", ".join(bad)})
                    v = [int(x) for x in raw]
                    filled |= bool(v)
                elif kind == "readings":
                    v = []
                    for line in (form.get(p + f) or "").splitlines():
                        bits = line.split(None, 2)
                        if not bits:
                            continue
                        if len(bits) < 2:
                            raise ValidationFailed(_("Each figure needs a date and a value: %(line)s") % {"line": line})
                        v.append({"date": bits[0], "value": bits[1].replace(",", ""), "note": bits[2] if len(bits) > 2
                                  else ""})
                    filled |= bool(v)
                else:
                    raw_v = (form.get(p + f) or "").strip()
                    filled |= bool(raw_v) and not kind.startswith("select:")
                    v = raw_v if raw_v != "" else None
                    if kind == "number" and v is not None:
                        v = v.replace(",", "")
                row[f] = v
            rid = (form.get(p + "id") or "").strip()
            if not filled and not rid:
                continue
            if rid:
                row["id"] = rid
                for k in keep:
                    if k in before.get(rid, {}):
                        row[k] = before[rid][k]
            rows.append({k: v for k, v in row.items() if v is not None})
        out[group] = rows
    if section == "crisis":
        return {"crisis": {**(stored.get("crisis") or {}), **out,
                           "scenario": (form.get("scenario") or "").strip(),
                           "approval_shortcut": (form.get("approval_shortcut") or "").strip()}}
    return out


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        from civicpulse.domain.plans.services import _validation

        return _validation(exc).message
    return getattr(exc, "message", str(exc))


# ------------------------------------------------------------------ list and create


@router.get("/plans", response_class=HTMLResponse)
def plans_list(
    request: Request,
    q: str | None = Query(None, max_length=200),
    status: str | None = Query(None, max_length=20),
    unit_id: str | None = Query(None, max_length=20),
    page: int = Query(1, ge=1),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    uid = int(unit_id) if unit_id and unit_id.isdigit() else None
    p = queries.plans(s, actor, q=q, status=status if status in STATUSES else None, unit_id=uid, page=page)
    return _list_page(request, s, actor, p, q=q or "", status=status or "", unit_id=uid)


def _list_page(request: Request, s: Session, actor: Any, p: Any, *, errors: dict[str, str] | None = None,
               values: dict[str, Any] | None = None, status_code: int = 200, **filters: Any) -> HTMLResponse:
    units = org_queries.all_units(s, actor)
    return render(request, "plans/list.html", page=p, units=units,
                  editable_units=[u for u in units if actor.can("plan.edit", u)], statuses=STATUSES,
                  templates=TEMPLATES, template_descriptions=DESCRIPTIONS, L=export.L,
                  notifications=queries.notifications(s, actor, limit=10), errors=errors or {}, values=values or {},
                  status_code=status_code, **{"q": "", "status": "", "unit_id": None, **filters})


@router.post("/plans/new", response_class=HTMLResponse)
def plan_create(
    request: Request,
    unit_id: int = Form(...),
    title: str = Form("", max_length=1000),
    policy: str = Form("", max_length=1000),
    template: str = Form("blank", max_length=40),
    language: str = Form("en", max_length=5),
    start_date: str = Form("", max_length=20),
    end_date: str = Form("", max_length=20),
    ctx: WebContext = Depends(signed_in),
    s: Session = DB,
):
    actor = actor_of(ctx)
    values = dict(unit_id=unit_id, title=title, policy=policy, template=template, language=language,
                  start_date=start_date, end_date=end_date)
    try:
        data = PlanCreate(unit_id=unit_id, title=title, policy=policy, template=template,  # type: ignore[arg-type]
                          language=language, start_date=start_date or None,  # type: ignore[arg-type]
                          end_date=end_date or None)  # type: ignore[arg-type]
        plan = services.create_plan(s, actor, data)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (403, 404):
            raise
        s.rollback()
        p = queries.plans(s, actor)
        return _list_page(request, s, actor, p, errors={"form": _error_message(exc)}, values=values,
                          status_code=422)
    return RedirectResponse(f"/plans/{plan.id}", status_code=303)


@router.post("/plans/notifications/{notification_id}/read")
def notification_read(request: Request, notification_id: int, ctx: WebContext = Depends(signed_in),
                      s: Session = DB):
    services.mark_notification_read(s, actor_of(ctx), notification_id)
    return RedirectResponse("/plans", status_code=303)


# ------------------------------------------------------------------ one plan


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, plan_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return plan_detail(request, plan_id, ctx, s)


def plan_detail(request: Request, plan_id: int, ctx: WebContext, s: Session, error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    actor = actor_of(ctx)
    plan = queries.plan(s, actor, plan_id)
    lang = getattr(request.state, "lang", "en")
    data = export.collect(s, actor, plan, lang)
    comments: dict[str, list[Any]] = {}
    for c in queries.comments(s, actor, plan_id):
        comments.setdefault(c.section, []).append(c)
    transitions = [to for (fr, to), action in services.TRANSITIONS.items()
                   if fr == plan.status and actor.can(action, plan.unit)]
    return render(
        request, "plans/detail.html", plan=plan, d=data, s=data.sections, L=export.L, num=export.num,
        money=export.money, baseline=export._baseline, principles=PRINCIPLES,
        # gantt_svg escapes every text it draws
        gantt=Markup(export.gantt_svg(data.sections.tactics, title=_("Timeline")))  # noqa: S704
        if data.sections.tactics else None,
        insight={a.id: a for a in data.insight}, comments=comments, titles=section_titles(),
        editable=_editable_sections(actor, plan), can_edit=actor.can("plan.edit", plan.unit),
        can_approve=actor.can("plan.approve", plan.unit), transitions=transitions, phases=CERC_PHASES,
        copy_units=queries.units_for_copy(s, actor, plan), copies=queries.copies(s, actor, plan),
        lineage=services.lineage(s, plan) if plan.copied_from_id else [], approval_states=APPROVAL,
        error=error, status_code=status_code)


def _back(plan_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/plans/{plan_id}{'#' + anchor if anchor else ''}", status_code=303)


def _or_error(request: Request, plan_id: int, ctx: WebContext, s: Session, fn: Any, anchor: str = "") -> Response:
    """Run a service call; a refused change re-renders the plan with the reason (nothing was saved)."""
    try:
        fn()
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (403, 404):
            raise
        s.rollback()
        status = exc.status if isinstance(exc, DomainError) else 422
        return plan_detail(request, plan_id, ctx, s, error=_error_message(exc), status_code=status)
    return _back(plan_id, anchor)


@router.post("/plans/{plan_id}/transition")
def plan_transition(request: Request, plan_id: int, to: str = Form(..., max_length=20),
                    version: int | None = Form(None), note: str = Form("", max_length=500),
                    ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _or_error(request, plan_id, ctx, s, lambda: services.transition(
        s, actor_of(ctx), plan_id, TransitionIn(to=to, version=version, note=note or None)))  # type: ignore[arg-type]


@router.post("/plans/{plan_id}/crisis")
def plan_crisis(request: Request, plan_id: int, active: bool = Form(...), phase: str = Form("", max_length=20),
                note: str = Form("", max_length=1000), ctx: WebContext = Depends(signed_in),
                s: Session = DB):
    return _or_error(request, plan_id, ctx, s, lambda: services.set_crisis(
        s, actor_of(ctx), settings(request), plan_id,
        CrisisIn(active=active, phase=phase or None, note=note or None)), "crisis")  # type: ignore[arg-type]


@router.post("/plans/{plan_id}/approval")
def plan_approval(request: Request, plan_id: int, kind: str = Form("message", max_length=10),
                  item_id: str = Form(..., max_length=40), approval: str = Form(..., max_length=10),
                  ctx: WebContext = Depends(signed_in), s: Session = DB):
    return _or_error(request, plan_id, ctx, s, lambda: services.set_approval(
        s, actor_of(ctx), plan_id, ApprovalIn(kind=kind, item_id=item_id, approval=approval)),  # type: ignore[arg-type]
        "messages" if kind == "message" else "faq")


@router.post("/plans/{plan_id}/checklist")
async def plan_checklist(request: Request, plan_id: int, ctx: WebContext = Depends(signed_in),
                         s: Session = DB):
    form = await request.form()

    def run() -> None:
        scores = {}
        for p in PRINCIPLES:
            raw = str(form.get(f"score-{p}") or "")
            scores[p] = Score(score=int(raw) if raw.isdigit() else None, note=str(form.get(f"note-{p}") or "")[:1000])
        services.score_checklist(s, actor_of(ctx), plan_id, ChecklistIn(scores=scores))

    return _or_error(request, plan_id, ctx, s, run, "checklist")


@router.post("/plans/{plan_id}/copy")
def plan_copy(request: Request, plan_id: int, unit_id: int = Form(...), ctx: WebContext = Depends(signed_in),
              s: Session = DB):
    result: dict[str, int] = {}

    def run() -> None:
        result["id"] = services.copy_plan(s, actor_of(ctx), plan_id, CopyIn(unit_id=unit_id)).id

    resp = _or_error(request, plan_id, ctx, s, run)
    return RedirectResponse(f"/plans/{result['id']}", status_code=303) if "id" in result else resp


@router.post("/plans/{plan_id}/comments")
def plan_comment(request: Request, plan_id: int, section: str = Form("general", max_length=30),
                 body: str = Form("", max_length=5000), ctx: WebContext = Depends(signed_in),
                 s: Session = DB):
    return _or_error(request, plan_id, ctx, s, lambda: services.add_comment(
        s, actor_of(ctx), plan_id, CommentIn(section=section, body=body)), f"sec-{section}")


@router.post("/plans/{plan_id}/comments/{comment_id}/resolve")
def plan_comment_resolve(request: Request, plan_id: int, comment_id: int, ctx: WebContext = Depends(signed_in),
                         s: Session = DB):
    c = services.resolve_comment(s, actor_of(ctx), plan_id, comment_id)
    return _back(plan_id, f"sec-{c.section}")


@router.post("/plans/{plan_id}/delete")
def plan_delete(request: Request, plan_id: int, ctx: WebContext = Depends(signed_in),
                s: Session = DB):
    services.delete_plan(s, actor_of(ctx), plan_id)
    return RedirectResponse("/plans", status_code=303)


# ------------------------------------------------------------------ section forms


def _section_form(request: Request, s: Session, actor: Any, plan: Any, section: str, *,
                  sections: dict[str, Any] | None = None, summary: dict[str, Any] | None = None,
                  error: str | None = None, version: int | None = None, status_code: int = 200) -> HTMLResponse:
    lang = getattr(request.state, "lang", "en")
    current = sections if sections is not None else (plan.sections or {})
    return render(request, "plans/edit.html", plan=plan, section=section, titles=section_titles(),
                  labels=field_labels(), group_titles=group_titles(),
                  groups=_rows_for(section, current) if section in FIELDS else {},
                  fields=FIELDS.get(section, []), options=_options(s, actor, plan, lang, plan.sections or {}),
                  crisis=current.get("crisis") or {}, summary=summary, error=error,
                  version=version or plan.version, languages_list=("vi", "th", "en"), status_code=status_code)


@router.get("/plans/{plan_id}/edit/{section}", response_class=HTMLResponse)
def plan_edit(request: Request, plan_id: int, section: str, ctx: WebContext = Depends(signed_in),
              s: Session = DB):
    actor = actor_of(ctx)
    plan = services.plan_for(s, actor, plan_id, "plan.edit")
    if section not in _editable_sections(actor, plan):
        raise ValidationFailed(_("This section cannot be edited while the plan is %(status)s")
                               % {"status": export.L(plan.status)})
    return _section_form(request, s, actor, plan, section)


@router.post("/plans/{plan_id}/edit/{section}", response_class=HTMLResponse)
async def plan_save(request: Request, plan_id: int, section: str, ctx: WebContext = Depends(signed_in),
                    s: Session = DB):
    actor = actor_of(ctx)
    plan = services.plan_for(s, actor, plan_id, "plan.edit")
    form = await request.form()
    raw_version = str(form.get("version") or "")
    version = int(raw_version) if raw_version.isdigit() else -1
    note = str(form.get("note") or "")[:500] or None
    summary = None
    submitted: dict[str, Any] | None = None
    try:
        if section == "summary":
            summary = {k: str(form.get(k) or "") for k in ("title", "policy", "summary", "start_date", "end_date",
                                                          "language")}
            data = PlanUpdate(version=version, title=summary["title"], policy=summary["policy"],
                              summary=summary["summary"], language=summary["language"] or None,  # type: ignore[arg-type]
                              start_date=summary["start_date"] or None,  # type: ignore[arg-type]
                              end_date=summary["end_date"] or None, note=note)  # type: ignore[arg-type]
        elif section in FIELDS:
            submitted = _parse_rows(form, section, plan.sections or {})
            data = PlanUpdate(version=version, sections=submitted, note=note)
        else:
            raise ValidationFailed(_("Unknown section %(name)s") % {"name": section})
        services.update_plan(s, actor, plan_id, data)
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status in (403, 404):
            raise
        s.rollback()
        plan = services.plan_for(s, actor, plan_id, "plan.edit")
        shown = {**(plan.sections or {}), **submitted} if submitted else None
        status = exc.status if isinstance(exc, DomainError) else 422
        return _section_form(request, s, actor, plan, section, sections=shown, summary=summary,
                             error=_error_message(exc), version=version if status != 409 else plan.version,
                             status_code=status)
    return _back(plan_id, f"sec-{section}")


# ------------------------------------------------------------------ history, exports, calendar


@router.get("/plans/{plan_id}/history", response_class=HTMLResponse)
def plan_history(request: Request, plan_id: int, a: int | None = None, b: int | None = None,
                 ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    plan = queries.plan(s, actor, plan_id)
    versions = queries.versions(s, actor, plan_id)
    if versions and b is None:
        b = versions[0].number
    if versions and a is None:
        a = versions[1].number if len(versions) > 1 else versions[0].number
    changes: list[Change] = []
    text, error = "", None
    if a and b and a != b:
        try:
            changes, text = queries.diff(s, actor, plan_id, a, b)
        except DomainError as exc:
            error = exc.message
    return render(request, "plans/history.html", plan=plan, versions=versions, a=a, b=b, changes=changes,
                  diff_lines=text.splitlines()[2:] if text else [], titles=section_titles(),
                  labels=field_labels(), error=error)


@router.get("/plans/{plan_id}/export.{fmt}")
def plan_export(request: Request, plan_id: int, fmt: str, lang: str | None = Query(None, max_length=2),
                ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    return export_response(s, actor, queries.plan(s, actor, plan_id), fmt, lang)


@router.get("/plans/{plan_id}/tactics.ics")
def plan_ics(request: Request, plan_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return ics_response(request, s, queries.plan(s, actor_of(ctx), plan_id))

