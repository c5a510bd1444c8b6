"""The bell in the header: unread count (live over server-sent events) and the notifications page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session

from civicpulse.domain.org import notifications
from civicpulse.domain.org.permissions import Actor
from civicpulse.web.deps import DB, WebContext
from civicpulse.web.ui.render import actor_of, render, safe_next, signed_in

router = APIRouter(include_in_schema=False)

#: seconds between two checks of the unread count on an open stream
STREAM_INTERVAL = 5.0


@router.get("/notifications", response_class=HTMLResponse)
def page(request: Request, unread: bool = False, ctx: WebContext = Depends(signed_in), s: Session = DB):
    actor = actor_of(ctx)
    rows = notifications.for_actor(s, actor, unread_only=unread, limit=100)
    return render(request, "notifications.html", rows=rows, unread_only=unread,
                  unread_count=notifications.unread_count(s, actor))


@router.get("/notifications/badge", response_class=HTMLResponse)
def badge(request: Request, ctx: WebContext = Depends(signed_in), s: Session = DB):
    return render(request, "_bell.html", unread_count=notifications.unread_count(s, actor_of(ctx)))


@router.post("/notifications/read")
def mark_read(request: Request, notification_id: int | None = Form(None), next: str = Form("/notifications"),
              ctx: WebContext = Depends(signed_in), s: Session = DB):
    notifications.mark_read(s, actor_of(ctx), None if notification_id is None else [notification_id])
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/notifications/stream")
async def stream(request: Request, max_events: int = Query(720, ge=1, le=5000),
                 ctx: WebContext = Depends(signed_in)) -> StreamingResponse:
    """``event: unread`` with the count, sent at once and then whenever it changes (SSE)."""
    actor = actor_of(ctx)
    db = request.app.state.db

    def count() -> int:
        with db.session() as s:
            return notifications.unread_count(s, actor)

    async def events(actor: Actor = actor) -> AsyncIterator[str]:
        last: int | None = None
        sent = 0
        yield "retry: 10000\n\n"
        while sent < max_events:
            n = await anyio.to_thread.run_sync(count)
            if n != last:
                last = n
                sent += 1
                yield f"event: unread\ndata: {n}\n\n"
            if sent >= max_events or await request.is_disconnected():
                break
            await asyncio.sleep(STREAM_INTERVAL)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
