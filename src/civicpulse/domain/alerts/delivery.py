"""Routing and delivery of alerts.

* An alert goes to its unit and the unit's parent. Each gets an in-app notification at once (the header badge),
  with an email copy to the unit's contact address unless quiet hours, digest mode or the unit's minimum severity
  say otherwise. Critical alerts ignore quiet hours.
* Each enabled channel of those units (webhook, Telegram, LINE, email) gets a :class:`Delivery` row, unique per
  alert, channel and alert revision: re-evaluating the same event never sends twice; an escalation (a new
  revision) sends once more.
* :func:`send_due` (every minute) sends what is due. A channel that is down is retried with backoff
  (30 s, 2 min, 10 min, 30 min, 1 h); after the last attempt the delivery is marked failed and the unit is told
  in-app. The alert itself stays visible in-app whatever happens to its deliveries.
* Quiet hours hold deliveries until the quiet period ends; digest mode collects them and sends one message per
  channel every ``digest_minutes``.

Webhooks are signed: ``X-Civicpulse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the
channel's signing key>`` and ``X-Civicpulse-Timestamp``; ``X-Civicpulse-Delivery`` is stable across retries so
receivers can drop duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib
import json
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.domain.alerts.models import Alert, AlertChannel, AlertEvent, AlertSettings, Delivery
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.notifications import notify

log = structlog.get_logger("civicpulse.alerts.delivery")

BACKOFF_SECONDS = (30, 120, 600, 1800, 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class DeliveryError(Exception):
    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def unit_settings(session: Session, unit_id: int) -> AlertSettings:
    st = session.get(AlertSettings, unit_id)
    if st is None:
        st = AlertSettings(unit_id=unit_id, quiet_start=None, quiet_end=None, digest=False, digest_minutes=60,
                           min_severity="low")
    return st


def _zone(unit: Unit) -> ZoneInfo:
    try:
        return ZoneInfo(unit.timezone or "Asia/Bangkok")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def quiet_until(st: AlertSettings, unit: Unit, now: dt.datetime) -> dt.datetime | None:
    """The end of the quiet period ``now`` falls in (UTC), or None outside quiet hours."""
    if st.quiet_start is None or st.quiet_end is None or st.quiet_start == st.quiet_end:
        return None
    local = now.astimezone(_zone(unit))
    h, a, b = local.hour, st.quiet_start, st.quiet_end
    inside = a <= h < b if a < b else (h >= a or h < b)
    if not inside:
        return None
    end = local.replace(hour=b, minute=0, second=0, microsecond=0)
    if end <= local:
        end += dt.timedelta(days=1)
    return end.astimezone(dt.UTC)


def message(settings: Settings | None, alert: Alert, unit: Unit) -> dict[str, Any]:
    base = settings.base_url.rstrip("/") if settings else ""
    return {"id": alert.id, "kind": alert.kind, "severity": alert.severity, "status": alert.status,
            "unit": unit.code, "label": alert.label, "summary": alert.summary, "revision": alert.revision,
            "item_ids": list(alert.item_ids or [])[:20], "url": f"{base}/alerts/{alert.id}",
            "first_at": alert.first_at.isoformat(), "last_at": alert.last_at.isoformat()}


def text_of(msg: dict[str, Any]) -> str:
    return f"[{msg['severity'].upper()}] {msg['label']}\n{msg['summary']}\n{msg['url']}"


def _exists(session: Session, alert: Alert, target: str) -> bool:
    return session.scalar(select(Delivery.id).where(Delivery.alert_id == alert.id, Delivery.target == target,
                                                    Delivery.revision == alert.revision)) is not None


def dispatch(session: Session, settings: Settings | None, alert: Alert, now: dt.datetime) -> list[Delivery]:
    """Record (and for in-app, make) the deliveries of the alert's current revision."""
    unit = alert.unit
    targets = [unit] + ([unit.parent] if unit.parent is not None else [])
    out: list[Delivery] = []
    for u in targets:
        st = unit_settings(session, u.id)
        below = SEVERITY_RANK[alert.severity] < SEVERITY_RANK.get(st.min_severity, 0)
        quiet = None if alert.severity == "critical" else quiet_until(st, u, now)
        target = f"inapp:{u.id}"
        if not _exists(session, alert, target):
            prefix = "" if u.id == unit.id else f"{unit.name(u.default_language)}: "
            notify(session, settings, units=[u], kind="alert",
                   title=f"[{alert.severity}] {prefix}{alert.label}", body=alert.summary, link=f"/alerts/{alert.id}",
                   email=not (below or quiet or st.digest), object_type="alert", object_id=alert.id)
            d = Delivery(alert_id=alert.id, target=target, revision=alert.revision, status="sent", attempts=1,
                         sent_at=now)
            session.add(d)
            out.append(d)
        if below:
            continue
        for ch in session.scalars(select(AlertChannel).where(AlertChannel.unit_id == u.id,
                                                             AlertChannel.enabled.is_(True))):
            target = f"channel:{ch.id}"
            if _exists(session, alert, target):
                continue
            status = "held" if quiet else "digest" if st.digest else "pending"
            d = Delivery(alert_id=alert.id, channel_id=ch.id, target=target, revision=alert.revision, status=status,
                         next_attempt_at=quiet or now)
            session.add(d)
            out.append(d)
    session.flush()
    return out


# ------------------------------------------------------------------ sending


def _secrets(settings: Settings, ch: AlertChannel) -> dict[str, Any]:
    return crypto.decrypt(settings, ch.secrets) if ch.secrets else {}


def send_webhook(settings: Settings, ch: AlertChannel, payload: dict[str, Any], delivery_id: str,
                 now: dt.datetime) -> None:
    from civicpulse.connectors.base import ConnectorError
    from civicpulse.connectors.http import HttpClient

    key = str(_secrets(settings, ch).get("signing_key") or "")
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    ts = str(int(now.timestamp()))
    sig = hmac.new(key.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Civicpulse-Event": "alert", "X-Civicpulse-Timestamp": ts,
               "X-Civicpulse-Signature": f"sha256={sig}", "X-Civicpulse-Delivery": delivery_id}
    try:
        with HttpClient(allow_private=settings.allow_private_fetch, deadline=15.0) as http:
            resp = http.request("POST", str(ch.config["url"]), headers=headers, data=body, label="The webhook")
    except ConnectorError as exc:
        raise DeliveryError(exc.message, transient=exc.kind != "permanent") from exc
    if 200 <= resp.status < 300:
        return
    transient = resp.status >= 500 or resp.status in (408, 429)
    raise DeliveryError(f"The webhook answered HTTP {resp.status}", transient=transient)


def _publisher(kind: str, config: dict[str, Any]) -> Any:
    from civicpulse.connectors.base import Connector

    mod = importlib.import_module(f"civicpulse.connectors.{kind}")
    for obj in vars(mod).values():
        if isinstance(obj, type) and issubclass(obj, Connector) and getattr(obj, "platform", None) == kind:
            return obj(config)
    raise DeliveryError(f"No {kind} connector is installed", transient=False)


def send_connector(settings: Settings, ch: AlertChannel, payload: dict[str, Any], key: str) -> None:
    """Telegram and LINE through the publishing connectors (``publish(PublishRequest(...))``)."""
    from civicpulse.connectors.base import ConnectorError, PublishRequest

    config = {**(ch.config or {}), **_secrets(settings, ch)}
    if ch.kind == "line":
        config.setdefault("mode", "push")
    if settings.allow_private_fetch:
        config.setdefault("allow_private", True)
    try:
        conn = _publisher(ch.kind, config)
        conn.publish(PublishRequest(idempotency_key=key, text=text_of(payload), link=payload["url"]))
    except ConnectorError as exc:
        raise DeliveryError(exc.message, transient=exc.kind in ("transient", "rate_limited")) from exc
    except ValueError as exc:
        raise DeliveryError(str(exc), transient=False) from exc


def send_email(settings: Settings, ch: AlertChannel, payload: dict[str, Any]) -> None:
    from civicpulse.mail import MailError, send_mail

    try:
        send_mail(settings, str(ch.config["to"]), f"[civicpulse] {payload['label']}"[:200], text_of(payload))
    except MailError as exc:
        raise DeliveryError(str(exc)) from exc


def send(settings: Settings, ch: AlertChannel, payload: dict[str, Any], key: str, now: dt.datetime) -> None:
    if ch.kind == "webhook":
        send_webhook(settings, ch, payload, key, now)
    elif ch.kind in ("telegram", "line"):
        send_connector(settings, ch, payload, key)
    elif ch.kind == "email":
        send_email(settings, ch, payload)
    else:  # pragma: no cover - kinds are validated on input
        raise DeliveryError(f"Unknown channel kind {ch.kind}", transient=False)


def send_test(settings: Settings, ch: AlertChannel) -> str | None:
    now = dt.datetime.now(dt.UTC)
    payload = {"id": 0, "kind": "test", "severity": "low", "status": "new", "unit": ch.unit.code,
               "label": "Test message from civicpulse", "summary": "This channel receives civicpulse alerts.",
               "revision": 0, "item_ids": [], "url": settings.base_url.rstrip("/") + "/alerts",
               "first_at": now.isoformat(), "last_at": now.isoformat()}
    try:
        send(settings, ch, payload, f"test-{ch.id}-{int(now.timestamp())}", now)
    except DeliveryError as exc:
        return exc.message
    return None


def _failed(session: Session, settings: Settings, d: Delivery, alert: Alert, ch: AlertChannel, err: str,
            transient: bool, now: dt.datetime) -> None:
    d.attempts += 1
    d.last_error = err[:1000]
    ch.last_status, ch.last_error = "failed", err[:1000]
    if transient and d.attempts < MAX_ATTEMPTS:
        d.status = "retrying"
        d.next_attempt_at = now + dt.timedelta(seconds=BACKOFF_SECONDS[min(d.attempts - 1, len(BACKOFF_SECONDS) - 1)])
        return
    d.status, d.next_attempt_at = "failed", None
    session.add(AlertEvent(alert_id=alert.id, actor_label="alerts", action="delivery_failed",
                           note=f"{ch.name}: {err}"[:2000]))
    notify(session, settings, units=[ch.unit], kind="alert_delivery_failed",
           title=f"Alert #{alert.id} could not be sent to '{ch.name}'", body=err, link=f"/alerts/{alert.id}",
           email=False, object_type="alert", object_id=alert.id)


def send_due(session: Session, settings: Settings | None, *, now: dt.datetime | None = None,
             limit: int = 200) -> dict[str, int]:
    """Send the deliveries that are due, release quiet-hour holds, flush digests. Bounded by ``limit``."""
    now = now or dt.datetime.now(dt.UTC)
    out = {"sent": 0, "retrying": 0, "failed": 0, "digests": 0}
    if settings is None:
        return out
    for d in session.scalars(select(Delivery).where(Delivery.status == "held", Delivery.next_attempt_at <= now)
                             .limit(limit)):
        ch = session.get(AlertChannel, d.channel_id) if d.channel_id else None
        d.status = "digest" if ch is not None and unit_settings(session, ch.unit_id).digest else "pending"
    due = list(session.scalars(select(Delivery).where(Delivery.status.in_(("pending", "retrying")),
                                                      Delivery.next_attempt_at <= now)
                               .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)))
    for d in due:
        alert = session.get(Alert, d.alert_id)
        ch = session.get(AlertChannel, d.channel_id) if d.channel_id else None
        if alert is None or ch is None or not ch.enabled:
            d.status, d.last_error = "failed", "The channel was removed or switched off"
            out["failed"] += 1
            continue
        payload = message(settings, alert, alert.unit)
        try:
            send(settings, ch, payload, f"alert-{alert.id}-r{d.revision}-{d.target}", now)
        except DeliveryError as exc:
            _failed(session, settings, d, alert, ch, exc.message, exc.transient, now)
            out["retrying" if d.status == "retrying" else "failed"] += 1
            log.warning("alert delivery failed", delivery_id=d.id, channel=ch.name, error=exc.message,
                        attempts=d.attempts)
            continue
        d.status, d.sent_at, d.attempts, d.next_attempt_at = "sent", now, d.attempts + 1, None
        ch.last_status, ch.last_error = "sent", None
        out["sent"] += 1
    out["digests"] = flush_digests(session, settings, now)
    session.flush()
    return out


def flush_digests(session: Session, settings: Settings, now: dt.datetime) -> int:
    waiting = list(session.scalars(select(Delivery).where(Delivery.status == "digest", Delivery.channel_id.is_not(None))
                                   .order_by(Delivery.id).limit(1000)))
    by_channel: dict[int, list[Delivery]] = defaultdict(list)
    for d in waiting:
        by_channel[int(d.channel_id)].append(d)  # type: ignore[arg-type]
    sent = 0
    flushed_units: set[int] = set()
    for cid, ds in by_channel.items():
        ch = session.get(AlertChannel, cid)
        if ch is None:
            continue
        st = unit_settings(session, ch.unit_id)
        last = st.last_digest_at
        if last is not None and last.astimezone(dt.UTC) + dt.timedelta(minutes=st.digest_minutes) > now:
            continue
        if quiet_until(st, ch.unit, now) is not None:
            continue
        alerts = [a for a in (session.get(Alert, d.alert_id) for d in ds) if a is not None]
        lines = [text_of(message(settings, a, a.unit)) for a in alerts]
        payload = {"id": 0, "kind": "digest", "severity": max((a.severity for a in alerts),
                                                               key=lambda s: SEVERITY_RANK[s], default="low"),
                   "status": "new", "unit": ch.unit.code, "label": f"{len(alerts)} alert(s)",
                   "summary": "\n\n".join(lines), "revision": 0, "item_ids": [],
                   "url": settings.base_url.rstrip("/") + "/alerts", "alerts": [a.id for a in alerts],
                   "first_at": now.isoformat(), "last_at": now.isoformat()}
        try:
            send(settings, ch, payload, f"digest-{ch.id}-{ds[0].id}-{ds[-1].id}", now)
        except DeliveryError as exc:
            for d in ds:
                d.attempts += 1
                d.last_error = exc.message[:1000]
            ch.last_status, ch.last_error = "failed", exc.message[:1000]
            continue
        for d in ds:
            d.status, d.sent_at, d.attempts = "sent", now, d.attempts + 1
        ch.last_status, ch.last_error = "sent", None
        flushed_units.add(ch.unit_id)
        sent += 1
    for uid in flushed_units:
        row = session.get(AlertSettings, uid)
        if row is not None:
            row.last_digest_at = now
    return sent
