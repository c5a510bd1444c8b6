"""Bad input to the units API: a clear 4xx error body naming the problem, and an unchanged database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicpulse.domain.org.models import UNIT_KINDS
from tests.org.support import World, snapshot

API = "/api/v1"


def unit_body(w: World, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": "NEW", "parent_id": w.units["A"], "names": {"en": "New unit"}}
    body.update(over)
    return {k: v for k, v in body.items() if v is not ...}


def assert_error(r, status: int, code: str, *words: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == code
    for word in words:
        assert word.lower() in err["message"].lower(), (word, err["message"])
    return err


CREATE_CASES = [
    ("name-too-long", {"names": {"en": "x" * 201}}, 422, "validation_failed", ["names", "201", "200"]),
    ("name-too-long-th", {"names": {"en": "ok", "th": "ก" * 250}}, 422, "validation_failed", ["th name", "200"]),
    ("unknown-language", {"names": {"en": "ok", "fr": "Nouveau"}}, 422, "validation_failed", ["language", "fr"]),
    ("empty-names", {"names": {}}, 422, "validation_failed", ["name in at least one language"]),
    ("blank-names", {"names": {"en": "   ", "vi": ""}}, 422, "validation_failed", ["name in at least one language"]),
    ("missing-names", {"names": ...}, 422, "validation_failed", ["names"]),
    ("names-not-text", {"names": {"en": 5}}, 422, "validation_failed", ["names.en"]),
    ("code-with-space", {"code": "BAD CODE"}, 422, "validation_failed", ["code", "letters, digits"]),
    ("code-symbol", {"code": "-lead"}, 422, "validation_failed", ["code"]),
    ("code-empty", {"code": ""}, 422, "validation_failed", ["code"]),
    ("code-too-long", {"code": "X" * 41}, 422, "validation_failed", ["code", "40"]),
    ("code-taken", {"code": "A1"}, 409, "conflict", ["A1", "already exists"]),
    ("unknown-kind", {"kind": "galaxy"}, 422, "validation_failed", ["kind", "galaxy"]),
    ("unknown-timezone", {"timezone": "Mars/Olympus_Mons"}, 422, "validation_failed", ["time zone", "Mars/Olympus_Mons"]),
    ("bad-language", {"default_language": "fr"}, 422, "validation_failed", ["default_language"]),
    ("bad-email", {"contact_email": "not-an-email"}, 422, "validation_failed", ["contact_email", "email"]),
    ("unknown-field", {"colour": "red"}, 422, "validation_failed", ["colour"]),
    ("unknown-parent", {"parent_id": 999999}, 404, "not_found", ["999999"]),
    ("top-level", {"parent_id": None}, 403, "forbidden", ["top-level"]),
]


@pytest.mark.parametrize("over,status,code,words", [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_bad_unit_create(w: World, over: dict[str, Any], status: int, code: str, words: list[str]) -> None:
    before = snapshot(w.db)
    r = w.anonymous().post(f"{API}/units", json=unit_body(w, **over), headers=w.bearer("root-admin"))
    err = assert_error(r, status, code, *words)
    if status == 422:
        assert err["details"] and all({"field", "message"} <= set(d) for d in err["details"])
    assert snapshot(w.db) == before


def test_not_json_at_all(w: World) -> None:
    before = snapshot(w.db)
    r = w.anonymous().post(f"{API}/units", content=b"{not json", headers={**w.bearer("root-admin"),
                                                                          "content-type": "application/json"})
    assert_error(r, 422, "validation_failed")
    assert snapshot(w.db) == before


PATCH_CASES = [
    ("name-too-long", {"names": {"vi": "ư" * 201}}, 422, "validation_failed", ["vi name", "200"]),
    ("unknown-language", {"names": {"de": "Neu"}}, 422, "validation_failed", ["language", "de"]),
    ("empty-names", {"names": {}}, 422, "validation_failed", ["name in at least one language"]),
    ("unknown-kind", {"kind": "planet"}, 422, "validation_failed", ["planet"]),
    ("unknown-timezone", {"timezone": "Asia/Atlantis"}, 422, "validation_failed", ["time zone"]),
    ("code-is-fixed", {"code": "NEWCODE"}, 422, "validation_failed", ["code"]),
    ("unknown-parent", {"parent_id": 999999}, 404, "not_found", ["999999"]),
]


@pytest.mark.parametrize("body,status,code,words", [c[1:] for c in PATCH_CASES], ids=[c[0] for c in PATCH_CASES])
def test_bad_unit_patch(w: World, body: dict[str, Any], status: int, code: str, words: list[str]) -> None:
    before = snapshot(w.db)
    r = w.anonymous().patch(f"{API}/units/{w.units['A']}", json=body, headers=w.bearer("root-admin"))
    assert_error(r, status, code, *words)
    assert snapshot(w.db) == before


@pytest.mark.parametrize("under", ["A1", "A"])
def test_moving_a_unit_into_its_own_subtree_is_a_cycle(w: World, under: str) -> None:
    before = snapshot(w.db)
    r = w.anonymous().patch(f"{API}/units/{w.units['A']}", json={"parent_id": w.units[under]},
                            headers=w.bearer("root-admin"))
    err = assert_error(r, 422, "validation_failed", "cycle", "'A'", f"'{under}'")
    assert err["details"] == {"field": "parent_id"}
    assert snapshot(w.db) == before


def test_a_legal_move_rewrites_the_subtree_paths(w: World) -> None:
    c = w.anonymous()
    r = c.patch(f"{API}/units/{w.units['A']}", json={"parent_id": w.units["B"]}, headers=w.bearer("root-admin"))
    assert r.status_code == 200, r.text
    a = c.get(f"{API}/units/{w.units['A']}", headers=w.bearer("root-admin")).json()
    a1 = c.get(f"{API}/units/{w.units['A1']}", headers=w.bearer("root-admin")).json()
    assert a["path"] == f"/{w.units['R']}/{w.units['B']}/{w.units['A']}/"
    assert a1["path"] == a["path"] + f"{w.units['A1']}/"
    # the admin of B now sees A and A1
    codes = {u["code"] for u in c.get(f"{API}/units", headers=w.bearer("admin@B")).json()["items"]}
    assert codes == {"B", "A", "A1"}


def test_stale_version_is_a_conflict(w: World) -> None:
    c = w.anonymous()
    h = w.bearer("root-admin")
    url = f"{API}/units/{w.units['A1']}"
    version = c.get(url, headers=h).json()["version"]
    r = c.patch(url, json={"names": {"en": "First edit"}, "version": version}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == version + 1
    before = snapshot(w.db)
    r = c.patch(url, json={"names": {"en": "Second edit from a stale form"}, "version": version}, headers=h)
    err = assert_error(r, 409, "conflict", "changed by someone else", "reload")
    assert err["details"] == {"current_version": version + 1}
    assert snapshot(w.db) == before
    assert c.get(url, headers=h).json()["names"]["en"] == "First edit"


def test_delete_unit_with_children_is_refused(w: World) -> None:
    before = snapshot(w.db)
    r = w.anonymous().delete(f"{API}/units/{w.units['A']}", headers=w.bearer("root-admin"))
    err = assert_error(r, 409, "conflict", "'A'", "child unit")
    assert err["details"] == {"children": 1}
    assert snapshot(w.db) == before


def test_delete_unit_where_roles_are_held_is_refused(w: World) -> None:
    before = snapshot(w.db)
    r = w.anonymous().delete(f"{API}/units/{w.units['A1']}", headers=w.bearer("root-admin"))
    err = assert_error(r, 409, "conflict", "role(s) are held", "'A1'")
    assert err["details"] == {"roles": 1}
    assert snapshot(w.db) == before


def test_unknown_ids_are_404_with_the_error_body(w: World) -> None:
    c = w.anonymous()
    h = w.bearer("root-admin")
    for method, url in (("GET", f"{API}/units/424242"), ("PATCH", f"{API}/units/424242"),
                        ("DELETE", f"{API}/units/424242"), ("GET", f"{API}/users/424242"),
                        ("DELETE", f"{API}/users/{w.resident('A')}/roles/424242")):
        r = c.request(method, url, headers=h, json={} if method == "PATCH" else None)
        assert_error(r, 404, "not_found", "424242")


@pytest.mark.parametrize("value", [2**31, 2**63, 2**80, -1, 0])
def test_out_of_range_ids_are_a_clean_4xx(w: World, value: int) -> None:
    c = w.anonymous()
    h = w.bearer("root-admin")
    before = snapshot(w.db)
    for r in (c.get(f"{API}/units/{value}", headers=h),
              c.post(f"{API}/units", json=unit_body(w, parent_id=value), headers=h),
              c.get(f"{API}/users?unit_id={value}", headers=h),
              c.get(f"{API}/audit?unit_id={value}", headers=h),
              c.post(f"{API}/users/{w.resident('A')}/roles", json={"unit_id": value, "role": "viewer"}, headers=h)):
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        assert r.json()["error"]["message"]
    assert snapshot(w.db) == before


def test_nul_characters_are_a_clean_4xx(w: World) -> None:
    c = w.anonymous()
    h = w.bearer("root-admin")
    for r in (c.post(f"{API}/units", json=unit_body(w, names={"en": "a\x00b"}), headers=h),
              c.post(f"{API}/units", json=unit_body(w, contact_phone="12\x0034"), headers=h),
              c.get(f"{API}/units?q=a%00b", headers=h),
              c.patch(f"{API}/users/{w.resident('A')}", json={"display_name": "x\x00y"}, headers=h)):
        assert r.status_code < 500, (r.request.url, r.text)
    r = c.post(f"{API}/units", json=unit_body(w, names={"en": "a\x00b"}), headers=h)
    assert_error(r, 422, "validation_failed", "control character")


# ------------------------------------------------------------------ fuzzing the create body


json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_any = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
names = st.dictionaries(st.sampled_from(["en", "vi", "th", "fr", "", "EN"]), st.text(max_size=220), max_size=4)


def create_bodies(unit_ids: list[int]) -> st.SearchStrategy[Any]:
    fields = {
        "code": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", fullmatch=True) | st.text(max_size=45) | json_any,
        "parent_id": st.sampled_from(unit_ids) | st.integers() | json_any,
        "kind": st.sampled_from(UNIT_KINDS) | st.text(max_size=20) | json_any,
        "names": names | json_any,
        "timezone": st.sampled_from(["Asia/Bangkok", "Asia/Ho_Chi_Minh", "UTC", "Not/AZone", ""]) | json_any,
        "default_language": st.sampled_from(["en", "vi", "th", "xx"]) | json_any,
        "contact_email": st.emails() | st.text(max_size=300) | json_any,
        "contact_phone": st.text(max_size=50) | json_any,
        "address": st.text(max_size=600) | json_any,
        "website": st.text(max_size=100) | json_any,
        "version": json_any,
    }
    return st.fixed_dictionaries({}, optional=fields) | json_any


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzzed_unit_create_never_fails_with_5xx(w: World, data: st.DataObject) -> None:
    body = data.draw(create_bodies([w.units[k] for k in ("R", "A", "A1", "B")]))
    who = data.draw(st.sampled_from(["root-admin", "admin@A", "viewer@A"]))
    r = w.anonymous().post(f"{API}/units", content=json.dumps(body), headers={
        **w.bearer(who), "content-type": "application/json"})
    assert r.status_code < 500, (body, r.text)
    if r.status_code >= 400:
        assert r.json()["error"]["message"]
    else:
        assert r.status_code == 201
