"""All writes of the campaigns area. Each checks permission (``campaign.manage`` on the campaign's unit, or
on the unit whose post is recorded), validates, changes, and writes the audit log in the same transaction.

Target units must be the sending unit or units below it; a unit outside that subtree is refused and
nothing is stored. Deleting a campaign is a soft delete: its agency posts and their scores stay.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.campaigns import alignment
from civicpulse.domain.campaigns.models import (
    Campaign,
    CampaignAsset,
    CampaignPost,
    CampaignTarget,
    OwnAccount,
)
from civicpulse.domain.campaigns.schemas import (
    AssetLinkIn,
    CampaignCreate,
    CampaignUpdate,
    ForbiddenPhrase,
    KeyMessage,
    Kit,
    PostIn,
    Texts,
    check_kit,
)
from civicpulse.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicpulse.domain.org import audit
from civicpulse.domain.org import services as org
from civicpulse.domain.org.models import Unit
from civicpulse.domain.org.permissions import Actor, require
from civicpulse.i18n import _

log = structlog.get_logger("civicpulse.campaigns")

MAX_ASSET_BYTES = 25 * 1024 * 1024
# allowed file types: sniffed from the first bytes, never trusted from the file name alone (no SVG/HTML)
ASSET_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
    "video/mp4": (b"ftyp",),  # at offset 4
}
EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
       "application/pdf": ".pdf", "video/mp4": ".mp4"}


# ------------------------------------------------------------------ helpers


def today_for(unit: Unit) -> dt.date:
    try:
        return dt.datetime.now(ZoneInfo(unit.timezone)).date()
    except (KeyError, ValueError):
        return dt.datetime.now(dt.UTC).date()


def get_campaign(session: Session, campaign_id: int, *, include_deleted: bool = False) -> Campaign:
    c = session.get(Campaign, campaign_id)
    if c is None or (c.deleted_at is not None and not include_deleted):
        raise NotFound(_("Campaign %(id)s was not found") % {"id": campaign_id})
    return c


def can_read(actor: Actor, c: Campaign) -> bool:
    """The sender's side (any role covering the campaign's unit) and every target unit's people."""
    if actor.can("campaign.read", c.unit):
        return True
    return any(actor.can("campaign.read", t.unit) for t in c.targets)


def campaign_for(session: Session, actor: Actor, campaign_id: int, action: str = "campaign.read", *,
                 include_deleted: bool = False) -> Campaign:
    c = get_campaign(session, campaign_id, include_deleted=include_deleted)
    if not can_read(actor, c):
        raise NotFound(_("Campaign %(id)s was not found") % {"id": campaign_id})
    if action != "campaign.read":
        if not actor.can_see(c.unit):
            raise PermissionDenied(_("Only the sending unit (%(unit)s) can change campaign '%(t)s'")
                                   % {"unit": c.unit.name("en"), "t": c.title})
        require(actor, action, c.unit)
    return c


def validation_error(exc: ValidationError) -> ValidationFailed:
    details = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()))
        details.append({"field": loc, "message": str(e.get("msg", "")).removeprefix("Value error, ")})
    parts = [f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details[:5]]
    return ValidationFailed(_("The campaign is not valid — %(why)s") % {"why": "; ".join(parts)},
                            details={"errors": details})


def _targets(session: Session, actor: Actor, sender: Unit, ids: Sequence[int]) -> list[Unit]:
    out: list[Unit] = []
    for uid in dict.fromkeys(ids):
        u = session.get(Unit, uid)
        if u is None or not actor.can_see(u):
            raise ValidationFailed(_("Target unit %(id)s was not found") % {"id": uid},
                                   details={"field": "target_unit_ids", "unit_id": uid})
        if not u.path.startswith(sender.path):
            raise PermissionDenied(
                _("Unit '%(unit)s' is not '%(sender)s' or a unit below it: a campaign can only be sent to the "
                  "sender's own network") % {"unit": u.code, "sender": sender.code},
                details={"field": "target_unit_ids", "unit_id": uid})
        out.append(u)
    return out


def plan_messages(session: Session, actor: Actor, plan_id: int) -> Kit:
    """The linked plan's approved key messages and forbidden phrasings, as a starting kit."""
    from civicpulse.domain.plans import queries as plans

    p = plans.plan(session, actor, plan_id)
    sec = plans.sections(p)
    msgs = [KeyMessage(kind=m.kind, text=Texts(vi=m.text.vi, th=m.text.th, en=m.text.en))
            for m in sec.messages if m.approval == "approved"]
    forb = [ForbiddenPhrase(phrase=f.phrase, reason=f.reason, instead=f.instead) for f in sec.forbidden]
    return Kit(messages=msgs, forbidden=forb)


def _check_plan(session: Session, actor: Actor, plan_id: int | None) -> None:
    if plan_id is None:
        return
    from civicpulse.domain.plans import queries as plans

    try:
        plans.plan(session, actor, plan_id)
    except NotFound as exc:
        raise ValidationFailed(_("Plan %(id)s was not found (or you cannot see it)") % {"id": plan_id},
                               details={"field": "plan_id"}) from exc


def _flush(session: Session, c: Campaign) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(_("Campaign '%(t)s' was changed by someone else at the same moment. Nothing was saved.")
                       % {"t": c.title}) from exc


# ------------------------------------------------------------------ create, update, delete


def create_campaign(session: Session, actor: Actor, data: CampaignCreate) -> Campaign:
    unit = org.get_unit(session, data.unit_id)
    if not actor.can_see(unit):
        raise NotFound(_("Unit %(id)s was not found") % {"id": data.unit_id})
    require(actor, "campaign.manage", unit)
    _check_plan(session, actor, data.plan_id)
    kit = data.kit
    if data.use_plan_messages:
        if data.plan_id is None:
            raise ValidationFailed(_("Choose the plan whose key messages the campaign starts from"),
                                   details={"field": "plan_id"})
        base = plan_messages(session, actor, data.plan_id)
        kit = Kit(messages=[*base.messages, *kit.messages], mandatory=kit.mandatory,
                  forbidden=[*base.forbidden, *kit.forbidden], suggested_posts=kit.suggested_posts)
        try:
            check_kit(kit)
        except ValueError as exc:
            raise ValidationFailed(_("The plan has no approved key message and the kit has none: %(why)s")
                                   % {"why": exc}, details={"field": "kit.messages"}) from exc
    targets = _targets(session, actor, unit, data.target_unit_ids)
    c = Campaign(unit_id=unit.id, title=" ".join(data.title.split()), description=data.description,
                 plan_id=data.plan_id, status="draft", kit=kit.dump(), start_date=data.start_date,
                 end_date=data.end_date, deadline=data.deadline, created_by_id=actor.user_id)
    c.unit = unit
    c.targets = [CampaignTarget(unit_id=u.id, unit=u) for u in targets]
    session.add(c)
    session.flush()
    audit.record(session, actor, "campaign.create", unit=unit, object_type="campaign", object_id=c.id,
                 after=c.snapshot())
    return c


def update_campaign(session: Session, actor: Actor, campaign_id: int, data: CampaignUpdate,
                    settings: Settings | None = None) -> Campaign:
    c = campaign_for(session, actor, campaign_id, "campaign.manage")
    if data.version is not None and data.version != c.version:
        raise Conflict(_("Campaign '%(t)s' was changed by someone else (it is now at version %(v)s; you edited "
                         "version %(y)s). Nothing was saved: reload it and apply your change again.")
                       % {"t": c.title, "v": c.version, "y": data.version},
                       details={"current_version": c.version, "your_version": data.version})
    if c.status == "closed":
        raise Conflict(_("Campaign '%(t)s' is closed") % {"t": c.title})
    before = c.snapshot()
    fields = data.model_fields_set
    start = data.start_date if "start_date" in fields and data.start_date else c.start_date
    deadline = data.deadline if "deadline" in fields and data.deadline else c.deadline
    end = data.end_date if "end_date" in fields else c.end_date
    if deadline < start:
        raise ValidationFailed(_("The deadline %(d)s is before the start %(s)s") % {"d": deadline, "s": start},
                               details={"field": "deadline"})
    if end is not None and end < start:
        raise ValidationFailed(_("The end %(e)s is before the start %(s)s") % {"e": end, "s": start},
                               details={"field": "end_date"})
    if "plan_id" in fields:
        _check_plan(session, actor, data.plan_id)
        c.plan_id = data.plan_id
    new_targets: list[Unit] = []
    if data.target_unit_ids is not None:
        units = _targets(session, actor, c.unit, data.target_unit_ids)
        keep = {t.unit_id: t for t in c.targets}
        c.targets = [keep.get(u.id) or CampaignTarget(unit_id=u.id, unit=u) for u in units]
        new_targets = [u for u in units if u.id not in keep]
    if data.title is not None:
        c.title = " ".join(data.title.split())
    if data.description is not None:
        c.description = data.description
    if data.kit is not None:
        c.kit = data.kit.dump()
    c.start_date, c.deadline, c.end_date = start, deadline, end
    _flush(session, c)
    b, a = audit.diff(before, c.snapshot())
    audit.record(session, actor, "campaign.update", unit=c.unit, object_type="campaign", object_id=c.id,
                 before=b, after=a)
    if c.status == "published" and new_targets:
        _notify(session, settings, c, new_targets)
    return c


def delete_campaign(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    c = campaign_for(session, actor, campaign_id, "campaign.manage")
    c.deleted_at = utcnow()
    _flush(session, c)
    audit.record(session, actor, "campaign.delete", unit=c.unit, object_type="campaign", object_id=c.id,
                 before=c.head(), note="soft delete: agency posts keep their history")
    return c


def _notify(session: Session, settings: Settings | None, c: Campaign, units: Sequence[Unit]) -> None:
    from civicpulse.domain.org.notifications import notify

    if not units:
        return
    title = _("New campaign kit: %(t)s") % {"t": c.title}
    body = _("%(sender)s asks you to carry the campaign '%(t)s' on your channels between %(s)s and %(d)s. Open the "
             "kit, adapt a suggested post for your audience and send it for approval.") % {
        "sender": c.unit.name("en"), "t": c.title, "s": c.start_date.isoformat(), "d": c.deadline.isoformat()}
    notify(session, settings, units=list(units), kind="campaign_kit", title=title, body=body,
           link=f"/campaigns/{c.id}", object_type="campaign", object_id=c.id)
    now = utcnow()
    ids = {u.id for u in units}
    for t in c.targets:
        if t.unit_id in ids:
            t.notified_at = now


def publish_campaign(session: Session, actor: Actor, settings: Settings | None, campaign_id: int) -> Campaign:
    """Send the kit: the target units are notified (in-app and email) and see it in their tasks."""
    c = campaign_for(session, actor, campaign_id, "campaign.manage")
    if c.status != "draft":
        raise Conflict(_("Campaign '%(t)s' is already %(s)s") % {"t": c.title, "s": c.status})
    if not c.targets:
        raise ValidationFailed(_("Choose at least one target unit before publishing the kit"),
                               details={"field": "target_unit_ids"})
    try:
        check_kit(Kit.model_validate(c.kit or {}))
    except (ValueError, ValidationError) as exc:
        raise ValidationFailed(_("The kit is not complete: %(why)s") % {"why": exc}) from exc
    c.status, c.published_at = "published", utcnow()
    _flush(session, c)
    _notify(session, settings, c, [t.unit for t in c.targets])
    audit.record(session, actor, "campaign.publish", unit=c.unit, object_type="campaign", object_id=c.id,
                 after={"status": "published", "targets": [t.unit_id for t in c.targets]})
    return c


def close_campaign(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    c = campaign_for(session, actor, campaign_id, "campaign.manage")
    if c.status == "closed":
        raise Conflict(_("Campaign '%(t)s' is already closed") % {"t": c.title})
    before = c.status
    c.status = "closed"
    _flush(session, c)
    audit.record(session, actor, "campaign.close", unit=c.unit, object_type="campaign", object_id=c.id,
                 before={"status": before}, after={"status": "closed"})
    return c


# ------------------------------------------------------------------ assets


def _sniff(content: bytes) -> str | None:
    for ctype, magics in ASSET_TYPES.items():
        for m in magics:
            if ctype == "video/mp4":
                if content[4:8] == m:
                    return ctype
            elif ctype == "image/webp":
                if content.startswith(m) and content[8:12] == b"WEBP":
                    return ctype
            elif content.startswith(m):
                return ctype
    return None


def asset_dir(settings: Settings, campaign_id: int) -> Path:
    return Path(settings.data_dir) / "campaigns" / str(campaign_id)


def add_asset_file(session: Session, actor: Actor, settings: Settings, campaign_id: int, name: str,
                   content: bytes) -> CampaignAsset:
    c = campaign_for(session, actor, campaign_id, "campaign.manage")
    clean = re.sub(r"[^\w.\- ]+", "_", Path(name or "asset").name).strip() or "asset"
    if not content:
        raise ValidationFailed(_("The file '%(n)s' is empty") % {"n": clean}, details={"field": "file"})
    if len(content) > MAX_ASSET_BYTES:
        raise ValidationFailed(_("The file '%(n)s' is %(mb)s MB; the limit is %(max)s MB") % {
            "n": clean, "mb": f"{len(content) / 1e6:.1f}", "max": MAX_ASSET_BYTES // (1024 * 1024)}, details={"field": "file"})
    ctype = _sniff(content)
    if ctype is None:
        guessed = mimetypes.guess_type(clean)[0] or "unknown"
        raise ValidationFailed(_("The file '%(n)s' (%(t)s) is not an allowed type: PNG, JPEG, GIF, WebP, PDF or "
                                 "MP4") % {"n": clean, "t": guessed}, details={"field": "file"})
    d = asset_dir(settings, c.id)
    d.mkdir(parents=True, exist_ok=True)
    rel = f"{uuid.uuid4().hex}{EXT[ctype]}"
    (d / rel).write_bytes(content)
    a = CampaignAsset(campaign_id=c.id, name=clean[:300], kind="file", path=rel, content_type=ctype,
                      size=len(content))
    c.assets.append(a)
    session.flush()
    audit.record(session, actor, "campaign.asset_add", unit=c.unit, object_type="campaign", object_id=c.id,
                 after={"asset": a.id, "name": a.name, "type": ctype, "size": a.size})
    return a


def add_asset_link(session: Session, actor: Actor, campaign_id: int, data: AssetLinkIn) -> CampaignAsset:
    c = campaign_for(session, actor, campaign_id, "campaign.manage")
    a = CampaignAsset(campaign_id=c.id, name=data.name, kind="link", url=data.url)
    c.assets.append(a)
    session.flush()
    audit.record(session, actor, "campaign.asset_add", unit=c.unit, object_type="campaign", object_id=c.id,
                 after={"asset": a.id, "name": a.name, "url": a.url})
    return a


def remove_asset(session: Session, actor: Actor, settings: Settings, campaign_id: int, asset_id: int) -> None:
    c = campaign_for(session, actor, campaign_id, "campaign.manage")
    a = next((x for x in c.assets if x.id == asset_id), None)
    if a is None:
        raise NotFound(_("Asset %(id)s was not found") % {"id": asset_id})
    if a.path:
        (asset_dir(settings, c.id) / a.path).unlink(missing_ok=True)
    c.assets.remove(a)
    session.flush()
    audit.record(session, actor, "campaign.asset_remove", unit=c.unit, object_type="campaign", object_id=c.id,
                 before={"asset": asset_id, "name": a.name})


# ------------------------------------------------------------------ agency posts


def _post_unit(session: Session, actor: Actor, c: Campaign, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None or not actor.can_see(unit):
        raise NotFound(_("Unit %(id)s was not found") % {"id": unit_id})
    if unit.id != c.unit_id and unit.id not in {t.unit_id for t in c.targets}:
        raise ValidationFailed(_("Unit '%(u)s' is not a target of campaign '%(t)s'") % {"u": unit.code,
                                                                                      "t": c.title},
                               details={"field": "unit_id"})
    require(actor, "campaign.manage", unit)
    return unit


def apply_score(c: Campaign, p: CampaignPost, result: alignment.AlignmentResult) -> None:
    p.score, p.level, p.lang = result.score, result.level, result.lang
    p.reasons = [r.as_dict() for r in result.reasons] + [{"code": f, "ok": False, "args": {}, "flag": True}
                                                        for f in result.flags if f != "no_message_in_language"]
    p.scored_at = utcnow()


def record_post(session: Session, actor: Actor, campaign_id: int, data: PostIn, *,
                origin: str = "manual") -> CampaignPost:
    """An agency post carrying the campaign: scored now and kept with the campaign."""
    c = campaign_for(session, actor, campaign_id)
    if c.status == "draft":
        raise Conflict(_("Campaign '%(t)s' has not been published yet") % {"t": c.title})
    unit = _post_unit(session, actor, c, data.unit_id)
    if data.item_id is not None:
        from civicpulse.domain.listening import queries as listening

        listening.item(session, actor, data.item_id)
        dup = session.scalar(select(CampaignPost).where(CampaignPost.campaign_id == c.id,
                                                        CampaignPost.item_id == data.item_id))
        if dup is not None:
            raise Conflict(_("Item %(i)s is already linked to this campaign") % {"i": data.item_id})
    p = CampaignPost(campaign_id=c.id, unit_id=unit.id, unit_path=unit.path, origin=origin, post_id=data.post_id,
                     item_id=data.item_id, channel=data.channel.strip().lower() or "other", text=data.text,
                     url=data.url, has_asset=data.has_asset, published_at=data.published_at,
                     created_by_id=actor.user_id)
    apply_score(c, p, alignment.score_text(session, c, p.text, has_asset=p.has_asset))
    session.add(p)
    session.flush()
    audit.record(session, actor, "campaign.post_add", unit=unit, object_type="campaign_post", object_id=p.id,
                 after=p.snapshot())
    return p


def adapt(session: Session, actor: Actor, campaign_id: int, unit_id: int, suggestion_id: str | None,
          settings: Settings | None = None) -> CampaignPost:
    """Start a unit's own version of a suggested post: a draft linked to the kit.

    When the publishing area is installed, the draft is also created there (so it goes through the unit's
    normal approval and scheduling) and linked by ``post_id``; the link lives in ``campaign_posts``.
    """
    c = campaign_for(session, actor, campaign_id)
    if c.status != "published":
        raise Conflict(_("Campaign '%(t)s' is not open for adaptation") % {"t": c.title})
    unit = _post_unit(session, actor, c, unit_id)
    kit = alignment.kit_of(c)
    sug = next((s for s in kit.suggested_posts if s.id == suggestion_id), None) if suggestion_id else None
    if suggestion_id and sug is None:
        raise NotFound(_("Suggested post %(id)s was not found in this kit") % {"id": suggestion_id})
    text = sug.text if sug else (kit.messages[0].text.get("vi") if kit.messages else c.title)
    channel = sug.channel if sug else "other"
    post_id = _create_content_draft(session, actor, settings, c, unit, text, channel, sug.lang if sug else None)
    p = CampaignPost(campaign_id=c.id, unit_id=unit.id, unit_path=unit.path, origin="composed", post_id=post_id,
                     channel=channel, text=text, created_by_id=actor.user_id)
    apply_score(c, p, alignment.score_text(session, c, text))
    session.add(p)
    session.flush()
    audit.record(session, actor, "campaign.adapt", unit=unit, object_type="campaign_post", object_id=p.id,
                 after=p.snapshot())
    return p


def _create_content_draft(session: Session, actor: Actor, settings: Settings | None, c: Campaign, unit: Unit,
                          text: str, channel: str, lang: str | None) -> int | None:
    """A draft post in the publishing area, when it is installed; None otherwise (the link stays here)."""
    from civicpulse.domain.campaigns import integration

    return integration.create_draft(session, actor, settings, c, unit, text, channel, lang)


def update_post_text(session: Session, actor: Actor, post_id: int, text: str, *, published_at: dt.datetime | None
                     = None, url: str | None = None) -> CampaignPost:
    p = session.get(CampaignPost, post_id)
    if p is None:
        raise NotFound(_("Post %(id)s was not found") % {"id": post_id})
    c = campaign_for(session, actor, p.campaign_id, include_deleted=True)
    require(actor, "campaign.manage", p.unit)
    before = p.snapshot()
    text = text.strip()
    if not text:
        raise ValidationFailed(_("The post text is empty"), details={"field": "text"})
    p.text = text
    if published_at is not None:
        p.published_at = published_at
    if url is not None:
        p.url = url or None
    apply_score(c, p, alignment.score_text(session, c, p.text, has_asset=p.has_asset))
    session.flush()
    b, a = audit.diff(before, p.snapshot())
    audit.record(session, actor, "campaign.post_update", unit=p.unit, object_type="campaign_post", object_id=p.id,
                 before=b, after=a)
    return p


# ------------------------------------------------------------------ own accounts and collected posts


def set_own_account(session: Session, actor: Actor, source_id: int, own: bool, channel: str = "") -> None:
    """Mark a listening source as one of its unit's own accounts (its posts are the unit's own posts)."""
    from civicpulse.domain.listening import queries as listening

    src = listening.source(session, actor, source_id)
    require(actor, "campaign.manage", src.unit)
    row = session.scalar(select(OwnAccount).where(OwnAccount.source_id == src.id))
    if own and row is None:
        session.add(OwnAccount(source_id=src.id, unit_id=src.unit_id, channel=(channel or src.platform)[:40]))
    elif not own and row is not None:
        session.delete(row)
    else:
        return
    session.flush()
    audit.record(session, actor, "campaign.own_account", unit=src.unit, object_type="source", object_id=src.id,
                 after={"own_account": own})


def active_campaigns(session: Session, today: dt.date) -> list[Campaign]:
    rows = session.scalars(select(Campaign).where(Campaign.status == "published", Campaign.deleted_at.is_(None),
                                                  Campaign.start_date <= today))
    return [c for c in rows if (c.end_date or c.deadline) + dt.timedelta(days=14) >= today]


def score_collected(session: Session, *, limit: int = 500) -> dict[str, int]:
    """Link and score the posts that listening collected from the target units' own accounts.

    An own-account post is linked to a campaign when it is on topic (relative similarity at or above the
    "on topic" threshold) or carries one of the kit's hashtags; everything else the unit posts is left alone.
    """
    from civicpulse.domain.listening.models import Item

    actor = Actor.system_actor("campaign alignment", via="system")
    today = dt.datetime.now(dt.UTC).date()
    out = {"checked": 0, "linked": 0}
    for c in active_campaigns(session, today):
        target_ids = {t.unit_id for t in c.targets}
        own = {o.source_id: o for o in session.scalars(select(OwnAccount).where(OwnAccount.unit_id.in_(target_ids)))}
        if not own:
            continue
        start = dt.datetime.combine(c.start_date, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=1)
        seen = select(CampaignPost.item_id).where(CampaignPost.campaign_id == c.id,
                                                  CampaignPost.item_id.is_not(None))
        items = list(session.scalars(
            select(Item).where(Item.source_id.in_(list(own)), Item.published_at >= start,
                               Item.parent_external_id.is_(None), Item.id.not_in(seen))
            .order_by(Item.id).limit(limit)))
        if not items:
            continue
        kit = alignment.kit_of(c)
        th = alignment.thresholds()
        for it in items:
            out["checked"] += 1
            vec = _item_vector(it)
            sg = alignment.measure(kit, it.text, it.lang if it.lang in ("vi", "th", "en") else None, vector=vec)
            tagged = any(r.code == "hashtags_ok" for r in sg.mandatory)
            if sg.similarity - sg.background < th["off"] and not tagged:
                continue
            unit = session.get(Unit, own[it.source_id].unit_id)
            assert unit is not None
            p = CampaignPost(campaign_id=c.id, unit_id=unit.id, unit_path=unit.path, origin="collected",
                             item_id=it.id, channel=own[it.source_id].channel or it.source.platform,
                             text=it.text, url=it.url, published_at=it.published_at or it.collected_at)
            apply_score(c, p, alignment.decide(sg, th))
            session.add(p)
            session.flush()
            audit.record(session, actor, "campaign.post_collected", unit=unit, object_type="campaign_post",
                         object_id=p.id, after=p.snapshot())
            out["linked"] += 1
    return out


def refresh_composed(session: Session, *, limit: int = 500) -> int:
    """Re-score the drafts started by "Adapt" whose text the unit has since changed in the publishing area."""
    from civicpulse.domain.campaigns import integration

    actor = Actor.system_actor("campaign alignment", via="system")
    changed = 0
    rows = session.scalars(select(CampaignPost).join(Campaign, Campaign.id == CampaignPost.campaign_id)
                           .where(CampaignPost.post_id.is_not(None), Campaign.status == "published",
                                  Campaign.deleted_at.is_(None)).order_by(CampaignPost.id).limit(limit))
    for p in list(rows):
        assert p.post_id is not None
        cur = integration.current_text(session, p.post_id)
        if cur is None or cur[0] == p.text:
            continue
        c = get_campaign(session, p.campaign_id)
        before = p.snapshot()
        p.text = cur[0]
        apply_score(c, p, alignment.score_text(session, c, p.text, cur[1]))
        b, a = audit.diff(before, p.snapshot())
        audit.record(session, actor, "campaign.post_rescored", unit=p.unit, object_type="campaign_post",
                     object_id=p.id, before=b, after=a)
        changed += 1
    session.flush()
    return changed


def _item_vector(it: Any) -> Any:
    import numpy as np

    if it.embedding:
        v = np.frombuffer(it.embedding, dtype=np.float32)
        if v.shape == (384,):
            return v
    return None


# ------------------------------------------------------------------ reminders


def published_units(session: Session, c: Campaign) -> dict[int, dt.datetime]:
    """Target unit id -> first publication time (posts recorded here, collected, or in the publishing area)."""
    from civicpulse.domain.campaigns import integration

    out: dict[int, dt.datetime] = {}
    for uid, at in session.execute(select(CampaignPost.unit_id, CampaignPost.published_at)
                                   .where(CampaignPost.campaign_id == c.id, CampaignPost.published_at.is_not(None))):
        if at is not None and (uid not in out or at < out[uid]):
            out[uid] = at
    for row in integration.published_variants(session, c):
        if row.unit_id not in out or row.published_at < out[row.unit_id]:
            out[row.unit_id] = row.published_at
    return out


def send_reminders(session: Session, settings: Settings | None, *, today: dt.date | None = None,
                   days_before: int = 2) -> int:
    """Remind target units that have not published yet, from ``days_before`` days before the deadline until
    the deadline: one reminder per unit, per campaign, per day."""
    from civicpulse.domain.org.notifications import notify

    actor = Actor.system_actor("campaign reminders", via="system")
    sent = 0
    day = today or dt.datetime.now(dt.UTC).date()
    for c in session.scalars(select(Campaign).where(Campaign.status == "published", Campaign.deleted_at.is_(None),
                                                    Campaign.deadline >= day,
                                                    Campaign.deadline <= day + dt.timedelta(days=days_before))):
        done = published_units(session, c)
        for t in c.targets:
            if t.unit_id in done or t.last_reminder_on == day:
                continue
            days = (c.deadline - day).days
            notify(session, settings, units=[t.unit], kind="campaign_reminder",
                   title=_("Reminder: publish the campaign '%(t)s'") % {"t": c.title},
                   body=_("Your unit has not published the campaign '%(t)s' yet; the deadline is %(d)s (%(n)s day(s) "
                          "left).") % {"t": c.title, "d": c.deadline.isoformat(), "n": days},
                   link=f"/campaigns/{c.id}", object_type="campaign", object_id=c.id)
            t.last_reminder_on = day
            t.reminders += 1
            sent += 1
            audit.record(session, actor, "campaign.remind", unit=t.unit, object_type="campaign", object_id=c.id,
                         after={"deadline": c.deadline, "day": day})
    session.flush()
    return sent
