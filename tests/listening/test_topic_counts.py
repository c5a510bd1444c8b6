"""A saved topic counts the items of its own unit (and below), per local day, whoever reads it."""

from __future__ import annotations

import datetime as dt

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening import queries, services
from civicpulse.domain.listening.enrich import enrich_pending
from civicpulse.domain.listening.schemas import SourceCreate, TopicCreate
from civicpulse.domain.org import services as org_services
from civicpulse.domain.org.models import User
from civicpulse.domain.org.permissions import Actor


def test_counts_are_scoped_to_the_topic_unit_and_bucketed_by_local_day(db, cfg, org):
    sysactor = Actor.system_actor()
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        for unit, n in (("A1", 3), ("B", 5)):
            src, _ = services.create_source(s, sysactor, cfg, SourceCreate(unit_id=org.units[unit], name="f",
                                                                          platform="file"))
            services.ingest(s, src, [FetchedItem(external_id=f"{unit}{i}", text=f"น้ำท่วมหนักมาก ครั้งที่ {i}",
                                                 published_at=now - dt.timedelta(days=i)) for i in range(n)])
        topic = services.create_topic(s, sysactor, TopicCreate(unit_id=org.units["A"], name="Floods",
                                                               query="น้ำท่วม"))
        topic_id = topic.id
    enrich_pending(db, cfg)
    with db.session() as s:
        topic = queries.topic(s, sysactor, topic_id)
        root = org_services.actor_for(s, s.get(User, org.users["root-admin"]), via="ui")
        viewer = org_services.actor_for(s, s.get(User, org.users["viewer@A"]), via="ui")
        for reader in (root, viewer):
            total, series = queries.topic_counts(s, reader, topic, days=14)
            assert total == 3, "B's items are outside the topic's unit and must not be counted"
            assert sum(series) == 3 and len(series) == 14
            assert series[-1] == 1 and series[-2] == 1 and series[-3] == 1


def test_search_for_a_person_with_roles_on_two_separate_units(db, cfg, org):
    """The visibility condition (an OR over the person's units) must not leak past the other conditions."""
    from civicpulse.domain.org.schemas import RoleIn

    sysactor = Actor.system_actor()
    now = dt.datetime.now(dt.UTC)
    with db.session() as s:
        for unit in ("A1", "B", "R"):
            src, _ = services.create_source(s, sysactor, cfg, SourceCreate(unit_id=org.units[unit], name="f",
                                                                          platform="file"))
            services.ingest(s, src, [
                FetchedItem(external_id="th", text=f"น้ำท่วมที่หน่วย {unit}", published_at=now),
                FetchedItem(external_id="en", text=f"flood report from unit {unit}", published_at=now)])
        # the viewer of A gets a second, separate role on B
        org_services.assign_role(s, sysactor, org.users["viewer@A"],
                                 RoleIn(unit_id=org.units["B"], role="viewer", include_subtree=False))
    enrich_pending(db, cfg)
    with db.session() as s:
        viewer = org_services.actor_for(s, s.get(User, org.users["viewer@A"]), via="ui")
        res = queries.search(s, viewer, "น้ำท่วม", limit=50)
        assert sorted(h.item.unit_id for h in res.hits) == sorted([org.units["A1"], org.units["B"]])
        res = queries.search(s, viewer, "flood lang:en", limit=50)
        assert {h.item.unit_id for h in res.hits} == {org.units["A1"], org.units["B"]}
        assert all(h.item.lang == "en" for h in res.hits) and res.total == 2
