"""/api/v1/notifications: what the signed-in person (or token owner) has been told, and marking it read."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from civicpulse.domain.org import notifications
from civicpulse.domain.org.permissions import Actor
from civicpulse.web.api.common import ERRORS
from civicpulse.web.deps import DB, api_actor

router = APIRouter(responses=ERRORS, tags=["notifications"])


class NotificationOut(BaseModel):
    id: int
    unit_id: int
    personal: bool
    kind: str
    title: str
    body: str
    link: str | None
    object_type: str | None
    object_id: str | None
    created_at: dt.datetime
    email_status: str | None
    read: bool


class NotificationList(BaseModel):
    unread: int
    items: list[NotificationOut]


class MarkRead(BaseModel):
    ids: list[int] | None = Field(None, description="Notifications to mark read; omit to mark all read")


class MarkedRead(BaseModel):
    marked: int


@router.get("/notifications", response_model=NotificationList, summary="Your notifications, newest first")
def list_notifications(unread_only: bool = False, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
                       actor: Actor = Depends(api_actor), s: Session = DB):
    rows = notifications.for_actor(s, actor, unread_only=unread_only, limit=limit, offset=offset)
    return NotificationList(unread=notifications.unread_count(s, actor), items=[
        NotificationOut(id=n.id, unit_id=n.unit_id, personal=n.user_id is not None, kind=n.kind, title=n.title,
                        body=n.body, link=n.link, object_type=n.object_type, object_id=n.object_id,
                        created_at=n.created_at, email_status=n.email_status, read=read)
        for n, read in rows])


@router.post("/notifications/read", response_model=MarkedRead, summary="Mark notifications read")
def mark_read(data: MarkRead, actor: Actor = Depends(api_actor), s: Session = DB):
    return MarkedRead(marked=notifications.mark_read(s, actor, data.ids))
