"""/api/v1 publishing: channels (secrets never returned), approval workflows and decisions, the external reviewer
link, scheduling (schedule, cancel, retry), the calendar (JSON, iCal, CSV) and the failed/stuck dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from civicpulse.domain.content.schemas import PostOut, VariantOut
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.publishing import engine, platforms, queries, services
from civicpulse.domain.publishing.schemas import (
    ApprovalEventOut,
    AttemptOut,
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    CommentIn,
    CredentialsIn,
    ExternalDecisionIn,
    ExternalLinkIn,
    ExternalLinkOut,
    HealthOut,
    ResolveIn,
    ScheduleIn,
    WorkflowIn,
    WorkflowOut,
)
from civicpulse.web.api.common import ERRORS, PageOut, page_params
from civicpulse.web.api.content import post_out
from civicpulse.web.deps import DB, api_actor, client_ip, database, settings

router = APIRouter(responses=ERRORS, tags=["publishing"])


class CancelIn(BaseModel):
    reason: str = ""


class DashboardOut(BaseModel):
    failed: list[VariantOut]
    needs_check: list[VariantOut]
    stuck: list[VariantOut]
    unhealthy_channels: list[ChannelOut]
    counts: dict[str, int]


class ExternalViewOut(BaseModel):
    post: PostOut
    step_name: str | None
    can_decide: bool
    expires_at: dt.datetime


# ------------------------------------------------------------------ channels


@router.get("/channels/platforms", summary="Platforms a channel can publish to")
def list_platforms() -> list[dict[str, str]]:
    return [{"platform": p, "label": platforms.label(p)} for p in platforms.known_platforms()]


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(request: Request, unit_id: int | None = None, platform: str | None = None,
                  usable_for_unit: int | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    cfg = settings(request)
    return [queries.channel_out(c, cfg) for c in queries.channels(s, actor, unit_id=unit_id, platform=platform,
                                                                  usable_for_unit=usable_for_unit)]


@router.post("/channels", response_model=ChannelOut, status_code=201)
def create_channel(data: ChannelCreate, request: Request, actor: Actor = Depends(api_actor), s: Session = DB):
    cfg = settings(request)
    return queries.channel_out(services.create_channel(s, actor, cfg, data), cfg)


@router.get("/channels/{channel_id}", response_model=ChannelOut)
def get_channel(channel_id: int, request: Request, actor: Actor = Depends(api_actor), s: Session = DB):
    return queries.channel_out(queries.channel(s, actor, channel_id), settings(request))


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
def update_channel(channel_id: int, data: ChannelUpdate, request: Request, actor: Actor = Depends(api_actor),
                   s: Session = DB):
    return queries.channel_out(services.update_channel(s, actor, channel_id, data), settings(request))


@router.put("/channels/{channel_id}/credentials", response_model=ChannelOut,
            summary="Replace the channel's tokens (stored encrypted; never returned)")
def set_credentials(channel_id: int, data: CredentialsIn, request: Request, actor: Actor = Depends(api_actor),
                    s: Session = DB):
    cfg = settings(request)
    return queries.channel_out(services.set_credentials(s, actor, cfg, channel_id, data), cfg)


@router.delete("/channels/{channel_id}", status_code=204)
def delete_channel(channel_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> None:
    services.delete_channel(s, actor, channel_id)


@router.post("/channels/{channel_id}/check", response_model=HealthOut, summary="Check the channel's token now")
def check_channel(channel_id: int, request: Request, actor: Actor = Depends(api_actor), s: Session = DB):
    services.get_channel(s, actor, channel_id, "channel.manage")
    h = engine.check_channel(database(request), settings(request), channel_id)
    return HealthOut(channel_id=channel_id, ok=h.ok, message=h.message, checked_at=h.checked_at)


# ------------------------------------------------------------------ workflow and review


@router.get("/units/{unit_id}/approval-workflow", response_model=WorkflowOut)
def get_workflow(unit_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return WorkflowOut(**queries.workflow(s, actor, unit_id))


@router.put("/units/{unit_id}/approval-workflow", response_model=WorkflowOut)
def put_workflow(unit_id: int, data: WorkflowIn, actor: Actor = Depends(api_actor), s: Session = DB):
    services.set_workflow(s, actor, unit_id, data)
    return WorkflowOut(**queries.workflow(s, actor, unit_id))


@router.get("/reviews", response_model=list[PostOut], summary="Posts waiting for a step you may decide")
def review_queue(actor: Actor = Depends(api_actor), s: Session = DB):
    return [post_out(s, actor, p) for p in queries.review_queue(s, actor)]


@router.post("/posts/{post_id}/submit", response_model=PostOut, summary="Send the post for approval")
def submit(post_id: int, data: CommentIn | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    return post_out(s, actor, services.submit(s, actor, post_id, data.comment if data else ""))


@router.post("/posts/{post_id}/approve", response_model=PostOut, summary="Approve the current step")
def approve(post_id: int, data: CommentIn | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    services.approve(s, actor, post_id, data.comment if data else "")
    return post_out(s, Actor.system_actor("api"), queries.post(s, Actor.system_actor("api"), post_id))


@router.post("/posts/{post_id}/request-changes", response_model=PostOut)
def request_changes(post_id: int, data: CommentIn, actor: Actor = Depends(api_actor), s: Session = DB):
    services.request_changes(s, actor, post_id, data.comment)
    return post_out(s, Actor.system_actor("api"), queries.post(s, Actor.system_actor("api"), post_id))


@router.post("/posts/{post_id}/comments", response_model=ApprovalEventOut, status_code=201)
def add_comment(post_id: int, data: CommentIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return ApprovalEventOut.model_validate(services.comment(s, actor, post_id, data.comment))


@router.get("/posts/{post_id}/history", response_model=list[ApprovalEventOut],
            summary="The review history: submitted, approved, changes requested, comments")
def history(post_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return [ApprovalEventOut.model_validate(e) for e in queries.history(s, actor, post_id)]


@router.post("/posts/{post_id}/external-review-links", response_model=ExternalLinkOut, status_code=201,
             summary="A signed, expiring link for a reviewer without an account")
def external_link(post_id: int, data: ExternalLinkIn, request: Request, actor: Actor = Depends(api_actor),
                  s: Session = DB):
    cfg = settings(request)
    link, token = services.create_review_link(s, actor, cfg, post_id, data)
    return ExternalLinkOut(id=link.id, token=token, expires_at=link.expires_at,
                           url=f"{cfg.base_url.rstrip('/')}/review/{token}")


@router.get("/external-review/{token}", response_model=ExternalViewOut,
            summary="What the external reviewer sees (no account needed; the link is the key)")
def external_view(token: str, request: Request, s: Session = DB):
    view = services.external_review_view(s, settings(request), token)
    sys = Actor.system_actor("external review")
    return ExternalViewOut(post=post_out(s, sys, view.post), step_name=view.step_name, can_decide=view.can_decide,
                           expires_at=view.link.expires_at)


@router.post("/external-review/{token}", response_model=dict[str, Any],
             summary="The external reviewer approves, requests changes or comments (uses the link up)")
def external_decide(token: str, data: ExternalDecisionIn, request: Request, s: Session = DB) -> dict[str, Any]:
    post = services.external_review_decide(s, settings(request), token, data, ip=client_ip(request))
    return {"post_id": post.id, "review_status": post.review_status, "decision": data.decision}


# ------------------------------------------------------------------ scheduling


@router.post("/variants/{variant_id}/schedule", response_model=VariantOut, summary="Set or change the time")
def schedule(variant_id: int, data: ScheduleIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(services.schedule(s, actor, variant_id, data.scheduled_at))


@router.post("/variants/{variant_id}/unschedule", response_model=VariantOut)
def unschedule(variant_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(services.unschedule(s, actor, variant_id))


@router.post("/variants/{variant_id}/cancel", response_model=VariantOut)
def cancel(variant_id: int, data: CancelIn | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(services.cancel(s, actor, variant_id, data.reason if data else ""))


@router.post("/variants/{variant_id}/retry", response_model=VariantOut, summary="Try a failed post again now")
def retry(variant_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(services.retry(s, actor, variant_id))


@router.post("/variants/{variant_id}/resolve-check", response_model=VariantOut,
             summary="After 'needs a check': say whether the post is on the platform")
def resolve_check(variant_id: int, data: ResolveIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(services.resolve_check(s, actor, variant_id, data.found, data.url))


@router.get("/variants/{variant_id}/attempts", response_model=list[AttemptOut])
def attempts(variant_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return [AttemptOut.model_validate(a) for a in queries.attempts(s, actor, variant_id)]


@router.get("/variants", response_model=PageOut[VariantOut])
def list_variants(state: str | None = None, channel_id: int | None = None, unit_id: int | None = None,
                  needs_check: bool | None = None, paging: tuple[int, int] = Depends(page_params),
                  actor: Actor = Depends(api_actor), s: Session = DB):
    p = queries.variants(s, actor, state=state, channel_id=channel_id, unit_id=unit_id, needs_check=needs_check,
                         page=paging[0], per_page=paging[1])
    return PageOut[VariantOut](items=[VariantOut.model_validate(v) for v in p.items], total=p.total, page=p.page,
                               per_page=p.per_page)


def _period(start: dt.datetime | None, end: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    start = start or now - dt.timedelta(days=31)
    end = end or now + dt.timedelta(days=62)
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    return start, end


@router.get("/calendar", response_model=list[VariantOut], summary="Planned and published posts in a period")
def calendar(start: dt.datetime | None = None, end: dt.datetime | None = None, unit_id: int | None = None,
             channel_id: int | None = None, state: str | None = None, actor: Actor = Depends(api_actor),
             s: Session = DB):
    a, b = _period(start, end)
    return [VariantOut.model_validate(v) for v in queries.calendar(s, actor, a, b, unit_id=unit_id,
                                                                   channel_id=channel_id, state=state)]


@router.get("/calendar.ics", summary="The calendar as iCalendar (for audits and calendar apps)")
def calendar_ics(request: Request, start: dt.datetime | None = None, end: dt.datetime | None = None,
                 unit_id: int | None = None, channel_id: int | None = None, actor: Actor = Depends(api_actor),
                 s: Session = DB) -> Response:
    a, b = _period(start, end)
    rows = queries.calendar(s, actor, a, b, unit_id=unit_id, channel_id=channel_id)
    body = queries.calendar_ics(rows, host=request.url.hostname or "civicpulse", base_url=settings(request).base_url)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="publishing-calendar.ics"'})


@router.get("/calendar.csv", summary="The calendar as CSV (for audits)")
def calendar_csv(start: dt.datetime | None = None, end: dt.datetime | None = None, unit_id: int | None = None,
                 channel_id: int | None = None, actor: Actor = Depends(api_actor), s: Session = DB) -> Response:
    a, b = _period(start, end)
    body = queries.calendar_csv(queries.calendar(s, actor, a, b, unit_id=unit_id, channel_id=channel_id))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="publishing-calendar.csv"'})


@router.get("/publishing/dashboard", response_model=DashboardOut,
            summary="Failed posts, posts that need a check, stuck jobs and red channels")
def dashboard(request: Request, actor: Actor = Depends(api_actor), s: Session = DB):
    d = queries.dashboard(s, actor)
    cfg = settings(request)
    return DashboardOut(failed=[VariantOut.model_validate(v) for v in d.failed],
                        needs_check=[VariantOut.model_validate(v) for v in d.needs_check],
                        stuck=[VariantOut.model_validate(v) for v in d.stuck],
                        unhealthy_channels=[queries.channel_out(c, cfg) for c in d.unhealthy_channels],
                        counts=queries.state_counts(s, actor))
