"""The claim pages through the real forms with CSRF: add, bad input kept in the form, edit, the claim page with
its matched items, the one-click button and the correction reply on an item page, HTML escaped."""

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy import func, select

from civicpulse.domain.alerts.claims.models import Claim
from tests.claims.conftest import CLAIM_EN, CORRECTION, LINK, PARAPHRASE_EN, TRANSLATION_TH
from tests.conftest import login


def _form(unit_id: int, text: str, **over: str) -> dict[str, object]:
    d: dict[str, object] = {"unit_id": unit_id, "texts-count": 3, "texts-0-lang": "en", "texts-0-text": text,
                            "texts-1-lang": "th", "texts-1-text": "", "texts-2-lang": "vi", "texts-2-text": "",
                            "status": "false", "correction_en": CORRECTION["en"], "correction_th": CORRECTION["th"],
                            "correction_vi": "", "correction_url": LINK, "notes": "", "first_seen": "2026-11-20"}
    d.update(over)
    return d


def _count(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Claim)) or 0


def test_analyst_adds_and_edits_a_claim_through_the_form(client, db, org, collect):  # type: ignore[no-untyped-def]
    ids = collect(org.units["A1"], [PARAPHRASE_EN])
    csrf = login(client, org.email("analyst@A"))
    page = client.get("/claims")
    assert page.status_code == 200 and 'href="/claims"' in page.text and re.search(r"Rumours (&amp;|&) claims", page.text)
    assert 'data-testid="claim-add"' in page.text

    # no CSRF token: refused, nothing stored
    r = client.post("/claims/new", data=_form(org.units["A"], CLAIM_EN))
    assert r.status_code == 403 and _count(db) == 0
    # bad input: the form comes back with the message and what was typed
    r = client.post("/claims/new", data={**_form(org.units["A"], CLAIM_EN, correction_url="www.example.org"),
                                         "csrf_token": csrf})
    assert r.status_code == 422 and "http:// or https://" in r.text and CLAIM_EN in r.text and _count(db) == 0
    r = client.post("/claims/new", data={**_form(org.units["A"], "  "), "csrf_token": csrf})
    assert r.status_code == 422 and "The claim text is empty" in r.text

    hostile = CLAIM_EN + ' <script>alert("x")</script>'
    r = client.post("/claims/new", data={**_form(org.units["A"], hostile), "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    cid = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/claims/{cid}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert CORRECTION["th"] in page.text and LINK in page.text
    assert f'href="/listening/items/{ids[0]}"' in page.text  # back-matched at once
    assert 'data-testid="claim-timeline"' in page.text

    r = client.post("/claims/new", data={**_form(org.units["A"], hostile), "csrf_token": csrf})
    assert r.status_code == 409 or (r.status_code == 422 and "already has the wording" in r.text)

    form = client.get(f"/claims/{cid}/edit")
    assert form.status_code == 200 and 'name="texts-0-text"' in form.text
    r = client.post(f"/claims/{cid}/edit", data={**_form(org.units["A"], hostile, status="misleading",
                                                          **{"texts-1-text": TRANSLATION_TH}), "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        c = s.get(Claim, cid)
        assert c.status == "misleading" and [t.lang for t in c.texts] == ["en", "th"]  # type: ignore[union-attr]
    assert "Misleading" in client.get("/claims?status=misleading").text
    assert CLAIM_EN not in client.get("/claims?status=true").text


def test_viewer_cannot_add_and_item_page_offers_the_correction_reply(client, db, org, collect, make_claim):  # type: ignore[no-untyped-def]
    ids = collect(org.units["A1"], [TRANSLATION_TH])
    cid = make_claim(org.units["A"])
    csrf = login(client, org.email("viewer@A"))
    assert 'data-testid="claim-add"' not in client.get("/claims").text
    r = client.post("/claims/new", data={**_form(org.units["A"], "A new rumour about water"), "csrf_token": csrf})
    assert r.status_code in (403, 422) and _count(db) == 1
    page = client.get(f"/listening/items/{ids[0]}")
    assert page.status_code == 200 and 'data-testid="add-claim"' not in page.text
    assert f'hx-get="/claims/for-item/{ids[0]}"' in page.text
    panel = client.get(f"/claims/for-item/{ids[0]}")
    assert panel.status_code == 200 and f'href="/claims/{cid}"' in panel.text
    # the item is Thai: the reply is the Thai correction plus the link, and the compose link carries both
    draft = re.search(r'data-testid="reply-draft"[^>]*>([^<]*)</textarea>', panel.text)
    assert draft and CORRECTION["th"] in draft.group(1) and LINK in draft.group(1)
    expected = f"/content/new?text={quote(CORRECTION['th'] + chr(10) * 2 + LINK, safe='')}&amp;reply_to_item={ids[0]}"
    assert expected in panel.text


def test_add_as_claim_button_on_an_item(client, db, org, collect):  # type: ignore[no-untyped-def]
    ids = collect(org.units["A1"], [PARAPHRASE_EN], embed=False)
    csrf = login(client, org.email("analyst@A"))
    page = client.get(f"/listening/items/{ids[0]}")
    assert 'data-testid="add-claim"' in page.text and f'action="/claims/from-item/{ids[0]}"' in page.text
    assert client.post(f"/claims/from-item/{ids[0]}", data={}).status_code == 403
    r = client.post(f"/claims/from-item/{ids[0]}", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/edit")
    cid = int(r.headers["location"].split("/")[2])
    edit = client.get(r.headers["location"])
    assert edit.status_code == 200 and "the city water is full of toxic chlorine" in edit.text
    page = client.get(f"/claims/{cid}")
    assert f'href="/listening/items/{ids[0]}"' in page.text and "added by hand" in page.text
    r = client.post(f"/claims/{cid}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and _count(db) == 0
