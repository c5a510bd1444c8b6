"""The mention keys (table item_mentions) follow the items' entities, however these are written, so that
``mentions:`` finds items through its index."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening import queries, services
from civicpulse.domain.listening.enrich import enrich_pending
from civicpulse.domain.listening.models import Item, ItemMention, Source
from civicpulse.domain.listening.schemas import SourceCreate
from civicpulse.domain.org.permissions import Actor


def _keys(db, item_id: int) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(ItemMention.key).where(ItemMention.item_id == item_id)))


def _found(db, q: str) -> set[int]:
    with db.session() as s:
        return {h.item.id for h in queries.search(s, Actor.system_actor(), q, limit=50).hits}


def _source(db, cfg, unit_id: int) -> int:
    with db.session() as s:
        src, _ = services.create_source(s, Actor.system_actor(), cfg,
                                        SourceCreate(unit_id=unit_id, name="f", platform="file"))
        return src.id


def test_enrichment_writes_and_replaces_the_keys(db, cfg, org) -> None:
    src_id = _source(db, cfg, org.units["A"])
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        st = services.ingest(s, s.get(Source, src_id), [
            FetchedItem(external_id="1", text="Người dân Hà Nội phản ánh giá điện tăng", published_at=now),
            FetchedItem(external_id="2", text="น้ำท่วมหนักที่เชียงใหม่ ขอความช่วยเหลือด่วน", published_at=now)])
        hn, cm = st.new_ids
    enrich_pending(db, cfg)
    assert {"vn:ha-noi", ":ha-noi", "hà nội"} <= _keys(db, hn)
    assert _found(db, 'mentions:"Hà Nội"') == {hn} and _found(db, "mentions:ha-noi") == {hn}
    assert _found(db, "-mentions:vn:ha-noi") >= {cm} and hn not in _found(db, "-mentions:vn:ha-noi")
    chiang_mai = _found(db, "mentions:เชียงใหม่")
    assert chiang_mai == {cm}
    # the text is edited and enriched again: the old keys go, the new ones come
    with db.session() as s:
        s.execute(update(Item).where(Item.id == hn).values(text="Đà Nẵng mưa lớn", enriched_at=None))
    enrich_pending(db, cfg)
    assert "vn:ha-noi" not in _keys(db, hn) and "vn:da-nang" in _keys(db, hn)
    assert _found(db, 'mentions:"Hà Nội"') == set() and _found(db, 'mentions:"Đà Nẵng"') == {hn}
    assert _found(db, "mentions:เชียงใหม่") == {cm}  # the other item's keys are kept


def test_items_written_through_the_orm_keep_their_keys(db, cfg, org) -> None:
    src_id = _source(db, cfg, org.units["A"])
    with db.session() as s:
        it = Item(source_id=src_id, unit_id=org.units["A"], unit_path=s.get(Source, src_id).unit.path,
                  external_id="orm-1", kind="post", text="x", content_hash="h", index_text="",
                  entities=[{"type": "ministry", "id": "vn-ministry:moh", "name": "Bộ Y tế", "text": "BYT"}])
        s.add(it)
        s.flush()
        item_id = it.id
    assert _keys(db, item_id) == {"vn-ministry:moh", ":moh", "bộ y tế", "byt"}
    assert _found(db, 'mentions:"bộ y tế"') == {item_id}
    with db.session() as s:
        s.get(Item, item_id).entities = [{"type": "province", "id": "th:bkk", "name": "กรุงเทพมหานคร"}]
    assert _keys(db, item_id) == {"th:bkk", ":bkk", "กรุงเทพมหานคร"}
    with db.session() as s:
        s.get(Item, item_id).text = "y"  # a change elsewhere leaves the keys alone
    assert _keys(db, item_id) == {"th:bkk", ":bkk", "กรุงเทพมหานคร"}
    with db.session() as s:
        s.get(Item, item_id).entities = None
    assert _keys(db, item_id) == set()
    with db.session() as s:
        s.get(Item, item_id).entities = [{"id": "vn:hue", "name": "Huế"}]
    with db.session() as s:
        s.delete(s.get(Item, item_id))
    assert _keys(db, item_id) == set()
