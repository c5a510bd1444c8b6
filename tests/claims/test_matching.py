"""Matching: the same rumour reworded or in Thai / Vietnamese is found, unrelated posts are not; adding a claim
back-matches recent items; the job attaches matches as items arrive, once; the reads for the alerts engine."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from civicpulse.domain.alerts.claims import queries, services
from civicpulse.domain.alerts.claims.models import ClaimMatch
from civicpulse.domain.org.models import Unit
from tests.claims.conftest import (
    CLAIM_EN,
    PARAPHRASE_EN,
    SYS,
    TRANSLATION_TH,
    TRANSLATION_VI,
    UNRELATED,
    matches_of,
)


def test_adding_a_claim_back_matches_paraphrases_and_translations_only(db, org, collect, make_claim):  # type: ignore[no-untyped-def]
    ids = collect(org.units["A1"], [PARAPHRASE_EN, TRANSLATION_TH, TRANSLATION_VI, *UNRELATED])
    cid = make_claim(org.units["A"])
    found = matches_of(db, cid)
    assert set(found) == set(ids[:3]), found
    assert all(found[i][1] in ("semantic", "both") for i in ids[1:3])  # other languages: by meaning
    # an unrelated claim in the registry does not pick up the tap-water posts
    other = make_claim(org.units["A"], "Traffic fines for motorbikes without a helmet double next month")
    assert not set(matches_of(db, other)) & set(ids[:3])


def test_job_matches_new_items_once_lexically_first_then_by_meaning(db, cfg, org, collect, make_claim):  # type: ignore[no-untyped-def]
    cid = make_claim(org.units["A"])
    # analysed but not embedded yet: the lexical lane finds the close wording, the translation waits
    ids = collect(org.units["B"], [CLAIM_EN + ", my friend at the water office said",
                                   TRANSLATION_VI, UNRELATED[0]], embed=False)
    st = services.run_matching(db)
    assert st.lexical == 3 and st.semantic == 0 and st.matches == 1
    assert matches_of(db, cid) == {ids[0]: (matches_of(db, cid)[ids[0]][0], "lexical")}
    # once embedded, the semantic lane adds the Vietnamese version
    from civicpulse.domain.listening.enrich import embed_pending

    embed_pending(db)
    st = services.run_matching(db)
    assert st.semantic == 3 and st.lexical == 0
    found = matches_of(db, cid)
    assert set(found) == {ids[0], ids[1]}
    assert found[ids[0]][1] == "both"
    # running again changes nothing
    st = services.run_matching(db)
    assert (st.lexical, st.semantic, st.matches) == (0, 0, 0)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ClaimMatch)) == 2


def test_job_waits_for_items_that_are_not_analysed_yet(db, cfg, org, collect, make_claim):  # type: ignore[no-untyped-def]
    cid = make_claim(org.units["A"])
    first = collect(org.units["A"], [PARAPHRASE_EN])
    pending = collect(org.units["A"], [CLAIM_EN + " for sure", TRANSLATION_VI], analyse=False, embed=False)
    st = services.run_matching(db)
    assert st.lexical == 1 and st.semantic == 1  # stops before the first pending item, skips nothing
    assert set(matches_of(db, cid)) == set(first)
    from civicpulse.domain.listening.enrich import embed_pending, enrich_pending

    enrich_pending(db, cfg)
    embed_pending(db)
    st = services.run_matching(db)
    assert st.lexical == 2 and st.semantic == 2
    assert set(matches_of(db, cid)) == {*first, *pending}


def test_recent_matches_and_counts_for_the_alerts_engine(db, org, collect, make_claim):  # type: ignore[no-untyped-def]
    a_items = collect(org.units["A1"], [PARAPHRASE_EN])
    b_items = collect(org.units["B"], [TRANSLATION_TH])
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    cid = make_claim(org.units["A"])
    with db.session() as s:
        rows = queries.recent_matches(s, since=before)
        assert {(r.claim_id, r.item_id) for r in rows} == {(cid, a_items[0]), (cid, b_items[0])}
        r = rows[0]
        assert r.claim_status == "false" and r.claim_unit_id == org.units["A"] and r.score > 0
        only_b = queries.recent_matches(s, since=before, unit_path=s.get(Unit, org.units["B"]).path)
        assert [x.item_id for x in only_b] == b_items
        assert queries.match_counts_by_claim(s, before) == {cid: 2}
        assert queries.recent_matches(s, since=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == []


def test_match_text_ranks_the_right_claim_first_and_respects_visibility(db, org, make_claim, actor_of):  # type: ignore[no-untyped-def]
    water = make_claim(org.units["A"])
    make_claim(org.units["B"], "Tiêm vắc xin HPV gây vô sinh ở bé gái", lang="vi")
    with db.session() as s:
        hits = queries.match_text(s, SYS, "น้ำประปาในเมืองหลวงมีคลอรีนเป็นพิษ ดื่มไม่ได้")
        assert hits and hits[0].claim_id == water
        assert queries.match_text(s, SYS, "The weather in Hanoi is sunny tomorrow") == []
        hpv = queries.match_text(s, SYS, "the HPV jab makes girls infertile")
        assert hpv and hpv[0].text.startswith("Tiêm")
        # a user of unit A does not see unit B's claim
        assert queries.match_text(s, actor_of(org.users["analyst@A"]), "the HPV jab makes girls infertile") == []
