"""Writes of the publishing area: channels, approval workflows, the review of posts, the variant state machine,
scheduling and the external reviewer link. Each write checks permission, changes, and audits in one transaction.

Variant states::

    draft → in_review → approved → scheduled → publishing → published
                                      ↑   ↓                → failed(reason) → scheduled (retry)
    any state before publishing (and failed) → cancelled

Signatures the web UI and the CLI use (all take the request's ``Session`` and the acting ``Actor``):

* channels: :func:`create_channel`, :func:`update_channel`, :func:`set_credentials` (rotate),
  :func:`delete_channel`, :func:`record_health`
* workflow: :func:`set_workflow`, :func:`workflow_for`
* review: :func:`submit`, :func:`approve`, :func:`request_changes`, :func:`comment`
* external review: :func:`create_review_link`, :func:`external_review_view`, :func:`external_review_decide`
* variants: :func:`create_variant`, :func:`update_variant`, :func:`delete_variant`, :func:`schedule`,
  :func:`unschedule`, :func:`cancel`, :func:`retry`, :func:`resolve_check`
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets as pysecrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicpulse import crypto
from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.content.models import MediaAsset, Post
from civicpulse.domain.content.schemas import VariantIn, VariantUpdate
from civicpulse.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicpulse.domain.org import audit
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import RANK, Actor, get_scoped, require
from civicpulse.domain.publishing import platforms
from civicpulse.domain.publishing.models import (
    ApprovalEvent,
    ApprovalWorkflow,
    Channel,
    ExternalReviewLink,
    Variant,
)
from civicpulse.domain.publishing.schemas import (
    ChannelCreate,
    ChannelUpdate,
    CredentialsIn,
    ExternalDecisionIn,
    ExternalLinkIn,
    WorkflowIn,
)

# (from, to) -> the action needed on the post's unit ("engine" = only the publishing engine moves it)
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "in_review"): "content.draft",
    ("in_review", "draft"): "content.draft",
    ("in_review", "approved"): "content.approve",
    ("approved", "scheduled"): "content.draft",
    ("scheduled", "approved"): "content.draft",
    ("approved", "draft"): "content.draft",
    ("scheduled", "draft"): "content.draft",
    ("failed", "draft"): "content.draft",
    ("scheduled", "publishing"): "engine",
    ("publishing", "publishing"): "engine",
    ("publishing", "published"): "engine",
    ("publishing", "failed"): "engine",
    ("publishing", "scheduled"): "engine",
    ("failed", "scheduled"): "content.draft",
    ("failed", "published"): "content.draft",
    ("draft", "cancelled"): "content.draft",
    ("in_review", "cancelled"): "content.draft",
    ("approved", "cancelled"): "content.draft",
    ("scheduled", "cancelled"): "content.draft",
    ("failed", "cancelled"): "content.draft",
}
DEFAULT_STEPS: list[dict[str, Any]] = [{"name": "Approval", "role": "approver", "unit_id": None}]
EDITABLE = ("draft", "in_review", "approved", "scheduled", "failed")
ENGINE = Actor.system_actor("publisher", via="system")


# ------------------------------------------------------------------ helpers


def _unit(session: Session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"Unit {unit_id} was not found")
    return unit


def get_post(session: Session, actor: Actor, post_id: int, action: str = "content.read") -> Post:
    """The post, if the actor may do ``action`` on it. Reading is also open to the people of a review step's unit
    (e.g. head-office PR approving a department's post)."""
    post = session.get(Post, post_id)
    if post is None:
        raise NotFound(f"Post {post_id} was not found")
    if not actor.can_see(post.unit_path):
        if action == "content.read" and any(actor.can_see(p) for p in _review_paths(session, post)[1:]):
            return post
        raise NotFound(f"Post {post_id} was not found")
    require(actor, action, post.unit)
    return post


def get_variant(session: Session, actor: Actor, variant_id: int, action: str = "content.read") -> Variant:
    v = session.get(Variant, variant_id)
    if v is None or not actor.can_see(v.unit_path):
        raise NotFound(f"Variant {variant_id} was not found")
    require(actor, action, v.post.unit)
    return v


def get_channel(session: Session, actor: Actor, channel_id: int, action: str = "content.read") -> Channel:
    return get_scoped(session, actor, Channel, channel_id, action, "Channel")


def move(session: Session, actor: Actor, v: Variant, to: str, *, reason: str | None = None,
         note: str | None = None) -> None:
    """The one place a variant changes state: checks the transition, records it in the audit log."""
    frm = v.state
    need = TRANSITIONS.get((frm, to))
    if need is None:
        raise Conflict(f"A post that is '{frm}' cannot become '{to}'",
                       details={"variant_id": v.id, "state": frm, "wanted": to})
    if need == "engine" and not actor.system:
        raise PermissionDenied("Only the publishing engine changes a post while it is being published")
    v.state = to
    v.reason = reason
    if to in ("scheduled",):
        v.next_attempt_at = v.next_attempt_at or v.scheduled_at
    elif to != "publishing":
        v.next_attempt_at = None
    if to != "failed":
        v.needs_check = False
    audit.record(session, actor, f"variant.{to}", unit_id=v.unit_id, unit_path=v.unit_path, object_type="variant",
                 object_id=v.id, before={"state": frm}, after={"state": to, "reason": reason}, note=note)


def _media_refs(session: Session, ids: list[int], unit: Unit) -> list[MediaAsset]:
    out = []
    for mid in ids:
        m = session.get(MediaAsset, mid)
        if m is None or not (unit.path.startswith(m.unit_path) or m.unit_path.startswith(unit.path)):
            raise ValidationFailed(f"Media file {mid} was not found for this unit", details={"field": "media_ids"})
        out.append(m)
    return out


def problems(session: Session, v: Variant) -> list[dict[str, str]]:
    """What the channel's platform would refuse (errors) or degrade (warnings) in this variant."""
    from civicpulse.connectors.base import MediaRef

    try:
        from civicpulse.connectors import limits
    except ImportError:  # pragma: no cover - the limits module ships with the connectors
        return []
    platform = v.channel.platform
    media = [MediaRef(path=m.stored_name, mime=m.mime, size=m.size, alt_text=m.alt_text, width=m.width,
                      height=m.height) for m in _media_refs(session, list(v.media_ids or []), v.post.unit)]
    try:
        found = limits.validate(platform, v.text, media, title=v.title, options=v.options or {})
    except KeyError:
        return []
    return [{"code": p.code, "message": p.message, "severity": p.severity} for p in found]


# ------------------------------------------------------------------ channels


def _check_config(platform: str, config: dict[str, Any]) -> None:
    bad = sorted(k for k in config if k in platforms.secret_field_names(platform))
    if bad:
        raise ValidationFailed(f"{', '.join(bad)} must go in 'secrets' (stored encrypted), not in 'config'",
                               details={"fields": bad})


def create_channel(session: Session, actor: Actor, settings: Settings, data: ChannelCreate) -> Channel:
    unit = _unit(session, data.unit_id)
    require(actor, "channel.manage", unit)
    platforms.connector_class(data.platform)  # raises for an unknown platform
    _check_config(data.platform, data.config)
    ch = Channel(unit_id=unit.id, unit_path=unit.path, platform=data.platform, name=data.name,
                 config=dict(data.config), enabled=data.enabled,
                 secrets=crypto.encrypt(settings, dict(data.secrets)) if data.secrets else None,
                 secrets_updated_at=utcnow() if data.secrets else None)
    session.add(ch)
    session.flush()
    audit.record(session, actor, "channel.create", unit=unit, object_type="channel", object_id=ch.id,
                 after={**ch.head(), "secret_fields": sorted(data.secrets)})
    return ch


def update_channel(session: Session, actor: Actor, channel_id: int, data: ChannelUpdate) -> Channel:
    ch = get_channel(session, actor, channel_id, "channel.manage")
    before = ch.head()
    if data.name is not None:
        ch.name = data.name
    if data.config is not None:
        _check_config(ch.platform, data.config)
        ch.config = dict(data.config)
    if data.enabled is not None:
        ch.enabled = data.enabled
    b, a = audit.diff(before, ch.head())
    audit.record(session, actor, "channel.update", unit=ch.unit, object_type="channel", object_id=ch.id,
                 before=b, after=a)
    session.flush()
    return ch


def set_credentials(session: Session, actor: Actor, settings: Settings, channel_id: int,
                    data: CredentialsIn) -> Channel:
    """Replace the channel's secrets (a new token after expiry, or a rotation). Values never reach the audit log."""
    ch = get_channel(session, actor, channel_id, "channel.manage")
    ch.secrets = crypto.encrypt(settings, dict(data.secrets)) if data.secrets else None
    ch.secrets_updated_at = utcnow()
    ch.health_ok, ch.health_message = None, None
    audit.record(session, actor, "channel.credentials", unit=ch.unit, object_type="channel", object_id=ch.id,
                 after={"secret_fields": sorted(data.secrets)})
    session.flush()
    return ch


def rotate_secrets(session: Session, settings: Settings) -> int:
    """Re-encrypt every channel's secrets with the current key (after CIVICPULSE_SECRET_KEY changed)."""
    n = 0
    for ch in session.scalars(select(Channel).where(Channel.secrets.is_not(None))):
        assert ch.secrets is not None
        ch.secrets = crypto.rotate(settings, ch.secrets)
        n += 1
    audit.record(session, Actor.system_actor("cli", via="cli"), "channel.rotate_keys", after={"channels": n})
    return n


def delete_channel(session: Session, actor: Actor, channel_id: int) -> None:
    ch = get_channel(session, actor, channel_id, "channel.manage")
    used = session.scalar(select(Variant.id).where(Variant.channel_id == ch.id).limit(1))
    if used is not None:
        raise Conflict(f"Channel '{ch.name}' has posts; disable it instead of deleting it, so their history stays")
    audit.record(session, actor, "channel.delete", unit=ch.unit, object_type="channel", object_id=ch.id,
                 before=ch.head())
    session.delete(ch)
    session.flush()


def record_health(session: Session, ch: Channel, ok: bool, message: str, *,
                  token_expires_at: dt.datetime | None = None) -> bool:
    """Store a health check result; returns True when the channel just turned unhealthy."""
    turned_bad = ok is False and ch.health_ok is not False
    if ch.health_ok != ok:
        audit.record(session, ENGINE, "channel.health", unit_id=ch.unit_id, unit_path=ch.unit_path,
                     object_type="channel", object_id=ch.id, before={"ok": ch.health_ok},
                     after={"ok": ok, "message": message})
    ch.health_ok, ch.health_message, ch.health_checked_at = ok, message, utcnow()
    ch.token_expires_at = token_expires_at
    return turned_bad


# ------------------------------------------------------------------ workflow


def workflow_for(session: Session, unit: Unit) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(steps, crisis_steps, is_default) of ``unit``'s posts."""
    wf = session.scalar(select(ApprovalWorkflow).where(ApprovalWorkflow.unit_id == unit.id))
    if wf is None:
        return [dict(s) for s in DEFAULT_STEPS], [], True
    return list(wf.steps), list(wf.crisis_steps or []), False


def set_workflow(session: Session, actor: Actor, unit_id: int, data: WorkflowIn) -> ApprovalWorkflow:
    unit = _unit(session, unit_id)
    require(actor, "content.workflow", unit)
    for step in [*data.steps, *data.crisis_steps]:
        if step.unit_id is not None and session.get(Unit, step.unit_id) is None:
            raise ValidationFailed(f"Step '{step.name}': unit {step.unit_id} was not found", details={"field": "steps"})
    wf = session.scalar(select(ApprovalWorkflow).where(ApprovalWorkflow.unit_id == unit.id))
    before = None
    if wf is None:
        wf = ApprovalWorkflow(unit_id=unit.id)
        session.add(wf)
    else:
        before = {"steps": wf.steps, "crisis_steps": wf.crisis_steps}
    wf.steps = [s.model_dump() for s in data.steps]
    wf.crisis_steps = [s.model_dump() for s in data.crisis_steps]
    audit.record(session, actor, "workflow.set", unit=unit, object_type="workflow", object_id=unit.id,
                 before=before, after={"steps": wf.steps, "crisis_steps": wf.crisis_steps})
    session.flush()
    return wf


def in_crisis(session: Session, unit: Unit) -> bool:
    from civicpulse.domain.plans import queries as plans

    return plans.plans(session, Actor.system_actor("publishing"), unit_id=unit.id, subtree=False, crisis=True,
                       per_page=1).total > 0


# ------------------------------------------------------------------ review


def _event(session: Session, actor: Actor, post: Post, action: str, comment: str = "", *, external: bool = False,
           label: str | None = None) -> ApprovalEvent:
    steps = post.review_steps or []
    idx = post.review_step if post.review_step < len(steps) else None
    ev = ApprovalEvent(post_id=post.id, step=idx, step_name=steps[idx]["name"] if idx is not None else None,
                       action=action, actor_id=actor.user_id, actor_label=label or actor.label, external=external,
                       comment=comment)
    session.add(ev)
    return ev


def submit(session: Session, actor: Actor, post_id: int, comment: str = "") -> Post:
    """Send the post's draft variants for approval (the crisis path when the unit has a plan in crisis mode)."""
    post = get_post(session, actor, post_id, "content.draft")
    drafts = [v for v in _variants(session, post) if v.state == "draft"]
    if not drafts:
        raise Conflict("There is nothing to send for approval: add a channel to the post first (or it is already "
                       "in review)")
    blocking = {v.id: [p for p in problems(session, v) if p["severity"] == "error"] for v in drafts}
    blocking = {k: p for k, p in blocking.items() if p}
    if blocking:
        first = next(iter(blocking.values()))[0]["message"]
        raise ValidationFailed(f"Fix the post before sending it: {first}", details={"variants": blocking})
    steps, crisis_steps, _default = workflow_for(session, post.unit)
    crisis = in_crisis(session, post.unit)
    post.review_crisis = bool(crisis and crisis_steps)
    post.review_steps = crisis_steps if post.review_crisis else steps
    post.review_step = 0
    post.review_status = "in_review"
    for v in drafts:
        move(session, actor, v, "in_review")
    _event(session, actor, post, "submitted", comment)
    audit.record(session, actor, "post.submit", unit=post.unit, object_type="post", object_id=post.id,
                 after={"steps": [s["name"] for s in post.review_steps], "crisis": post.review_crisis})
    session.flush()
    return post


def _may_decide(session: Session, actor: Actor, post: Post) -> dict[str, Any]:
    if post.review_status != "in_review":
        raise Conflict(f"Post '{post.title}' is not waiting for approval (it is '{post.review_status}')")
    step = post.review_steps[post.review_step]
    unit = _unit(session, step["unit_id"]) if step.get("unit_id") else post.unit
    if actor.system:
        return step
    if not actor.can_see(unit) and not actor.can_see(post.unit):
        raise NotFound(f"Post {post.id} was not found")
    if "write" not in actor.scopes:
        raise PermissionDenied("This API token is read-only")
    role = actor.best_role(unit.path)
    if role is None or RANK[role] < RANK[step["role"]]:
        raise PermissionDenied(f"Step '{step['name']}' needs the {step['role']} role on '{unit.code}'")
    if actor.user_id is not None and actor.user_id == post.created_by_id:
        raise PermissionDenied("The author of a post cannot approve it: ask another approver")
    return step


def _advance(session: Session, actor: Actor, post: Post) -> None:
    post.review_step += 1
    if post.review_step >= len(post.review_steps):
        post.review_status = "approved"
        for v in _variants(session, post):
            if v.state == "in_review":
                move(session, actor, v, "approved")
                if v.scheduled_at is not None:
                    v.next_attempt_at = v.scheduled_at
                    move(session, actor, v, "scheduled")


def approve(session: Session, actor: Actor, post_id: int, comment: str = "") -> Post:
    post = session.get(Post, post_id)
    if post is None or not (actor.system or any(actor.can_see(p) for p in _review_paths(session, post))):
        raise NotFound(f"Post {post_id} was not found")
    _may_decide(session, actor, post)
    _event(session, actor, post, "approved", comment)
    audit.record(session, actor, "post.approve", unit=post.unit, object_type="post", object_id=post.id,
                 after={"step": post.review_step}, note=comment or None)
    _advance(session, actor, post)
    session.flush()
    return post


def request_changes(session: Session, actor: Actor, post_id: int, comment: str) -> Post:
    post = session.get(Post, post_id)
    if post is None or not (actor.system or any(actor.can_see(p) for p in _review_paths(session, post))):
        raise NotFound(f"Post {post_id} was not found")
    if not comment.strip():
        raise ValidationFailed("Say what should change (a comment is required)", details={"field": "comment"})
    _may_decide(session, actor, post)
    _back_to_draft(session, actor, post, comment)
    session.flush()
    return post


def _back_to_draft(session: Session, actor: Actor, post: Post, comment: str, *, external: bool = False,
                   label: str | None = None) -> None:
    _event(session, actor, post, "changes_requested", comment, external=external, label=label)
    audit.record(session, actor, "post.request_changes", unit=post.unit, object_type="post", object_id=post.id,
                 note=comment)
    post.review_status = "draft"
    post.review_step = 0
    for v in _variants(session, post):
        if v.state == "in_review":
            move(session, actor, v, "draft", reason=comment)


def comment(session: Session, actor: Actor, post_id: int, text: str) -> ApprovalEvent:
    post = session.get(Post, post_id)
    if post is None or not (actor.system or any(actor.can_see(p) for p in _review_paths(session, post))):
        raise NotFound(f"Post {post_id} was not found")
    if not text.strip():
        raise ValidationFailed("The comment is empty", details={"field": "comment"})
    if not actor.system and not any(actor.can("content.draft", p) for p in _review_paths(session, post)):
        raise PermissionDenied("Commenting needs the editor role or higher on the post's unit")
    ev = _event(session, actor, post, "commented", text)
    audit.record(session, actor, "post.comment", unit=post.unit, object_type="post", object_id=post.id, note=text)
    session.flush()
    return ev


def _review_paths(session: Session, post: Post) -> list[str]:
    paths = [post.unit_path]
    for step in post.review_steps or []:
        if step.get("unit_id"):
            u = session.get(Unit, step["unit_id"])
            if u is not None:
                paths.append(u.path)
    return paths


def _variants(session: Session, post: Post) -> list[Variant]:
    return list(session.scalars(select(Variant).where(Variant.post_id == post.id).order_by(Variant.id)))


# ------------------------------------------------------------------ external reviewer


def _sign(settings: Settings, key: str, payload: str) -> str:
    return hmac.new(key.encode(), f"civicpulse-external-review:{payload}".encode(), hashlib.sha256).hexdigest()[:32]


def create_review_link(session: Session, actor: Actor, settings: Settings, post_id: int,
                       data: ExternalLinkIn) -> tuple[ExternalReviewLink, str]:
    """A signed link for someone without an account; returns (link, token). The URL is /review/<token>."""
    post = get_post(session, actor, post_id, "content.draft")
    if post.review_status != "in_review":
        raise Conflict("Send the post for approval before inviting an external reviewer")
    link = ExternalReviewLink(post_id=post.id, nonce=pysecrets.token_urlsafe(12), reviewer=data.reviewer,
                              expires_at=utcnow() + dt.timedelta(hours=data.hours), created_by_id=actor.user_id)
    session.add(link)
    session.flush()
    exp = int(link.expires_at.timestamp())
    payload = f"{link.id}.{post.id}.{exp}.{link.nonce}"
    token = f"{payload}.{_sign(settings, settings.secret_key, payload)}"
    audit.record(session, actor, "post.external_link", unit=post.unit, object_type="post", object_id=post.id,
                 after={"link_id": link.id, "reviewer": data.reviewer, "expires_at": link.expires_at})
    return link, token


def _check_token(session: Session, settings: Settings, token: str) -> tuple[ExternalReviewLink, Post]:
    bad = NotFound("This review link is not valid. Ask the sender for a new one.")
    parts = (token or "").split(".")
    if len(parts) != 5:
        raise bad
    payload, sig = ".".join(parts[:4]), parts[4]
    keys = [settings.secret_key, *settings.previous_secret_keys]
    if not any(hmac.compare_digest(_sign(settings, k, payload), sig) for k in keys if k):
        raise bad
    try:
        link_id, post_id, exp = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        raise bad from None
    link = session.get(ExternalReviewLink, link_id)
    if link is None or link.post_id != post_id or link.nonce != parts[3] or link.revoked:
        raise bad
    if int(link.expires_at.timestamp()) != exp or utcnow() >= link.expires_at:
        raise PermissionDenied("This review link has expired. Ask the sender for a new one.")
    if link.used_at is not None:
        raise Conflict(f"This review link was already used on {link.used_at:%Y-%m-%d %H:%M} UTC "
                       f"by {link.used_by_name}. Ask the sender for a new one if needed.")
    post = session.get(Post, post_id)
    if post is None:
        raise bad
    return link, post


@dataclasses.dataclass
class ExternalView:
    post: Post
    variants: list[Variant]
    link: ExternalReviewLink
    step_name: str | None
    can_decide: bool


def external_review_view(session: Session, settings: Settings, token: str) -> ExternalView:
    link, post = _check_token(session, settings, token)
    step = post.review_steps[post.review_step]["name"] if post.review_status == "in_review" else None
    audit.record(session, Actor(user_id=None, label=f"external reviewer link {link.id}", via="external"),
                 "post.external_view", unit=post.unit, object_type="post", object_id=post.id)
    return ExternalView(post=post, variants=[v for v in _variants(session, post) if v.state != "cancelled"],
                        link=link, step_name=step, can_decide=post.review_status == "in_review")


def external_review_decide(session: Session, settings: Settings, token: str, data: ExternalDecisionIn,
                           ip: str | None = None) -> Post:
    """The external reviewer approves the current step, requests changes, or comments. The link is used up."""
    link, post = _check_token(session, settings, token)
    label = f"{data.name} (external reviewer)"
    actor = Actor(user_id=None, label=label, via="external", ip=ip, system=False)
    if data.decision != "comment" and post.review_status != "in_review":
        raise Conflict(f"Post '{post.title}' is no longer waiting for approval")
    if data.decision == "request_changes" and not data.comment.strip():
        raise ValidationFailed("Say what should change (a comment is required)", details={"field": "comment"})
    link.used_at, link.used_by_name, link.decision = utcnow(), data.name, data.decision
    if data.decision == "approve":
        _event(session, actor, post, "approved", data.comment, external=True, label=label)
        audit.record(session, actor, "post.approve", unit=post.unit, object_type="post", object_id=post.id,
                     after={"step": post.review_step, "external_link": link.id}, note=data.comment or None)
        _advance(session, ENGINE, post)
    elif data.decision == "request_changes":
        _back_to_draft(session, actor, post, data.comment, external=True, label=label)
    else:
        if not data.comment.strip():
            raise ValidationFailed("The comment is empty", details={"field": "comment"})
        _event(session, actor, post, "commented", data.comment, external=True, label=label)
        audit.record(session, actor, "post.comment", unit=post.unit, object_type="post", object_id=post.id,
                     note=data.comment)
    session.flush()
    return post


# ------------------------------------------------------------------ variants


def new_idempotency_key() -> str:
    return f"cp-{uuid.uuid4().hex}"


def create_variant(session: Session, actor: Actor, post: Post, data: VariantIn) -> Variant:
    """A variant of ``post`` for one channel (the caller has checked content.draft on the post)."""
    ch = session.get(Channel, data.channel_id)
    if ch is None or not actor.can_see(ch.unit_path):
        raise ValidationFailed(f"Channel {data.channel_id} was not found", details={"field": "channel_id"})
    if not actor.can("content.draft", ch.unit):
        raise PermissionDenied(f"Publishing on '{ch.name}' needs the editor role on '{ch.unit.code}'")
    if not (post.unit_path.startswith(ch.unit_path) or ch.unit_path.startswith(post.unit_path)):
        raise ValidationFailed(f"Channel '{ch.name}' belongs to another branch of the network",
                               details={"field": "channel_id"})
    lang: str | None = data.language or next(iter(post.texts or {}), None)
    text = data.text if data.text is not None else (post.texts or {}).get(lang or "", "")
    if data.text is None and post.hashtags:
        text = (text + "\n\n" + " ".join("#" + h for h in post.hashtags)).strip()
    if not text:
        raise ValidationFailed(f"The post has no text in '{lang}' for channel '{ch.name}'",
                               details={"field": "text"})
    media = list(data.media_ids if data.media_ids is not None else post.media_ids or [])
    _media_refs(session, media, post.unit)
    v = Variant(post_id=post.id, channel_id=ch.id, unit_id=post.unit_id, unit_path=post.unit_path, language=lang,
                title=data.title or post.title, text=text, link=data.link or post.link, media_ids=media,
                options=dict(data.options), state="draft", scheduled_at=data.scheduled_at,
                idempotency_key=new_idempotency_key())
    session.add(v)
    session.flush()
    v.channel = ch
    audit.record(session, actor, "variant.create", unit_id=v.unit_id, unit_path=v.unit_path, object_type="variant",
                 object_id=v.id, after=v.head())
    return v


def update_variant(session: Session, actor: Actor, variant_id: int, data: VariantUpdate) -> Variant:
    """Edit a variant's text; an approved or scheduled variant goes back to draft (it needs approval again)."""
    v = get_variant(session, actor, variant_id, "content.draft")
    if v.state not in EDITABLE:
        raise Conflict(f"A post that is '{v.state}' cannot be edited")
    before = {"text": v.text, "title": v.title, "link": v.link, "media_ids": v.media_ids, "language": v.language}
    for field in ("text", "title", "link", "language", "options"):
        val = getattr(data, field)
        if val is not None:
            setattr(v, field, val)
    if data.media_ids is not None:
        _media_refs(session, data.media_ids, v.post.unit)
        v.media_ids = list(data.media_ids)
    after = {"text": v.text, "title": v.title, "link": v.link, "media_ids": v.media_ids, "language": v.language}
    b, a = audit.diff(before, after)
    if not a:
        return v
    audit.record(session, actor, "variant.update", unit_id=v.unit_id, unit_path=v.unit_path, object_type="variant",
                 object_id=v.id, before=b, after=a)
    if v.state != "draft":
        move(session, actor, v, "draft", note="edited: needs approval again")
        post = v.post
        if post.review_status in ("in_review", "approved") and all(
                x.state in ("draft", "cancelled", "published") for x in _variants(session, post)):
            post.review_status, post.review_step = "draft", 0
    session.flush()
    return v


def delete_variant(session: Session, actor: Actor, variant_id: int) -> None:
    v = get_variant(session, actor, variant_id, "content.draft")
    if v.state not in ("draft", "cancelled"):
        raise Conflict(f"A post that is '{v.state}' cannot be removed; cancel it instead, so its history stays")
    audit.record(session, actor, "variant.delete", unit_id=v.unit_id, unit_path=v.unit_path, object_type="variant",
                 object_id=v.id, before=v.head())
    session.delete(v)
    session.flush()


def schedule(session: Session, actor: Actor, variant_id: int, at: dt.datetime) -> Variant:
    """Set (or change) when the variant goes out. An approved variant becomes scheduled; a draft keeps the time
    and is scheduled when it is approved."""
    v = get_variant(session, actor, variant_id, "content.draft")
    if at.tzinfo is None:
        raise ValidationFailed("give the time with its time zone", details={"field": "scheduled_at"})
    if v.state not in ("draft", "in_review", "approved", "scheduled"):
        raise Conflict(f"A post that is '{v.state}' cannot be scheduled")
    before = v.scheduled_at
    v.scheduled_at = at.astimezone(dt.UTC)
    audit.record(session, actor, "variant.schedule", unit_id=v.unit_id, unit_path=v.unit_path,
                 object_type="variant", object_id=v.id, before={"scheduled_at": before},
                 after={"scheduled_at": v.scheduled_at})
    if v.state in ("approved", "scheduled"):
        v.next_attempt_at = v.scheduled_at
        if v.state == "approved":
            move(session, actor, v, "scheduled")
    session.flush()
    return v


def unschedule(session: Session, actor: Actor, variant_id: int) -> Variant:
    v = get_variant(session, actor, variant_id, "content.draft")
    move(session, actor, v, "approved")
    session.flush()
    return v


def cancel(session: Session, actor: Actor, variant_id: int, reason: str = "") -> Variant:
    v = get_variant(session, actor, variant_id, "content.draft")
    if v.state == "publishing":
        raise Conflict("This post is being published right now; wait a moment and check the result")
    move(session, actor, v, "cancelled", reason=reason or None)
    session.flush()
    return v


def retry(session: Session, actor: Actor, variant_id: int) -> Variant:
    """Try a failed variant again now (after fixing the token or the text)."""
    v = get_variant(session, actor, variant_id, "content.draft")
    if v.state != "failed":
        raise Conflict(f"Only a failed post can be retried (this one is '{v.state}')")
    v.attempts = 0
    v.in_doubt = False
    now = utcnow()
    v.next_attempt_at = now
    if v.scheduled_at is None or v.scheduled_at > now:
        v.scheduled_at = now
    move(session, actor, v, "scheduled", note="retry")
    session.flush()
    return v


def resolve_check(session: Session, actor: Actor, variant_id: int, found: bool, url: str | None = None) -> Variant:
    """Close a "needs a check": the officer looked at the platform. Found → published; not found → retried."""
    v = get_variant(session, actor, variant_id, "content.draft")
    if not (v.state == "failed" and v.needs_check):
        raise Conflict("This post is not waiting for a check")
    if found:
        v.external_url = url
        v.published_at = v.published_at or utcnow()
        move(session, actor, v, "published", note="confirmed on the platform by an officer")
        session.flush()
        return v
    return retry(session, actor, variant_id)
