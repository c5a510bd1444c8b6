"""The enrichment lanes: every collected item gets language, words (for search), sentiment, citizen voice,
toxicity, entities and key phrases in fast batches; embeddings run in their own, slower lane.

Both lanes are restartable: they pick up items whose result is still missing, in id order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import bindparam, func, select, update

from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.listening.models import Item, write_mentions
from civicpulse.domain.org.models import Unit

Progress = Callable[[int, int], None]


def model_dir(settings: Settings) -> Path | None:
    """Where retrained model versions live (writable); shipped models are used when it has none."""
    d = settings.data_dir / "models"
    return d if d.exists() else None


def writable_model_dir(settings: Settings) -> Path:
    """Where `civicpulse nlp train|activate|rollback` and the Models page write versions and the registry:
    $CIVICPULSE_NLP_MODEL_DIR, else `<data dir>/models` (which :func:`model_dir` then reads)."""
    from civicpulse.nlp.model import default_model_dir

    return default_model_dir() or settings.data_dir / "models"


def unit_finder(db):  # type: ignore[no-untyped-def]
    """An entity finder that also knows the organisation's own units, in all their languages."""
    from civicpulse.nlp.entities import EntityFinder

    with db.session() as s:
        units = s.execute(select(Unit.code, Unit.names)).all()
    extra = {f"unit:{code}": [n for n in (names or {}).values() if n] for code, names in units}
    return EntityFinder(extra={k: v for k, v in extra.items() if v})


@dataclasses.dataclass
class EnrichStats:
    done: int = 0
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def pending_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Item).where(Item.enriched_at.is_(None))) or 0


def enrich_pending(db, settings: Settings, *, batch: int = 2000, limit: int | None = None,  # type: ignore[no-untyped-def]
                   progress: Progress | None = None, finder=None) -> EnrichStats:
    """The fast lane: language, index words, sentiment, voice, toxicity, entities, key phrases."""
    from civicpulse.nlp.pipeline import enrich_texts

    total = pending_count(db) if limit is None else min(limit, pending_count(db))
    finder = finder or unit_finder(db)
    stats = EnrichStats()
    start = time.perf_counter()
    last_id = 0
    mdir = model_dir(settings)
    while limit is None or stats.done < limit:
        n = batch if limit is None else min(batch, limit - stats.done)
        with db.session() as s:
            rows = s.execute(select(Item.id, Item.text, Item.lang).where(Item.enriched_at.is_(None), Item.id > last_id)
                             .order_by(Item.id).limit(n)).all()
        if not rows:
            break
        results = enrich_texts([r[1] for r in rows], langs=None, model_dir=mdir, finder=finder)
        now = utcnow()
        params = [
            {"b_id": r[0], "b_lang": e.lang, "b_lang_score": e.lang_conf, "b_index_text": e.index_text,
             "b_sentiment": e.sentiment, "b_sentiment_score": e.sentiment_prob, "b_voice": e.voice,
             "b_voice_score": e.voice_prob, "b_toxicity": e.toxicity, "b_toxicity_score": e.toxicity_prob,
             "b_entities": e.entities, "b_keyphrases": e.keyphrases, "b_enriched_at": now}
            for r, e in zip(rows, results, strict=True)
        ]
        stmt = update(Item).where(Item.id == bindparam("b_id")).values(
            lang=bindparam("b_lang"), lang_score=bindparam("b_lang_score"), index_text=bindparam("b_index_text"),
            sentiment=bindparam("b_sentiment"), sentiment_score=bindparam("b_sentiment_score"),
            voice=bindparam("b_voice"), voice_score=bindparam("b_voice_score"), toxicity=bindparam("b_toxicity"),
            toxicity_score=bindparam("b_toxicity_score"), entities=bindparam("b_entities", type_=Item.entities.type),
            keyphrases=bindparam("b_keyphrases", type_=Item.keyphrases.type),
            enriched_at=bindparam("b_enriched_at", type_=Item.enriched_at.type),
        )
        with db.session() as s:
            s.connection().execute(stmt, params)
            write_mentions(s.connection(), {r[0]: e.entities for r, e in zip(rows, results, strict=True)})
        stats.done += len(rows)
        last_id = rows[-1][0]
        if progress:
            progress(stats.done, total)
    stats.seconds = time.perf_counter() - start
    return stats


def embed_pending(db, *, batch: int = 256, limit: int | None = None,  # type: ignore[no-untyped-def]
                  progress: Progress | None = None) -> EnrichStats:
    """The embedding lane (slow, compute-bound): identical texts are embedded once.

    The same e5 pass upgrades the item's sentiment, citizen voice and toxicity to what the active
    models give with embeddings for the item's language (their route: the labels ``civicpulse nlp
    predict`` gives), except for a label an analyst has corrected.
    """
    from civicpulse.domain.listening.models import LabelCorrection
    from civicpulse.nlp.pipeline import labels_with_embeddings

    settings = getattr(db, "settings", None)
    mdir = model_dir(settings) if settings is not None else None
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(Item).where(Item.embedding.is_(None))) or 0
    if limit is not None:
        total = min(total, limit)
    stats = EnrichStats()
    start = time.perf_counter()
    last_id = 0
    cols = {"sentiment": (Item.sentiment, Item.sentiment_score), "voice": (Item.voice, Item.voice_score),
            "toxicity": (Item.toxicity, Item.toxicity_score)}
    while stats.done < total:
        with db.session() as s:
            rows = s.execute(select(Item.id, Item.text, Item.content_hash).where(Item.embedding.is_(None),
                                                                                 Item.id > last_id)
                             .order_by(Item.id).limit(min(batch, total - stats.done))).all()
            if not rows:
                break
            corrected: dict[str, set[int]] = {task: set() for task in cols}
            for iid, task in s.execute(select(LabelCorrection.item_id, LabelCorrection.task).where(
                    LabelCorrection.item_id.in_([r[0] for r in rows]), LabelCorrection.task.in_(list(cols)))):
                corrected[task].add(iid)
            # identical texts already embedded and labelled (none of it hand-corrected): reuse all of it
            hand = select(LabelCorrection.item_id).where(LabelCorrection.task.in_(list(cols)))
            known: dict[str, tuple[bytes, dict[str, tuple[str, float]]]] = {}
            for h, emb, *labs in s.execute(select(
                    Item.content_hash, Item.embedding, *(c for pair in cols.values() for c in pair)).where(
                    Item.content_hash.in_(list({r[2] for r in rows})), Item.embedding.is_not(None),
                    *(label.is_not(None) for label, _ in cols.values()), Item.id.not_in(hand))).all():
                known[h] = (emb, {task: (labs[2 * k], float(labs[2 * k + 1] or 0.0)) for k, task in enumerate(cols)})
        todo: dict[str, str] = {}
        for _id, txt, h in rows:
            if h not in known and h not in todo:
                todo[h] = txt or ""
        if todo:
            vecs, labels = labels_with_embeddings(list(todo.values()), mdir)
            for k, (h, v) in enumerate(zip(todo, vecs, strict=True)):
                known[h] = (v.astype(np.float32).tobytes(),
                            {task: labels[task][k] for task in cols if task in labels})
        with db.session() as s:
            s.connection().execute(update(Item).where(Item.id == bindparam("b_id")).values(
                embedding=bindparam("b_emb", type_=Item.embedding.type)),
                [{"b_id": r[0], "b_emb": known[r[2]][0]} for r in rows])
            for task, (label, score) in cols.items():
                upd = [{"b_id": r[0], "b_l": known[r[2]][1][task][0], "b_p": known[r[2]][1][task][1]}
                       for r in rows if r[0] not in corrected[task] and (r[1] or "").strip() and task in known[r[2]][1]]
                if upd:
                    s.connection().execute(update(Item).where(Item.id == bindparam("b_id"), Item.enriched_at.is_not(None))
                                           .values({label: bindparam("b_l"), score: bindparam("b_p")}), upd)
        stats.done += len(rows)
        last_id = rows[-1][0]
        if progress:
            progress(stats.done, total)
    stats.seconds = time.perf_counter() - start
    return stats


def vector(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)
