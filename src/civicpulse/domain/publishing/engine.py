"""The publishing engine: finds due variants, publishes them exactly once, retries, reconciles and reports.

How variants go out (each numbered step is one short transaction, so a crash anywhere loses nothing):

1. **Claim** (:func:`claim_batch`, up to ``batch`` variants per transaction). A guarded UPDATE moves each
   ``scheduled → publishing`` with a lease token, ``in_doubt`` set and ``attempts + 1``; only one worker can win a
   variant, whatever the number of processes (PostgreSQL picks the rows ``FOR UPDATE SKIP LOCKED``; SQLite's
   first UPDATE takes the write lock). The rate tokens of each channel are taken for the whole batch at once
   (:mod:`.ratelimit`); variants beyond a channel's budget go back in the queue for the time the bucket needs
   (queueing, not an error).
2. **Reconcile.** If the variant was already in doubt (a worker died while publishing it, its lease expired, or a
   timeout left the outcome unknown), the engine first asks the platform for the post made with the variant's
   idempotency key (``Connector.lookup``). Found → published, without posting again. A platform that ignores a
   repeat with the same key (``Connector.idempotent_retry``: LINE, Mastodon, the webhook) is simply sent the
   same request again. Any other platform gets "needs a check" instead of a second post.
3. **Publish**, then record the answers of the batch in one transaction: published (with the platform's id and
   address); transient error → back to ``scheduled`` with exponential backoff (up to ``max_attempts``);
   rate-limited → back in the queue after the platform's ``retry_after`` and the channel's buckets are emptied;
   auth or permanent error → ``failed`` at once with the platform's reason in plain words. The author, the
   approvers and the unit are notified of every failure. Tokens a connector renewed on the way
   (``credential_updates``: X, YouTube, Zalo) are stored, encrypted, in the same transaction as the outcome. A
   batch that takes longer than half the lease renews the leases of its claims (one transaction); a claim whose
   lease was lost meanwhile is not sent.

Every state change is written to the audit log; every call to a platform is a row of ``pub_attempts``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, joinedload

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.connectors.base import Connector, ConnectorError, Health, MediaRef, Published, PublishRequest
from civicpulse.crypto import SecretError
from civicpulse.db.base import utcnow
from civicpulse.db.session import Database
from civicpulse.domain.content.models import MediaAsset
from civicpulse.domain.org import audit
from civicpulse.domain.org.models import User
from civicpulse.domain.publishing import platforms, ratelimit
from civicpulse.domain.publishing.models import ApprovalEvent, Channel, PublishAttempt, Variant
from civicpulse.domain.publishing.services import ENGINE, move, record_health

log = structlog.get_logger("civicpulse.publishing")


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    lease_seconds: float = 300.0  # longer than any connector's request timeout
    max_attempts: int = 6  # transient failures before the variant fails
    backoff_base: float = 30.0  # seconds; doubled after each transient failure
    backoff_cap: float = 1800.0
    batch: int = 200
    max_seconds: float = 50.0  # one dispatch run stops after this (the next minute's run continues)
    threads: int = 1


@dataclasses.dataclass
class Claim:
    variant_id: int
    token: str
    attempt: int
    in_doubt: bool
    channel_id: int
    platform: str
    request: PublishRequest
    channel: Channel | None = None  # as read by the claim (detached), to build the connector without a query
    note: str = ""  # e.g. why a reply goes out as a new post
    claimed_at: float = dataclasses.field(default_factory=time.monotonic)
    credentials: dict[str, Any] = dataclasses.field(default_factory=dict)  # renewed by the connector, to store


def _channel_scope(channel_id: int) -> str:
    return f"channel:{channel_id}"


def _reply_target(session: Session, v: Variant, ch: Channel) -> tuple[str | None, str]:
    """The platform id of the listening item a variant answers (``options["reply_to_item"]``), when the item is on
    the channel's platform; otherwise why the variant goes out as a new post."""
    item_id = (v.options or {}).get("reply_to_item")
    if not item_id:
        return None, ""
    from civicpulse.domain.listening.models import Item, Source

    try:
        row = session.execute(select(Item.external_id, Source.platform).join(Source, Source.id == Item.source_id)
                              .where(Item.id == int(item_id))).first()
    except (TypeError, ValueError):
        row = None
    if row is None:
        return None, "the item this post answers is no longer in civicpulse; published as a new post"
    external_id, source_platform = row
    if source_platform != ch.platform:
        return None, (f"the item this post answers is on {platforms.label(source_platform)}, not on "
                      f"{platforms.label(ch.platform)}; published as a new post")
    return str(external_id), ""


def _request(session: Session, settings: Settings, v: Variant, ch: Channel | None = None) -> tuple[PublishRequest, str]:
    media = []
    for mid in v.media_ids or []:
        m = session.get(MediaAsset, mid)
        if m is not None:
            media.append(MediaRef(path=str(settings.data_dir / "media" / m.stored_name), mime=m.mime, size=m.size,
                                  alt_text=m.alt_text, width=m.width, height=m.height))
    reply_to, note = _reply_target(session, v, ch or v.channel)
    return PublishRequest(idempotency_key=v.idempotency_key, text=v.text, title=v.title, link=v.link, media=media,
                          language=v.language, reply_to=reply_to, options=dict(v.options or {})), note


def due_ids(db: Database, now: dt.datetime | None = None, limit: int = 200) -> list[int]:
    now = now or utcnow()
    with db.session() as s:
        return list(s.scalars(select(Variant.id).where(
            Variant.state.in_(("scheduled", "publishing")), Variant.next_attempt_at <= now)
            .order_by(Variant.next_attempt_at, Variant.id).limit(limit)))


_DOUBTFUL = and_(Variant.state.in_(("scheduled", "publishing")),
                 or_(Variant.state == "publishing", Variant.in_doubt.is_(True)))
_FRESH = and_(Variant.state == "scheduled", Variant.in_doubt.is_(False))


def _claim_values(token: str, now: dt.datetime, opts: EngineOptions) -> dict[str, Any]:
    return {"state": "publishing", "lease_token": token, "lease_until": now + dt.timedelta(seconds=opts.lease_seconds),
            "next_attempt_at": now + dt.timedelta(seconds=opts.lease_seconds), "attempts": Variant.attempts + 1,
            "in_doubt": True}


def _claimed(s: Session, settings: Settings, v: Variant, token: str, in_doubt: bool, now: dt.datetime) -> Claim:
    ch = v.channel
    audit.record(s, ENGINE, "variant.publishing", unit_id=v.unit_id, unit_path=v.unit_path, object_type="variant",
                 object_id=v.id, after={"state": "publishing", "attempt": v.attempts, "reconcile": in_doubt,
                                     "claimed_at": now})
    request, note = _request(s, settings, v, ch)
    return Claim(variant_id=v.id, token=token, attempt=v.attempts, in_doubt=in_doubt, channel_id=ch.id,
                 platform=ch.platform, request=request, channel=ch, note=note)


def claim(db: Database, settings: Settings, variant_id: int, opts: EngineOptions,
          now: dt.datetime | None = None) -> Claim | str:
    """Step 1 for one variant. Returns the claim, or why there is nothing to do ("skipped", "queued")."""
    now = now or utcnow()
    token = uuid.uuid4().hex
    due = and_(Variant.id == variant_id, Variant.next_attempt_at <= now)
    values = _claim_values(token, now, opts)
    with db.session() as s:
        # a write first: on SQLite it takes the write lock before anything is read
        fresh = s.execute(update(Variant).where(due, _FRESH)
                          .values(**values).execution_options(synchronize_session=False)).rowcount == 1  # type: ignore[attr-defined]
        in_doubt = False
        if not fresh:
            in_doubt = s.execute(update(Variant).where(due, _DOUBTFUL).values(**values)
                                 .execution_options(synchronize_session=False)).rowcount == 1  # type: ignore[attr-defined]
            if not in_doubt:
                return "skipped"
        v = s.get(Variant, variant_id)  # not loaded before in this session: the values just written
        assert v is not None
        ch = v.channel
        if fresh:
            wait = ratelimit.take(s, _channel_scope(ch.id), platforms.rate_limits(ch.platform, ch.config), now)
            if wait > 0:
                s.rollback()
                s.execute(update(Variant).where(Variant.id == variant_id, _FRESH)
                          .values(next_attempt_at=now + dt.timedelta(seconds=wait)))
                return "queued"
        return _claimed(s, settings, v, token, in_doubt, now)


def claim_batch(db: Database, settings: Settings, opts: EngineOptions, now: dt.datetime | None = None,
                limit: int | None = None) -> tuple[list[Claim], int]:
    """Step 1 for up to ``limit`` due variants in one transaction. Returns the claims and how many due variants
    were put back in the queue for their channel's rate limit.

    Each variant is taken by a guarded UPDATE (state, in-doubt flag and due time in its WHERE), so two workers
    never hold the same variant: on PostgreSQL the candidate rows are picked with ``FOR UPDATE SKIP LOCKED`` (a
    concurrent worker takes the next ones instead of waiting), on SQLite the first UPDATE takes the database's
    write lock. Variants left in doubt by an earlier attempt come first. The rate tokens of each channel are taken
    for all its fresh variants at once; those beyond the budget go back to ``scheduled`` for the time the budget
    needs.
    """
    now = now or utcnow()
    limit = limit or opts.batch
    tokens = {True: uuid.uuid4().hex, False: uuid.uuid4().hex}  # by "in doubt"
    due = Variant.next_attempt_at <= now

    def take(cond: Any, n: int, token: str) -> int:
        pick = (select(Variant.id).where(due, cond).order_by(Variant.next_attempt_at, Variant.id).limit(n)
                .with_for_update(skip_locked=True))
        # PostgreSQL: lock the rows first, then update exactly those (a LIMIT subquery inside the UPDATE may be
        # planned as a re-evaluated subplan); SQLite: one statement, which takes the write lock before reading
        ids: Any = (list(s.scalars(pick)) if s.get_bind().dialect.name == "postgresql"
                    else pick.scalar_subquery())
        if isinstance(ids, list) and not ids:
            return 0
        return int(s.execute(update(Variant).where(Variant.id.in_(ids), due, cond)
                             .values(**_claim_values(token, now, opts))
                             .execution_options(synchronize_session=False)).rowcount)  # type: ignore[attr-defined]

    claims: list[Claim] = []
    queued = 0
    with db.session() as s:
        n_doubt = take(_DOUBTFUL, limit, tokens[True])  # a write first (SQLite: the write lock)
        if limit - n_doubt > 0:
            take(_FRESH, limit - n_doubt, tokens[False])
        rows = list(s.scalars(select(Variant).where(Variant.lease_token.in_(tuple(tokens.values())))
                              .options(joinedload(Variant.channel)).order_by(Variant.id)))
        fresh_by_channel: dict[int, list[Variant]] = collections.defaultdict(list)
        for v in rows:
            if v.lease_token == tokens[False]:
                fresh_by_channel[v.channel_id].append(v)
        waits: dict[int, float] = {}
        limits = {cid: platforms.rate_limits(vs[0].channel.platform, vs[0].channel.config)
                  for cid, vs in fresh_by_channel.items()}
        buckets = ratelimit.lock_buckets(s, {_channel_scope(cid): lim for cid, lim in limits.items()})
        for channel_id, vs in sorted(fresh_by_channel.items(), key=lambda kv: _channel_scope(kv[0])):
            vs.sort(key=lambda v: (v.scheduled_at or now, v.id))
            for v, wait in zip(vs, ratelimit.take_many(s, _channel_scope(channel_id), limits[channel_id], now,
                                                       len(vs), buckets=buckets), strict=True):
                if wait > 0:
                    waits[v.id] = wait
        for v in rows:
            if v.id in waits:  # not claimed after all: back in the queue, as it was, until its token is there
                v.state, v.lease_token, v.lease_until, v.in_doubt = "scheduled", None, None, False
                v.attempts = max(0, v.attempts - 1)
                v.next_attempt_at = now + dt.timedelta(seconds=waits[v.id])
                queued += 1
            else:
                claims.append(_claimed(s, settings, v, str(v.lease_token), v.lease_token == tokens[True], now))
    return claims, queued


def _owned(s: Session, c: Claim) -> Variant | None:
    v = s.get(Variant, c.variant_id)
    if v is None or v.lease_token != c.token or v.state != "publishing":
        log.warning("lease lost before the result was recorded", variant_id=c.variant_id)
        return None
    return v


def _attempt(s: Session, c: Claim, outcome: str, message: str = "") -> None:
    s.add(PublishAttempt(variant_id=c.variant_id, number=c.attempt, outcome=outcome, message=message[:4000]))


_CREDENTIALS_LOCK = threading.Lock()


def _take_credentials(conn: Any) -> dict[str, Any]:
    """Tokens the connector renewed during its last calls (and forget them on the connector)."""
    updates = getattr(conn, "credential_updates", None)
    if not updates:
        return {}
    with _CREDENTIALS_LOCK:
        out = dict(updates)
        updates.clear()
    return out


def save_credentials(s: Session, settings: Settings, channel_id: int, updates: dict[str, Any]) -> None:
    """Store tokens a connector renewed (encrypted, like every channel secret) in the caller's transaction.

    Some platforms hand out single-use refresh tokens (Zalo): the new one must be stored with the outcome of the
    call that obtained it, or the channel is disconnected."""
    if not updates:
        return
    ch = s.get(Channel, channel_id)
    if ch is None:
        return
    fields = {k: v for k, v in updates.items() if k != "token_expires_at"}
    if fields:
        ch.secrets = crypto.encrypt(settings, {**crypto.decrypt(settings, ch.secrets), **fields})
        ch.secrets_updated_at = utcnow()
    expires = updates.get("token_expires_at")
    if expires:
        try:
            ch.token_expires_at = (expires if isinstance(expires, dt.datetime)
                                   else dt.datetime.fromisoformat(str(expires)))
        except ValueError:
            pass
    audit.record(s, ENGINE, "channel.credentials_renewed", unit_id=ch.unit_id, unit_path=ch.unit_path,
                 object_type="channel", object_id=ch.id, after={"secret_fields": sorted(fields)})


def _record_published(s: Session, settings: Settings, c: Claim, result: Published, reconciled: bool) -> str:
    save_credentials(s, settings, c.channel_id, c.credentials)
    v = _owned(s, c)
    if v is None:
        return "lost"
    v.external_id, v.external_url = result.external_id, result.url
    v.published_at = result.published_at or utcnow()
    v.lease_token, v.lease_until, v.in_doubt = None, None, False
    message = result.url or result.external_id
    _attempt(s, c, "reconciled" if reconciled else "published", f"{message} ({c.note})" if c.note else message)
    move(s, ENGINE, v, "published", note="found on the platform after an interrupted attempt" if reconciled
         else (c.note or None))
    return "reconciled" if reconciled else "published"


def finish_published(db: Database, c: Claim, result: Published, *, reconciled: bool = False,
                     settings: Settings | None = None) -> str:
    with db.session() as s:
        return _record_published(s, settings or db.settings, c, result, reconciled)


def finish_published_many(db: Database, settings: Settings,
                          done: list[tuple[Claim, Published, bool]]) -> list[str]:
    """Record many platform answers in one transaction (the same checks as :func:`finish_published` for each).
    Should the batch fail, each is recorded on its own, so one bad row does not leave the others in doubt."""
    if not done:
        return []
    try:
        with db.session() as s:
            # one query loads the batch (the checks below then read the session, not the database)
            list(s.scalars(select(Variant).where(Variant.id.in_([c.variant_id for c, _, _ in done]))))
            return [_record_published(s, settings, c, r, rec) for c, r, rec in done]
    except Exception:  # noqa: BLE001 - fall back to one transaction each
        log.exception("recording a batch of results failed; recording them one by one")
    out = []
    for c, r, rec in done:
        try:
            out.append(finish_published(db, c, r, reconciled=rec, settings=settings))
        except Exception:  # noqa: BLE001 - stays in doubt: reconciled after its lease
            log.exception("recording a result failed", variant_id=c.variant_id)
            out.append("error")
    return out


def _fail(s: Session, settings: Settings, v: Variant, reason: str, *, needs_check: bool = False) -> None:
    v.lease_token, v.lease_until = None, None
    move(s, ENGINE, v, "failed", reason=reason)
    v.needs_check = needs_check
    notify_failure(s, settings, v, reason)


def finish_error(db: Database, settings: Settings, c: Claim, exc: ConnectorError, opts: EngineOptions,
                 *, in_doubt_after: bool | None = None) -> str:
    label = platforms.label(c.platform)
    with db.session() as s:
        save_credentials(s, settings, c.channel_id, c.credentials)
        v = _owned(s, c)
        if v is None:
            return "lost"
        now = utcnow()
        msg = exc.message + (f" (platform said: {exc.platform_message})" if exc.platform_message
                             and exc.platform_message not in exc.message else "")
        _attempt(s, c, exc.kind, msg)
        if exc.kind == "rate_limited":
            wait = exc.retry_after if exc.retry_after is not None else 60.0
            ratelimit.drain(s, _channel_scope(c.channel_id), now)
            v.attempts = max(0, v.attempts - 1)  # waiting for the platform is not a failed attempt
            v.in_doubt, v.lease_token, v.lease_until = False, None, None
            v.next_attempt_at = now + dt.timedelta(seconds=wait)
            move(s, ENGINE, v, "scheduled", note=f"{label} asked to wait {wait:.0f} s")
            return "rate_limited"
        if exc.kind == "transient" and v.attempts < opts.max_attempts:
            delay = min(opts.backoff_cap, opts.backoff_base * 2 ** max(0, v.attempts - 1))
            if exc.retry_after:
                delay = max(delay, exc.retry_after)
            v.in_doubt = (exc.status is None) if in_doubt_after is None else in_doubt_after
            v.lease_token, v.lease_until = None, None
            v.next_attempt_at = now + dt.timedelta(seconds=delay)
            move(s, ENGINE, v, "scheduled", reason=f"{label}: {msg}", note=f"retry in {delay:.0f} s")
            return "retry"
        v.in_doubt = False
        if exc.kind == "transient":
            reason = f"{label}: {msg}. Gave up after {v.attempts} attempts; press Retry to try again."
        elif exc.kind == "auth":
            reason = (f"{label} refused the channel's credentials: {msg}. Reconnect the channel "
                      "(Channels → Credentials), then press Retry.")
            ch = s.get(Channel, c.channel_id)
            if ch is not None:
                record_health(s, ch, False, msg)
        else:
            reason = f"{label} refused the post: {msg}"
        _fail(s, settings, v, reason)
        return "failed"


def finish_needs_check(db: Database, settings: Settings, c: Claim) -> str:
    label = platforms.label(c.platform)
    with db.session() as s:
        save_credentials(s, settings, c.channel_id, c.credentials)
        v = _owned(s, c)
        if v is None:
            return "lost"
        reason = (f"An earlier attempt to publish on {label} was interrupted and {label} cannot be asked whether the "
                  "post arrived. Check the channel: if the post is there, mark it published; if not, press Retry.")
        _attempt(s, c, "needs_check", reason)
        v.in_doubt = False
        _fail(s, settings, v, reason, needs_check=True)
    return "needs_check"


def requeue_after_lookup(db: Database, c: Claim, settings: Settings | None = None, *,
                         note: str | None = None) -> str | None:
    """Reconciled (the platform has no post for the key), or about to re-send with the same key to a platform
    that ignores repeats: take a rate token for the real publish, or go back in the queue."""
    with db.session() as s:
        save_credentials(s, settings or db.settings, c.channel_id, c.credentials)
        c.credentials = {}
        v = _owned(s, c)
        if v is None:
            return "lost"
        ch = s.get(Channel, c.channel_id)
        assert ch is not None
        now = utcnow()
        wait = ratelimit.take(s, _channel_scope(ch.id), platforms.rate_limits(ch.platform, ch.config), now)
        if wait > 0:
            v.lease_token, v.lease_until = None, None
            v.attempts = max(0, v.attempts - 1)
            # a variant whose earlier outcome is still unknown stays in doubt (it is re-sent or looked up again)
            v.in_doubt = note is not None
            v.next_attempt_at = now + dt.timedelta(seconds=wait)
            move(s, ENGINE, v, "scheduled", note=(note + "; " if note else "not found on the platform; ")
                 + "waiting for the channel's rate limit")
            return "queued"
        if note:
            _attempt(s, c, "resend", note)
    return None


def renew(db: Database, claims: list[Claim], opts: EngineOptions) -> set[int]:
    """Extend the leases of a batch still being worked on (one transaction). Returns the variants still held;
    a claim that is not (its lease ran out and another worker took it over) must not be sent."""
    if not claims:
        return set()
    now = utcnow()
    until = now + dt.timedelta(seconds=opts.lease_seconds)
    held: set[int] = set()
    with db.session() as s:
        for token in {c.token for c in claims}:
            ids = [c.variant_id for c in claims if c.token == token]
            held.update(s.scalars(update(Variant).where(
                Variant.id.in_(ids), Variant.lease_token == token, Variant.state == "publishing")  # not taken over
                .values(lease_until=until, next_attempt_at=until)
                .returning(Variant.id).execution_options(synchronize_session=False)))
    return held


_CONNECTORS: dict[tuple[Any, ...], Connector] = {}
_CONNECTORS_LOCK = threading.Lock()


def _connector(db: Database, settings: Settings, ch: Channel) -> Connector:
    if not ch.enabled:
        raise ConnectorError("permanent", f"channel '{ch.name}' is disabled; enable it, then press Retry")
    key = (os.getpid(), id(db), id(settings), ch.id, ch.platform, platforms.connector_class(ch.platform),
           ch.updated_at, ch.secrets_updated_at, ch.secrets)
    with _CONNECTORS_LOCK:
        conn = _CONNECTORS.get(key)
        if conn is None:
            if len(_CONNECTORS) > 2000:
                _CONNECTORS.clear()
            conn = _CONNECTORS[key] = platforms.build(ch, settings, db)
    return conn


def connector_for(db: Database, settings: Settings, channel_id: int) -> Connector:
    """The channel's connector, kept per process while the channel's settings and secrets stay the same (building
    one costs an HTTP client; a changed token or setting builds a new one)."""
    with db.session() as s:
        ch = s.get(Channel, channel_id)
        assert ch is not None
        return _connector(db, settings, ch)


Answer = tuple[Published, bool]  # the platform's answer, still to record; True when found by a look-up


def execute(db: Database, settings: Settings, c: Claim, opts: EngineOptions) -> str | Answer:
    """Steps 2–3 for a claim. Returns the outcome word when it is already recorded (errors, queueing), or the
    platform's answer for the caller to record (alone or with others in one transaction)."""
    try:
        conn = (_connector(db, settings, c.channel) if c.channel is not None
                else connector_for(db, settings, c.channel_id))
    except ConnectorError as exc:
        return finish_error(db, settings, c, exc, opts, in_doubt_after=c.in_doubt)
    except (SecretError, KeyError, ValueError, TypeError) as exc:
        return finish_error(db, settings, c, ConnectorError("auth", f"the channel cannot be used: {exc}"), opts)
    if c.in_doubt:
        if getattr(conn, "can_lookup", False):
            try:
                found = conn.lookup(c.request)
            except ConnectorError as exc:
                c.credentials.update(_take_credentials(conn))
                return finish_error(db, settings, c, exc, opts, in_doubt_after=True)
            except Exception as exc:  # noqa: BLE001 - a connector bug must not lose the post
                c.credentials.update(_take_credentials(conn))
                return finish_error(db, settings, c, ConnectorError("transient", f"look-up failed: {exc}"), opts,
                                    in_doubt_after=True)
            c.credentials.update(_take_credentials(conn))
            if found is not None:
                return found, True
            queued = requeue_after_lookup(db, c, settings)
        elif getattr(conn, "idempotent_retry", False):
            # the platform ignores a repeat with the same idempotency key: sending again cannot post twice
            queued = requeue_after_lookup(db, c, settings, note=(
                f"the outcome of an earlier attempt is unknown; sent again with the same key, which "
                f"{platforms.label(c.platform)} does not post twice"))
        else:
            return finish_needs_check(db, settings, c)
        if queued:
            return queued
    try:
        result = conn.publish(c.request)
    except ConnectorError as exc:
        c.credentials.update(_take_credentials(conn))
        return finish_error(db, settings, c, exc, opts)
    except Exception as exc:  # noqa: BLE001 - unknown outcome: reconcile before the next try
        log.exception("connector raised", variant_id=c.variant_id)
        c.credentials.update(_take_credentials(conn))
        return finish_error(db, settings, c, ConnectorError("transient", f"unexpected error: {exc}"), opts,
                            in_doubt_after=True)
    c.credentials.update(_take_credentials(conn))
    return result, False


def process(db: Database, settings: Settings, variant_id: int, opts: EngineOptions | None = None) -> str:
    """Publish one due variant (steps 1–3). Returns the outcome word."""
    opts = opts or EngineOptions()
    c = claim(db, settings, variant_id, opts)
    if isinstance(c, str):
        return c
    out = execute(db, settings, c, opts)
    if isinstance(out, str):
        return out
    return finish_published(db, c, out[0], reconciled=out[1], settings=settings)


@dataclasses.dataclass
class DispatchStats:
    due: int = 0
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def as_dict(self) -> dict[str, int]:
        return {"due": self.due, **self.outcomes}


def dispatch_due(db: Database, settings: Settings, opts: EngineOptions | None = None,
                 on_outcome: Callable[[int, str], None] | None = None) -> DispatchStats:
    """Publish everything that is due now (the periodic task and the on-demand task both call this).

    Batches: one transaction claims up to ``opts.batch`` variants (and their rate tokens), the posts go out
    (``opts.threads`` at a time), and the answers are recorded in one transaction per batch. Every half lease the
    leases of the batch are renewed; a claim whose lease was lost is not sent."""
    opts = opts or EngineOptions()
    stats = DispatchStats()
    started = time.monotonic()
    lock = threading.Lock()

    def outcome(vid: int, word: str) -> None:
        with lock:
            stats.outcomes[word] += 1
        if on_outcome is not None:
            on_outcome(vid, word)

    batch: dict[str, Any] = {}

    def one(i: int, c: Claim) -> str | Answer:
        with lock:  # half the lease gone: extend it for the rest of the batch before sending more
            if time.monotonic() - batch["renewed"] > opts.lease_seconds / 2:
                batch["held"] = renew(db, batch["claims"], opts)
                batch["renewed"] = time.monotonic()
            if batch["held"] is not None and c.variant_id not in batch["held"]:
                return "lost"
        try:
            return execute(db, settings, c, opts)
        except Exception:  # noqa: BLE001 - one broken variant must not stop the others
            log.exception("publishing failed unexpectedly", variant_id=c.variant_id)
            return "error"

    pool = ThreadPoolExecutor(max_workers=opts.threads) if opts.threads > 1 else None
    try:
        while time.monotonic() - started < opts.max_seconds:
            claims, queued = claim_batch(db, settings, opts)
            if not claims and not queued:
                break
            stats.due += len(claims) + queued
            batch.update(claims=claims, held=None, renewed=min((c.claimed_at for c in claims), default=0.0))
            if queued:
                with lock:
                    stats.outcomes["queued"] += queued
            results = (list(pool.map(one, range(len(claims)), claims)) if pool is not None
                       else [one(i, c) for i, c in enumerate(claims)])
            done: list[tuple[Claim, Published, bool]] = []
            for c, r in zip(claims, results, strict=True):
                if isinstance(r, str):
                    outcome(c.variant_id, r)
                else:
                    done.append((c, r[0], r[1]))
            for (c, _, _), word in zip(done, finish_published_many(db, settings, done), strict=True):
                outcome(c.variant_id, word)
            if len(claims) + queued < opts.batch:
                break
    finally:
        if pool is not None:
            pool.shutdown()
    return stats


def run_forever(db: Database, settings: Settings, opts: EngineOptions | None = None, *, interval: float = 1.0,
                stop: threading.Event | None = None) -> None:
    """A plain loop around :func:`dispatch_due` (``civicpulse posts publish-due --watch``)."""
    stop = stop or threading.Event()
    while not stop.is_set():
        dispatch_due(db, settings, opts)
        stop.wait(interval)


# ------------------------------------------------------------------ notifications


def _people(s: Session, v: Variant) -> list[User]:
    ids = {v.post.created_by_id} | set(s.scalars(select(ApprovalEvent.actor_id).where(
        ApprovalEvent.post_id == v.post_id, ApprovalEvent.action == "approved")))
    return [u for u in (s.get(User, i) for i in ids if i is not None) if u is not None]


def notify_failure(s: Session, settings: Settings, v: Variant, reason: str) -> None:
    from civicpulse.domain.org.notifications import notify

    ch = v.channel
    notify(s, settings, units=[v.post.unit], users=_people(s, v), kind="post_failed",
           title=f"Not published on {ch.name}: {v.post.title}", body=reason, link=f"/content/posts/{v.post_id}",
           object_type="variant", object_id=v.id)


# ------------------------------------------------------------------ token health


def check_channel(db: Database, settings: Settings, channel_id: int) -> Health:
    """Call the channel's cheapest authenticated endpoint; store the result; warn the unit when it turns red
    while posts are waiting for the channel."""
    conn: Connector | None = None
    try:
        conn = connector_for(db, settings, channel_id)
        health = conn.health()
    except ConnectorError as exc:
        health = Health(ok=False, message=exc.message, checked_at=utcnow())
    except SecretError as exc:
        health = Health(ok=False, message=str(exc), checked_at=utcnow())
    except NotImplementedError:
        health = Health(ok=False, message="This platform cannot be checked from civicpulse", checked_at=utcnow())
    except Exception as exc:  # noqa: BLE001 - a health check never crashes the worker
        health = Health(ok=False, message=f"The check failed: {exc}", checked_at=utcnow())
    from civicpulse.domain.org.notifications import notify

    with db.session() as s:
        ch = s.get(Channel, channel_id)
        assert ch is not None
        save_credentials(s, settings, ch.id, _take_credentials(conn))  # renewed by the check: keep them
        turned_bad = record_health(s, ch, health.ok, health.message, token_expires_at=health.token_expires_at)
        expiring = (health.ok and health.token_expires_at is not None
                    and health.token_expires_at < utcnow() + dt.timedelta(days=3))
        waiting = list(s.scalars(select(Variant).where(Variant.channel_id == ch.id, Variant.state.in_(
            ("approved", "scheduled", "in_review")))))
        if turned_bad or (expiring and waiting):
            when = min((v.scheduled_at for v in waiting if v.scheduled_at), default=None)
            body = (f"{platforms.label(ch.platform)} says: {health.message}. "
                    + (f"{len(waiting)} post(s) are waiting for this channel"
                       + (f", the first on {when:%Y-%m-%d %H:%M} UTC" if when else "")
                       + ". Reconnect the channel before then (Channels → Credentials)." if waiting else
                       "Reconnect the channel (Channels → Credentials) before scheduling posts on it."))
            notify(s, settings, units=[ch.unit], kind="channel_unhealthy",
                   title=f"Channel '{ch.name}' needs attention", body=body, link=f"/channels/{ch.id}",
                   object_type="channel", object_id=ch.id)
    return health


def check_due_channels(db: Database, settings: Settings, *, older_than: dt.timedelta = dt.timedelta(minutes=30),
                       limit: int = 50) -> int:
    cutoff = utcnow() - older_than
    with db.session() as s:
        ids = list(s.scalars(select(Channel.id).where(Channel.enabled.is_(True), or_(
            Channel.health_checked_at.is_(None), Channel.health_checked_at < cutoff))
            .order_by(Channel.health_checked_at.is_not(None), Channel.health_checked_at).limit(limit)))
    for cid in ids:
        check_channel(db, settings, cid)
    return len(ids)
