"""Browser sessions: a new id at sign-in (no fixation), server-side logout, cookie flags."""

from __future__ import annotations

import datetime as dt
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from civicpulse.config import Settings
from civicpulse.domain.org.models import WebSession
from civicpulse.domain.org.security import sha256
from tests.conftest import PASSWORD, TEST_SECRET, csrf_from
from tests.org.support import World, email

COOKIE = "civicpulse_session"


def session_cookies(response) -> list[SimpleCookie]:  # type: ignore[no-untyped-def]
    out = []
    for header in response.headers.get_list("set-cookie"):
        c: SimpleCookie = SimpleCookie()
        c.load(header)
        if COOKIE in c:
            out.append(c)
    return out


def row(w: World, raw: str) -> WebSession | None:
    with w.db.session() as s:
        return s.get(WebSession, sha256(raw))


def client_with_cookie(w: World, raw: str) -> TestClient:
    c = w.anonymous()
    c.cookies.set(COOKIE, raw, domain="testserver.local")
    return c


def sign_in(client: TestClient, who: str) -> tuple[str, str]:
    """Returns (pre-login cookie, post-login cookie)."""
    page = client.get("/login")
    pre = client.cookies.get(COOKIE)
    assert pre, "the sign-in page gives the visitor a session (it carries the CSRF token)"
    r = client.post("/login", data={"email": email(who), "password": PASSWORD, "csrf_token": csrf_from(page.text),
                                    "next": "/units"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/units"
    post = client.cookies.get(COOKIE)
    assert post
    return pre, post


def test_session_id_changes_at_login_and_the_old_one_is_dead(w: World) -> None:
    browser = w.anonymous()
    pre, post = sign_in(browser, "editor@A")
    assert pre != post
    assert row(w, pre) is None, "the pre-login session row is deleted"
    stored = row(w, post)
    assert stored is not None and stored.user_id == w.users["editor@A"]
    assert stored.id != post, "only the hash of the cookie is stored"
    # an attacker who planted (or saw) the pre-login cookie gets nothing
    attacker = client_with_cookie(w, pre)
    r = attacker.get("/units", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert attacker.get("/api/v1/units").status_code == 401
    # the victim is signed in
    assert browser.get("/units", follow_redirects=False).status_code == 200


def test_logout_invalidates_the_session_on_the_server(w: World) -> None:
    browser = w.anonymous()
    _pre, cookie = sign_in(browser, "viewer@A")
    replay = client_with_cookie(w, cookie)
    assert replay.get("/units", follow_redirects=False).status_code == 200  # the copy works while signed in
    token = csrf_from(browser.get("/tokens").text)
    r = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert row(w, cookie) is None
    r = replay.get("/units", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert replay.get("/api/v1/units").status_code == 401
    with w.db.session() as s:
        assert s.scalars(select(WebSession).where(WebSession.user_id == w.users["viewer@A"])).all() != []  # the
        # world's own signed-in browser of viewer@A is another session, and it is untouched


def test_expired_session_is_refused_and_removed(w: World) -> None:
    browser = w.anonymous()
    _pre, cookie = sign_in(browser, "viewer@A")
    with w.db.session() as s:
        s.execute(update(WebSession).where(WebSession.id == sha256(cookie)).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    r = browser.get("/units", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert browser.get("/api/v1/units").status_code == 401
    # the sign-in page replaces it with a fresh anonymous session; the expired row is gone
    browser.get("/login")
    assert browser.cookies.get(COOKIE) != cookie
    assert row(w, cookie) is None


def test_deactivation_signs_the_person_out_everywhere(w: World) -> None:
    victim = w.clients["editor@A"]
    assert victim.get("/units", follow_redirects=False).status_code == 200
    r = w.clients["admin@A"].post(f"/users/{w.users['editor@A']}/active",
                                  data={"active": "false", "csrf_token": w.csrf["admin@A"]}, follow_redirects=False)
    assert r.status_code == 303
    assert victim.get("/units", follow_redirects=False).status_code == 303
    r = w.anonymous().post("/api/v1/units", headers=w.bearer("editor@A"))
    assert r.status_code == 401


def _flags(cookie: SimpleCookie) -> dict[str, str | bool]:
    m = cookie[COOKIE]
    return {"httponly": bool(m["httponly"]), "secure": bool(m["secure"]), "samesite": m["samesite"].lower(),
            "path": m["path"], "value": m.value}


def test_cookie_flags_in_test_mode(w: World) -> None:
    browser = w.anonymous()
    page = browser.get("/login")
    (anon,) = session_cookies(page)
    r = browser.post("/login", data={"email": email("viewer@A"), "password": PASSWORD,
                                     "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    (signed,) = session_cookies(r)
    token = csrf_from(browser.get("/tokens").text)
    (gone,) = session_cookies(browser.post("/logout", data={"csrf_token": token}, follow_redirects=False))
    for c in (anon, signed, gone):
        f = _flags(c)
        assert f["httponly"] is True and f["samesite"] == "lax" and f["path"] == "/"
        assert f["secure"] is False  # plain-http development and tests
    assert _flags(gone)["value"] == ""


@pytest.mark.parametrize("overrides", [{"cookie_secure": True}, {"env": "production"}], ids=["cookie_secure", "production"])
def test_cookie_is_secure_when_configured_or_in_production(w: World, overrides: dict) -> None:
    from civicpulse.web.app import create_app

    cfg = Settings(**{"env": "test", "secret_key": TEST_SECRET, "database_url": w.cfg.database_url,
                      "data_dir": w.cfg.data_dir, **overrides})
    app = create_app(cfg, w.db)
    with TestClient(app, base_url="https://testserver") as browser:
        page = browser.get("/login")
        r = browser.post("/login", data={"email": email("viewer@A"), "password": PASSWORD,
                                         "csrf_token": csrf_from(page.text)}, follow_redirects=False)
        assert r.status_code == 303
        token = csrf_from(browser.get("/tokens").text)
        out = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
        for c in session_cookies(page) + session_cookies(r) + session_cookies(out):
            f = _flags(c)
            assert f["secure"] is True and f["httponly"] is True and f["samesite"] == "lax"


def test_cookie_is_not_secure_by_default_in_dev() -> None:
    assert Settings(env="dev").secure_cookies is False
    assert Settings(env="dev", cookie_secure=True).secure_cookies is True
    assert Settings(env="production", secret_key=TEST_SECRET).secure_cookies is True
    assert Settings(env="production", secret_key=TEST_SECRET, cookie_secure=False).secure_cookies is False


@pytest.mark.parametrize("target,landing", [
    ("/units?x=1", "/units?x=1"), ("//evil.example/", "/"), ("https://evil.example/", "/"), ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"), ("", "/"),
])
def test_login_only_redirects_within_the_site(w: World, target: str, landing: str) -> None:
    browser = w.anonymous()
    page = browser.get("/login")
    r = browser.post("/login", data={"email": email("viewer@A"), "password": PASSWORD, "next": target,
                                     "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == landing
