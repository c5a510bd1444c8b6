"""/api/v1 for label corrections and model versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from civicpulse.domain.listening import services
from civicpulse.domain.org.permissions import Actor
from civicpulse.web.api.common import ERRORS
from civicpulse.web.deps import DB, api_actor, settings

router = APIRouter(responses=ERRORS, tags=["nlp"])


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="sentiment | voice | toxicity | lang")
    label: str


class CorrectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    task: str
    old_label: str | None
    label: str
    user_id: int | None
    at: dt.datetime


@router.post("/items/{item_id}/labels", response_model=CorrectionOut, summary="Correct a model's label on an item")
def correct(item_id: int, data: CorrectionIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return CorrectionOut.model_validate(services.correct_label(s, actor, item_id, data.task, data.label))


@router.get("/nlp/models", summary="Model versions per task, with their scores and which one is active")
def models(request: Request, actor: Actor = Depends(api_actor)) -> dict[str, list[dict[str, Any]]]:
    from civicpulse.domain.listening.enrich import model_dir
    from civicpulse.nlp.model import list_versions

    mdir = model_dir(settings(request))
    return {task: [{"version": v["version"], "active": v["active"], "origin": v["origin"],
                    "scores": v["card"].get("scores", {}), "created": v["card"].get("created"),
                    "compared_with": v["compared_with"]}
                   for v in list_versions(task, mdir)]
            for task in ("sentiment", "voice", "toxicity")}


class ActiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(max_length=40, description="a version that GET /nlp/models lists for the task")


class ActiveOut(BaseModel):
    task: str
    active: str
    previous: str | None


@router.put("/nlp/models/{task}/active", response_model=ActiveOut,
            summary="Make a model version the one in use (an administrator of the head office; rollback is the same call)")
def set_active(task: str, data: ActiveIn, request: Request, actor: Actor = Depends(api_actor),
               s: Session = DB) -> ActiveOut:
    was = services.use_model_version(s, actor, settings(request), task, data.version)
    return ActiveOut(task=task, active=data.version, previous=was)
