"""Jobs that a user starts from the web interface and that run beside the web process.

Retraining a model is one: it reads and writes this server's model dir, takes a few minutes, and must
start at once, in the demo as on a server where ``civicpulse worker`` is not running. Each job runs on
its own daemon thread (stopping the server does not wait for it); the job itself records its progress
in the database, so that any page, in any process, can show it, and a job cut short by a restart is
seen as interrupted there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("civicpulse.jobs")


class BackgroundJobs:
    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, name: str, fn: Callable[..., Any], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                fn(*args)
            except Exception:  # the job records its own failure; this is for a fault in that recording
                log.exception("background job failed", job=name)

        t = threading.Thread(target=run, name=f"civicpulse-{name}", daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return t

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the jobs started so far (tests, and an orderly shutdown); True when all have ended."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)
