"""Periodic and on-demand jobs. Each job does its work through the area services."""

from __future__ import annotations

import structlog
from huey import crontab

from civicpulse.config import get_settings
from civicpulse.db.session import get_database
from civicpulse.jobs.queue import huey

log = structlog.get_logger("civicpulse.jobs")
q = huey()


def poll_due_sources() -> dict[str, int]:
    """Fetch every source that is due; a failing source does not stop the others."""
    from civicpulse.connectors.base import ConnectorError
    from civicpulse.domain.listening import services

    settings = get_settings()
    db = get_database(settings)
    out = {"sources": 0, "inserted": 0, "failed": 0}
    for sid in services.due_sources(db):
        out["sources"] += 1
        try:
            out["inserted"] += services.run_source(db, settings, sid).inserted
        except ConnectorError as exc:
            out["failed"] += 1
            log.warning("source fetch failed", source_id=sid, kind=exc.kind, error=exc.message)
    return out


def enrich_new(limit: int = 20_000, embed_limit: int = 2_000) -> dict[str, int]:
    """The fast lane on everything pending, then a bounded slice of the embedding lane."""
    from civicpulse.domain.listening.enrich import embed_pending, enrich_pending

    settings = get_settings()
    db = get_database(settings)
    fast = enrich_pending(db, settings, limit=limit)
    slow = embed_pending(db, limit=embed_limit)
    return {"enriched": fast.done, "embedded": slow.done}


@q.periodic_task(crontab(minute="*"), retries=0)
def every_minute() -> None:
    stats = poll_due_sources()
    if stats["sources"]:
        log.info("polled sources", **stats)
    done = enrich_new()
    if done["enriched"] or done["embedded"]:
        log.info("enriched items", **done)


@q.task(retries=2, retry_delay=30)
def run_source_now(source_id: int) -> int:
    from civicpulse.domain.listening import services

    settings = get_settings()
    return services.run_source(get_database(settings), settings, source_id).inserted
