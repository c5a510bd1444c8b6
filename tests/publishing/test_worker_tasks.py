"""`civicpulse worker` runs the dispatcher: a periodic task every minute, an on-demand task, and the token check."""

from __future__ import annotations

import datetime as dt

from huey.api import PeriodicTask
from sqlalchemy import select

from civicpulse.domain.publishing.models import Variant
from tests.publishing import support


def test_worker_tasks_publish_what_is_due(db, cfg, org, testnet, monkeypatch):
    for key, value in (("CIVICPULSE_DATABASE_URL", cfg.database_url), ("CIVICPULSE_SECRET_KEY", cfg.secret_key),
                       ("CIVICPULSE_ENV", "test"), ("CIVICPULSE_DATA_DIR", str(cfg.data_dir))):
        monkeypatch.setenv(key, value)
    from civicpulse.config import get_settings

    get_settings.cache_clear()
    try:
        from civicpulse.jobs import tasks

        assert isinstance(tasks.publish_every_minute.task_class(), PeriodicTask)
        assert isinstance(tasks.check_channel_tokens.task_class(), PeriodicTask)
        minute = dt.datetime(2026, 11, 23, 9, 7, tzinfo=dt.UTC)
        names = {t.name for t in tasks.q.read_periodic(minute)}
        assert any(n.endswith("publish_every_minute") for n in names)
        ch = support.channel(db, cfg, org.units["A"])
        editor = support.actor(db, org.users["editor@A"])
        approver = support.actor(db, org.users["approver@A"])
        support.approved_post(db, editor, approver, org.units["A"], [ch])
        assert tasks.publish_now.call_local()["published"] == 1
        with db.session() as s:
            assert [v.state for v in s.scalars(select(Variant))] == ["published"]
        tasks.publish_every_minute.call_local()  # nothing left: no second post
        assert len(testnet["main"].calls) == 1
    finally:
        get_settings.cache_clear()
