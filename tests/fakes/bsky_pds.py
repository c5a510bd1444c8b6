"""Run the real reference PDS (installed by ``tests/fakes/bsky_pds.sh install DIR``) for a test session."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SCRIPT = Path(__file__).with_name("bsky_pds.sh")
PDS_URL = "http://127.0.0.1:2583"


def installed(peer_dir: str) -> bool:
    d = Path(peer_dir)
    return (d / "node_modules" / "@atproto" / "pds").is_dir() and (d / "node22" / "node_modules").is_dir()


@contextmanager
def running_pds(peer_dir: str, *, ready_timeout: float = 60.0) -> Iterator[str]:
    """Start PLC (:2582) + PDS (:2583), wait for ``{"ready":true}``, yield the PDS URL, stop it."""
    try:
        httpx.get(f"{PDS_URL}/xrpc/_health", timeout=0.5)
    except httpx.HTTPError:
        pass
    else:
        raise RuntimeError("something already listens on 127.0.0.1:2583; stop it before running the PDS tests")
    log_path = Path(peer_dir) / "pds-test.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["bash", str(SCRIPT), "start", peer_dir], stdout=subprocess.PIPE, stderr=log,
                            start_new_session=True, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + ready_timeout
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            r, _, _ = select.select([proc.stdout], [], [], 0.5)
            if not r:
                continue
            line = proc.stdout.readline()
            if line.startswith("{"):
                try:
                    ready = bool(json.loads(line).get("ready"))
                except ValueError:
                    ready = False
                if ready:
                    break
        if not ready:
            raise RuntimeError(f"the PDS did not start within {ready_timeout:g} s; see {log_path}")
        yield PDS_URL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
