"""The external reviewer link: signed, expiring, single-use, single-post, audited; through the services and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from civicpulse.db.base import utcnow
from civicpulse.domain.errors import Conflict, NotFound, PermissionDenied
from civicpulse.domain.org.models import AuditEntry
from civicpulse.domain.publishing import queries
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.models import ApprovalEvent
from civicpulse.domain.publishing.schemas import ExternalDecisionIn, ExternalLinkIn
from tests.publishing import support


def _submitted(db, cfg, org):  # type: ignore[no-untyped-def]
    ch = support.channel(db, cfg, org.units["A"])
    editor = support.actor(db, org.users["editor@A"])
    pid = support.post(db, editor, org.units["A"], [ch], at=utcnow() + dt.timedelta(hours=3))
    with db.session() as s:
        pub.submit(s, editor, pid)
    with db.session() as s:
        link, token = pub.create_review_link(s, editor, cfg, pid, ExternalLinkIn(reviewer="Minister's secretary",
                                                                                  hours=24))
    return pid, token, editor


def test_external_reviewer_approves_once_and_it_is_audited(db, cfg, org):
    pid, token, editor = _submitted(db, cfg, org)
    with db.session() as s:
        view = pub.external_review_view(s, cfg, token)
        assert view.post.id == pid and view.can_decide and len(view.variants) == 1
    with db.session() as s:
        pub.external_review_decide(s, cfg, token, ExternalDecisionIn(decision="approve", comment="Approved by the "
                                                                     "minister", name="K. Somsak"), ip="10.0.0.9")
    with db.session() as s:
        assert queries.post(s, editor, pid).review_status == "approved"
        (ev,) = s.scalars(select(ApprovalEvent).where(ApprovalEvent.action == "approved"))
        assert ev.external and ev.actor_label == "K. Somsak (external reviewer)"
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "post.approve"))
        assert entry.via == "external" and entry.ip == "10.0.0.9"
    with db.session() as s, pytest.raises(Conflict, match="already used"):
        pub.external_review_decide(s, cfg, token, ExternalDecisionIn(decision="approve", name="someone else"))
    with db.session() as s, pytest.raises(Conflict):
        pub.external_review_view(s, cfg, token)


def test_tampered_and_foreign_tokens_are_refused(db, cfg, org):
    pid, token, _ = _submitted(db, cfg, org)
    link_id, post_id, exp, nonce, sig = token.split(".")
    for bad in (f"{link_id}.{int(post_id) + 1}.{exp}.{nonce}.{sig}",  # another post
                f"{link_id}.{post_id}.{int(exp) + 86400}.{nonce}.{sig}",  # a longer life
                f"{link_id}.{post_id}.{exp}.{nonce}.{'0' * len(sig)}", "garbage", ""):
        with db.session() as s, pytest.raises(NotFound):
            pub.external_review_view(s, cfg, bad)
    other = cfg.model_copy(update={"secret_key": "a-different-secret-key-0123456789-abcdefghij"})
    with db.session() as s, pytest.raises(NotFound):
        pub.external_review_view(s, other, token)


def test_expired_link_is_refused(db, cfg, org, monkeypatch):
    _pid, token, _ = _submitted(db, cfg, org)
    later = utcnow() + dt.timedelta(hours=25)
    monkeypatch.setattr(pub, "utcnow", lambda: later)
    with db.session() as s, pytest.raises(PermissionDenied, match="expired"):
        pub.external_review_decide(s, cfg, token, ExternalDecisionIn(decision="approve", name="late"))


def test_request_changes_through_the_api_without_an_account(client, db, cfg, org):
    pid, token, _ = _submitted(db, cfg, org)
    anon = client
    r = anon.get(f"/api/v1/external-review/{token}")
    assert r.status_code == 200 and r.json()["post"]["id"] == pid and r.json()["can_decide"]
    r = anon.post(f"/api/v1/external-review/{token}", json={"decision": "request_changes", "comment": "",
                                                            "name": "Secretary"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    r = anon.post(f"/api/v1/external-review/{token}", json={"decision": "request_changes",
                                                            "comment": "Use the new hotline", "name": "Secretary"})
    assert r.status_code == 200 and r.json()["review_status"] == "draft"
    r = anon.post(f"/api/v1/external-review/{token}", json={"decision": "approve", "name": "Secretary"})
    assert r.status_code == 409
    assert anon.get("/api/v1/external-review/1.1.1.x.y").status_code == 404
