"""Permissions of the plans API by role on unit A × plan in A (own), A1 (child) and B (sibling)."""

from __future__ import annotations

import pytest

from tests.plans.conftest import ALL_SCORES, H, body

ROLES = ("viewer", "analyst", "editor", "approver", "admin")
CAN_EDIT = {"editor", "approver", "admin"}
CAN_APPROVE = {"approver", "admin"}


@pytest.fixture
def plans(org, make_plan):  # type: ignore[no-untyped-def]
    return {where: make_plan(org.units[where], title=f"Plan of {where}") for where in ("A", "A1", "B")}


@pytest.fixture
def tokens(org, token_for):  # type: ignore[no-untyped-def]
    return {key: token_for(uid) for key, uid in org.users.items()}


@pytest.mark.parametrize("role", ROLES)
def test_matrix(client, org, plans, tokens, role):  # type: ignore[no-untyped-def]
    h = H(tokens[f"{role}@A"])
    listed = {p["id"] for p in client.get("/api/v1/plans", headers=h).json()["items"]}
    assert listed == {plans["A"], plans["A1"]}, "own and child visible, sibling never listed"
    for where, visible in (("A", True), ("A1", True), ("B", False)):
        pid = plans[where]
        r = client.get(f"/api/v1/plans/{pid}", headers=h)
        assert r.status_code == (200 if visible else 404), (role, where, r.text)
        version = r.json()["version"] if visible else 1
        r = client.patch(f"/api/v1/plans/{pid}", headers=h, json={"version": version, "title": f"New {where}"})
        expected = 404 if not visible else (200 if role in CAN_EDIT else 403)
        assert r.status_code == expected, (role, where, r.text)
        assert r.json().get("error", {}).get("code") in (None, "forbidden", "not_found")
        for sub in ("versions", "kpis", "insight", "tactics.ics", "export?format=md"):
            r = client.get(f"/api/v1/plans/{pid}/{sub}", headers=h)
            assert r.status_code == (200 if visible else 404), (role, where, sub, r.status_code)
        r = client.put(f"/api/v1/plans/{pid}/checklist", headers=h, json={"scores": ALL_SCORES})
        assert r.status_code == (404 if not visible else (200 if role in CAN_APPROVE else 403)), (role, where)
    for where, code in (("A", 201), ("A1", 201), ("B", 404)):
        r = client.post("/api/v1/plans", headers=h, json=body(org.units[where]))
        want = 404 if code == 404 else (201 if role in CAN_EDIT else 403)
        assert r.status_code == want, (role, where, r.text)


def test_head_office_sees_the_subtree_and_b_never_sees_a(client, org, plans, tokens):  # type: ignore[no-untyped-def]
    root = {p["id"] for p in client.get("/api/v1/plans", headers=H(tokens["root-admin"])).json()["items"]}
    assert root == set(plans.values())
    b = client.get("/api/v1/plans", headers=H(tokens["admin@B"])).json()["items"]
    assert [p["id"] for p in b] == [plans["B"]]
    r = client.get(f"/api/v1/plans/{plans['A']}", headers=H(tokens["admin@B"]))
    assert r.status_code == 404 and "not found" in r.json()["error"]["message"]
    r = client.get(f"/api/v1/plans/{plans['A']}/export?format=pdf", headers=H(tokens["admin@B"]))
    assert r.status_code == 404
    sub = client.get(f"/api/v1/plans?unit_id={org.units['A']}", headers=H(tokens["root-admin"])).json()["items"]
    assert {p["id"] for p in sub} == {plans["A"], plans["A1"]}
    only = client.get(f"/api/v1/plans?unit_id={org.units['A']}&subtree=false",
                      headers=H(tokens["root-admin"])).json()["items"]
    assert [p["id"] for p in only] == [plans["A"]]


def test_read_only_token_cannot_write(client, org, plans, token_for):  # type: ignore[no-untyped-def]
    h = H(token_for(org.users["admin@A"], scopes=("read",)))
    assert client.get(f"/api/v1/plans/{plans['A']}", headers=h).status_code == 200
    r = client.patch(f"/api/v1/plans/{plans['A']}", headers=h, json={"version": 1, "title": "x"})
    assert r.status_code == 403 and "read-only" in r.json()["error"]["message"]


def test_unauthenticated(client, plans):  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/plans").status_code == 401
    assert client.get(f"/api/v1/plans/{plans['A']}").status_code == 401
