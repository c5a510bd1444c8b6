"""The seam with the publishing area: "Adapt" creates a draft post there, its published variants count in the
compliance table, and a text changed there is re-scored."""

from __future__ import annotations

import datetime as dt

from civicpulse.domain.campaigns import queries, services
from tests.campaigns.conftest import KIT, SYS, TEXTS, actor


def test_adapt_creates_a_content_draft_and_published_variants_count(db, org, make_campaign):  # type: ignore[no-untyped-def]
    from civicpulse.domain.content.models import Post
    from civicpulse.domain.publishing.models import Channel, Variant

    cid = make_campaign(org.units["A"], [org.units["A1"]])
    editor = actor(db, org.users["editor@A"])
    with db.session() as s:
        cp = services.adapt(s, editor, cid, org.units["A1"], "s1")
        assert cp.post_id is not None
        post = s.get(Post, cp.post_id)
        assert post is not None and post.unit_id == org.units["A1"] and post.review_status == "draft"
        assert post.texts == {"vi": KIT["suggested_posts"][0]["text"]}
        assert post.hashtags == [] and post.link is None  # the suggested text already carries them
        pid = post.id
        # the unit's editor rewrites the draft in the publishing area, and a variant gets published
        post.texts = {"en": TEXTS["contra_vi"]}
        ch = Channel(unit_id=org.units["A1"], unit_path=post.unit_path, platform="facebook", name="A1 page")
        s.add(ch)
        s.flush()
        s.add(Variant(post_id=pid, channel_id=ch.id, unit_id=org.units["A1"], unit_path=post.unit_path,
                      text=TEXTS["contra_vi"], state="published", idempotency_key=f"k{pid}",
                      published_at=dt.datetime.now(dt.UTC)))
    with db.session() as s:
        assert services.refresh_composed(s) == 1
        assert services.refresh_composed(s) == 0
    with db.session() as s:
        (p,) = queries.posts(s, SYS, cid)
        assert p.level == "contradicting" and p.text == TEXTS["contra_vi"]
        (row,) = queries.compliance(s, SYS, cid).rows
        assert row.status == "on_time" and row.channels == ["facebook"] and row.first_published is not None
        assert queries.tasks(s, editor) == []  # published through the publishing area: no longer a task
        c = queries.campaign_of_post(s, editor, pid)
        assert c is not None and c.id == cid
        assert queries.campaign_of_post(s, actor(db, org.users["admin@B"]), pid) is None
        assert queries.campaign_of_post(s, editor, 999999) is None
