"""The claim registry through the services: permissions on own / child / sibling units, audit entries, verdict
dates, duplicate wordings, bad input refused with nothing stored."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from civicpulse.domain.alerts.claims import queries, services
from civicpulse.domain.alerts.claims.models import Claim
from civicpulse.domain.alerts.claims.schemas import ClaimCreate, ClaimUpdate
from civicpulse.domain.errors import Conflict, NotFound, PermissionDenied
from civicpulse.domain.org.models import AuditEntry
from tests.claims.conftest import CLAIM_EN, CORRECTION, LINK


def _data(unit_id: int, **over):  # type: ignore[no-untyped-def]
    d = {"unit_id": unit_id, "texts": [{"lang": "en", "text": CLAIM_EN}], "status": "false",
         "correction": CORRECTION, "correction_url": LINK}
    d.update(over)
    return ClaimCreate(**d)


def test_analyst_manages_claims_of_own_and_child_units_and_every_write_is_audited(db, org, actor_of):  # type: ignore[no-untyped-def]
    analyst = actor_of(org.users["analyst@A"])
    with db.session() as s:
        c = services.create_claim(s, analyst, _data(org.units["A1"], texts=[
            {"lang": "en", "text": CLAIM_EN}, {"lang": "th", "text": "น้ำประปามีคลอรีนเป็นพิษ ห้ามดื่ม"}]))
        cid = c.id
        assert c.status == "false" and c.verdict_at is not None and c.first_seen_at is not None
        assert [t.lang for t in c.texts] == ["en", "th"] and all(t.embedding for t in c.texts)
    with db.session() as s:
        c = services.update_claim(s, analyst, cid, ClaimUpdate(status="misleading", correction={"vi": "Nước an toàn"}))
        assert c.status == "misleading" and c.correction == {"vi": "Nước an toàn"}
        assert c.correction_url == LINK  # left out: unchanged
    with db.session() as s:
        services.update_claim(s, analyst, cid, ClaimUpdate(status="unverified"))
        assert s.get(Claim, cid).verdict_at is None  # type: ignore[union-attr]
        services.delete_claim(s, analyst, cid)
    with db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.object_type == "claim")
                                           .order_by(AuditEntry.id))]
        assert actions == ["claim.create", "claim.update", "claim.update", "claim.delete"]
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "claim.update").order_by(AuditEntry.id))
        assert entry.before["status"] == "false" and entry.after["status"] == "misleading"  # type: ignore[union-attr]
        assert entry.actor_id == org.users["analyst@A"]  # type: ignore[union-attr]


def test_viewer_reads_only_and_sibling_units_see_nothing(db, org, actor_of, make_claim):  # type: ignore[no-untyped-def]
    cid = make_claim(org.units["A1"])
    viewer = actor_of(org.users["viewer@A"])
    sibling = actor_of(org.users["admin@B"])
    with db.session() as s:
        assert queries.claim(s, viewer, cid).id == cid
        with pytest.raises(PermissionDenied):
            services.update_claim(s, viewer, cid, ClaimUpdate(status="true"))
        with pytest.raises(PermissionDenied):
            services.create_claim(s, viewer, _data(org.units["A"], texts=[{"lang": "en", "text": "Another rumour"}]))
        with pytest.raises(NotFound):
            queries.claim(s, sibling, cid)
        with pytest.raises(NotFound):
            services.delete_claim(s, sibling, cid)
        with pytest.raises(NotFound):  # B's admin cannot create in A's subtree either
            services.create_claim(s, sibling, _data(org.units["A"], texts=[{"lang": "en", "text": "Rumour x y z"}]))
        assert queries.claims(s, sibling).total == 0 and queries.claims(s, viewer).total == 1
        assert queries.claims(s, viewer, status="true").total == 0


def test_units_below_read_the_verdicts_of_the_units_above_but_cannot_change_them(db, org, actor_of, make_claim):  # type: ignore[no-untyped-def]
    """A province answers a rumour with its ministry's official correction: it reads the ministry's claims."""
    cid = make_claim(org.units["R"])
    below = actor_of(org.users["admin@B"])  # admin of B, a child of R, with no role on R itself
    with db.session() as s:
        assert queries.claim(s, below, cid).id == cid
        assert [c.id for c in queries.claims(s, below).items] == [cid]
        with pytest.raises(NotFound):  # reading from above gives no right to change it
            services.update_claim(s, below, cid, ClaimUpdate(status="true"))
    cid_a = make_claim(org.units["A"], text="A sideways rumour about wells")
    with db.session() as s:  # a sibling's claims stay out of sight
        with pytest.raises(NotFound):
            queries.claim(s, below, cid_a)
        assert cid_a not in [c.id for c in queries.claims(s, below).items]


def test_duplicate_wording_in_the_same_unit_is_refused_with_a_clear_message(db, org, make_claim):  # type: ignore[no-untyped-def]
    from tests.claims.conftest import SYS

    cid = make_claim(org.units["A"])
    with db.session() as s:
        with pytest.raises(Conflict) as exc:
            services.create_claim(s, SYS, _data(org.units["A"], texts=[{"lang": "en", "text": "  " + CLAIM_EN.upper()}]))
        assert f"Claim {cid}" in exc.value.message and "already has the wording" in exc.value.message
    # the same wording in another unit is a different claim
    make_claim(org.units["B"])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Claim)) == 2


@pytest.mark.parametrize("over, message", [
    ({"texts": [{"lang": "en", "text": "   "}]}, "the claim text is empty"),
    ({"texts": []}, "at least 1"),
    ({"status": "fake"}, "Input should be"),
    ({"correction_url": "javascript:alert(1)"}, "must be a web address starting with http"),
    ({"correction_url": "ftp://example.org/x"}, "must be a web address starting with http"),
    ({"texts": [{"lang": "en", "text": "x" * 2001}]}, "too long"),
    ({"texts": [{"lang": "fr", "text": "La rumeur"}]}, "Input should be"),
    ({"correction": {"de": "Nein"}}, "unknown correction language"),
])
def test_bad_input_is_refused_naming_the_problem(over, message):  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as exc:
        _data(1, **over)
    assert message in str(exc.value)


def test_adding_from_an_item_is_one_click_and_attaches_the_item(db, org, collect, actor_of):  # type: ignore[no-untyped-def]
    ids = collect(org.units["A1"], ["<b>Tap water</b> in the capital is poisoned with chlorine, do not drink it"],
                  embed=False)
    analyst = actor_of(org.users["analyst@A"])
    with db.session() as s:
        c = services.claim_from_item(s, analyst, ids[0])
        assert c.status == "unverified" and c.unit_id == org.units["A1"] and c.source_item_id == ids[0]
        assert c.texts[0].text.startswith("<b>Tap water</b>") and c.texts[0].lang == "en"
        found = queries.claims_for_item(s, analyst, ids[0])
        assert [f.claim.id for f in found] == [c.id] and found[0].method == "manual"
        again = services.claim_from_item(s, analyst, ids[0])
        assert again.id == c.id
    with db.session() as s, pytest.raises(NotFound):
        services.claim_from_item(s, actor_of(org.users["admin@B"]), ids[0])
    with db.session() as s, pytest.raises(PermissionDenied):
        services.claim_from_item(s, actor_of(org.users["viewer@A"]), ids[0])
