"""/api/v1/claims: the rumour and claim registry, matching a text against it, and the items matched to a claim."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from civicpulse.domain.alerts.claims import queries, services
from civicpulse.domain.alerts.claims.models import Claim
from civicpulse.domain.alerts.claims.schemas import (
    ClaimCreate,
    ClaimMatchOut,
    ClaimOut,
    ClaimUpdate,
    MatchIn,
    MatchResult,
    Verdict,
)
from civicpulse.domain.org.permissions import Actor
from civicpulse.web.api.common import ERRORS, PageOut, page_params
from civicpulse.web.deps import DB, api_actor

router = APIRouter(responses=ERRORS, tags=["claims"])


def _out(s: Session, actor: Actor, c: Claim, counts: dict[int, int] | None = None) -> ClaimOut:
    out = ClaimOut.model_validate(c)
    out.match_count = (counts if counts is not None else queries.match_counts(s, actor, [c.id])).get(c.id, 0)
    return out


@router.get("/claims", response_model=PageOut[ClaimOut], summary="Claims of the units you can see")
def list_claims(
    status: Verdict | None = None,
    unit_id: int | None = None,
    q: str | None = Query(None, max_length=200),
    paging: tuple[int, int] = Depends(page_params),
    actor: Actor = Depends(api_actor),
    s: Session = DB,
):
    p = queries.claims(s, actor, status=status, unit_id=unit_id, q=q, page=paging[0], per_page=paging[1])
    counts = queries.match_counts(s, actor, [c.id for c in p.items])
    return PageOut[ClaimOut](items=[_out(s, actor, c, counts) for c in p.items], total=p.total, page=p.page,
                             per_page=p.per_page)


@router.post("/claims", response_model=ClaimOut, status_code=201,
             summary="Add a claim (recent items are matched against it at once)")
def create_claim(data: ClaimCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    return _out(s, actor, services.create_claim(s, actor, data))


@router.post("/claims/match", response_model=list[MatchResult],
             summary="Which known claims does this text repeat? Best first")
def match(data: MatchIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return queries.match_text(s, actor, data.text, lang=data.lang, limit=data.limit)


@router.post("/claims/from-item/{item_id}", response_model=ClaimOut, status_code=201,
             summary="Add a claim worded as a collected item (the item is attached as its first match)")
def from_item(item_id: int, unit_id: int | None = None, actor: Actor = Depends(api_actor), s: Session = DB):
    return _out(s, actor, services.claim_from_item(s, actor, item_id, unit_id))


@router.get("/claims/{claim_id}", response_model=ClaimOut)
def get_claim(claim_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return _out(s, actor, queries.claim(s, actor, claim_id))


@router.patch("/claims/{claim_id}", response_model=ClaimOut, summary="Change a claim (fields left out stay)")
def update_claim(claim_id: int, data: ClaimUpdate, actor: Actor = Depends(api_actor), s: Session = DB):
    return _out(s, actor, services.update_claim(s, actor, claim_id, data))


@router.delete("/claims/{claim_id}", status_code=204)
def delete_claim(claim_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    services.delete_claim(s, actor, claim_id)
    return Response(status_code=204)


@router.get("/claims/{claim_id}/matches", response_model=list[ClaimMatchOut],
            summary="Items found to repeat the claim (those you can open), newest first")
def claim_matches(claim_id: int, limit: int = Query(200, ge=1, le=1000), actor: Actor = Depends(api_actor),
                  s: Session = DB):
    return queries.matches(s, actor, claim_id, limit=limit)
