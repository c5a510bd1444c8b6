"""Workflow draft → in_review → approved → active → closed; who may approve; message approval; comments."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from civicpulse.domain.org.models import AuditEntry
from tests.plans.conftest import ALL_SCORES, H


@pytest.fixture
def t(org, token_for):  # type: ignore[no-untyped-def]
    return {k: H(token_for(org.users[k])) for k in ("viewer@A", "editor@A", "approver@A")}


def _go(client, h, pid, to):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/plans/{pid}/transition", headers=h, json={"to": to})


def test_full_workflow_and_who_may_approve(client, db, org, make_plan, t):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A1"])
    assert _go(client, t["viewer@A"], pid, "in_review").status_code == 403
    r = _go(client, t["editor@A"], pid, "approved")
    assert r.status_code == 409 and "cannot become approved" in r.json()["error"]["message"]
    assert _go(client, t["editor@A"], pid, "in_review").json()["status"] == "in_review"
    r = _go(client, t["editor@A"], pid, "approved")
    assert r.status_code == 403 and "approver" in r.json()["error"]["message"]
    r = _go(client, t["approver@A"], pid, "approved")
    assert r.status_code == 422 and "checklist" in r.json()["error"]["message"]
    r = client.put(f"/api/v1/plans/{pid}/checklist", headers=t["editor@A"], json={"scores": ALL_SCORES})
    assert r.status_code == 403
    r = client.put(f"/api/v1/plans/{pid}/checklist", headers=t["approver@A"], json={"scores": ALL_SCORES})
    assert r.status_code == 200 and r.json()["sections"]["checklist"]["scored_by"].startswith("approver.at.a@")
    bad = client.put(f"/api/v1/plans/{pid}/checklist", headers=t["approver@A"],
                     json={"scores": {"honesty": {"score": 2}}})
    assert bad.status_code == 422 and "honesty" in bad.text
    assert _go(client, t["approver@A"], pid, "approved").json()["status"] == "approved"
    # approved: the body is frozen, tactics (live sections) still move
    p = client.get(f"/api/v1/plans/{pid}", headers=t["editor@A"]).json()
    r = client.patch(f"/api/v1/plans/{pid}", headers=t["editor@A"], json={"version": p["version"], "title": "X"})
    assert r.status_code == 409 and "Move it back to draft" in r.json()["error"]["message"]
    tactics = p["sections"]["tactics"]
    tactics[0]["status"] = "done"
    r = client.patch(f"/api/v1/plans/{pid}", headers=t["editor@A"],
                     json={"version": p["version"], "sections": {"tactics": tactics}})
    assert r.status_code == 200, r.text
    assert _go(client, t["editor@A"], pid, "active").status_code == 403
    assert _go(client, t["approver@A"], pid, "active").json()["status"] == "active"
    assert _go(client, t["editor@A"], pid, "closed").status_code == 403
    assert _go(client, t["approver@A"], pid, "closed").json()["status"] == "closed"
    r = client.patch(f"/api/v1/plans/{pid}", headers=t["approver@A"], json={"version": 99, "title": "again"})
    assert r.status_code in (409,)
    with db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(
            AuditEntry.object_type == "plan", AuditEntry.object_id == str(pid)).order_by(AuditEntry.id))]
    assert actions == ["plan.create", "plan.in_review", "plan.checklist", "plan.approved", "plan.update",
                       "plan.active", "plan.closed"]
    versions = client.get(f"/api/v1/plans/{pid}/versions", headers=t["viewer@A"]).json()
    assert [v["number"] for v in versions] == sorted((v["number"] for v in versions), reverse=True)
    assert len(versions) == 7


def test_message_approval_is_the_approvers(client, org, make_plan, t):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    p = client.get(f"/api/v1/plans/{pid}", headers=t["editor@A"]).json()
    msgs = p["sections"]["messages"]
    msgs[0]["approval"] = "approved"
    r = client.patch(f"/api/v1/plans/{pid}", headers=t["editor@A"],
                     json={"version": p["version"], "sections": {"messages": msgs}})
    assert r.status_code == 403 and "approver" in r.json()["error"]["message"]
    r = client.post(f"/api/v1/plans/{pid}/approval", headers=t["editor@A"],
                    json={"item_id": "m1", "approval": "approved"})
    assert r.status_code == 403
    r = client.post(f"/api/v1/plans/{pid}/approval", headers=t["approver@A"],
                    json={"item_id": "m1", "approval": "approved"})
    m = r.json()["sections"]["messages"][0]
    assert m["approval"] == "approved" and m["approved_by"].startswith("approver.at.a@")
    assert client.post(f"/api/v1/plans/{pid}/approval", headers=t["approver@A"],
                       json={"item_id": "nope", "approval": "approved"}).status_code == 404
    # an editor changing an approved text sends it back to draft
    p = client.get(f"/api/v1/plans/{pid}", headers=t["editor@A"]).json()
    msgs = p["sections"]["messages"]
    msgs[0]["text"]["en"] = "Drive carefully"
    r = client.patch(f"/api/v1/plans/{pid}", headers=t["editor@A"],
                     json={"version": p["version"], "sections": {"messages": msgs}})
    assert r.status_code == 200
    assert r.json()["sections"]["messages"][0]["approval"] == "draft"
    assert r.json()["sections"]["messages"][0]["approved_by"] is None


def test_section_comments(client, org, make_plan, t):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    assert client.post(f"/api/v1/plans/{pid}/comments", headers=t["viewer@A"],
                       json={"section": "tactics", "body": "x"}).status_code == 403
    r = client.post(f"/api/v1/plans/{pid}/comments", headers=t["approver@A"],
                    json={"section": "tactics", "body": "Budget for t2 is in USD — use VND?"})
    assert r.status_code == 201
    cid = r.json()["id"]
    assert client.post(f"/api/v1/plans/{pid}/comments", headers=t["approver@A"],
                       json={"section": "nowhere", "body": "x"}).status_code == 422
    assert client.post(f"/api/v1/plans/{pid}/comments", headers=t["approver@A"],
                       json={"section": "tactics", "body": "   "}).status_code == 422
    r = client.post(f"/api/v1/plans/{pid}/comments/{cid}/resolve", headers=t["editor@A"])
    assert r.json()["resolved_by"].startswith("editor.at.a@")
    listed = client.get(f"/api/v1/plans/{pid}/comments?section=tactics", headers=t["viewer@A"]).json()
    assert [c["id"] for c in listed] == [cid]


def test_delete_only_drafts(client, org, make_plan, t):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    _go(client, t["editor@A"], pid, "in_review")
    r = client.delete(f"/api/v1/plans/{pid}", headers=t["editor@A"])
    assert r.status_code == 409
    _go(client, t["editor@A"], pid, "draft")
    assert client.delete(f"/api/v1/plans/{pid}", headers=t["viewer@A"]).status_code == 403
    assert client.delete(f"/api/v1/plans/{pid}", headers=t["editor@A"]).status_code == 204
    assert client.get(f"/api/v1/plans/{pid}", headers=t["editor@A"]).status_code == 404
