"""The embedding lane stores vectors and upgrades the stored sentiment, voice and toxicity to the routed
labels of `nlp predict`, except analysts' corrections."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select

from civicpulse.domain.org.permissions import Actor

SYS = Actor.system_actor("test", via="cli")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from civicpulse.domain.org import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_embed_lane_upgrades_sentiment_but_keeps_corrections(db, cfg, org):
    from civicpulse.connectors.base import FetchedItem
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.enrich import embed_pending, enrich_pending, vector
    from civicpulse.domain.listening.models import Item, LabelCorrection
    from civicpulse.domain.listening.schemas import SourceCreate
    from civicpulse.nlp.pipeline import labels_with_embeddings

    texts = ["แย่มาก รอคิวสามชั่วโมง ไม่มีใครสนใจ", "แย่มาก รอคิวสามชั่วโมง ไม่มีใครสนใจ",
             "Cảm ơn cán bộ phường đã hỗ trợ rất nhiệt tình", "ขอบคุณครับ บริการดีมาก"]
    unit = org.units["A"]
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        src, _ = services.create_source(s, SYS, cfg, SourceCreate(unit_id=unit, name="posts", platform="file", config={}))
        services.ingest(s, src, [FetchedItem(external_id=f"e{i}", text=t, published_at=now,
                                             url=f"https://social.example.org/e{i}") for i, t in enumerate(texts)])
        ids = list(s.scalars(select(Item.id).where(Item.source_id == src.id).order_by(Item.external_id)))
    enrich_pending(db, cfg)
    corrected = ids[3]
    with db.session() as s:
        it = s.get(Item, corrected)
        it.sentiment, it.sentiment_score = "q", 1.0
        s.add(LabelCorrection(item_id=corrected, unit_id=unit, unit_path=it.unit_path, task="sentiment",
                              old_label="pos", label="q"))
        tox = s.get(Item, ids[2])
        tox.toxicity, tox.toxicity_score = "hate", 1.0
        s.add(LabelCorrection(item_id=ids[2], unit_id=unit, unit_path=tox.unit_path, task="toxicity",
                              old_label="clean", label="hate"))
    st = embed_pending(db)
    assert st.done == 4
    _, routed = labels_with_embeddings(texts)
    expected = routed["sentiment"]
    with db.session() as s:
        items = {i.id: i for i in s.scalars(select(Item).where(Item.id.in_(ids)))}
    vecs = [vector(items[i].embedding) for i in ids]
    assert all(v is not None and v.shape == (384,) for v in vecs)
    assert np.array_equal(vecs[0], vecs[1])
    for k in (0, 1, 2):
        assert items[ids[k]].sentiment == expected[k][0], k
        assert items[ids[k]].sentiment_score == pytest.approx(expected[k][1], abs=1e-4), k
    assert (items[corrected].sentiment, items[corrected].sentiment_score) == ("q", 1.0)
    for task in ("voice", "toxicity"):  # the same routed labels as `nlp predict`, corrections kept
        for k in (0, 1, 3) if task == "toxicity" else (0, 1, 2, 3):
            assert getattr(items[ids[k]], task) == routed[task][k][0], (task, k)
            assert getattr(items[ids[k]], f"{task}_score") == pytest.approx(routed[task][k][1], abs=1e-4)
    assert (items[ids[2]].toxicity, items[ids[2]].toxicity_score) == ("hate", 1.0)
    assert embed_pending(db).done == 0  # restartable: nothing left
