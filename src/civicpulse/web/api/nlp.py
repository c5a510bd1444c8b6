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


class TrainingRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    task: str
    status: str = Field(description="queued | running | done | failed | cancelled; `interrupted` is true when a queued or "
                                    "running run stopped reporting (the server was restarted)")
    interrupted: bool = False
    stage: str = Field(description="the step under way, as the training reports it")
    fraction: float = Field(description="how far that step is, 0 to 1")
    corrections: int
    requested_label: str
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    base_version: str | None = Field(description="the version in use when the retraining was asked for")
    new_version: str | None
    activated: bool
    result: dict[str, Any] | None = Field(
        description="selection score and per-set micro/macro-F1 of the new version and of the version in use, on the "
                    "same validation data")
    error: str | None
    cancel_requested_at: dt.datetime | None = Field(
        default=None, description="when an administrator cancelled it; a running retraining stops at its next progress "
                                  "report")
    cancelled_by_label: str | None = None


def _run_out(run: Any) -> TrainingRunOut:
    out = TrainingRunOut.model_validate(run)
    out.interrupted = run.is_stale()
    return out


@router.post("/nlp/models/{task}/training", response_model=TrainingRunOut, status_code=202,
             summary="Retrain a model with the analysts' corrections, in the background (an administrator of the head "
                     "office); poll GET /nlp/training/{run_id} for its progress")
def start_training(task: str, request: Request, actor: Actor = Depends(api_actor), s: Session = DB) -> TrainingRunOut:
    return _run_out(queue_training(request, s, actor, task))


def queue_training(request: Request, s: Session, actor: Actor, task: str) -> Any:
    """The retraining asked for (``services.request_training``), committed, then started on a job thread of
    this web process (the API's and the Models page's Retrain)."""
    from civicpulse.web.deps import database

    cfg = settings(request)
    run = services.request_training(s, actor, cfg, task)
    s.commit()  # before the job starts: it claims the run from the database
    request.app.state.jobs.submit(f"training-{run.id}", services.run_training, database(request), cfg, run.id)
    return run


@router.get("/nlp/training", response_model=list[TrainingRunOut], summary="The latest retraining runs, newest first")
def training_runs(actor: Actor = Depends(api_actor), s: Session = DB) -> list[TrainingRunOut]:
    from civicpulse.domain.listening import queries

    return [_run_out(r) for r in queries.training_runs(s, limit=20)]


@router.post("/nlp/training/{run_id}/cancel", response_model=TrainingRunOut,
             summary="Cancel a retraining under way (an administrator of the head office): a queued one ends at once, "
                     "a running one stops at its next progress report; nothing is written or activated")
def cancel_training(run_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> TrainingRunOut:
    return _run_out(services.cancel_training(s, actor, run_id))


@router.get("/nlp/training/{run_id}", response_model=TrainingRunOut, summary="One retraining run and its progress")
def training_run(run_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> TrainingRunOut:
    from civicpulse.domain.listening import queries

    return _run_out(queries.training_run(s, run_id))
