"""Campaign services: permissions (own unit / child / sibling), bad input leaves the database unchanged,
publishing notifies the target units, tasks, soft delete, reminders, compliance and collected posts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from civicpulse.domain.campaigns import queries, services
from civicpulse.domain.campaigns.models import Campaign, CampaignPost, CampaignTarget
from civicpulse.domain.campaigns.schemas import CampaignCreate, PostIn
from civicpulse.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civicpulse.domain.org.models import AuditEntry, Notification
from tests.campaigns.conftest import KIT, SYS, TEXTS, actor, body, count, day


def test_editor_sends_to_own_subtree_and_is_refused_outside(db, org):  # type: ignore[no-untyped-def]
    editor = actor(db, org.users["editor@A"])
    with db.session() as s:
        c = services.create_campaign(s, editor, CampaignCreate(**body(org.units["A"], [org.units["A"], org.units["A1"]])))
        cid = c.id
        assert [t.unit_id for t in c.targets] == [org.units["A"], org.units["A1"]]
    # sibling unit B is outside A's subtree: refused, nothing stored
    before = (count(db, Campaign), count(db, CampaignTarget), count(db, AuditEntry))
    with db.session() as s, pytest.raises(PermissionDenied, match="not 'A' or a unit below it"):
        services.create_campaign(s, SYS, CampaignCreate(**body(org.units["A"], [org.units["A1"], org.units["B"]])))
    assert (count(db, Campaign), count(db, CampaignTarget), count(db, AuditEntry)) == before
    # a viewer may read but not create; admin@B cannot even see unit A
    with db.session() as s, pytest.raises(PermissionDenied):
        services.create_campaign(s, actor(db, org.users["viewer@A"]), CampaignCreate(**body(org.units["A"], [])))
    with db.session() as s, pytest.raises(NotFound):
        services.create_campaign(s, actor(db, org.users["admin@B"]), CampaignCreate(**body(org.units["A"], [])))
    with db.session() as s, pytest.raises(NotFound):
        queries.campaign(s, actor(db, org.users["admin@B"]), cid)
    with db.session() as s:
        assert queries.campaign(s, actor(db, org.users["viewer@A"]), cid).id == cid
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "campaign.create"))
        assert entry is not None and entry.object_id == str(cid)


def test_bad_input_is_refused_with_a_clear_message():  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least one key message"):
        CampaignCreate(**body(1, [], kit={"messages": []}))
    with pytest.raises(ValidationError, match="deadline .* is before the start"):
        CampaignCreate(**body(1, [], deadline=day(-1)))
    with pytest.raises(ValidationError, match="is not a hashtag"):
        CampaignCreate(**body(1, [], kit={**KIT, "mandatory": {"hashtags": ["#no spaces"]}}))


def test_child_unit_sees_kit_sent_to_it_and_sibling_does_not(db, org, make_campaign):  # type: ignore[no-untyped-def]
    cid = make_campaign(org.units["R"], [org.units["A1"]])
    with db.session() as s:
        # editor@A (covers A1) sees the kit and has it in the tasks; admin@B (sibling) does not see it
        assert [c.id for c in queries.campaigns(s, actor(db, org.users["editor@A"])).items] == [cid]
        assert [(c.id, u.code) for c, u in queries.tasks(s, actor(db, org.users["editor@A"]))] == [(cid, "A1")]
        assert queries.campaigns(s, actor(db, org.users["admin@B"])).items == []
        # a viewer of A sees the kit but has no task (cannot post)
        assert queries.tasks(s, actor(db, org.users["viewer@A"])) == []
        # and may not change the head office's campaign
        with pytest.raises(PermissionDenied):
            services.publish_campaign(s, actor(db, org.users["admin@A"]), None, cid)


def test_publish_notifies_targets_in_app_and_by_email(db, org, cfg, make_campaign):  # type: ignore[no-untyped-def]
    cid = make_campaign(org.units["A"], [org.units["A1"]], publish=False)
    with db.session() as s:
        c = services.publish_campaign(s, SYS, cfg, cid)
        assert c.status == "published" and c.targets[0].notified_at is not None
        with pytest.raises(Conflict):
            services.publish_campaign(s, SYS, cfg, cid)
    with db.session() as s:
        (n,) = s.scalars(select(Notification).where(Notification.kind == "campaign_kit")).all()
        assert n.unit_id == org.units["A1"] and n.link == f"/campaigns/{cid}" and "Helmets" in n.title


def test_publish_without_targets_is_refused(db, org, make_campaign):  # type: ignore[no-untyped-def]
    cid = make_campaign(org.units["A"], [], publish=False)
    with db.session() as s, pytest.raises(ValidationFailed, match="at least one target unit"):
        services.publish_campaign(s, SYS, None, cid)
    with db.session() as s:
        assert s.get(Campaign, cid).status == "draft"


def test_posts_score_and_soft_delete_keeps_history(db, org, make_campaign):  # type: ignore[no-untyped-def]
    cid = make_campaign(org.units["A"], [org.units["A1"]])
    editor = actor(db, org.users["editor@A"])
    with db.session() as s:
        p = services.record_post(s, editor, cid, PostIn(unit_id=org.units["A1"], text=TEXTS["contra_vi"],
                                                        channel="facebook", published_at=dt.datetime.now(dt.UTC)))
        assert p.level == "contradicting" and any(r["code"] == "number_mismatch" for r in p.reasons)
        pid = p.id
        # unit B is not a target
        with pytest.raises(NotFound):
            services.record_post(s, editor, cid, PostIn(unit_id=org.units["B"], text="x"))
    with db.session() as s:
        services.delete_campaign(s, editor, cid)
    with db.session() as s:
        assert queries.campaigns(s, editor).items == []
        with pytest.raises(NotFound):
            queries.campaign(s, editor, cid)
        assert s.get(CampaignPost, pid) is not None and s.get(Campaign, cid).deleted_at is not None
        assert [x.id for x in queries.posts(s, editor, cid)] == [pid]  # history stays readable


def test_adapt_creates_a_linked_draft(db, org, make_campaign):  # type: ignore[no-untyped-def]
    cid = make_campaign(org.units["A"], [org.units["A1"]])
    with db.session() as s:
        p = services.adapt(s, actor(db, org.users["editor@A"]), cid, org.units["A1"], "s1")
        assert p.origin == "composed" and p.published_at is None and p.text == KIT["suggested_posts"][0]["text"]
        assert p.level is not None
        with pytest.raises(NotFound):
            services.adapt(s, actor(db, org.users["editor@A"]), cid, org.units["A1"], "nope")


def test_compliance_and_reminders_once_a_day(db, org, make_campaign):  # type: ignore[no-untyped-def]
    cid = make_campaign(org.units["R"], [org.units["A"], org.units["A1"], org.units["B"]], start_date=day(-5),
                        deadline=day(1))
    with db.session() as s:
        now = dt.datetime.now(dt.UTC)
        services.record_post(s, SYS, cid, PostIn(unit_id=org.units["A"], text=TEXTS["aligned_en"], channel="zalo",
                                                 published_at=now - dt.timedelta(days=1)))
    today = dt.datetime.now(dt.UTC).date()
    with db.session() as s:
        assert services.send_reminders(s, None, today=today) == 2  # A1 and B have not published
    with db.session() as s:
        assert services.send_reminders(s, None, today=today) == 0  # once per unit per campaign per day
        assert services.send_reminders(s, None, today=today + dt.timedelta(days=1)) == 2
        kinds = s.scalars(select(Notification.unit_id).where(Notification.kind == "campaign_reminder")).all()
        assert sorted(kinds) == sorted([org.units["A1"], org.units["B"]] * 2)
    with db.session() as s:
        cp = queries.compliance(s, SYS, cid, today=today + dt.timedelta(days=2))
        by = {r.unit.code: r for r in cp.rows}
        assert by["A"].status == "on_time" and by["A"].channels == ["zalo"] and by["A"].levels["aligned"] == 1
        assert by["A1"].status == "missing" and by["B"].status == "missing"
        assert cp.statuses == {"on_time": 1, "late": 0, "missing": 2, "pending": 0}
        # editor@A sees only the rows of A's subtree
        rows = queries.compliance(s, actor(db, org.users["editor@A"]), cid).rows
        assert sorted(r.unit.code for r in rows) == ["A", "A1"]


def test_collected_own_account_posts_are_scored_with_reach_and_replies(db, org, make_campaign):  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening.models import Item, Source

    cid = make_campaign(org.units["R"], [org.units["A1"]], start_date=day(-1))
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        src = Source(unit_id=org.units["A1"], name="A1 page", platform="facebook", config={})
        s.add(src)
        s.flush()

        def item(ext: str, text: str, **kw):  # type: ignore[no-untyped-def]
            it = Item(source_id=src.id, unit_id=org.units["A1"], unit_path="/x/", external_id=ext, text=text,
                      published_at=now, content_hash=ext, **kw)
            s.add(it)
            return it

        item("p1", TEXTS["aligned_en"], views=1000, likes=10, shares=5, comments=2)
        item("p2", TEXTS["off_vi"])
        item("r1", "Thank you, great reminder", parent_external_id="p1", sentiment="pos")
        item("r2", "This fine is too high", parent_external_id="p1", sentiment="neg")
        s.flush()
        assert services.score_collected(s) == {"checked": 0, "linked": 0}  # not an own account yet
        services.set_own_account(s, SYS, src.id, True, "facebook")
        out = services.score_collected(s)
        assert out == {"checked": 2, "linked": 1}, out  # the unrelated post is left alone
        assert services.score_collected(s) == {"checked": 1, "linked": 0}
    with db.session() as s:
        (p,) = queries.posts(s, SYS, cid)
        assert p.origin == "collected" and p.level == "aligned"
        cp = queries.compliance(s, SYS, cid)
        (row,) = cp.rows
        assert row.status == "on_time" and row.reach == 1000 and row.engagement == 17
        assert row.replies == {"pos": 1, "neg": 1}
