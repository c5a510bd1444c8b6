"""CSRF: every state-changing browser request needs the session's token.

The list of UI POST routes is read from the application itself, so a new form route of any area is
checked too. Each is posted by a signed-in administrator with a body that WOULD succeed (so a missing
check shows up as a changed database), without the token, with a wrong one, and with another
session's valid token.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from civicpulse.domain.org import services
from civicpulse.domain.org.models import ApiToken, Unit
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.schemas import UnitCreate
from tests.conftest import PASSWORD
from tests.org.support import World, email, snapshot


def ui_post_routes() -> list[str]:
    from civicpulse.config import Settings
    from civicpulse.web.app import create_app

    app = create_app(Settings(env="test", secret_key="x" * 40, database_url="sqlite://"))
    try:
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: a flat list
        routes = list(app.routes)
    paths = {r.path for r in routes if "POST" in (getattr(r, "methods", None) or set())
             and not r.path.startswith("/api/")}
    return sorted(paths)


UI_POSTS = ui_post_routes()


def test_the_known_forms_are_all_found() -> None:
    for path in ("/login", "/logout", "/language", "/password/forgot", "/password/reset/{token}", "/units/new",
                 "/units/{unit_id}/edit", "/units/{unit_id}/delete", "/users/new", "/users/{user_id}/roles",
                 "/users/{user_id}/roles/{role_id}/delete", "/users/{user_id}/active", "/tokens",
                 "/tokens/{token_id}/revoke"):
        assert path in UI_POSTS


def _prepare(w: World) -> dict[str, Any]:
    """Real ids, and a valid body per known form, so that a post WITHOUT the CSRF check would succeed."""
    sysactor = Actor.system_actor("test", via="cli")
    with w.db.session() as s:
        leaf = services.create_unit(s, sysactor, UnitCreate(code="LEAF", parent_id=w.units["A1"], names={"en": "Leaf"}))
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.user_id == w.users["root-admin"]))
        _user, reset = services.request_password_reset(s, w.cfg, email("viewer@A"), None)  # type: ignore[misc]
        a1_version = s.get(Unit, w.units["A1"]).version
    ids = {"unit_id": w.units["A1"], "user_id": w.resident("A1"), "role_id": w.resident_role["A1"],
           "token_id": token_id, "token": reset}
    forms = {
        "/login": {"email": email("root-admin"), "password": PASSWORD, "next": "/"},
        "/language": {"lang": "th", "next": "/"},
        "/password/forgot": {"email": email("viewer@A")},
        "/password/reset/{token}": {"password": "brand-new-password", "password2": "brand-new-password"},
        "/units/new": {"code": "CSRF", "parent_id": w.units["A1"], "name_en": "Forged"},
        "/units/{unit_id}/edit": {"version": a1_version, "parent_id": w.units["A"], "name_en": "Forged"},
        "/units/{unit_id}/delete": {},
        "/users/new": {"email": "forged@example.org", "display_name": "Forged", "unit_id": w.units["A1"],
                       "role": "admin", "password": "a-long-enough-password"},
        "/users/{user_id}/roles": {"unit_id": w.units["A1"], "role": "admin", "include_subtree": "true"},
        "/users/{user_id}/active": {"active": "false"},
        "/tokens": {"name": "forged", "scope_write": "true"},
    }
    overrides = {"/units/{unit_id}/delete": {"unit_id": leaf.id}}
    return {"ids": ids, "forms": forms, "overrides": overrides}


def _url(path: str, ids: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


@pytest.mark.parametrize("variant", ["missing", "wrong", "other-session"])
@pytest.mark.parametrize("path", UI_POSTS)
def test_ui_post_without_the_right_csrf_token_is_refused(w: World, path: str, variant: str) -> None:
    p = _prepare(w)
    url = _url(path, {**p["ids"], **p["overrides"].get(path, {})})
    form = {k: str(v) for k, v in p["forms"].get(path, {}).items()}
    if variant == "wrong":
        form["csrf_token"] = w.csrf["root-admin"][:-4] + "abcd"
    elif variant == "other-session":
        form["csrf_token"] = w.csrf["admin@B"]
    client = w.clients["root-admin"]
    before = snapshot(w.db, None)
    r = client.post(url, data=form, follow_redirects=False)
    assert r.status_code == 403, (url, r.status_code, r.text[-500:])
    assert "CSRF" in r.text
    assert snapshot(w.db, None) == before, f"{url} changed the database without a valid CSRF token"


@pytest.mark.parametrize("path", ["/language", "/tokens", "/users/{user_id}/active", "/units/{unit_id}/delete"])
def test_the_same_posts_work_with_the_token(w: World, path: str) -> None:
    """The control: what was refused above is accepted with the session's token."""
    p = _prepare(w)
    url = _url(path, {**p["ids"], **p["overrides"].get(path, {})})
    form = {k: str(v) for k, v in p["forms"].get(path, {}).items()}
    before = snapshot(w.db, None)
    r = w.clients["root-admin"].post(url, data={**form, "csrf_token": w.csrf["root-admin"]}, follow_redirects=False)
    assert r.status_code in (200, 303), r.text[-500:]
    assert snapshot(w.db, None) != before


def test_login_form_needs_the_token_of_the_visitor_session(w: World) -> None:
    """Login CSRF: an attacker's page cannot sign the victim into the attacker's account."""
    anon = w.anonymous()
    anon.get("/login")
    r = anon.post("/login", data={"email": email("viewer@A"), "password": PASSWORD, "next": "/"},
                  follow_redirects=False)
    assert r.status_code == 403
    assert anon.get("/", follow_redirects=False).status_code == 303  # still signed out


# ------------------------------------------------------------------ the API with the session cookie


API_WRITES = [
    ("PATCH", lambda w: f"/api/v1/units/{w.units['A1']}", lambda w: {"names": {"en": "Forged"}}),
    ("POST", lambda w: "/api/v1/units", lambda w: {"code": "FORGED", "parent_id": w.units["A1"], "names": {"en": "F"}}),
    ("POST", lambda w: f"/api/v1/users/{w.resident('A1')}/roles", lambda w: {"unit_id": w.units["A1"], "role": "admin"}),
    ("DELETE", lambda w: f"/api/v1/users/{w.resident('A1')}/roles/{w.resident_role['A1']}", lambda w: None),
    ("POST", lambda w: "/api/v1/me/tokens", lambda w: {"name": "forged", "scopes": ["read", "write"]}),
]


@pytest.mark.parametrize("header", [None, "wrong-token", "other-session"])
@pytest.mark.parametrize("case", range(len(API_WRITES)))
def test_cookie_authenticated_api_write_needs_the_csrf_header(w: World, case: int, header: str | None) -> None:
    method, url, body = API_WRITES[case]
    headers = {}
    if header == "wrong-token":
        headers["X-CSRF-Token"] = "wrong-token"
    elif header == "other-session":
        headers["X-CSRF-Token"] = w.csrf["admin@B"]
    before = snapshot(w.db)
    r = w.clients["root-admin"].request(method, url(w), json=body(w), headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden" and "CSRF" in r.json()["error"]["message"]
    assert snapshot(w.db) == before


@pytest.mark.parametrize("case", range(len(API_WRITES)))
def test_cookie_authenticated_api_write_works_with_the_header(w: World, case: int) -> None:
    method, url, body = API_WRITES[case]
    before = snapshot(w.db)
    r = w.clients["root-admin"].request(method, url(w), json=body(w),
                                        headers={"X-CSRF-Token": w.csrf["root-admin"]})
    assert r.status_code in (200, 201, 204), r.text
    assert snapshot(w.db) != before


def test_cookie_authenticated_api_read_needs_no_header(w: World) -> None:
    r = w.clients["viewer@A"].get("/api/v1/units")
    assert r.status_code == 200
    assert {u["code"] for u in r.json()["items"]} == {"A", "A1"}
