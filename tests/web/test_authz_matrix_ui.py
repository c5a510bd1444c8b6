"""Authorization matrix of the web UI, from the same declarative rule as the API matrix.

Each role-holder on A is signed in through the real login form (once per module; the world's
restore brings their server-side sessions back) and every form is posted with the session's CSRF
token. The expected outcome of each role × target (A, A1, B) × route is computed by
``tests.org.support.expected``; successes must show their side effect and an audit entry made
through the UI, refusals must leave the database unchanged.
"""

from __future__ import annotations

import dataclasses
import re
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
    expected,
    max_audit_id,
    snapshot,
)


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    need: str  # list | read | admin | admin+parent
    method: str
    url: Callable[[World, str], str]
    ok: int = 303
    form: Callable[[World, str, str], dict[str, str]] | None = None
    prepare: Callable[[World, str], None] | None = None
    check: Callable[[World, str, str, Any], None] | None = None
    audit: str | None = None

    def __str__(self) -> str:
        return self.name


def _unit(w: World, target: str) -> Unit | None:
    with w.db.session() as s:
        return s.get(Unit, w.units[target])


def _roles(w: World, key: str) -> set[tuple[int, str]]:
    with w.db.session() as s:
        return {(ra.unit_id, ra.role) for ra in s.scalars(select(RoleAssignment).where(
            RoleAssignment.user_id == w.users[key]))}


def listed_in_tree(w: World, target: str, role: str, r: Any) -> bool:
    return f'id="unit-{w.units[target]}"' in r.text


def check_tree(w: World, target: str, role: str, r: Any) -> None:
    assert listed_in_tree(w, target, role, r)
    assert f'id="unit-{w.units["B"]}"' not in r.text and f'id="unit-{w.units["R"]}"' not in r.text


def check_new_form(w: World, target: str, role: str, r: Any) -> None:
    assert re.search(rf'<option value="{w.units[target]}"[^>]*selected', r.text), "the parent is preselected"


def check_created(w: World, target: str, role: str, r: Any) -> None:
    with w.db.session() as s:
        u = s.scalar(select(Unit).where(Unit.code == f"UI-{role}-{target}"))
        assert u is not None and u.parent_id == w.units[target]
    assert r.headers["location"] == f"/units#unit-{u.id}"


def check_edit_form(w: World, target: str, role: str, r: Any) -> None:
    assert f'action="/units/{w.units[target]}/edit"' in r.text


def edit_form(w: World, target: str, role: str) -> dict[str, str]:
    u = _unit(w, target)
    assert u is not None
    form = {"version": str(u.version), "kind": u.kind, "name_en": f"Renamed {target}", "name_th": u.names["th"],
            "name_vi": u.names["vi"], "timezone": u.timezone, "default_language": u.default_language}
    if target != HOME:  # the form offers no parent for the admin's own top unit (nothing above it is theirs)
        form["parent_id"] = str(u.parent_id)
    return form


def check_edited(w: World, target: str, role: str, r: Any) -> None:
    u = _unit(w, target)
    assert u is not None and u.names["en"] == f"Renamed {target}" and u.names["th"] == f"หน่วย {target}"


def check_deleted(w: World, target: str, role: str, r: Any) -> None:
    assert _unit(w, target) is None


def drop_resident_role(w: World, target: str) -> None:
    with w.db.session() as s:
        s.execute(delete(RoleAssignment).where(RoleAssignment.id == w.resident_role[target]))


def check_user_created(w: World, target: str, role: str, r: Any) -> None:
    with w.db.session() as s:
        u = s.scalar(select(User).where(User.email == f"ui-{role}-{target.lower()}@example.org"))
        assert u is not None
        assert [(ra.unit_id, ra.role, ra.include_subtree) for ra in u.roles] == [(w.units[target], "viewer", True)]
    assert r.headers["location"] == f"/users/{u.id}"


def check_user_page(w: World, target: str, role: str, r: Any) -> None:
    assert f"Resident of {target}" in r.text


def check_users_list(w: World, target: str, role: str, r: Any) -> None:
    assert f"/users/{w.resident(target)}" in r.text


def check_role_added(w: World, target: str, role: str, r: Any) -> None:
    assert (w.units[target], "editor") in _roles(w, f"res@{target}")


def check_role_removed(w: World, target: str, role: str, r: Any) -> None:
    assert _roles(w, f"res@{target}") == set()


def check_deactivated(w: World, target: str, role: str, r: Any) -> None:
    with w.db.session() as s:
        assert s.get(User, w.resident(target)).is_active is False


def check_audit_page(w: World, target: str, role: str, r: Any) -> None:
    assert "unit.create" in r.text


ROUTES = [
    Route("units", "list", "GET", lambda w, t: "/units", ok=200, check=check_tree),
    Route("units.new.form", "admin", "GET", lambda w, t: f"/units/new?parent={w.units[t]}", ok=200,
          check=check_new_form),
    Route("units.new", "admin", "POST", lambda w, t: "/units/new",
          form=lambda w, t, role: {"code": f"UI-{role}-{t}", "parent_id": str(w.units[t]), "kind": "bureau",
                                   "name_en": "New unit", "timezone": "Asia/Bangkok", "default_language": "en"},
          check=check_created, audit="unit.create"),
    Route("units.edit.form", "admin", "GET", lambda w, t: f"/units/{w.units[t]}/edit", ok=200, check=check_edit_form),
    Route("units.edit", "admin", "POST", lambda w, t: f"/units/{w.units[t]}/edit", form=edit_form,
          check=check_edited, audit="unit.update"),
    Route("units.delete", "admin+parent", "POST", lambda w, t: f"/units/{w.units[t]}/delete",
          prepare=drop_resident_role, check=check_deleted, audit="unit.delete"),
    Route("users.list", "read", "GET", lambda w, t: f"/users?unit_id={w.units[t]}", ok=200, check=check_users_list),
    Route("users.new", "admin", "POST", lambda w, t: "/users/new",
          form=lambda w, t, role: {"email": f"ui-{role}-{t.lower()}@example.org", "display_name": "New person",
                                   "language": "th", "unit_id": str(w.units[t]), "role": "viewer",
                                   "include_subtree": "true", "password": "a-long-enough-password"},
          check=check_user_created, audit="user.create"),
    Route("users.detail", "read", "GET", lambda w, t: f"/users/{w.resident(t)}", ok=200, check=check_user_page),
    Route("users.roles.add", "admin", "POST", lambda w, t: f"/users/{w.resident(t)}/roles",
          form=lambda w, t, role: {"unit_id": str(w.units[t]), "role": "editor", "include_subtree": "true"},
          check=check_role_added, audit="role.grant"),
    Route("users.roles.delete", "admin", "POST",
          lambda w, t: f"/users/{w.resident(t)}/roles/{w.resident_role[t]}/delete",
          check=check_role_removed, audit="role.revoke"),
    Route("users.active", "admin", "POST", lambda w, t: f"/users/{w.resident(t)}/active",
          form=lambda w, t, role: {"active": "false"}, check=check_deactivated, audit="user.update"),
    Route("audit", "admin", "GET", lambda w, t: f"/audit?unit_id={w.units[t]}", ok=200, check=check_audit_page),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_ui_matrix(w: World, route: Route, role: str, target: str) -> None:
    key = f"{role}@{HOME}"
    client = w.clients[key]
    want = expected(role, target, route.need)
    if route.prepare:
        route.prepare(w, target)
    before = snapshot(w.db)
    last_audit = max_audit_id(w.db)
    if route.method == "GET":
        r = client.get(route.url(w, target), follow_redirects=False)
    else:
        form = route.form(w, target, role) if route.form else {}
        r = client.post(route.url(w, target), data={**form, "csrf_token": w.csrf[key]}, follow_redirects=False)

    if want in ("ok", "absent"):
        assert r.status_code == route.ok, r.text[-2000:]
        assert route.check is not None
        if want == "ok":
            route.check(w, target, role, r)
        else:
            assert not listed_in_tree(w, target, role, r)
        if route.method == "GET":
            assert snapshot(w.db) == before, "a page view changed the database"
        else:
            entries = audit_after(w.db, last_audit, route.audit)
            assert entries, f"no {route.audit} audit entry"
            assert all(e.actor_id == w.users[key] and e.via == "ui" for e in entries)
    else:
        assert r.status_code == want, r.text[-2000:]
        assert 'role="alert"' in r.text, "the refusal is explained on the page"
        assert snapshot(w.db) == before, "a refused request changed the database"


@pytest.mark.parametrize("role", ROLES)
def test_ui_audit_without_filter_is_for_admins_only(w: World, role: str) -> None:
    r = w.clients[f"{role}@{HOME}"].get("/audit", follow_redirects=False)
    assert r.status_code == (200 if role == "admin" else 403)
    if role == "admin":  # the admin of A sees A's history but nothing of B
        assert "res.at.a1@example.org" in r.text  # the creation of A1's resident, filed under A1
        assert "admin.at.b@example.org" not in r.text


def test_signed_out_visitor_is_sent_to_login(w: World) -> None:
    anon = w.anonymous()
    for path in ("/units", "/users", f"/users/{w.resident('A')}", "/audit", "/units/new", "/tokens"):
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
