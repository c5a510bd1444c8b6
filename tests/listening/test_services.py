"""Listening services and queries as the web layer uses them: permissions, audit, ingest rules, search scoping."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, ValidationFailed
from civicpulse.domain.listening import queries, services
from civicpulse.domain.listening.models import IngestReject, Item, Source
from civicpulse.domain.listening.schemas import SourceCreate, SourceUpdate, TopicCreate, TopicUpdate
from civicpulse.domain.org.models import AuditEntry, User
from civicpulse.domain.org.permissions import Actor


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Cheap argon2 parameters for the many test accounts (verification reads them from each hash)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("civicpulse.domain.org.security._hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def actors(db, org):  # type: ignore[no-untyped-def]
    from civicpulse.domain.org import services as org_services

    def actor(key: str) -> Actor:
        with db.session() as s:
            return org_services.actor_for(s, s.get(User, org.users[key]), via="api")

    return actor


def webhook(db, cfg, actor: Actor, unit_id: int, name: str = "Hook") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        src, token = services.create_source(s, actor, cfg, SourceCreate(unit_id=unit_id, name=name, platform="webhook"))
        return src.id, token or ""


def test_sources_permissions_validation_and_audit(db, cfg, org, actors) -> None:
    analyst, viewer, b_admin = actors("analyst@A"), actors("viewer@A"), actors("admin@B")
    with db.session() as s:
        with pytest.raises(PermissionDenied):
            services.create_source(s, viewer, cfg, SourceCreate(unit_id=org.units["A"], name="n", platform="webhook"))
        with pytest.raises(NotFound):
            services.create_source(s, b_admin, cfg, SourceCreate(unit_id=org.units["A"], name="n", platform="webhook"))
        with pytest.raises(ValidationFailed) as e:
            services.create_source(s, analyst, cfg, SourceCreate(unit_id=org.units["A"], name="n", platform="x",
                                                                 config={"query": "q"}))
        assert "bearer_token" in e.value.details["missing"]
        with pytest.raises(ValidationFailed):
            services.create_source(s, analyst, cfg, SourceCreate(unit_id=org.units["A"], name="n", platform="rss",
                                                                 config={"url": "https://e.org/f", "colour": 1}))
        with pytest.raises(ValidationFailed):  # an installation-wide setting, never per source
            services.create_source(s, analyst, cfg, SourceCreate(unit_id=org.units["A"], name="n", platform="rss",
                                                                 config={"url": "https://e.org/f",
                                                                         "allow_private": True}))
        src, token = services.create_source(s, analyst, cfg, SourceCreate(
            unit_id=org.units["A"], name="Youtube  channel", platform="youtube", config={"channel_id": "UC1"},
            secrets={"api_key": "AIza-SECRET"}))
        assert token is None and src.name == "Youtube channel" and src.next_run_at is not None
        sid = src.id
    with db.session() as s:
        with pytest.raises(Conflict):
            services.create_source(s, analyst, cfg, SourceCreate(unit_id=org.units["A"], name="Youtube channel",
                                                                 platform="webhook"))
    with db.session() as s:
        services.update_source(s, analyst, cfg, sid, SourceUpdate(enabled=False, secrets={"api_key": "AIza-NEW"}))
        with pytest.raises(PermissionDenied):
            services.update_source(s, viewer, cfg, sid, SourceUpdate(enabled=True))
        with pytest.raises(NotFound):
            services.update_source(s, b_admin, cfg, sid, SourceUpdate(enabled=True))
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "source")
                            .order_by(AuditEntry.id)).all()
        assert [e.action for e in entries] == ["source.create", "source.update"]
        dumped = repr([(e.before, e.after) for e in entries])
        assert "AIza" not in dumped and "api_key" in dumped  # names of secrets, never their values
        assert [x.id for x in queries.sources(s, viewer)] == [sid] and queries.sources(s, b_admin) == []
        with pytest.raises(NotFound):
            queries.source(s, b_admin, sid)


def test_ingest_rules(db, cfg, org, actors) -> None:
    sid, _ = webhook(db, cfg, actors("analyst@A"), org.units["A"])
    t0 = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)
    with db.session() as s:
        src = s.get(Source, sid)
        stats = services.ingest(s, src, [
            FetchedItem(external_id="a", text="Cafe\u0301\x07  ok", published_at=t0, likes=1),
            FetchedItem(external_id="a", text="same id twice in one batch"),
            FetchedItem(external_id="b", text="   "),
            FetchedItem(external_id="c", text="naive time", published_at=dt.datetime(2026, 5, 1)),
            FetchedItem(external_id="", text="no id"),
        ], batch="t")
        assert (stats.inserted, stats.duplicates, stats.rejected) == (1, 1, 3)
        assert any("empty" in r for r in stats.reasons) and any("time zone" in r for r in stats.reasons)
    with db.session() as s:
        src = s.get(Source, sid)
        stats = services.ingest(s, src, [FetchedItem(external_id="a", text="Café ok", likes=5)])
        assert (stats.inserted, stats.duplicates) == (0, 1)
    with db.session() as s:
        it = s.scalar(select(Item).where(Item.external_id == "a"))
        assert it.text == "Café  ok" and it.likes == 5 and it.unit_id == org.units["A"]  # NFC, no control chars
        assert s.get(Source, sid).items_count == 1
        assert s.scalar(select(func.count()).select_from(IngestReject)) == 3


def test_webhook_token_and_push_only_sources(db, cfg, org, actors) -> None:
    analyst = actors("analyst@A")
    sid, token = webhook(db, cfg, analyst, org.units["A"])
    assert token.startswith("cpw_")
    with db.session() as s:
        assert services.source_for_webhook(s, token).id == sid
        for wrong in ("", "cpw_nope", token + "x"):
            with pytest.raises(NotAuthenticated):
                services.source_for_webhook(s, wrong)
        assert token not in repr(s.get(Source, sid).__dict__)  # only its hash is stored
    with pytest.raises(ValidationFailed, match="cannot be fetched"):
        services.run_source(db, cfg, sid, actor=analyst)
    with pytest.raises(PermissionDenied):
        services.run_source(db, cfg, sid, actor=actors("viewer@A"))
    with db.session() as s:
        services.update_source(s, analyst, cfg, sid, SourceUpdate(enabled=False))
    with db.session() as s, pytest.raises(ValidationFailed, match="disabled"):
        services.source_for_webhook(s, token)
    # a source that has collected items cannot be deleted (pause it instead)
    with db.session() as s:
        services.ingest(s, s.get(Source, sid), [FetchedItem(external_id="1", text="x")])
    with db.session() as s, pytest.raises(Conflict):
        services.delete_source(s, analyst, sid)


def test_topics_validation_versions_and_audit(db, cfg, org, actors) -> None:
    analyst = actors("analyst@A")
    with db.session() as s:
        with pytest.raises(ValidationFailed) as e:
            services.create_topic(s, analyst, TopicCreate(unit_id=org.units["A"], name="t", query="a OR"))
        assert e.value.details["column"] == 3 and e.value.details["pointer"] == "a OR\n  ^"
        with pytest.raises(PermissionDenied):
            services.create_topic(s, actors("viewer@A"), TopicCreate(unit_id=org.units["A"], name="t", query="a"))
        t = services.create_topic(s, analyst, TopicCreate(unit_id=org.units["A"], name=" Power  cuts ",
                                                          query="  ไฟดับ OR mất điện "))
        tid = t.id
    with db.session() as s:
        t = services.update_topic(s, analyst, tid, TopicUpdate(description="outages", version=1))
        assert t.name == "Power cuts" and t.query == "ไฟดับ OR mất điện" and t.version == 2
    with db.session() as s, pytest.raises(Conflict):
        services.update_topic(s, analyst, tid, TopicUpdate(name="x", version=1))
    with db.session() as s:
        with pytest.raises(NotFound):
            queries.topic(s, actors("admin@B"), tid)
        services.delete_topic(s, analyst, tid)
    with db.session() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "topic")
                            .order_by(AuditEntry.id)).all()
        assert actions == ["topic.create", "topic.update", "topic.delete"]


def test_search_is_scoped_and_snippets_are_escaped(db, cfg, org, actors) -> None:
    from civicpulse.domain.listening.enrich import enrich_pending

    sa, _ = webhook(db, cfg, actors("analyst@A"), org.units["A1"], "A1 hook")
    sb, _ = webhook(db, cfg, actors("admin@B"), org.units["B"], "B hook")
    with db.session() as s:
        services.ingest(s, s.get(Source, sa), [
            FetchedItem(external_id="1", text='ค่าไฟแพง <img src=x onerror="alert(1)"> จริงๆ'),
            FetchedItem(external_id="2", text="Người dân phản ánh giá điện tăng cao"),
        ])
        services.ingest(s, s.get(Source, sb), [FetchedItem(external_id="1", text="ค่าไฟแพง ที่ B")])
    enrich_pending(db, cfg)
    with db.session() as s:
        r = queries.search(s, actors("viewer@A"), "ค่าไฟ")  # A's viewer sees A1 (subtree) but not B
        assert r.total == 1 and r.hits[0].item.source_id == sa
        assert "<img" not in r.hits[0].snippet and "&lt;img" in r.hits[0].snippet and "<mark>" in r.hits[0].snippet
        assert queries.search(s, actors("admin@B"), "ค่าไฟ").total == 1
        assert queries.search(s, actors("root-admin"), "ค่าไฟ").total == 2
        assert queries.search(s, actors("root-admin"), "ค่าไฟ", queries.SearchFilters(unit_id=org.units["B"])).total == 1
        assert queries.search(s, actors("viewer@A"), "giá điện").total == 1
        with pytest.raises(ValidationFailed) as e:
            queries.search(s, actors("viewer@A"), '"unclosed')
        assert e.value.details["column"] == 1


def test_import_file_is_one_transaction(db, cfg, org, actors, tmp_path: Path) -> None:
    """A file that breaks after the first batches were read stores nothing at all."""
    analyst = actors("analyst@A")
    lines = ["id,message"] + [f"{i},ค่าไฟแพงมาก แถว {i} " + "ข" * 150 for i in range(800)]
    path = tmp_path / "big.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8") + b"900,\xff\xfe broken\n")
    with pytest.raises(ValidationFailed, match="Nothing was imported"):
        services.import_file(db, cfg, analyst, org.units["A"], "Big export", path, mapping={"text": "message", "id": "id"})
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 0
        assert s.scalar(select(func.count()).select_from(Source)) == 0
        assert s.scalar(select(func.count()).select_from(IngestReject)) == 0
    # a viewer cannot import; the unit of another branch is not found
    ok = tmp_path / "ok.csv"
    ok.write_text("id,message\n1,hello\n", encoding="utf-8")
    with pytest.raises(PermissionDenied):
        services.import_file(db, cfg, actors("viewer@A"), org.units["A"], "x", ok)
    with pytest.raises(NotFound):
        services.import_file(db, cfg, actors("admin@B"), org.units["A"], "x", ok)
    stats = services.import_file(db, cfg, analyst, org.units["A"], "Small", ok)
    assert stats.inserted == 1
    with db.session() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "source.import"))
        assert e.after["file"] == "ok.csv" and e.after["inserted"] == 1
