"""Optimistic locking, version history and diff, copy to a child unit (and cycles), bad input leaves the DB unchanged."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from civicpulse.domain.org.models import AuditEntry
from civicpulse.domain.plans.models import Plan, PlanVersion
from tests.plans.conftest import H, body, day


@pytest.fixture
def ed(org, token_for):  # type: ignore[no-untyped-def]
    return H(token_for(org.users["editor@A"]))


def _counts(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(Plan)), s.scalar(select(func.count()).select_from(PlanVersion)),
                s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("plan.%"))))


def test_stale_save_gets_409_and_nothing_is_overwritten(client, db, org, make_plan, ed):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    v = client.get(f"/api/v1/plans/{pid}", headers=ed).json()["version"]
    first = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"version": v, "title": "Alice's title",
                                                                    "note": "retitled"})
    assert first.status_code == 200 and first.json()["version"] == v + 1
    before = _counts(db)
    second = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"version": v, "title": "Bob's title"})
    assert second.status_code == 409
    err = second.json()["error"]
    assert err["code"] == "conflict" and "changed by someone else" in err["message"]
    assert err["details"] == {"current_version": v + 1, "your_version": v}
    now = client.get(f"/api/v1/plans/{pid}", headers=ed).json()
    assert now["title"] == "Alice's title" and now["version"] == v + 1
    assert _counts(db) == before
    # a missing version is refused outright
    r = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"title": "no version"})
    assert r.status_code == 422 and "version" in r.text


def test_history_and_diff(client, org, make_plan, ed):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    p = client.get(f"/api/v1/plans/{pid}", headers=ed).json()
    s = copy.deepcopy(p["sections"])
    s["tactics"][0]["budget"] = "2000000.00"
    s["tactics"].append({"name": "Radio spots", "channels": ["radio"], "start": day(20), "end": day(30),
                         "budget": 0, "currency": "THB"})
    s["risks"] = []
    r = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"version": p["version"], "summary": "New strategy",
                                                               "sections": {"tactics": s["tactics"], "risks": []},
                                                               "note": "budget up"})
    assert r.status_code == 200, r.text
    new_id = r.json()["sections"]["tactics"][2]["id"]
    assert new_id.startswith("t") and len(new_id) == 9
    hist = client.get(f"/api/v1/plans/{pid}/versions", headers=ed).json()
    assert [h["number"] for h in hist] == [2, 1] and hist[0]["note"] == "budget up"
    d = client.get(f"/api/v1/plans/{pid}/diff?from=1&to=2", headers=ed).json()
    ch = {(c["section"], c["kind"], c.get("field")) for c in d["changes"]}
    assert ("plan", "changed", "summary") in ch
    assert ("tactics", "changed", "budget") in ch
    assert ("tactics", "added", None) in ch
    assert ("risks", "removed", None) in ch
    budget = next(c for c in d["changes"] if c.get("field") == "budget")
    assert budget["before"] == "1000000" and budget["after"] == "2000000.00"
    assert "-    budget: 1000000" in d["text"] and "+    budget: 2000000.00" in d["text"]
    assert "+- [" in d["text"] and "Radio spots" in d["text"]
    snap = client.get(f"/api/v1/plans/{pid}/versions/1", headers=ed).json()["snapshot"]
    assert snap["summary"].startswith("Explain the new fines")
    assert client.get(f"/api/v1/plans/{pid}/diff?from=1&to=9", headers=ed).status_code == 404
    assert client.get(f"/api/v1/plans/{pid}/diff?from=1&to=1", headers=ed).status_code == 422


def test_copy_to_child_and_cycles(client, db, org, make_plan, token_for):  # type: ignore[no-untyped-def]
    root = H(token_for(org.users["root-admin"]))
    pid = make_plan(org.units["A"])
    r = client.post(f"/api/v1/plans/{pid}/copy", headers=root, json={"unit_id": org.units["A1"]})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["unit_id"] == org.units["A1"] and c["copied_from_id"] == pid and c["status"] == "draft"
    assert c["sections"]["messages"] == client.get(f"/api/v1/plans/{pid}", headers=root).json()["sections"]["messages"]
    assert all(t["owner_unit_id"] == org.units["A"] or t["owner_unit_id"] == org.units["A1"]
               for t in c["sections"]["tactics"])
    notes = client.get(f"/api/v1/plans/notifications?unit_id={org.units['A1']}", headers=root).json()
    assert notes[0]["kind"] == "copied"
    before = _counts(db)
    for target, msg in (("B", "not below"), ("A", "not below"), ("R", "not below")):
        r = client.post(f"/api/v1/plans/{pid}/copy", headers=root, json={"unit_id": org.units[target]})
        assert r.status_code == 422 and msg in r.json()["error"]["message"], (target, r.text)
    # B's admin cannot even see A's plan; A's editor cannot copy to B (invisible to them)
    assert client.post(f"/api/v1/plans/{pid}/copy", headers=H(token_for(org.users["admin@B"])),
                       json={"unit_id": org.units["B"]}).status_code == 404
    assert client.post(f"/api/v1/plans/{pid}/copy", headers=H(token_for(org.users["editor@A"])),
                       json={"unit_id": org.units["B"]}).status_code == 404
    # a lineage that would loop: make A's plan claim to be a copy of its own copy (e.g. after units moved)
    with db.session() as s:
        s.get(Plan, pid).copied_from_id = c["id"]
    r = client.post(f"/api/v1/plans/{pid}/copy", headers=root, json={"unit_id": org.units["A1"]})
    assert r.status_code == 422 and "cycle" in r.json()["error"]["message"]
    r = client.post(f"/api/v1/plans/{c['id']}/copy", headers=root, json={"unit_id": org.units["A1"]})
    assert r.status_code == 422
    assert _counts(db) == before


BAD = [
    ("deadline before baseline", lambda b: b["sections"]["objectives"][0].update(baseline_date=day(100)),
     "must come after the baseline date"),
    ("deadline in the past", lambda b: b["sections"]["objectives"][0].update(deadline=day(-1), baseline_date=day(-30)),
     "is in the past"),
    ("negative budget", lambda b: b["sections"]["tactics"][0].update(budget="-5"), "cannot be negative"),
    ("unknown currency", lambda b: b["sections"]["tactics"][0].update(currency="XYZ"), "unknown currency 'XYZ'"),
    ("end before start", lambda b: b["sections"]["tactics"][0].update(end=day(1)), "ends"),
    ("forbidden phrasing", lambda b: b["sections"]["messages"][0]["text"].update(en="The crackdown starts"),
     "forbidden phrasing 'crackdown'"),
    ("unknown audience", lambda b: b["sections"]["tactics"][1].update(audience_id="zz"), "unknown audience"),
    ("duplicate ids", lambda b: b["sections"]["tactics"][1].update(id="t1"), "used twice"),
    ("kpi without topic", lambda b: b["sections"]["kpis"][0].update(metric="negative_share"), "link at least one"),
    ("unknown topic", lambda b: b["sections"]["audiences"][0].update(topic_ids=[999]), "Saved topic 999"),
    ("plan ends before it starts", lambda b: b.update(end_date=day(-5)), "ends before it starts"),
]


@pytest.mark.parametrize(("name", "mutate", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_and_nothing_changes(client, db, org, ed, name, mutate, message):  # type: ignore[no-untyped-def]
    b = body(org.units["A"])
    mutate(b)
    before = _counts(db)
    r = client.post("/api/v1/plans", headers=ed, json=b)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"], r.json()
    assert _counts(db) == before


def test_bad_update_leaves_the_plan_as_it_was(client, db, org, make_plan, ed):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    p = client.get(f"/api/v1/plans/{pid}", headers=ed).json()
    before = _counts(db)
    tactics = copy.deepcopy(p["sections"]["tactics"])
    tactics[0]["owner_unit_id"] = org.units["B"]
    r = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"version": p["version"], "title": "Changed",
                                                               "sections": {"tactics": tactics}})
    assert r.status_code == 422 and "owner unit" in r.json()["error"]["message"]
    tactics[0]["owner_unit_id"] = org.units["A1"]
    tactics[0]["budget"] = -1
    r = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"version": p["version"], "title": "Changed",
                                                               "sections": {"tactics": tactics}})
    assert r.status_code == 422 and "cannot be negative" in r.json()["error"]["message"]
    r = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"version": p["version"],
                                                               "sections": {"nonsense": []}})
    assert r.status_code == 422 and "unknown section" in r.text
    objectives = copy.deepcopy(p["sections"]["objectives"])
    objectives[0]["deadline"] = day(-3)
    objectives[0]["baseline_date"] = day(-40)
    r = client.patch(f"/api/v1/plans/{pid}", headers=ed, json={"version": p["version"],
                                                               "sections": {"objectives": objectives}})
    assert r.status_code == 422 and "in the past" in r.json()["error"]["message"]
    assert client.get(f"/api/v1/plans/{pid}", headers=ed).json() == p
    assert _counts(db) == before
