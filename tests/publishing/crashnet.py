"""A local HTTP platform for the crash test, and the connector that talks to it.

The platform stores every POST it receives (it does NOT deduplicate, so a double post is visible), then waits a
random few milliseconds before answering: a worker killed in that window leaves a post whose outcome it never
learnt. ``GET /posts?key=…`` looks a post up by the idempotency key, like a platform search by client reference.
"""

from __future__ import annotations

import random
import ssl
import threading
from typing import Any, ClassVar

import httpx

from civicpulse.connectors.base import Connector, ConnectorError, Health, Published, PublishRequest
from civicpulse.db.base import utcnow
from tests.fakes.server import FakeServer, Reply, Request


class CrashnetPlatform(FakeServer):
    def __init__(self, max_delay: float = 0.02) -> None:
        super().__init__()
        self.received: list[str] = []  # idempotency keys, one per stored post (duplicates included)
        self.by_key: dict[str, int] = {}
        self.max_delay = max_delay
        self.lock = threading.Lock()
        self.add("POST", r"^/posts$", self._post)
        self.add("GET", r"^/posts$", self._lookup)

    def _post(self, req: Request) -> Reply:
        body = req.json()
        key = req.headers.get("idempotency-key", "")
        if not key or not body.get("text"):
            return Reply(422, {"error": "text and Idempotency-Key are required"})
        with self.lock:
            self.received.append(key)
            pid = len(self.received)
            self.by_key.setdefault(key, pid)
        return Reply(200, {"id": str(pid), "url": f"{self.url}/p/{pid}"}, delay=random.uniform(0, self.max_delay))

    def _lookup(self, req: Request) -> Reply:
        key = req.arg("key") or ""
        with self.lock:
            pid = self.by_key.get(key)
        if pid is None:
            return Reply(404, {"error": "not found"})
        return Reply(200, {"id": str(pid), "url": f"{self.url}/p/{pid}"})


_TLS = ssl.create_default_context()  # made once: building one per client costs ~0.1 s


class CrashnetConnector(Connector):
    platform: ClassVar[str] = "crashnet"
    can_lookup: ClassVar[bool] = True

    _http_client: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self._http_client is None:  # one client per connector (the engine keeps connectors per process)
            self._http_client = httpx.Client(base_url=self.config["base_url"], verify=_TLS,
                                             timeout=float(self.config.get("timeout", 2.0)))
        return self._http_client

    def publish(self, request: PublishRequest) -> Published:
        try:
            r = self._client().post("/posts", json={"text": request.text},
                                    headers={"Idempotency-Key": request.idempotency_key})
        except httpx.HTTPError as exc:
            raise ConnectorError("transient", f"network error: {exc}") from exc
        if r.status_code >= 500:
            raise ConnectorError("transient", "server error", status=r.status_code)
        if r.status_code != 200:
            raise ConnectorError("permanent", r.json().get("error", "refused"), status=r.status_code)
        data: dict[str, Any] = r.json()
        return Published(external_id=data["id"], url=data["url"], published_at=utcnow())

    def lookup(self, request: PublishRequest) -> Published | None:
        try:
            r = self._client().get("/posts", params={"key": request.idempotency_key})
        except httpx.HTTPError as exc:
            raise ConnectorError("transient", f"network error: {exc}") from exc
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ConnectorError("transient", "lookup failed", status=r.status_code)
        data = r.json()
        return Published(external_id=data["id"], url=data["url"])

    def health(self) -> Health:
        return Health(ok=True, message="ok", checked_at=utcnow())
