"""Analysts correct a model's label with one click; corrections are kept per unit and feed retraining."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening import services
from civicpulse.domain.listening.enrich import enrich_pending
from civicpulse.domain.listening.models import Item, LabelCorrection
from civicpulse.domain.listening.schemas import SourceCreate
from civicpulse.domain.org.models import AuditEntry
from civicpulse.domain.org.permissions import Actor
from tests.conftest import csrf_from, login


def _item(db, cfg, unit_id: int) -> int:
    with db.session() as s:
        src, _ = services.create_source(s, Actor.system_actor(), cfg,
                                        SourceCreate(unit_id=unit_id, name="f", platform="file"))
        st = services.ingest(s, src, [FetchedItem(external_id="1", text="ค่าไฟแพงมาก รัฐบาลช่วยด้วย",
                                                  published_at=dt.datetime.now(dt.UTC))])
        new_id = st.new_ids[0]
    enrich_pending(db, cfg)
    return new_id


def test_analyst_corrects_with_one_click(client, db, cfg, org):
    item_id = _item(db, cfg, org.units["A1"])
    login(client, org.email("analyst@A"))
    page = client.get(f"/listening/items/{item_id}")
    assert page.status_code == 200 and "/correct" in page.text
    r = client.post(f"/listening/items/{item_id}/correct",
                    data={"task": "sentiment", "label": "neg", "csrf_token": csrf_from(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        it = s.get(Item, item_id)
        assert it.sentiment == "neg"
        corr = s.scalar(select(LabelCorrection).where(LabelCorrection.item_id == item_id))
        assert corr.label == "neg" and corr.user_id == org.users["analyst@A"]
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "item.correct")) == 1
        assert services.corrections_for_training(s, "sentiment") == [
            {"text": "ค่าไฟแพงมาก รัฐบาลช่วยด้วย", "label": "neg", "lang": it.lang or ""}]


def test_viewer_cannot_correct_and_unknown_labels_are_refused(client, db, cfg, org, token_for):
    item_id = _item(db, cfg, org.units["A"])
    viewer = {"Authorization": f"Bearer {token_for(org.users['viewer@A'])}"}
    r = client.post(f"/api/v1/items/{item_id}/labels", json={"task": "sentiment", "label": "neg"}, headers=viewer)
    assert r.status_code == 403
    analyst = {"Authorization": f"Bearer {token_for(org.users['analyst@A'])}"}
    r = client.post(f"/api/v1/items/{item_id}/labels", json={"task": "sentiment", "label": "angry"}, headers=analyst)
    assert r.status_code == 422 and "angry" in r.json()["error"]["message"]
    outsider = {"Authorization": f"Bearer {token_for(org.users['admin@B'])}"}
    r = client.post(f"/api/v1/items/{item_id}/labels", json={"task": "sentiment", "label": "neg"}, headers=outsider)
    assert r.status_code == 404
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(LabelCorrection)) == 0
    r = client.post(f"/api/v1/items/{item_id}/labels", json={"task": "toxicity", "label": "offensive"}, headers=analyst)
    assert r.status_code == 200 and r.json()["label"] == "offensive"


def test_models_page_lists_versions(client, org):
    login(client, org.email("viewer@A"))
    page = client.get("/listening/models")
    assert page.status_code == 200
    from civicpulse.nlp.model import active_version

    assert active_version("sentiment") in page.text and "wisesight" in page.text
