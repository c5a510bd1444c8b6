"""/api/v1/plans: policy-communication plans, their workflow, versions, comments, crisis mode and exports."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.plans import export, queries, services
from civicpulse.domain.plans.plan_templates import DESCRIPTIONS
from civicpulse.domain.plans.schemas import (
    ApprovalIn,
    ChecklistIn,
    CommentIn,
    CommentOut,
    CopyIn,
    CrisisIn,
    DiffOut,
    NotificationOut,
    PlanCreate,
    PlanOut,
    PlanSummary,
    PlanUpdate,
    Status,
    TransitionIn,
    VersionOut,
)
from civicpulse.web.api.common import ERRORS, PageOut, page_params
from civicpulse.web.deps import DB, api_actor, settings

router = APIRouter(responses=ERRORS, tags=["plans"])


def ics_response(request: Request, s: Session, plan: Any) -> Response:
    names = queries.unit_names(s, {t.get("owner_unit_id") for t in (plan.sections or {}).get("tactics", [])
                                   if t.get("owner_unit_id")})
    base = settings(request).base_url
    host = request.url.hostname or "civicpulse"
    body = export.ical(plan, names, host=host, base_url=base)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="plan-{plan.id}-tactics.ics"'})


def export_response(s: Session, actor: Actor, plan: Any, fmt: str, lang: str | None) -> Response:
    content, media, name = export.export(s, actor, plan, fmt, lang)
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/plans/templates", summary="Templates a new plan can start from")
def templates() -> list[dict[str, str]]:
    return [{"id": k, "description": v} for k, v in DESCRIPTIONS.items()]


@router.get("/plans", response_model=PageOut[PlanSummary], summary="Plans of the units you can see")
def list_plans(
    unit_id: int | None = None,
    subtree: bool = True,
    status: Status | None = None,
    crisis: bool | None = None,
    q: str | None = Query(None, max_length=200),
    paging: tuple[int, int] = Depends(page_params),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    p = queries.plans(s, actor, unit_id=unit_id, subtree=subtree, status=status, crisis=crisis, q=q,
                      page=paging[0], per_page=paging[1])
    return PageOut[PlanSummary](items=[PlanSummary.model_validate(x) for x in p.items], total=p.total, page=p.page,
                                per_page=p.per_page)


@router.post("/plans", response_model=PlanOut, status_code=201, summary="Create a plan (from a template)")
def create_plan(data: PlanCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    return PlanOut.model_validate(services.create_plan(s, actor, data))


@router.get("/plans/notifications", response_model=list[NotificationOut],
            summary="Network notifications (crisis mode, copies) for the units you can see")
def list_notifications(unit_id: int | None = None, unread: bool = False, limit: int = Query(50, ge=1, le=500),
                       actor: Actor = Depends(api_actor), s: Session = DB):
    return [NotificationOut.model_validate(n) for n in queries.notifications(s, actor, unit_id=unit_id,
                                                                             unread=unread, limit=limit)]


@router.post("/plans/notifications/{notification_id}/read", response_model=NotificationOut)
def read_notification(notification_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return NotificationOut.model_validate(services.mark_notification_read(s, actor, notification_id))


@router.get("/plans/{plan_id}", response_model=PlanOut)
def get_plan(plan_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return PlanOut.model_validate(queries.plan(s, actor, plan_id))


@router.patch("/plans/{plan_id}", response_model=PlanOut,
              summary="Change a plan; send the version you edited (409 if someone saved in between)")
def update_plan(plan_id: int, data: PlanUpdate, actor: Actor = Depends(api_actor), s: Session = DB):
    return PlanOut.model_validate(services.update_plan(s, actor, plan_id, data))


@router.delete("/plans/{plan_id}", status_code=204, summary="Delete a draft plan")
def delete_plan(plan_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_plan(s, actor, plan_id)
    return Response(status_code=204)


@router.post("/plans/{plan_id}/transition", response_model=PlanOut,
             summary="Move through draft → in_review → approved → active → closed")
def transition(plan_id: int, data: TransitionIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return PlanOut.model_validate(services.transition(s, actor, plan_id, data))


@router.put("/plans/{plan_id}/checklist", response_model=PlanOut,
            summary="Score the public-communication principles (the reviewer: approver role)")
def checklist(plan_id: int, data: ChecklistIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return PlanOut.model_validate(services.score_checklist(s, actor, plan_id, data))


@router.post("/plans/{plan_id}/approval", response_model=PlanOut,
             summary="Approve (or send back) one key message or FAQ answer (approver role)")
def approval(plan_id: int, data: ApprovalIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return PlanOut.model_validate(services.set_approval(s, actor, plan_id, data))


@router.post("/plans/{plan_id}/crisis", response_model=PlanOut,
             summary="Turn crisis mode on/off or change the CERC phase (audited; notifies the network)")
def crisis(plan_id: int, data: CrisisIn, request: Request, actor: Actor = Depends(api_actor),
           s: Session = DB):
    return PlanOut.model_validate(services.set_crisis(s, actor, settings(request), plan_id, data))


@router.post("/plans/{plan_id}/copy", response_model=PlanOut, status_code=201,
             summary="Copy the plan to a unit below, as a draft to adapt")
def copy(plan_id: int, data: CopyIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return PlanOut.model_validate(services.copy_plan(s, actor, plan_id, data))


@router.get("/plans/{plan_id}/versions", response_model=list[VersionOut], summary="Version history (newest first)")
def versions(plan_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return [VersionOut.model_validate(v) for v in queries.versions(s, actor, plan_id)]


@router.get("/plans/{plan_id}/versions/{number}", summary="One saved version: the full snapshot")
def version(plan_id: int, number: int, actor: Actor = Depends(api_actor), s: Session = DB):
    v = queries.version(s, actor, plan_id, number)
    return {**VersionOut.model_validate(v).model_dump(mode="json"), "snapshot": v.snapshot}


@router.get("/plans/{plan_id}/diff", response_model=DiffOut, summary="What changed between two versions")
def diff(plan_id: int, from_: int = Query(..., alias="from", ge=1), to: int = Query(..., ge=1),
         actor: Actor = Depends(api_actor), s: Session = DB):
    changes, text = queries.diff(s, actor, plan_id, from_, to)
    return DiffOut(from_version=from_, to_version=to, changes=changes, text=text)


@router.get("/plans/{plan_id}/comments", response_model=list[CommentOut])
def list_comments(plan_id: int, section: str | None = Query(None, max_length=30), actor: Actor = Depends(api_actor),
                  s: Session = DB):
    return [CommentOut.model_validate(c) for c in queries.comments(s, actor, plan_id, section=section)]


@router.post("/plans/{plan_id}/comments", response_model=CommentOut, status_code=201)
def add_comment(plan_id: int, data: CommentIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return CommentOut.model_validate(services.add_comment(s, actor, plan_id, data))


@router.post("/plans/{plan_id}/comments/{comment_id}/resolve", response_model=CommentOut)
def resolve_comment(plan_id: int, comment_id: int, actor: Actor = Depends(api_actor),
                    s: Session = DB):
    return CommentOut.model_validate(services.resolve_comment(s, actor, plan_id, comment_id))


@router.get("/plans/{plan_id}/kpis", summary="KPIs against target over time (listening KPIs computed live)")
def kpis(plan_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> list[dict[str, Any]]:
    p = queries.plan(s, actor, plan_id)
    return queries.kpis_json(queries.kpis(s, actor, p))


@router.get("/plans/{plan_id}/insight", summary="Audience insight from listening: volume, sentiment, concerns")
def insight(plan_id: int, days: int = Query(30, ge=1, le=365), actor: Actor = Depends(api_actor),
            s: Session = DB) -> list[dict[str, Any]]:
    import dataclasses

    p = queries.plan(s, actor, plan_id)
    return [dataclasses.asdict(a) for a in queries.insight(s, actor, p, days=days)]


@router.get("/plans/{plan_id}/tactics.ics", response_class=Response, summary="The tactics as an iCalendar feed",
            responses={200: {"content": {"text/calendar": {}}}})
def tactics_ics(plan_id: int, request: Request, actor: Actor = Depends(api_actor), s: Session = DB):
    return ics_response(request, s, queries.plan(s, actor, plan_id))


@router.get("/plans/{plan_id}/export", response_class=Response, summary="DOCX, PDF or Markdown for the minister",
            responses={200: {"content": {v.split(";")[0]: {} for v in export.MEDIA_TYPES.values()}}})
def export_plan(plan_id: int, format: Literal["docx", "pdf", "md"] = "pdf",  # noqa: A002
                lang: Literal["vi", "th", "en"] | None = None, actor: Actor = Depends(api_actor),
                s: Session = DB):
    return export_response(s, actor, queries.plan(s, actor, plan_id), format, lang)
