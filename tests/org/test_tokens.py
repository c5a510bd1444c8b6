"""Personal API tokens: scopes, subtree limits, expiry and revocation, auditing, and no token-made tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from civicpulse.domain.org import services
from civicpulse.domain.org.models import ApiToken, User
from civicpulse.domain.org.schemas import TokenCreate
from tests.org.support import World, audit_after, max_audit_id, snapshot
from tests.org.test_authz_matrix_api import ENDPOINTS, Endpoint

API = "/api/v1"


def make_token(w: World, key: str, scopes: tuple[str, ...] = ("read", "write"), unit: str | None = None,
               name: str = "t") -> tuple[str, int]:
    with w.db.session() as s:
        actor = services.actor_for(s, s.get(User, w.users[key]), via="ui")
        raw, tok = services.create_token(s, actor, TokenCreate(
            name=name, scopes=list(scopes), unit_id=w.units[unit] if unit else None))
        return raw, tok.id


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


WRITES = [e for e in ENDPOINTS if e.method != "GET"]


@pytest.mark.parametrize("endpoint", WRITES, ids=str)
def test_read_only_token_cannot_write(w: World, endpoint: Endpoint) -> None:
    """The admin of A may do every one of these on A1 with a read+write token (see the matrix), not read-only."""
    raw, _ = make_token(w, "admin@A", scopes=("read",))
    if endpoint.prepare:
        endpoint.prepare(w, "A1")
    before = snapshot(w.db)
    body = endpoint.body(w, "A1", "admin") if endpoint.body else None
    r = w.anonymous().request(endpoint.method, endpoint.url(w, "A1"), json=body, headers=bearer(raw))
    assert r.status_code == 403, r.text
    assert "read-only" in r.json()["error"]["message"]
    assert snapshot(w.db) == before


def test_read_only_token_can_read_and_cannot_revoke_tokens(w: World) -> None:
    raw, _ = make_token(w, "admin@A", scopes=("read",))
    _other, other_id = make_token(w, "admin@A", name="other")
    c = w.anonymous()
    assert c.get(f"{API}/units/{w.units['A1']}", headers=bearer(raw)).status_code == 200
    assert c.get(f"{API}/me/tokens", headers=bearer(raw)).status_code == 200
    r = c.delete(f"{API}/me/tokens/{other_id}", headers=bearer(raw))
    assert r.status_code == 403, r.text
    with w.db.session() as s:
        assert s.get(ApiToken, other_id).revoked_at is None


def test_token_limited_to_a_unit_stays_inside_its_subtree(w: World) -> None:
    raw, _ = make_token(w, "admin@A", unit="A1")
    c = w.anonymous()
    units = c.get(f"{API}/units", headers=bearer(raw)).json()["items"]
    assert [u["code"] for u in units] == ["A1"]
    assert c.get(f"{API}/units/{w.units['A']}", headers=bearer(raw)).status_code == 404
    assert c.get(f"{API}/units/{w.units['A1']}", headers=bearer(raw)).status_code == 200
    assert c.get(f"{API}/users/{w.resident('A')}", headers=bearer(raw)).status_code == 404
    assert c.get(f"{API}/users/{w.resident('A1')}", headers=bearer(raw)).status_code == 200
    people = {u["id"] for u in c.get(f"{API}/users", headers=bearer(raw)).json()["items"]}
    assert people == {w.resident("A1")}
    # writes too: the person is admin of A, but this token only reaches A1
    before = snapshot(w.db)
    r = c.patch(f"{API}/units/{w.units['A']}", json={"names": {"en": "X"}}, headers=bearer(raw))
    assert r.status_code == 404
    assert snapshot(w.db) == before
    r = c.patch(f"{API}/units/{w.units['A1']}", json={"names": {"en": "Inside"}}, headers=bearer(raw))
    assert r.status_code == 200, r.text
    entries = c.get(f"{API}/audit?per_page=200", headers=bearer(raw)).json()["items"]
    assert entries and {e["unit_id"] for e in entries} == {w.units["A1"]}


def test_token_cannot_be_limited_to_an_invisible_unit(w: World) -> None:
    with pytest.raises(Exception, match="not found"):
        make_token(w, "admin@A", unit="B")


def test_expired_token_is_refused_and_says_so(w: World) -> None:
    raw, tid = make_token(w, "viewer@A", name="old one")
    c = w.anonymous()
    assert c.get(f"{API}/units", headers=bearer(raw)).status_code == 200
    with w.db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == tid).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    r = c.get(f"{API}/units", headers=bearer(raw))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "not_authenticated"
    assert "expired" in r.json()["error"]["message"] and "old one" in r.json()["error"]["message"]


def test_revoked_token_is_refused_immediately(w: World) -> None:
    raw, tid = make_token(w, "editor@A", name="laptop")
    c = w.anonymous()
    assert c.get(f"{API}/units", headers=bearer(raw)).status_code == 200
    # revoked from the signed-in browser (cookie + CSRF header)
    browser = w.clients["editor@A"]
    r = browser.delete(f"{API}/me/tokens/{tid}", headers={"X-CSRF-Token": w.csrf["editor@A"]})
    assert r.status_code == 204, r.text
    r = c.get(f"{API}/units", headers=bearer(raw))
    assert r.status_code == 401
    assert "revoked" in r.json()["error"]["message"] and "laptop" in r.json()["error"]["message"]
    assert audit_after(w.db, 0, "token.revoke")


@pytest.mark.parametrize("raw", ["nonsense", "cp_abc", "cp_abcdefgh_wrongsecret", "Basic abc"])
def test_malformed_or_unknown_token_is_401(w: World, raw: str) -> None:
    headers = {"Authorization": raw if raw.startswith("Basic") else f"Bearer {raw}"}
    r = w.anonymous().get(f"{API}/units", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["message"]


def test_token_of_a_deactivated_person_is_refused(w: World) -> None:
    raw, _ = make_token(w, "viewer@A")
    with w.db.session() as s:
        s.get(User, w.users["viewer@A"]).is_active = False
    r = w.anonymous().get(f"{API}/units", headers=bearer(raw))
    assert r.status_code == 401 and "deactivated" in r.json()["error"]["message"]


def test_token_use_is_audited(w: World) -> None:
    raw, tid = make_token(w, "analyst@A")
    last = max_audit_id(w.db)
    r = w.anonymous().get(f"{API}/units/{w.units['A1']}", headers=bearer(raw))
    assert r.status_code == 200
    uses = audit_after(w.db, last, "token.use")
    assert len(uses) == 1
    e = uses[0]
    assert e.object_type == "api_token" and e.object_id == str(tid)
    assert e.actor_id == w.users["analyst@A"] and e.via == "api"
    assert e.note == f"GET {API}/units/{w.units['A1']}"
    assert e.unit_id == w.units["A"]  # filed under the person's unit, so A's admins see it
    with w.db.session() as s:
        assert s.get(ApiToken, tid).last_used_at is not None


def test_failed_request_still_audits_the_token_use(w: World) -> None:
    raw, _ = make_token(w, "viewer@A")
    last = max_audit_id(w.db)
    r = w.anonymous().patch(f"{API}/units/{w.units['A']}", json={"names": {"en": "x"}}, headers=bearer(raw))
    assert r.status_code == 403
    assert len(audit_after(w.db, last, "token.use")) == 1


def test_tokens_cannot_be_created_with_a_token(w: World) -> None:
    def count() -> int:
        with w.db.session() as s:
            return s.scalar(select(func.count()).select_from(ApiToken)) or 0

    n = count()
    r = w.anonymous().post(f"{API}/me/tokens", json={"name": "child", "scopes": ["read"]}, headers=w.bearer("admin@A"))
    assert r.status_code == 403
    assert "token" in r.json()["error"]["message"]
    assert count() == n
    # the signed-in browser can (cookie + CSRF header), and gets the secret once
    browser = w.clients["admin@A"]
    r = browser.post(f"{API}/me/tokens", json={"name": "from browser", "scopes": ["read"], "unit_id": w.units["A1"]},
                     headers={"X-CSRF-Token": w.csrf["admin@A"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["token"].startswith("cp_") and created["scopes"] == ["read"]
    assert count() == n + 1
    assert w.anonymous().get(f"{API}/units", headers=bearer(created["token"])).json()["total"] == 1
    assert audit_after(w.db, 0, "token.create")


def test_token_listing_shows_only_my_tokens_without_secrets(w: World) -> None:
    make_token(w, "viewer@A", name="mine")
    r = w.anonymous().get(f"{API}/me/tokens", headers=w.bearer("viewer@A"))
    assert r.status_code == 200
    names = [t["name"] for t in r.json()]
    assert "mine" in names and "admin@A rw" not in names
    assert all("token" not in t and "token_hash" not in t for t in r.json())
