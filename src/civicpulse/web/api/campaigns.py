"""/api/v1/campaigns: campaign kits, publishing them to the network, agency posts, alignment and compliance."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from pydantic import ValidationError
from sqlalchemy.orm import Session

from civicpulse.domain.campaigns import alignment, export, queries, services
from civicpulse.domain.campaigns.models import STATUSES
from civicpulse.domain.campaigns.schemas import (
    AlignmentOut,
    AssetLinkIn,
    AssetOut,
    CampaignCreate,
    CampaignOut,
    CampaignSummary,
    CampaignUpdate,
    OwnAccountIn,
    PostIn,
    PostOut,
    ScoreIn,
)
from civicpulse.domain.errors import ValidationFailed
from civicpulse.domain.org.permissions import Actor
from civicpulse.i18n import _
from civicpulse.web.api.common import ERRORS, PageOut, page_params
from civicpulse.web.deps import DB, api_actor, settings

router = APIRouter(responses=ERRORS, tags=["campaigns"])

Status = Literal["draft", "published", "closed"]
assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]


@router.get("/campaigns", response_model=PageOut[CampaignSummary],
            summary="Campaigns of your units and the kits sent to them")
def list_campaigns(status: Status | None = None, q: str | None = Query(None, max_length=200),
                   paging: tuple[int, int] = Depends(page_params), actor: Actor = Depends(api_actor),
                   s: Session = DB):
    p = queries.campaigns(s, actor, status=status, q=q, page=paging[0], per_page=paging[1])
    return PageOut[CampaignSummary](items=[CampaignSummary.model_validate(c) for c in p.items], total=p.total,
                                    page=p.page, per_page=p.per_page)


@router.post("/campaigns", response_model=CampaignOut, status_code=201, summary="Create a campaign kit (draft)")
def create_campaign(data: CampaignCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    return CampaignOut.model_validate(services.create_campaign(s, actor, data))


@router.get("/campaigns/tasks", summary="Published kits awaiting adaptation by your units")
def tasks(actor: Actor = Depends(api_actor), s: Session = DB) -> list[dict[str, Any]]:
    return [{"campaign_id": c.id, "title": c.title, "deadline": c.deadline.isoformat(), "unit_id": u.id,
             "unit": u.code} for c, u in queries.tasks(s, actor)]


@router.get("/campaigns/own-accounts", summary="Listening sources marked as their unit's own accounts")
def own_accounts(actor: Actor = Depends(api_actor), s: Session = DB) -> list[dict[str, Any]]:
    return [{"source_id": o.source_id, "unit_id": o.unit_id, "channel": o.channel}
            for o in queries.own_accounts(s, actor)]


@router.put("/campaigns/own-accounts/{source_id}", status_code=204,
            summary="Mark (own=true) or unmark a listening source as one of its unit's own accounts")
def set_own_account(source_id: int, data: OwnAccountIn, actor: Actor = Depends(api_actor), s: Session = DB):
    services.set_own_account(s, actor, source_id, data.own, data.channel)
    return Response(status_code=204)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return CampaignOut.model_validate(queries.campaign(s, actor, campaign_id))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut,
              summary="Change a campaign; send the version you edited (409 if someone saved in between)")
def update_campaign(campaign_id: int, data: CampaignUpdate, request: Request, actor: Actor = Depends(api_actor),
                    s: Session = DB):
    return CampaignOut.model_validate(services.update_campaign(s, actor, campaign_id, data, settings(request)))


@router.delete("/campaigns/{campaign_id}", status_code=204,
               summary="Delete a campaign (soft delete: its agency posts keep their history)")
def delete_campaign(campaign_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_campaign(s, actor, campaign_id)
    return Response(status_code=204)


@router.post("/campaigns/{campaign_id}/publish", response_model=CampaignOut,
             summary="Send the kit to the target units (in-app and email notifications)")
def publish(campaign_id: int, request: Request, actor: Actor = Depends(api_actor), s: Session = DB):
    return CampaignOut.model_validate(services.publish_campaign(s, actor, settings(request), campaign_id))


@router.post("/campaigns/{campaign_id}/close", response_model=CampaignOut)
def close(campaign_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return CampaignOut.model_validate(services.close_campaign(s, actor, campaign_id))


@router.post("/campaigns/{campaign_id}/score", response_model=AlignmentOut,
             summary="Alignment of a text with the campaign: score 0–1, level and reasons (nothing is stored)")
def score(campaign_id: int, data: ScoreIn, actor: Actor = Depends(api_actor), s: Session = DB):
    c = queries.campaign(s, actor, campaign_id)
    return AlignmentOut.model_validate(alignment.score_text(s, c, data.text, data.lang,
                                                            has_asset=data.has_asset).as_dict())


@router.get("/campaigns/{campaign_id}/posts", response_model=list[PostOut])
def list_posts(campaign_id: int, unit_id: int | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    return [PostOut.model_validate(p) for p in queries.posts(s, actor, campaign_id, unit_id=unit_id)]


@router.post("/campaigns/{campaign_id}/posts", response_model=PostOut, status_code=201,
             summary="Record an agency post carrying the campaign (scored on the way in)")
def add_post(campaign_id: int, data: PostIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return PostOut.model_validate(services.record_post(s, actor, campaign_id, data))


@router.post("/campaigns/{campaign_id}/adapt", response_model=PostOut, status_code=201,
             summary="Start your unit's version of a suggested post (a draft linked to the kit)")
def adapt(campaign_id: int, request: Request, unit_id: int = Query(...), suggestion_id: str | None = Query(
        None, max_length=40), actor: Actor = Depends(api_actor), s: Session = DB):
    return PostOut.model_validate(services.adapt(s, actor, campaign_id, unit_id, suggestion_id, settings(request)))


@router.get("/campaigns/{campaign_id}/compliance", summary="Who published, where, when, how aligned, reach")
def compliance(campaign_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> dict[str, Any]:
    return queries.compliance_json(queries.compliance(s, actor, campaign_id))


@router.get("/campaigns/{campaign_id}/export", response_class=Response,
            summary="The compliance table as XLSX or PDF for the weekly meeting",
            responses={200: {"content": {v: {} for v in export.MEDIA_TYPES.values()}}})
def export_compliance(campaign_id: int, format: Literal["xlsx", "pdf"] = "xlsx",  # noqa: A002
                      lang: Literal["vi", "th", "en"] = "en", actor: Actor = Depends(api_actor), s: Session = DB):
    content, media, name = export.export(queries.compliance(s, actor, campaign_id), format, lang)
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/campaigns/{campaign_id}/assets", response_model=AssetOut, status_code=201,
             summary="Attach a file (PNG, JPEG, GIF, WebP, PDF, MP4; up to 25 MB) or a link")
async def add_asset(campaign_id: int, request: Request, file: UploadFile | None = File(None),
                    name: str = Form("", max_length=300), url: str = Form("", max_length=2000),
                    actor: Actor = Depends(api_actor), s: Session = DB):
    if file is not None:
        content = await file.read(services.MAX_ASSET_BYTES + 1)
        return AssetOut.model_validate(services.add_asset_file(s, actor, settings(request), campaign_id,
                                                               name or file.filename or "asset", content))
    if not url:
        raise ValidationFailed(_("Send a file or a link"), details={"field": "file"})
    try:
        link = AssetLinkIn(name=name or url, url=url)
    except ValidationError as exc:
        raise services.validation_error(exc) from exc
    return AssetOut.model_validate(services.add_asset_link(s, actor, campaign_id, link))


@router.delete("/campaigns/{campaign_id}/assets/{asset_id}", status_code=204)
def remove_asset(campaign_id: int, asset_id: int, request: Request, actor: Actor = Depends(api_actor),
                 s: Session = DB):
    services.remove_asset(s, actor, settings(request), campaign_id, asset_id)
    return Response(status_code=204)
