"""Tests for near-duplicate detection (MinHash LSH) and cascades."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from civicpulse.domain.listening.dedup import (
    EMPTY,
    NearDupIndex,
    cascade,
    dedup_tokens,
    optimal_bands,
    signatures,
)

VOCAB = [f"w{i}" for i in range(5000)] + ["ค่า", "ไฟ", "แพง", "รัฐบาล", "xử_phạt", "giao_thông", "flood"]


def _shingles(tokens: list[str], k: int = 3) -> set[tuple[str, ...]]:
    if len(tokens) < k:
        return {(t,) for t in tokens}
    return {tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1)}


def _jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = _shingles(a), _shingles(b)
    return len(sa & sb) / len(sa | sb)


@pytest.fixture(scope="module")
def planted() -> tuple[list[list[str]], list[int]]:
    """300 unrelated base texts, each with 3 near-copies (copy, RT prefix, one small edit)."""
    rng = random.Random(42)
    docs: list[list[str]] = []
    group: list[int] = []
    for g in range(300):
        base = [rng.choice(VOCAB) for _ in range(rng.randint(25, 60))]
        edit = list(base)
        edit[rng.randrange(len(edit))] = rng.choice(VOCAB)
        for d in (base, list(base), ["rt", "someone"] + base, edit):
            docs.append(d)
            group.append(g)
    order = list(range(len(docs)))
    rng.shuffle(order)
    return [docs[i] for i in order], [group[i] for i in order]


def test_signature_shape_and_determinism() -> None:
    toks = [["a", "b", "c", "d"], ["x"], []]
    s1 = signatures(toks, num_perm=64, seed=3)
    s2 = signatures(toks, num_perm=64, seed=3)
    s3 = signatures(toks, num_perm=64, seed=4)
    assert s1.shape == (3, 64) and s1.dtype == np.uint32
    assert np.array_equal(s1, s2)
    assert not np.array_equal(s1[0], s3[0])
    assert (s1[2] == EMPTY).all()
    # batching does not change the result
    assert np.array_equal(signatures(toks * 50, num_perm=64, seed=3, batch_size=7)[:3], s1)
    assert np.array_equal(signatures(toks * 50, num_perm=64, seed=3, batch_size=7, workers=2)[:3], s1)


def test_estimate_tracks_true_jaccard() -> None:
    rng = random.Random(1)
    errs = []
    for _ in range(100):
        a = [rng.choice(VOCAB) for _ in range(40)]
        b = list(a)
        for _ in range(rng.randint(0, 6)):
            b[rng.randrange(len(b))] = rng.choice(VOCAB)
        s = signatures([a, b])
        errs.append(float((s[0] == s[1]).mean()) - _jaccard(a, b))
    assert abs(np.mean(errs)) < 0.02
    assert np.std(errs) < 0.06


def test_planted_near_duplicates_found(planted: tuple[list[list[str]], list[int]]) -> None:
    docs, group = planted
    idx = NearDupIndex(threshold=0.7)
    idx.add(list(range(len(docs))), signatures(docs))
    clusters = idx.clusters()
    label = {i: c for c, members in enumerate(clusters) for i in members}
    # recall over planted pairs whose true similarity is ≥ 0.75
    pairs = found = 0
    for i in range(len(docs)):
        for j in range(i + 1, len(docs)):
            if group[i] == group[j] and _jaccard(docs[i], docs[j]) >= 0.75:
                pairs += 1
                found += i in label and label.get(i) == label.get(j)
    assert pairs > 1000
    assert found / pairs >= 0.97
    # precision: no cluster mixes unrelated bases
    for members in clusters:
        assert len({group[i] for i in members}) == 1
    assert len(clusters) >= 290


def test_unrelated_texts_not_merged() -> None:
    rng = random.Random(7)
    docs = [[rng.choice(VOCAB) for _ in range(30)] for _ in range(2000)]
    idx = NearDupIndex()
    idx.add(list(range(len(docs))), signatures(docs))
    assert idx.clusters() == []


def test_query_and_ids(planted: tuple[list[list[str]], list[int]]) -> None:
    docs, group = planted
    idx = NearDupIndex()
    ids = [f"item-{i}" for i in range(len(docs))]
    sigs = signatures(docs)
    idx.add(ids[:600], sigs[:600])
    idx.add(ids[600:], sigs[600:])
    assert len(idx) == len(docs)
    hits = idx.query(sigs[0])
    assert hits[0] == ("item-0", 1.0)
    same = {f"item-{j}" for j in range(len(docs)) if group[j] == group[0]}
    assert {h for h, _ in hits} <= same
    assert len(hits) >= 3
    assert idx.query(signatures([[]])[0]) == []


def test_short_texts_use_single_tokens() -> None:
    docs = [["ค่า", "ไฟ"], ["ไฟ", "ค่า"], ["flood"], ["xử_phạt", "giao_thông"], []]
    idx = NearDupIndex()
    idx.add(["a", "b", "c", "d", "e"], signatures(docs))
    assert idx.clusters() == [["a", "b"]]


def test_dedup_tokens_strip_retweet_prefix_urls_mentions() -> None:
    tok = str.split  # keep the test independent of the segmenter
    original = "rumour: the water supply is poisoned, do not drink tap water today"
    rt = "RT @someone: rumour: the water supply is poisoned, do not drink tap water today https://t.co/x"
    assert dedup_tokens(rt, tok) == dedup_tokens(original, tok)
    thai = dedup_tokens("RT @abc: ข่าวลือ น้ำประปา มีสารพิษ ห้ามดื่ม", tok)
    assert thai == ["ข่าวลือ", "น้ำประปา", "มีสารพิษ", "ห้ามดื่ม"]


def test_segmented_rumour_variants_cluster() -> None:
    texts = [
        "ด่วน! น้ำประปาในกรุงเทพมีสารพิษ ห้ามดื่มน้ำประปาเด็ดขาด แชร์ต่อให้คนที่คุณรัก",
        "RT @news_th: ด่วน! น้ำประปาในกรุงเทพมีสารพิษ ห้ามดื่มน้ำประปาเด็ดขาด แชร์ต่อให้คนที่คุณรัก",
        "ด่วน!! น้ำประปาในกรุงเทพมีสารพิษ ห้ามดื่มน้ำประปาเด็ดขาด แชร์ต่อให้คนที่คุณรักด้วย",
        "Khẩn cấp: nước máy ở Hà Nội bị nhiễm độc, không được uống, hãy chia sẻ cho người thân",
        "RT @tin: Khẩn cấp: nước máy ở Hà Nội bị nhiễm độc, không được uống, hãy chia sẻ cho người thân",
        "รัฐบาลประกาศลดค่าไฟฟ้าเดือนหน้า สำหรับบ้านที่ใช้ไฟไม่เกิน 300 หน่วย",
    ]
    idx = NearDupIndex()
    idx.add(list(range(len(texts))), signatures([dedup_tokens(t) for t in texts]))
    assert sorted(sorted(c) for c in idx.clusters()) == [[0, 1, 2], [3, 4]]


def test_optimal_bands_like_datasketch() -> None:
    b, r = optimal_bands(0.7, 128)
    assert b * r <= 128 and r > 1
    assert (NearDupIndex(0.7).bands, NearDupIndex(0.7).rows) == (b, r)


def test_cascade_timeline_and_sources() -> None:
    t0 = dt.datetime(2026, 5, 1, 1, 10, tzinfo=dt.UTC)
    items = [
        {"id": "c", "published_at": t0 + dt.timedelta(hours=3), "source": "twitter", "author": "@B"},
        {"id": "a", "published_at": t0, "source": "facebook", "author": "A"},
        {"id": "b", "published_at": (t0 + dt.timedelta(minutes=20)).isoformat(), "source": "facebook", "author": "b"},
        {"id": "d", "published_at": None, "source": "tiktok", "author": "a"},
    ]
    c = cascade(items, tz="Asia/Bangkok")
    assert c["size"] == 4 and c["first_id"] == "a" and c["first"] is items[1]
    assert c["first_seen"] == t0 and c["last_seen"] == t0 + dt.timedelta(hours=3)
    assert c["bucket"] == "hour"
    assert [b["count"] for b in c["timeline"]] == [2, 0, 0, 1]
    assert c["timeline"][0]["start"].utcoffset() == dt.timedelta(hours=7)
    assert c["timeline"][0]["start"].hour == 8  # 01:10 UTC = 08:10 in Bangkok
    assert c["peak"]["count"] == 2
    assert c["sources"] == {"facebook": 2, "twitter": 1, "tiktok": 1}
    assert list(c["source_first_seen"]) == ["facebook", "twitter"]
    assert c["authors"] == 2 and c["undated"] == 1
    daily = cascade(items + [{"id": "e", "published_at": t0 + dt.timedelta(days=5), "source": "rss"}])
    assert daily["bucket"] == "day" and len(daily["timeline"]) == 6
    assert sum(b["count"] for b in daily["timeline"]) == 4
    assert cascade([])["size"] == 0
