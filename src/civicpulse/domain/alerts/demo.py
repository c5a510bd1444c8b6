"""Demo early warning: embeddings for the most recent demo posts (bounded), one clustering pass over the last
three days, one rule evaluation.

The demo's Vietnamese comments and Wisesight posts are spread over the last two weeks with copy-pasted rumours
among them; this produces a few emerging issues and a few alerts (volume, viral copies, claim matches when the
claim registry has its demo claims). Only the newest short posts are embedded here (the embedding lane is slow,
~50 short texts/s on 2 cores; the worker embeds the rest). Idempotent: a second run finds the same issues and
updates the same alerts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, update

from civicpulse.config import Settings
from civicpulse.db.session import Database

DAYS = 3


def _embed_recent(db: Database, limit: int) -> int:
    """Seed embeddings for the newest short demo posts (what the embedding lane would do first in a live feed)."""
    from civicpulse.db.base import utcnow
    from civicpulse.domain.listening.models import Item
    from civicpulse.nlp.embed import embed

    since = utcnow() - dt.timedelta(days=DAYS)
    t = func.coalesce(Item.published_at, Item.collected_at)
    with db.session() as s:
        rows = s.execute(select(Item.id, Item.text).where(Item.embedding.is_(None), t >= since,
                                                          func.length(Item.text) <= 400)
                         .order_by(t.desc()).limit(limit)).all()
    if not rows:
        return 0
    vecs = embed([r[1] for r in rows]).astype(np.float32)
    with db.session() as s:
        s.connection().execute(update(Item).where(Item.id == bindparam("b_id")).values(
            embedding=bindparam("b_emb", type_=Item.embedding.type)),
            [{"b_id": r[0], "b_emb": v.tobytes()} for r, v in zip(rows, vecs, strict=True)])
    return len(rows)


def load_demo_alerts(db: Database, settings: Settings, progress: Any = None, *, embed_limit: int = 300) -> None:
    from civicpulse.db.base import utcnow
    from civicpulse.domain.alerts import issues, services

    if progress is not None:
        progress.print("Early warning: embedding the newest posts and looking for emerging issues…")
    _embed_recent(db, embed_limit)
    now = utcnow()
    with db.session() as s:
        found = issues.detect(s, now=now, params=issues.DetectParams(window_hours=24 * DAYS, max_items=2000))
        res = services.run_pass(s, settings, now=now, detect_issues=False, send=False)
    if progress is not None:
        progress.print(f"Early warning: {len(found)} emerging issue(s), {len(res.alerts)} alert(s).")
