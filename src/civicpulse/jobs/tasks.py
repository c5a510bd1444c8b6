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


def match_claims() -> dict[str, int]:
    """Compare newly analysed / embedded items with the claim registry (rumours and claims)."""
    from civicpulse.domain.alerts.claims.services import run_matching

    st = run_matching(get_database(get_settings()))
    return {"lexical": st.lexical, "semantic": st.semantic, "matches": st.matches}


def alerts_pass() -> dict[str, int]:
    """Emerging-issue detection, alert rules and due deliveries (bounded: see domain/alerts/services.run_pass)."""
    from civicpulse.domain.alerts.services import run_pass

    settings = get_settings()
    db = get_database(settings)
    with db.session() as s:
        res = run_pass(s, settings)
        return {"issues": len(res.issues), "alerts": len(res.alerts), "rules": res.rules_checked,
                "sent": res.deliveries.get("sent", 0)}


def campaigns_pass() -> dict[str, int]:
    """Score the own-account posts listening collected for running campaigns; remind late units (once a day)."""
    from civicpulse.domain.campaigns import services

    settings = get_settings()
    db = get_database(settings)
    with db.session() as s:
        out = services.score_collected(s)
    with db.session() as s:
        out["rescored"] = services.refresh_composed(s)
    with db.session() as s:
        out["reminders"] = services.send_reminders(s, settings)
    return out


@q.periodic_task(crontab(minute="*"), retries=0)
def every_minute() -> None:
    stats = poll_due_sources()
    if stats["sources"]:
        log.info("polled sources", **stats)
    done = enrich_new()
    if done["enriched"] or done["embedded"]:
        log.info("enriched items", **done)
    claims = match_claims()
    if claims["matches"]:
        log.info("matched claims", **claims)
    alerts = alerts_pass()
    if alerts["alerts"]:
        log.info("alerts evaluated", **alerts)
    campaigns = campaigns_pass()
    if campaigns["linked"] or campaigns["rescored"] or campaigns["reminders"]:
        log.info("campaign posts scored", **campaigns)


@q.task(retries=2, retry_delay=30)
def run_source_now(source_id: int) -> int:
    from civicpulse.domain.listening import services

    settings = get_settings()
    return services.run_source(get_database(settings), settings, source_id).inserted


# ------------------------------------------------------------------ publishing (content area)


def _publish_due() -> dict[str, int]:
    from civicpulse.domain.publishing.engine import dispatch_due

    settings = get_settings()
    stats = dispatch_due(get_database(settings), settings).as_dict()
    if stats["due"]:
        log.info("published due posts", **stats)
    return stats


@q.periodic_task(crontab(minute="*"), retries=0)
def publish_every_minute() -> None:
    """The dispatcher: publishes every variant that is due (its own task, so slow listening never delays it)."""
    _publish_due()


@q.task(retries=0)
def publish_now() -> dict[str, int]:
    """On demand (after "publish now" or a retry): the same dispatcher, without waiting for the next minute."""
    return _publish_due()


@q.periodic_task(crontab(minute="*/10"), retries=0)
def check_channel_tokens() -> None:
    """Token health: each channel is checked at most every 30 minutes; red channels warn their unit."""
    from civicpulse.domain.publishing.engine import check_due_channels

    settings = get_settings()
    n = check_due_channels(get_database(settings), settings)
    if n:
        log.info("checked channels", channels=n)
