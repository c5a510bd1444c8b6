"""Authorization matrix of /api/v1, generated from one declarative rule.

For every role held on unit A (with its subtree) × every target (own unit A, child A1, sibling B) ×
every read and write endpoint of the organisation API, the expected outcome is COMPUTED by
:func:`expected` from the rule, not written case by case:

* reads need any role covering the unit;
* writes on units / users / roles, and the audit log, need the admin role covering the unit
  (deleting a unit also needs admin on its parent: a unit cannot remove itself from its parent);
* a unit not covered at all is 404 (the network's shape stays private);
* covered but with too small a role is 403.

A successful write must show its side effect in the database and an audit entry by the acting
person; a refusal must leave the database exactly as it was.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select

from civicpulse.domain.org.models import RoleAssignment, Unit, User
from tests.org.support import (
    HOME,
    ROLES,
    TARGETS,
    World,
    audit_after,
    covers,
    expected,
    max_audit_id,
    snapshot,
)

API = "/api/v1"


# ------------------------------------------------------------------ the endpoints


@dataclasses.dataclass(frozen=True)
class Endpoint:
    name: str
    need: str  # list | read | admin | admin+parent
    method: str
    url: Callable[[World, str], str]
    ok: int = 200
    body: Callable[[World, str, str], dict[str, Any]] | None = None
    prepare: Callable[[World, str], None] | None = None
    # checks the answer / the side effect of a success: (world, target, role, response)
    check: Callable[[World, str, str, Any], None] | None = None
    audit: str | None = None  # the audit action a successful write records

    def __str__(self) -> str:
        return self.name


def _unit(w: World, target: str) -> Unit | None:
    with w.db.session() as s:
        return s.get(Unit, w.units[target])


def _user(w: World, key: str) -> User:
    with w.db.session() as s:
        u = s.get(User, w.users[key])
        assert u is not None
        _ = list(u.roles)
        return u


def check_units_list(w: World, target: str, role: str, r: Any) -> None:
    ids = {u["id"] for u in r.json()["items"]}
    assert (w.units[target] in ids) == covers(HOME, target)
    assert w.units["R"] not in ids and w.units["B"] not in ids  # nothing above or beside A leaks


def check_unit_get(w: World, target: str, role: str, r: Any) -> None:
    assert r.json()["id"] == w.units[target]
    assert r.json()["code"] == target


def check_unit_created(w: World, target: str, role: str, r: Any) -> None:
    new = r.json()
    with w.db.session() as s:
        u = s.get(Unit, new["id"])
        assert u is not None and u.parent_id == w.units[target]
        parent = s.get(Unit, w.units[target])
        assert u.path == f"{parent.path}{u.id}/"


def check_unit_patched(w: World, target: str, role: str, r: Any) -> None:
    assert _unit(w, target).names["en"] == f"Renamed {target}"


def check_unit_deleted(w: World, target: str, role: str, r: Any) -> None:
    assert _unit(w, target) is None


def check_users_list(w: World, target: str, role: str, r: Any) -> None:
    ids = {u["id"] for u in r.json()["items"]}
    assert w.resident(target) in ids


def check_user_get(w: World, target: str, role: str, r: Any) -> None:
    assert r.json()["id"] == w.resident(target)
    assert {x["unit_id"] for x in r.json()["roles"]} == {w.units[target]}


def check_user_created(w: World, target: str, role: str, r: Any) -> None:
    with w.db.session() as s:
        u = s.scalar(select(User).where(User.email == f"new-{role}-{target.lower()}@example.org"))
        assert u is not None
        assert [(ra.unit_id, ra.role) for ra in u.roles] == [(w.units[target], "viewer")]


def check_user_patched(w: World, target: str, role: str, r: Any) -> None:
    assert _user(w, f"res@{target}").display_name == f"Renamed resident {target}"


def check_role_added(w: World, target: str, role: str, r: Any) -> None:
    roles = {(ra.unit_id, ra.role) for ra in _user(w, f"res@{target}").roles}
    assert (w.units[target], "editor") in roles


def check_role_removed(w: World, target: str, role: str, r: Any) -> None:
    with w.db.session() as s:
        assert s.get(RoleAssignment, w.resident_role[target]) is None


def check_audit_list(w: World, target: str, role: str, r: Any) -> None:
    items = r.json()["items"]
    assert items, "the target unit has audit entries (its creation at least)"
    assert {e["unit_id"] for e in items} == {w.units[target]}


def check_audit_csv(w: World, target: str, role: str, r: Any) -> None:
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["id", "at", "actor_id"]
    assert len(rows) > 1
    assert {row[5] for row in rows[1:]} == {str(w.units[target])}


def drop_resident_role(w: World, target: str) -> None:
    """A unit can only be deleted when nobody holds a role on it: remove the resident's first."""
    with w.db.session() as s:
        s.execute(delete(RoleAssignment).where(RoleAssignment.id == w.resident_role[target]))


ENDPOINTS = [
    Endpoint("units.list", "list", "GET", lambda w, t: f"{API}/units?per_page=200", check=check_units_list),
    Endpoint("units.get", "read", "GET", lambda w, t: f"{API}/units/{w.units[t]}", check=check_unit_get),
    Endpoint("units.create_child", "admin", "POST", lambda w, t: f"{API}/units", ok=201,
             body=lambda w, t, role: {"code": f"NEW-{role}-{t}", "parent_id": w.units[t], "names": {"en": "New"}},
             check=check_unit_created, audit="unit.create"),
    Endpoint("units.patch", "admin", "PATCH", lambda w, t: f"{API}/units/{w.units[t]}",
             body=lambda w, t, role: {"names": {"en": f"Renamed {t}"}}, check=check_unit_patched, audit="unit.update"),
    Endpoint("units.delete", "admin+parent", "DELETE", lambda w, t: f"{API}/units/{w.units[t]}", ok=204,
             prepare=drop_resident_role, check=check_unit_deleted, audit="unit.delete"),
    Endpoint("users.list", "read", "GET", lambda w, t: f"{API}/users?unit_id={w.units[t]}&per_page=200",
             check=check_users_list),
    Endpoint("users.get", "read", "GET", lambda w, t: f"{API}/users/{w.resident(t)}", check=check_user_get),
    Endpoint("users.create", "admin", "POST", lambda w, t: f"{API}/users", ok=201,
             body=lambda w, t, role: {"email": f"new-{role}-{t.lower()}@example.org", "display_name": "New person",
                                      "password": "a-long-enough-password",
                                      "roles": [{"unit_id": w.units[t], "role": "viewer"}]},
             check=check_user_created, audit="user.create"),
    Endpoint("users.patch", "admin", "PATCH", lambda w, t: f"{API}/users/{w.resident(t)}",
             body=lambda w, t, role: {"display_name": f"Renamed resident {t}"}, check=check_user_patched,
             audit="user.update"),
    Endpoint("roles.add", "admin", "POST", lambda w, t: f"{API}/users/{w.resident(t)}/roles", ok=201,
             body=lambda w, t, role: {"unit_id": w.units[t], "role": "editor"}, check=check_role_added,
             audit="role.grant"),
    Endpoint("roles.remove", "admin", "DELETE",
             lambda w, t: f"{API}/users/{w.resident(t)}/roles/{w.resident_role[t]}", ok=204,
             check=check_role_removed, audit="role.revoke"),
    Endpoint("audit.list", "admin", "GET", lambda w, t: f"{API}/audit?unit_id={w.units[t]}&per_page=200",
             check=check_audit_list),
    Endpoint("audit.csv", "admin", "GET", lambda w, t: f"{API}/audit.csv?unit_id={w.units[t]}", check=check_audit_csv),
]


def test_the_matrix_covers_every_org_route(world: World) -> None:
    """A new /api/v1 org route must be added to ENDPOINTS (or to the list of personal routes below)."""
    personal = {"/api/v1/me", "/api/v1/me/tokens", "/api/v1/me/tokens/{token_id}"}
    covered = {
        ("GET", "/api/v1/units"), ("GET", "/api/v1/units/{unit_id}"), ("POST", "/api/v1/units"),
        ("PATCH", "/api/v1/units/{unit_id}"), ("DELETE", "/api/v1/units/{unit_id}"), ("GET", "/api/v1/users"),
        ("GET", "/api/v1/users/{user_id}"), ("POST", "/api/v1/users"), ("PATCH", "/api/v1/users/{user_id}"),
        ("POST", "/api/v1/users/{user_id}/roles"), ("DELETE", "/api/v1/users/{user_id}/roles/{role_id}"),
        ("GET", "/api/v1/audit"), ("GET", "/api/v1/audit.csv"),
    }
    assert len(covered) == len(ENDPOINTS)
    from civicpulse.web.api.org import router

    found = {(m, "/api/v1" + r.path) for r in router.routes for m in r.methods if "/api/v1" + r.path not in personal}
    assert found == covered


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_api_matrix(w: World, endpoint: Endpoint, role: str, target: str) -> None:
    key = f"{role}@{HOME}"
    want = expected(role, target, endpoint.need)
    if endpoint.prepare:
        endpoint.prepare(w, target)
    before = snapshot(w.db)
    last_audit = max_audit_id(w.db)
    client = w.anonymous()
    body = endpoint.body(w, target, role) if endpoint.body else None
    r = client.request(endpoint.method, endpoint.url(w, target), json=body, headers=w.bearer(key))

    if want in ("ok", "absent"):
        assert r.status_code == endpoint.ok, r.text
        assert endpoint.check is not None
        if want == "ok":
            endpoint.check(w, target, role, r)
        else:
            ids = {u["id"] for u in r.json()["items"]}
            assert w.units[target] not in ids
        if endpoint.method == "GET":
            assert snapshot(w.db) == before, "a read changed the database"
        else:
            entries = audit_after(w.db, last_audit, endpoint.audit)
            assert entries, f"no {endpoint.audit} audit entry"
            assert all(e.actor_id == w.users[key] and e.via == "api" for e in entries)
    else:
        assert r.status_code == want, r.text
        err = r.json()["error"]
        assert err["code"] == {403: "forbidden", 404: "not_found"}[want]
        assert err["message"]
        assert snapshot(w.db) == before, "a refused request changed the database"
