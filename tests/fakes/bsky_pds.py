"""Run the real reference PDS (installed by ``tests/fakes/bsky_pds.sh install DIR``) for a test session."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SCRIPT = Path(__file__).with_name("bsky_pds.sh")


def installed(peer_dir: str) -> bool:
    d = Path(peer_dir)
    return (d / "node_modules" / "@atproto" / "pds").is_dir() and (d / "node22" / "node_modules").is_dir()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_pds(peer_dir: str, *, ready_timeout: float = 60.0) -> Iterator[str]:
    """Start PLC + PDS on free ports with a private data folder (so parallel runs sharing one
    install do not collide), wait for ``{"ready":true}``, yield the PDS URL, then stop them."""
    pds_port, plc_port = _free_port(), _free_port()
    data = tempfile.mkdtemp(prefix="cp-pds-data-")
    log_path = Path(data).with_suffix(".log")
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    env = {**os.environ, "CP_PDS_PORT": str(pds_port), "CP_PLC_PORT": str(plc_port), "CP_PDS_DATA": data}
    keep_log = False
    proc = subprocess.Popen(["bash", str(SCRIPT), "start", peer_dir], stdout=subprocess.PIPE, stderr=log,
                            start_new_session=True, text=True, env=env)
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
            keep_log = True
            raise RuntimeError(f"the PDS did not start within {ready_timeout:g} s; see {log_path}")
        url = f"http://127.0.0.1:{pds_port}"
        httpx.get(f"{url}/xrpc/_health", timeout=5).raise_for_status()
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
        if not keep_log:
            log_path.unlink(missing_ok=True)
