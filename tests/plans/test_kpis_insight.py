"""KPIs computed from listening data (per week, against target and a computed baseline) and audience insight."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening import services as listening
from civicpulse.domain.listening.models import Item
from civicpulse.domain.listening.schemas import SourceCreate, TopicCreate
from tests.plans.conftest import SYS, TODAY, H, body


def _at(days_ago: int) -> dt.datetime:
    d = TODAY - dt.timedelta(days=days_ago)
    return dt.datetime(d.year, d.month, d.day, 12, tzinfo=dt.UTC)


# (days ago, sentiment, words)
ITEMS = [
    (1, "neg", "vaccine fever worry"), (1, "neg", "vaccine fever again"), (1, "pos", "vaccine thanks nurse"),
    (2, "q", "vaccine where free"),
    (8, "neg", "vaccine pain"),
    (20, "neg", "vaccine fever"), (20, "neu", "vaccine schedule"), (20, "neu", "vaccine news"),
    (20, "neu", "vaccine report"),
    (3, "neg", "traffic fine too high"),  # another subject: never counted
]


@pytest.fixture
def topic(db, cfg, org):  # type: ignore[no-untyped-def]
    with db.session() as s:
        src, _ = listening.create_source(s, SYS, cfg, SourceCreate(unit_id=org.units["A"], name="comments",
                                                                    platform="file"))
        stats = listening.ingest(s, src, [FetchedItem(external_id=f"i{i}", text=w, published_at=_at(d))
                                          for i, (d, _sent, w) in enumerate(ITEMS)])
        for iid, (_d, sent, words) in zip(stats.new_ids, ITEMS, strict=True):
            s.execute(update(Item).where(Item.id == iid).values(
                index_text=words, sentiment=sent, keyphrases=["fever"] if "fever" in words else [words.split()[1]]))
        t = listening.create_topic(s, SYS, TopicCreate(unit_id=org.units["A"], name="Vaccines", query="vaccine"))
        return t.id, stats.new_ids


def test_kpis_from_listening(client, org, make_plan, topic, token_for):  # type: ignore[no-untyped-def]
    tid, item_ids = topic
    pid = make_plan(org.units["A"], start_date=(TODAY - dt.timedelta(days=10)).isoformat(), sections={
        "audiences": [{"id": "a1", "name": "Parents", "topic_ids": [tid], "evidence_item_ids": [item_ids[0]]}],
        "kpis": [
            {"id": "k1", "name": "Negative share", "level": "outtake", "metric": "negative_share", "topic_ids": [tid],
             "direction": "decrease", "target": 20},
            {"id": "k2", "name": "Concerns", "level": "outcome", "metric": "concern_volume", "topic_ids": [tid],
             "direction": "decrease", "target": 1},
            {"id": "k3", "name": "Mentions", "level": "output", "metric": "mention_volume", "topic_ids": [tid],
             "target": 4},
            {"id": "k4", "name": "Survey", "level": "outcome", "metric": "manual", "unit_label": "%", "baseline": 30,
             "target": 70, "readings": [{"date": TODAY.isoformat(), "value": 50},
                                        {"date": (TODAY - dt.timedelta(days=7)).isoformat(), "value": 40}]},
        ]})
    h = H(token_for(org.users["viewer@A"]))
    k = {x["id"]: x for x in client.get(f"/api/v1/plans/{pid}/kpis", headers=h).json()}
    neg = k["k1"]
    assert len(neg["points"]) == 8 and neg["points"][-1]["end"] == (TODAY + dt.timedelta(days=1)).isoformat()
    assert neg["points"][-1]["value"] == 50.0 and neg["points"][-1]["detail"] == {"total": 4, "neg": 2}
    assert neg["points"][-2]["value"] == 100.0
    assert neg["points"][0]["value"] is None  # no data that week
    assert neg["baseline"] == 25.0 and neg["baseline_computed"] is True  # the 4 weeks before the start
    assert neg["latest"] == 50.0 and neg["status"] == "off_track" and neg["progress"] == 0.0
    assert k["k2"]["points"][-1]["value"] == 3.0  # 2 negative + 1 question
    assert k["k2"]["baseline"] == 0.2  # 1 concern in 4 weeks → per week
    assert k["k3"]["latest"] == 4.0 and k["k3"]["status"] == "met"
    assert k["k4"]["computed"] is False and [p["value"] for p in k["k4"]["points"]] == [40, 50]
    assert k["k4"]["status"] == "on_track" and k["k4"]["progress"] == 50.0
    ins = client.get(f"/api/v1/plans/{pid}/insight", headers=h).json()
    t = ins[0]["topics"][0]
    assert t["name"] == "Vaccines" and t["total"] == 9
    assert t["mix"] == {"neg": 4, "q": 1, "neu": 3, "pos": 1}
    assert t["concerns"][0] == ["fever", 3]
    assert ins[0]["evidence"][0]["id"] == item_ids[0]


def test_topics_of_other_units_cannot_be_linked(client, org, topic, token_for):  # type: ignore[no-untyped-def]
    tid, item_ids = topic
    h = H(token_for(org.users["admin@B"]))
    b = body(org.units["B"])
    b["sections"]["audiences"][0]["topic_ids"] = [tid]
    r = client.post("/api/v1/plans", headers=h, json=b)
    assert r.status_code == 422 and f"Saved topic {tid} was not found" in r.json()["error"]["message"]
    b = body(org.units["B"])
    b["sections"]["audiences"][0]["evidence_item_ids"] = [item_ids[0]]
    r = client.post("/api/v1/plans", headers=h, json=b)
    assert r.status_code == 422 and "Evidence item" in r.json()["error"]["message"]
