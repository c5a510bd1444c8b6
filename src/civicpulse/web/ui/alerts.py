"""Early-warning pages: Emerging now, the alert list and an alert's page (evidence, chart, lifecycle buttons),
an issue's page (rename, merge, split), and per-unit settings (rules, quiet hours and digest, channels).

Routes stay thin: parse the form, call a service (which checks permission and audits), redirect or render.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from civicpulse.domain.alerts import queries, rules, services
from civicpulse.domain.alerts.models import ALERT_STATUSES, CHANNEL_KINDS, SEVERITIES
from civicpulse.domain.alerts.schemas import (
    ChannelCreate,
    ChannelUpdate,
    IssueMerge,
    IssueRename,
    IssueSplit,
    RuleUpdate,
    SettingsIn,
    TransitionIn,
)
from civicpulse.domain.errors import DomainError, ValidationFailed
from civicpulse.domain.org import queries as org_queries
from civicpulse.i18n import _
from civicpulse.web.deps import DB, WebContext, settings
from civicpulse.web.ui.render import actor_of, render, signed_in

router = APIRouter(include_in_schema=False)


def status_labels() -> dict[str, str]:
    return {"new": _("New"), "acknowledged": _("Acknowledged"), "in_progress": _("In progress"),
            "resolved": _("Resolved"), "false_alarm": _("False alarm")}


def kind_labels() -> dict[str, str]:
    return {"volume_spike": _("Volume spike"), "issue_spike": _("Emerging issue"),
            "negative_surge": _("Negative surge"), "toxicity_surge": _("Toxicity surge"),
            "viral_spread": _("Viral spread"), "high_reach": _("High-reach mention"),
            "claim_match": _("Known false claim")}


def severity_labels() -> dict[str, str]:
    return {"low": _("Low"), "medium": _("Medium"), "high": _("High"), "critical": _("Critical")}


def _back(url: str, error: str | None = None) -> RedirectResponse:
    if error:
        url += ("&" if "?" in url else "?") + "error=" + quote(error[:300])
    return RedirectResponse(url, status_code=303)


def _message(exc: Exception) -> str:
    return getattr(exc, "message", str(exc))


def _common() -> dict[str, Any]:
    return {"S": status_labels(), "K": kind_labels(), "V": severity_labels()}


@router.get("/alerts/emerging", response_class=HTMLResponse)
def emerging(request: Request, hours: int = Query(24, ge=1, le=720), unit_id: str | None = Query(None, max_length=20),
             ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    uid = int(unit_id) if unit_id and unit_id.isdigit() else None
    found = queries.issues(s, actor, unit_id=uid, hours=hours)
    charts = {i.id: json.dumps({"start": i.stats.get("timeline_start"), "counts": i.stats.get("timeline", [])})
              for i in found}
    return render(request, "alerts/emerging.html", issues=found, charts=charts, hours=hours, unit_id=uid,
                  units=org_queries.all_units(s, actor), **_common())


@router.get("/alerts", response_class=HTMLResponse)
def alert_list(request: Request, status: str | None = Query(None, max_length=20), open_only: bool = Query(False),
               unit_id: str | None = Query(None, max_length=20), page: int = Query(1, ge=1),
               ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    uid = int(unit_id) if unit_id and unit_id.isdigit() else None
    p = queries.alerts(s, actor, unit_id=uid, status=status if status in ALERT_STATUSES else None,
                       open_only=open_only, page=page)
    return render(request, "alerts/list.html", page=p, status=status or "", open_only=open_only, unit_id=uid,
                  new_count=queries.new_count(s, actor),
                  statuses=ALERT_STATUSES, units=org_queries.all_units(s, actor), **_common())


@router.get("/alerts/settings", response_class=HTMLResponse)
def settings_page(request: Request, unit_id: str | None = Query(None, max_length=20),
                  error: str | None = Query(None, max_length=400), ctx: WebContext = Depends(signed_in),
                  s: Session = DB):
    actor = actor_of(ctx)
    units = org_queries.all_units(s, actor)
    uid = int(unit_id) if unit_id and unit_id.isdigit() else (units[0].id if units else None)
    unit = next((u for u in units if u.id == uid), None)
    if unit is None:
        raise ValidationFailed(_("Choose a unit you can see"))
    if actor.can("alert.configure", unit):
        services.ensure_default_rules(s, unit)
    return render(request, "alerts/settings.html", unit=unit, units=units,
                  rules=queries.rules(s, actor, unit_id=unit.id), defaults=rules.DEFAULTS,
                  st=queries.unit_settings(s, actor, unit.id), channels=queries.channels(s, actor, unit_id=unit.id),
                  can_configure=actor.can("alert.configure", unit), kinds=CHANNEL_KINDS, severities=SEVERITIES,
                  error=error, **_common())


@router.get("/alerts/issues/{issue_id}", response_class=HTMLResponse)
def issue_page(request: Request, issue_id: int, error: str | None = Query(None, max_length=400),
               ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    i = queries.issue(s, actor, issue_id)
    ids = queries.issue_item_ids(s, actor, i, limit=100)
    chart = json.dumps({"start": i.stats.get("timeline_start"), "counts": i.stats.get("timeline", [])})
    return render(request, "alerts/issue.html", issue=i, items=queries.evidence_items(s, actor, ids, limit=100),
                  alerts=queries.issue_alerts(s, actor, i), chart=chart, error=error,
                  can_manage=actor.can("alert.manage", i.unit), **_common())


@router.post("/alerts/issues/{issue_id}/rename")
def issue_rename(issue_id: int, label: str = Form("", max_length=400), ctx: WebContext = Depends(signed_in),
                 s: Session = DB):
    try:
        services.rename_issue(s, actor_of(ctx), issue_id, IssueRename(label=label.strip() or " "))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(f"/alerts/issues/{issue_id}", _message(exc))
    except ValueError:
        return _back(f"/alerts/issues/{issue_id}", _("The name cannot be blank"))
    return _back(f"/alerts/issues/{issue_id}")


def _ids(raw: str | list[str]) -> list[int]:
    parts = raw if isinstance(raw, list) else raw.replace(";", ",").split(",")
    bad = [p.strip() for p in parts if p.strip() and not p.strip().isdigit()]
    if bad:
        raise ValidationFailed(_("Issues and items are listed by their numeric id: %(bad)s") % {"bad": ", ".join(bad)})
    return [int(p) for p in parts if p.strip()]


@router.post("/alerts/issues/{issue_id}/merge")
def issue_merge(issue_id: int, other_ids: str = Form("", max_length=1000), ctx: WebContext = Depends(signed_in),
                s: Session = DB):
    try:
        ids = _ids(other_ids)
        if not ids:
            raise ValidationFailed(_("Give the numbers of the issues to merge into this one"))
        services.merge_issues(s, actor_of(ctx), issue_id, IssueMerge(other_ids=ids))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(f"/alerts/issues/{issue_id}", _message(exc))
    return _back(f"/alerts/issues/{issue_id}")


@router.post("/alerts/issues/{issue_id}/split")
async def issue_split(request: Request, issue_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    form = await request.form()
    try:
        ids = _ids([str(x) for x in form.getlist("item_id")])
        if not ids:
            raise ValidationFailed(_("Tick the items to move into a new issue"))
        new = services.split_issue(s, actor_of(ctx), issue_id,
                                   IssueSplit(item_ids=ids, label=str(form.get("label") or "")[:300] or None))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(f"/alerts/issues/{issue_id}", _message(exc))
    return _back(f"/alerts/issues/{new.id}")


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: int, error: str | None = Query(None, max_length=400),
               ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    a = queries.alert(s, actor, alert_id)
    series = (a.evidence or {}).get("series") or {}
    return render(request, "alerts/detail.html", alert=a, items=queries.evidence_items(s, actor, a.item_ids or []),
                  events=queries.events(s, a), deliveries=queries.deliveries(s, a), chart=json.dumps(series),
                  next_states=services.TRANSITIONS.get(a.status, ()) if actor.can("alert.manage", a.unit) else (),
                  error=error, **_common())


@router.post("/alerts/{alert_id}/transition")
def alert_transition(alert_id: int, status: str = Form(..., max_length=20), note: str = Form("", max_length=2000),
                     ctx: WebContext = Depends(signed_in), s: Session = DB):
    if status not in ALERT_STATUSES:
        return _back(f"/alerts/{alert_id}", _("Unknown status"))
    try:
        services.transition(s, actor_of(ctx), alert_id, TransitionIn(status=status, note=note or None))  # type: ignore[arg-type]
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(f"/alerts/{alert_id}", _message(exc))
    return _back(f"/alerts/{alert_id}")


@router.post("/alerts/rules/{rule_id}")
async def rule_update(request: Request, rule_id: int, ctx: WebContext = Depends(signed_in), s: Session = DB):
    form = await request.form()
    actor = actor_of(ctx)
    rule = queries.rule(s, actor, rule_id)
    back = f"/alerts/settings?unit_id={rule.unit_id}"
    params: dict[str, Any] = {}
    for name in rules.PARAMS[rule.kind]:
        raw = str(form.get(f"p_{name}") or "").strip()
        if raw != "" and str(raw) != str(rules.DEFAULTS[rule.kind].get(name)):
            params[name] = raw
    try:
        services.update_rule(s, actor, rule_id, RuleUpdate(params=params, enabled=bool(form.get("enabled"))))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(back, _message(exc))
    return _back(back)


@router.post("/alerts/settings/{unit_id}")
def settings_update(unit_id: int, quiet_start: str = Form("", max_length=3), quiet_end: str = Form("", max_length=3),
                    digest: str = Form(""), digest_minutes: int = Form(60, ge=5, le=1440),
                    min_severity: str = Form("low", max_length=10), ctx: WebContext = Depends(signed_in),
                    s: Session = DB):
    back = f"/alerts/settings?unit_id={unit_id}"
    try:
        qs = int(quiet_start) if quiet_start.strip() else None
        qe = int(quiet_end) if quiet_end.strip() else None
        data = SettingsIn(quiet_start=qs, quiet_end=qe, digest=bool(digest), digest_minutes=digest_minutes,
                          min_severity=min_severity if min_severity in SEVERITIES else "low")  # type: ignore[arg-type]
        services.update_settings(s, actor_of(ctx), unit_id, data)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(back, _message(exc))
    except ValueError:
        return _back(back, _("Quiet hours are whole hours from 0 to 23"))
    return _back(back)


SECRET_FIELDS = {"webhook": "signing_key", "telegram": "bot_token", "line": "channel_access_token"}
TARGET_FIELDS = {"webhook": "url", "telegram": "chat_id", "line": "to", "email": "to"}


@router.post("/alerts/channels/new")
def channel_create(request: Request, unit_id: int = Form(...), kind: str = Form(..., max_length=12),
                   name: str = Form("", max_length=200), target: str = Form("", max_length=2000),
                   secret: str = Form("", max_length=4000), ctx: WebContext = Depends(signed_in), s: Session = DB):
    back = f"/alerts/settings?unit_id={unit_id}"
    if kind not in CHANNEL_KINDS:
        return _back(back, _("Unknown channel kind"))
    secrets = {SECRET_FIELDS[kind]: secret.strip()} if kind in SECRET_FIELDS and secret.strip() else {}
    try:
        services.create_channel(s, actor_of(ctx), settings(request), ChannelCreate(
            unit_id=unit_id, kind=kind, name=name.strip() or kind, config={TARGET_FIELDS[kind]: target.strip()},  # type: ignore[arg-type]
            secrets=secrets))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(back, _message(exc))
    return _back(back)


@router.post("/alerts/channels/{channel_id}")
def channel_action(request: Request, channel_id: int, action: str = Form(..., max_length=20),
                   ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    ch = queries.channel(s, actor, channel_id)
    back = f"/alerts/settings?unit_id={ch.unit_id}"
    try:
        if action == "delete":
            services.delete_channel(s, actor, channel_id)
        elif action in ("enable", "disable"):
            services.update_channel(s, actor, settings(request), channel_id, ChannelUpdate(enabled=action == "enable"))
        elif action == "test":
            services.test_channel(s, actor, settings(request), channel_id)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return _back(back, _message(exc))
    return _back(back)
