"""Sign-in protection: per-account lockout, per-address throttling, and no account enumeration."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from civicpulse.domain.org import services
from civicpulse.domain.org.models import LoginAttempt, User
from tests.conftest import PASSWORD, csrf_from
from tests.org.support import World, audit_after, email, max_audit_id


@pytest.fixture
def strict(w: World):  # type: ignore[no-untyped-def]
    """The world's app with small limits: 3 failures lock an account, 6 failures throttle an address."""
    from civicpulse.web.app import create_app

    cfg = w.cfg.model_copy(update={"login_max_failures": 3, "login_ip_max_attempts": 6, "login_lockout_minutes": 15})
    with TestClient(create_app(cfg, w.db)) as c:
        yield c


def attempt(client: TestClient, who: str, password: str):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    return client.post("/login", data={"email": who, "password": password, "csrf_token": csrf_from(page.text),
                                       "next": "/"}, follow_redirects=False)


def alert(html: str) -> str:
    m = re.search(r'class="flash error" role="alert">([^<]*)<', html)
    assert m, "the page shows an error"
    return m.group(1).strip()


def test_lockout_after_max_failures_even_with_the_right_password(w: World, strict: TestClient) -> None:
    who = email("editor@A")
    last = max_audit_id(w.db)
    for i in range(3):
        r = attempt(strict, who, f"wrong-password-{i}")
        assert r.status_code == 401
        assert alert(r.text) == "The email or password is wrong"
    lockouts = audit_after(w.db, last, "auth.lockout")
    assert len(lockouts) == 1
    assert lockouts[0].object_id == str(w.users["editor@A"]) and lockouts[0].unit_id == w.units["A"]
    with w.db.session() as s:
        assert s.get(User, w.users["editor@A"]).locked_until is not None
    r = attempt(strict, who, PASSWORD)
    assert r.status_code == 429
    assert "locked" in alert(r.text) and "minute" in alert(r.text)
    assert strict.get("/units", follow_redirects=False).status_code == 303  # not signed in
    assert audit_after(w.db, last, "auth.login_locked")
    assert not audit_after(w.db, last, "auth.login")
    # other accounts are not affected
    assert attempt(strict, email("viewer@A"), PASSWORD).status_code == 303


def test_lock_expires(w: World, strict: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    who = email("approver@A")
    for i in range(3):
        attempt(strict, who, f"wrong-{i}")
    assert attempt(strict, who, PASSWORD).status_code == 429
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    assert attempt(strict, who, PASSWORD).status_code == 303
    with w.db.session() as s:
        u = s.get(User, w.users["approver@A"])
        assert u.locked_until is None and u.failed_logins == 0


def test_a_success_resets_the_failure_count(w: World, strict: TestClient) -> None:
    who = email("analyst@A")
    for i in range(2):
        attempt(strict, who, f"wrong-{i}")
    assert attempt(strict, who, PASSWORD).status_code == 303
    strict.cookies.clear()
    for i in range(2):
        assert attempt(strict, who, f"wrong-again-{i}").status_code == 401
    assert attempt(strict, who, PASSWORD).status_code == 303


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(w: World, strict: TestClient) -> None:
    known = attempt(strict, email("viewer@A"), "not-the-password")
    unknown = attempt(strict, "nobody@example.org", "not-the-password")
    assert known.status_code == unknown.status_code == 401
    assert alert(known.text) == alert(unknown.text) == "The email or password is wrong"
    # an unknown email is never locked (no account to lock), nor does it say so
    for i in range(4):
        r = attempt(strict, "nobody@example.org", f"x{i}")
    assert r.status_code == 401 and alert(r.text) == "The email or password is wrong"


def test_deactivated_account_gets_the_same_answer(w: World, strict: TestClient) -> None:
    with w.db.session() as s:
        s.execute(update(User).where(User.id == w.users["viewer@A"]).values(is_active=False))
    r = attempt(strict, email("viewer@A"), PASSWORD)
    assert r.status_code == 401 and alert(r.text) == "The email or password is wrong"


def test_address_is_throttled_after_too_many_failures(w: World, strict: TestClient) -> None:
    last = max_audit_id(w.db)
    for i in range(6):  # different (unknown) accounts, so that no account lockout is involved
        assert attempt(strict, f"guess{i}@example.org", "password").status_code == 401
    r = attempt(strict, email("viewer@A"), PASSWORD)  # even right credentials, from this address
    assert r.status_code == 429
    assert "Too many failed sign-in attempts" in alert(r.text)
    assert audit_after(w.db, last, "auth.throttled")
    with w.db.session() as s:
        assert s.scalars(select(LoginAttempt).where(LoginAttempt.email == email("viewer@A"),
                                                    LoginAttempt.success.is_(True),
                                                    LoginAttempt.id > 0)).all()  # from the world's own sign-in
        assert s.get(User, w.users["viewer@A"]).failed_logins == 0  # the account itself is not penalised


def test_throttle_window_passes(w: World, strict: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(6):
        attempt(strict, f"guess{i}@example.org", "password")
    assert attempt(strict, email("viewer@A"), PASSWORD).status_code == 429
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    monkeypatch.setattr(services, "utcnow", lambda: later)
    assert attempt(strict, email("viewer@A"), PASSWORD).status_code == 303


def test_api_does_not_accept_passwords(w: World) -> None:
    r = w.anonymous().get("/api/v1/units", auth=(email("viewer@A"), PASSWORD))
    assert r.status_code == 401
