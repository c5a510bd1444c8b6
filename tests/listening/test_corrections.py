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
    import json

    from civicpulse.nlp.model import PACKAGE_MODELS, active_version

    act = active_version("sentiment")
    assert act in page.text and "wisesight" in page.text
    # the scores shown are those of the labels stored on items: the routed default path, not the fast path
    card = json.loads((PACKAGE_MODELS / "sentiment" / act / "card.json").read_text(encoding="utf-8"))
    default, fast = card["scores"]["default"]["wisesight"], card["scores"]["fast"]["wisesight"]
    assert f"{default['micro_f1']:.3f} / {default['macro_f1']:.3f}" in page.text
    assert f"{fast['micro_f1']:.3f} / {fast['macro_f1']:.3f}" not in page.text


def test_models_page_compares_a_retrained_version_with_the_previous_one_on_the_same_data(client, cfg, org, token_for):
    """A version retrained in the model dir shows the selection scores of itself and of the version that
    was active when it was built, both measured on the same validation data."""
    import json

    from civicpulse.nlp.model import active_version, version_comparison

    shipped = active_version("toxicity")
    mdir = cfg.data_dir / "models"
    vdir = mdir / "toxicity" / "vlocal"
    vdir.mkdir(parents=True)
    card = {"task": "toxicity", "version": "vlocal", "created": "2026-12-06T12:00:00+00:00",
            "scores": {"default": {"civic_own": {"n": 807, "micro_f1": 0.9712, "macro_f1": 0.9555}},
                       "selection_score": 0.9231},
            "compared_with": {"version": shipped, "selection_score": 0.91944, "scores": {}}}
    (vdir / "card.json").write_text(json.dumps(card), encoding="utf-8")
    (mdir / "registry.json").write_text(json.dumps(
        {"tasks": {"toxicity": {"active": "vlocal", "history": [shipped]}}}), encoding="utf-8")
    assert version_comparison(card) == {"version": shipped, "previous": 0.91944, "new": 0.9231}
    assert version_comparison({"scores": {"selection_score": 0.9}}) is None  # a first version: nothing to say

    login(client, org.email("viewer@A"))
    page = client.get("/listening/models")
    assert page.status_code == 200
    assert f"<code>{shipped}</code> 0.919 → <strong>0.923</strong>" in page.text
    assert "0.971 / 0.956" in page.text
    viewer = {"Authorization": f"Bearer {token_for(org.users['viewer@A'])}"}
    api = client.get("/api/v1/nlp/models", headers=viewer)
    assert api.status_code == 200
    mine = [v for v in api.json()["toxicity"] if v["version"] == "vlocal"]
    assert mine and mine[0]["active"] and mine[0]["compared_with"]["previous"] == 0.91944


def test_head_office_admin_switches_the_model_version_in_use_and_back(client, db, cfg, org, token_for, monkeypatch):
    """The Models page's "Use this version" (and PUT /nlp/models/{task}/active): only an administrator of the
    head office; the version's files are checked first; the writable model dir's registry is written, never the
    package's; every switch is in the audit log."""
    import json

    from civicpulse.domain.listening.enrich import model_dir
    from civicpulse.nlp.model import PACKAGE_MODELS, active_version, list_versions

    shipped_registry = (PACKAGE_MODELS / "registry.json").read_bytes()
    shipped = active_version("toxicity")
    older = next(v["version"] for v in list_versions("toxicity") if not v["active"])

    login(client, org.email("viewer@A"))
    assert "Use this version" not in client.get("/listening/models").text
    for who in ("viewer@A", "admin@A"):  # an administrator of a department is not one of the head office
        headers = {"Authorization": f"Bearer {token_for(org.users[who])}"}
        r = client.put("/api/v1/nlp/models/toxicity/active", json={"version": older}, headers=headers)
        assert r.status_code == 403, (who, r.text)
    assert model_dir(cfg) is None  # nothing written

    login(client, org.email("root-admin"))
    page = client.get("/listening/models")
    assert 'action="/listening/models/use"' in page.text
    r = client.post("/listening/models/use", data={"task": "toxicity", "version": older,
                                                    "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/listening/models?switched=toxicity"
    assert active_version("toxicity", model_dir(cfg)) == older
    assert active_version("sentiment", model_dir(cfg)) == active_version("sentiment")  # other models untouched
    page = client.get(r.headers["location"])
    assert "The model version in use was changed" in page.text

    admin = {"Authorization": f"Bearer {token_for(org.users['root-admin'])}"}
    r = client.put("/api/v1/nlp/models/toxicity/active", json={"version": shipped}, headers=admin)
    assert r.status_code == 200 and r.json() == {"task": "toxicity", "active": shipped, "previous": older}
    assert active_version("toxicity", model_dir(cfg)) == shipped

    # refused, registry unchanged: an unknown version, an unknown model, a version whose files are broken
    r = client.put("/api/v1/nlp/models/toxicity/active", json={"version": "v999"}, headers=admin)
    assert r.status_code == 404 and "v999" in r.json()["error"]["message"]
    r = client.put("/api/v1/nlp/models/mood/active", json={"version": shipped}, headers=admin)
    assert r.status_code == 422
    broken = cfg.data_dir / "models" / "toxicity" / "vbroken"
    broken.mkdir(parents=True)
    (broken / "card.json").write_text("{not json", encoding="utf-8")
    r = client.put("/api/v1/nlp/models/toxicity/active", json={"version": "vbroken"}, headers=admin)
    assert r.status_code == 422 and "card.json" in r.json()["error"]["message"]
    assert active_version("toxicity", model_dir(cfg)) == shipped

    # a registry that cannot be written: refused with its path named, and no audit row is left behind
    from civicpulse.nlp import model as nlp_model

    def read_only(root, data):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(nlp_model, "write_registry", read_only)
    r = client.put("/api/v1/nlp/models/toxicity/active", json={"version": older}, headers=admin)
    assert r.status_code == 422 and "registry.json cannot be written: Permission denied" in r.json()["error"]["message"]
    monkeypatch.undo()
    assert active_version("toxicity", model_dir(cfg)) == shipped

    with db.session() as s:
        rows = s.execute(select(AuditEntry.object_id, AuditEntry.before, AuditEntry.after)
                         .where(AuditEntry.action == "model.activate").order_by(AuditEntry.id)).all()
    assert [tuple(r) for r in rows] == [(f"toxicity/{older}", {"active": shipped}, {"active": older}),
                                        (f"toxicity/{shipped}", {"active": older}, {"active": shipped})]
    assert (PACKAGE_MODELS / "registry.json").read_bytes() == shipped_registry
    assert json.loads((cfg.data_dir / "models" / "registry.json").read_text(encoding="utf-8"))["tasks"]["toxicity"][
        "active"] == shipped


def test_the_demo_analyst_corrects_what_the_models_got_wrong(db, cfg, monkeypatch):
    """The demo comes with a few corrections (so that its Models page has something to retrain with): only
    on items whose label is wrong, at most CORRECTIONS_EACH per kind, by the demo analyst."""
    import civicpulse.demo as demo
    from civicpulse import demo_listening
    from civicpulse.domain.org.models import Unit, User

    monkeypatch.setattr(demo, "DEMO_HOOKS", [])
    demo.load_demo(db, cfg)
    texts = [f"Dịch vụ công trực tuyến bây giờ tiện thật, làm giấy phép lái xe ở {p} chỉ mất 3 ngày"
             for p in ("Huế", "Đà Nẵng", "Cần Thơ", "Hà Nội", "Quảng Ninh")]
    texts += ["Giá điện tăng liên tục, hóa đơn tháng này nhà mình ở Huế gấp đôi, đề nghị nhà nước xem lại",
              "Cảm ơn bệnh viện tỉnh Huế đã tiêm vắc xin nhanh gọn, nhân viên rất nhiệt tình"]
    with db.session() as s:
        ddc = s.scalar(select(Unit).where(Unit.code == "DDC"))
        src, _ = services.create_source(s, Actor.system_actor(), cfg,
                                        SourceCreate(unit_id=ddc.id, name="demo", platform="file"))
        services.ingest(s, src, [FetchedItem(external_id=str(i), text=t, published_at=dt.datetime.now(dt.UTC))
                                 for i, t in enumerate(texts)])
    enrich_pending(db, cfg)
    with db.session() as s:
        before = {(it.id, task): getattr(it, task) for it in s.scalars(select(Item)) for task in ("sentiment", "voice")}
    n = demo_listening._corrections(db)
    with db.session() as s:
        analyst = s.scalar(select(User.id).where(User.email == "analyst@demo.civicpulse.org"))
        rows = s.execute(select(LabelCorrection.item_id, LabelCorrection.task, LabelCorrection.old_label,
                                LabelCorrection.label, LabelCorrection.user_id)).all()
        now = {(it.id, task): getattr(it, task) for it in s.scalars(select(Item)) for task in ("sentiment", "voice")}
    assert n == len(rows) and rows
    wanted = {(start, task): label for start, task, label in demo_listening.CORRECTIONS}
    for item_id, task, old, label, user_id in rows:
        assert user_id == analyst and old == before[(item_id, task)] != label and now[(item_id, task)] == label
    per_kind: dict[tuple[str, str], int] = {}
    with db.session() as s:
        for item_id, task, *_ in rows:
            text = s.get(Item, item_id).text
            key = next(k for k in wanted if text.startswith(k[0]) and k[1] == task)
            per_kind[key] = per_kind.get(key, 0) + 1
    assert max(per_kind.values()) <= demo_listening.CORRECTIONS_EACH
    assert all(now[k] == before[k] for k in before if k not in {(r[0], r[1]) for r in rows})  # the rest untouched
    with db.session() as s:  # the items corrected keep their corrected labels: a second pass leaves them alone
        wrong_left = sum(1 for it in s.scalars(select(Item)) for (start, task), label in wanted.items()
                         if it.text.startswith(start) and getattr(it, task) != label)
    assert demo_listening._corrections(db) == min(wrong_left, demo_listening.CORRECTIONS_EACH * len(wanted))
