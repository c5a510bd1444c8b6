"""The plan pages: list, create from a template, the plan page, section forms (bad input, stale version),
workflow buttons, crisis mode, comments, history/diff and downloads — through the real forms with CSRF."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from civicpulse.domain.plans.models import Plan
from tests.conftest import login
from tests.plans.conftest import day


def _form_fields(html: str) -> dict[str, str]:
    """The named inputs of the section form with their current values (selects: the selected option)."""
    out: dict[str, str] = {}
    for m in re.finditer(r'<input([^>]*)>', html):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', m.group(1)))
        if "name" in attrs and attrs.get("type") not in ("checkbox", "radio"):
            out[attrs["name"]] = attrs.get("value", "")
    for m in re.finditer(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        sel = re.search(r'<option value="([^"]*)" selected', m.group(2))
        out[m.group(1)] = sel.group(1) if sel else ""
    for m in re.finditer(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        out[m.group(1)] = m.group(2)
    return out


def test_editor_creates_edits_and_submits_a_plan(client, db, org):  # type: ignore[no-untyped-def]
    csrf = login(client, org.email("editor@A"))
    page = client.get("/plans")
    assert page.status_code == 200 and "New plan" in page.text and 'href="/plans"' in page.text
    r = client.post("/plans/new", data={"csrf_token": csrf, "unit_id": org.units["A1"], "title": "Fines 2026",
                                        "policy": "Decree 168", "template": "policy_launch", "language": "vi",
                                        "start_date": day(1), "end_date": day(100)}, follow_redirects=False)
    assert r.status_code == 303
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/plans/{pid}")
    assert page.status_code == 200
    assert "Fines 2026" in page.text and "Press conference and release" in page.text
    assert 'data-testid="gantt"' in page.text and "<svg" in page.text
    assert 'data-testid="to-in_review"' in page.text and 'data-testid="to-approved"' not in page.text

    # the tactics form: change a budget, add a row
    form = client.get(f"/plans/{pid}/edit/tactics")
    assert form.status_code == 200
    fields = _form_fields(form.text)
    fields.update({"csrf_token": csrf, "tactics-0-budget": "-10"})
    before = client.get(f"/api/v1/plans/{pid}").json()
    r = client.post(f"/plans/{pid}/edit/tactics", data=fields)
    assert r.status_code == 422 and "cannot be negative" in r.text
    assert client.get(f"/api/v1/plans/{pid}").json() == before
    fields.update({"tactics-0-budget": "250000", "tactics-0-currency": "THB", "tactics-3-name": "Radio spots",
                   "tactics-3-start": day(10), "tactics-3-end": day(20), "tactics-3-currency": "XXX"})
    r = client.post(f"/plans/{pid}/edit/tactics", data=fields)
    assert r.status_code == 422 and "unknown currency" in r.text and 'value="Radio spots"' in r.text
    fields["tactics-3-currency"] = "VND"
    r = client.post(f"/plans/{pid}/edit/tactics", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text
    after = client.get(f"/api/v1/plans/{pid}").json()
    assert after["version"] == before["version"] + 1
    names = [t["name"] for t in after["sections"]["tactics"]]
    assert names[-1] == "Radio spots" and after["sections"]["tactics"][0]["budget"] == "250000"
    # the same (now stale) form again: a clear conflict, nothing overwritten
    fields["tactics-0-budget"] = "1"
    r = client.post(f"/plans/{pid}/edit/tactics", data=fields)
    assert r.status_code == 409 and "changed by someone else" in r.text
    assert client.get(f"/api/v1/plans/{pid}").json()["sections"]["tactics"][0]["budget"] == "250000"

    # comments and workflow
    r = client.post(f"/plans/{pid}/comments", data={"csrf_token": csrf, "section": "tactics", "body": "Check dates"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/plans/{pid}/transition", data={"csrf_token": csrf, "to": "in_review"}, follow_redirects=True)
    assert "Check dates" in r.text and 'data-testid="plan-status">In review' in r.text.replace("\n", "")
    r = client.post(f"/plans/{pid}/transition", data={"csrf_token": csrf, "to": "approved"})
    assert r.status_code == 403
    # no CSRF token: refused
    r = client.post(f"/plans/{pid}/transition", data={"to": "draft"})
    assert r.status_code == 403

    assert "in_review" in client.get(f"/plans/{pid}/history").text
    hist = client.get(f"/plans/{pid}/history?a=1&b=3")
    assert hist.status_code == 200 and "Radio spots" in hist.text and 'data-testid="changes"' in hist.text
    assert client.get(f"/plans/{pid}/export.docx").headers["content-type"].startswith("application/vnd.openxml")
    assert client.get(f"/plans/{pid}/export.md").text.startswith("**Đơn vị R › Đơn vị A › Đơn vị A1**")
    assert client.get(f"/plans/{pid}/tactics.ics").headers["content-type"].startswith("text/calendar")


def test_summary_form_and_crisis_and_language(client, db, org, make_plan):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    csrf = login(client, org.email("approver@A"))
    form = _form_fields(client.get(f"/plans/{pid}/edit/summary").text)
    form.update({"csrf_token": csrf, "end_date": day(-400)})
    r = client.post(f"/plans/{pid}/edit/summary", data=form)
    assert r.status_code == 422 and "ends before it starts" in r.text
    form.update({"end_date": day(200), "summary": "A new strategy."})
    assert client.post(f"/plans/{pid}/edit/summary", data=form, follow_redirects=False).status_code == 303
    r = client.post(f"/plans/{pid}/crisis", data={"csrf_token": csrf, "active": "true", "note": "Storm"},
                    follow_redirects=True)
    assert "CRISIS MODE" in r.text and "Initial" in r.text
    assert "Crisis mode on" in client.get("/plans").text
    r = client.post(f"/plans/{pid}/checklist", data={"csrf_token": csrf, **{f"score-{p}": "3" for p in (
        "transparency", "integrity", "inclusiveness", "accessibility", "timeliness", "responsiveness",
        "evidence_based", "two_way")}}, follow_redirects=True)
    assert "Scored by approver.at.a@example.org" in r.text
    client.post("/language", data={"csrf_token": csrf, "lang": "th", "next": f"/plans/{pid}"})
    page = client.get(f"/plans/{pid}")
    assert page.status_code == 200 and 'lang="th"' in page.text


def test_other_units_plans_are_invisible(client, db, org, make_plan):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"], title="Secret plan of A")
    login(client, org.email("admin@B"))
    assert "Secret plan of A" not in client.get("/plans").text
    for url in (f"/plans/{pid}", f"/plans/{pid}/history", f"/plans/{pid}/edit/tactics", f"/plans/{pid}/export.pdf",
                f"/plans/{pid}/tactics.ics"):
        assert client.get(url).status_code == 404, url


def test_viewer_sees_no_edit_controls(client, db, org, make_plan):  # type: ignore[no-untyped-def]
    pid = make_plan(org.units["A"])
    csrf = login(client, org.email("viewer@A"))
    page = client.get(f"/plans/{pid}").text
    assert f"/plans/{pid}/edit/" not in page and "crisis-on" not in page and "New plan" not in client.get("/plans").text
    assert client.get(f"/plans/{pid}/edit/tactics").status_code == 403
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(Plan))
    r = client.post("/plans/new", data={"csrf_token": csrf, "unit_id": org.units["A"], "title": "x", "policy": "y"})
    assert r.status_code == 403
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Plan)) == n
