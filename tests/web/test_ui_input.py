"""Bad input through the web forms: the form comes back with the problem named, nothing is stored, no 5xx."""

from __future__ import annotations

import pytest

from tests.org.support import World, snapshot


def post(w: World, url: str, form: dict[str, str], who: str = "root-admin"):  # type: ignore[no-untyped-def]
    return w.clients[who].post(url, data={**form, "csrf_token": w.csrf[who]}, follow_redirects=False)


@pytest.mark.parametrize("form,words", [
    ({"code": "UI1", "name_en": "x" * 201}, ["200"]),
    ({"code": "bad code", "name_en": "Fine"}, ["letters, digits"]),
    ({"code": "UI2"}, ["name in at least one language"]),
    ({"code": "UI3", "name_en": "Fine", "kind": "galaxy"}, ["galaxy"]),
    ({"code": "UI4", "name_en": "Fine", "timezone": "Mars/Base"}, ["time zone"]),
    ({"code": "UI5", "name_en": "Nul\x00name"}, ["control character"]),
    ({"code": "A1", "name_en": "Taken"}, ["already exists"]),
], ids=["long-name", "bad-code", "no-name", "kind", "timezone", "nul", "taken"])
def test_unit_form_errors_are_shown_and_nothing_is_stored(w: World, form: dict[str, str], words: list[str]) -> None:
    before = snapshot(w.db)
    r = post(w, "/units/new", {"parent_id": str(w.units["A"]), **form})
    assert r.status_code in (409, 422), r.text[-500:]
    for word in words:
        assert word in r.text
    assert 'action="/units/new"' in r.text, "the form is shown again"
    assert snapshot(w.db) == before


def test_stale_edit_form_is_refused_with_an_explanation(w: World) -> None:
    r = w.clients["root-admin"].get(f"/units/{w.units['A1']}/edit")
    version = r.text.split('name="version" value="', 1)[1].split('"', 1)[0]
    ok = post(w, f"/units/{w.units['A1']}/edit", {"version": version, "parent_id": str(w.units["A"]),
                                                   "name_en": "First"})
    assert ok.status_code == 303
    before = snapshot(w.db)
    stale = post(w, f"/units/{w.units['A1']}/edit", {"version": version, "parent_id": str(w.units["A"]),
                                                      "name_en": "Second"})
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    assert snapshot(w.db) == before


def test_moving_a_unit_under_its_child_is_refused_in_the_form(w: World) -> None:
    r = w.clients["root-admin"].get(f"/units/{w.units['A']}/edit")
    version = r.text.split('name="version" value="', 1)[1].split('"', 1)[0]
    before = snapshot(w.db)
    r = post(w, f"/units/{w.units['A']}/edit", {"version": version, "parent_id": str(w.units["A1"]), "name_en": "A"})
    assert r.status_code == 422 and "cycle" in r.text
    assert snapshot(w.db) == before


@pytest.mark.parametrize("path", ["/units/{big}/edit", "/users/{big}", "/users?unit_id={big}", "/audit?unit_id={big}",
                                  "/units/new?parent={big}"])
def test_huge_ids_in_pages_are_a_clean_error(w: World, path: str) -> None:
    r = w.clients["root-admin"].get(path.format(big=2**70), follow_redirects=False)
    assert 400 <= r.status_code < 500, (path, r.status_code)
    assert 'role="alert"' in r.text


def test_admin_can_edit_own_top_unit_without_moving_it(client, org):  # type: ignore[no-untyped-def]
    """admin@A cannot move A (that needs admin on R), so the form offers no parent field and still saves."""
    import re

    from tests.conftest import csrf_from, login

    login(client, org.email("admin@A"))
    page = client.get(f"/units/{org.units['A']}/edit")
    assert page.status_code == 200
    assert 'name="parent_id"' not in page.text
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    r = client.post(f"/units/{org.units['A']}/edit", data={
        "csrf_token": csrf_from(page.text), "version": version, "kind": "department", "name_en": "Unit A renamed",
        "timezone": "Asia/Bangkok", "default_language": "en"}, follow_redirects=False)
    assert r.status_code == 303
    assert "Unit A renamed" in client.get("/units").text
