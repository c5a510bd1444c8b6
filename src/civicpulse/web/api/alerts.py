"""/api/v1/alerts, /api/v1/issues, /api/v1/alert-rules, /api/v1/alert-channels, /api/v1/alert-settings."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from civicpulse.domain.alerts import queries, services
from civicpulse.domain.alerts.schemas import (
    AlertOut,
    AlertStatus,
    AlertSummary,
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    DeliveryOut,
    EventOut,
    IssueMerge,
    IssueOut,
    IssueRename,
    IssueSplit,
    IssueSummary,
    RuleCreate,
    RuleOut,
    RuleUpdate,
    SettingsIn,
    SettingsOut,
    TransitionIn,
)
from civicpulse.domain.org.permissions import Actor
from civicpulse.web.api.common import ERRORS, PageOut, page_params
from civicpulse.web.deps import DB, api_actor, settings

router = APIRouter(responses=ERRORS, tags=["alerts"])


def alert_out(s: Session, a) -> AlertOut:  # type: ignore[no-untyped-def]
    out = AlertOut.model_validate(a)
    out.events = [EventOut.model_validate(e) for e in queries.events(s, a)]
    out.deliveries = [DeliveryOut.model_validate(d) for d in queries.deliveries(s, a)]
    return out


def channel_out(ch) -> ChannelOut:  # type: ignore[no-untyped-def]
    out = ChannelOut.model_validate(ch)
    out.has_secret = bool(ch.secrets)
    return out


@router.get("/alerts", response_model=PageOut[AlertSummary], summary="Alerts of the units you can see, newest first")
def list_alerts(unit_id: int | None = None, status: AlertStatus | None = None, open_only: bool = False,
                kind: str | None = Query(None, max_length=20), severity: str | None = Query(None, max_length=10),
                paging: tuple[int, int] = Depends(page_params), actor: Actor = Depends(api_actor), s: Session = DB):
    p = queries.alerts(s, actor, unit_id=unit_id, status=status, open_only=open_only, kind=kind, severity=severity,
                       page=paging[0], per_page=paging[1])
    return PageOut[AlertSummary](items=[AlertSummary.model_validate(a) for a in p.items], total=p.total,
                                 page=p.page, per_page=p.per_page)


@router.get("/alerts/{alert_id}", response_model=AlertOut, summary="One alert with its evidence and history")
def get_alert(alert_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return alert_out(s, queries.alert(s, actor, alert_id))


@router.post("/alerts/{alert_id}/transition", response_model=AlertOut,
             summary="new → acknowledged → in_progress → resolved / false_alarm (analyst)")
def transition(alert_id: int, data: TransitionIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return alert_out(s, services.transition(s, actor, alert_id, data))


@router.get("/issues", response_model=list[IssueSummary], summary="Emerging issues, ranked by growth and negativity")
def list_issues(unit_id: int | None = None, hours: int = Query(24, ge=1, le=720), limit: int = Query(50, ge=1, le=500),
                actor: Actor = Depends(api_actor), s: Session = DB):
    return [IssueSummary.model_validate(i) for i in queries.issues(s, actor, unit_id=unit_id, hours=hours,
                                                                    limit=limit)]


def issue_out(s: Session, actor: Actor, i) -> IssueOut:  # type: ignore[no-untyped-def]
    out = IssueOut.model_validate(i)
    out.item_ids = queries.issue_item_ids(s, actor, i)
    return out


@router.get("/issues/{issue_id}", response_model=IssueOut)
def get_issue(issue_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return issue_out(s, actor, queries.issue(s, actor, issue_id))


@router.post("/issues/{issue_id}/rename", response_model=IssueOut, summary="Rename an issue (analyst)")
def rename_issue(issue_id: int, data: IssueRename, actor: Actor = Depends(api_actor), s: Session = DB):
    return issue_out(s, actor, services.rename_issue(s, actor, issue_id, data))


@router.post("/issues/{issue_id}/merge", response_model=IssueOut, summary="Merge other issues into this one")
def merge_issues(issue_id: int, data: IssueMerge, actor: Actor = Depends(api_actor), s: Session = DB):
    return issue_out(s, actor, services.merge_issues(s, actor, issue_id, data))


@router.post("/issues/{issue_id}/split", response_model=IssueOut, status_code=201,
             summary="Move some items of an issue into a new issue")
def split_issue(issue_id: int, data: IssueSplit, actor: Actor = Depends(api_actor), s: Session = DB):
    return issue_out(s, actor, services.split_issue(s, actor, issue_id, data))


@router.get("/alert-rules", response_model=list[RuleOut])
def list_rules(unit_id: int | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    return [RuleOut.model_validate(r) for r in queries.rules(s, actor, unit_id=unit_id)]


@router.post("/alert-rules", response_model=RuleOut, status_code=201, summary="Add a rule to a unit (admin)")
def create_rule(data: RuleCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    return RuleOut.model_validate(services.create_rule(s, actor, data))


@router.get("/alert-rules/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return RuleOut.model_validate(queries.rule(s, actor, rule_id))


@router.patch("/alert-rules/{rule_id}", response_model=RuleOut, summary="Tune, rename, switch on or off (admin)")
def update_rule(rule_id: int, data: RuleUpdate, actor: Actor = Depends(api_actor), s: Session = DB):
    return RuleOut.model_validate(services.update_rule(s, actor, rule_id, data))


@router.delete("/alert-rules/{rule_id}", status_code=204, summary="Delete a rule you added (admin)")
def delete_rule(rule_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_rule(s, actor, rule_id)
    return Response(status_code=204)


@router.get("/alert-settings/{unit_id}", response_model=SettingsOut, summary="Quiet hours and digest mode")
def get_settings(unit_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return SettingsOut.model_validate(queries.unit_settings(s, actor, unit_id))


@router.put("/alert-settings/{unit_id}", response_model=SettingsOut)
def put_settings(unit_id: int, data: SettingsIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return SettingsOut.model_validate(services.update_settings(s, actor, unit_id, data))


@router.get("/alert-channels", response_model=list[ChannelOut], summary="Notification channels (secrets never shown)")
def list_channels(unit_id: int | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    return [channel_out(c) for c in queries.channels(s, actor, unit_id=unit_id)]


@router.post("/alert-channels", response_model=ChannelOut, status_code=201)
def create_channel(request: Request, data: ChannelCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    return channel_out(services.create_channel(s, actor, settings(request), data))


@router.patch("/alert-channels/{channel_id}", response_model=ChannelOut)
def update_channel(request: Request, channel_id: int, data: ChannelUpdate, actor: Actor = Depends(api_actor),
                   s: Session = DB):
    return channel_out(services.update_channel(s, actor, settings(request), channel_id, data))


@router.delete("/alert-channels/{channel_id}", status_code=204)
def delete_channel(channel_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_channel(s, actor, channel_id)
    return Response(status_code=204)


@router.post("/alert-channels/{channel_id}/test", summary="Send a test message now")
def test_channel(request: Request, channel_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return {"status": services.test_channel(s, actor, settings(request), channel_id)}
