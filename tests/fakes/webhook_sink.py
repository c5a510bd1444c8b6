"""A webhook receiver that checks the HMAC signature and deduplicates on ``Idempotency-Key``."""

from __future__ import annotations

import json
from typing import Any

from civicpulse.connectors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from fakes.server import FakeServer, Reply, Request


class FakeWebhookSink(FakeServer):
    def __init__(self, secret: str = "hook-secret") -> None:  # noqa: S107 - a test secret
        super().__init__()
        self.secret = secret
        self.received: dict[str, dict[str, Any]] = {}  # idempotency key -> payload (first delivery)
        self.deliveries = 0
        self.rejected = 0
        self.add("POST", r"/hook", self._hook)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    def posts(self) -> list[dict[str, Any]]:
        return [p for p in self.received.values() if p.get("event") == "post.published"]

    def _hook(self, req: Request) -> Reply:
        self.deliveries += 1
        if not verify_signature(self.secret, req.headers.get(TIMESTAMP_HEADER.lower()), req.body,
                                req.headers.get(SIGNATURE_HEADER.lower())):
            self.rejected += 1
            return Reply(401, {"error": "bad signature"})
        key = req.headers.get("idempotency-key")
        if not key:
            return Reply(400, {"error": "Idempotency-Key header missing"})
        payload = json.loads(req.body)
        if key not in self.received:
            self.received[key] = payload
        n = list(self.received).index(key) + 1
        return Reply(200, {"id": f"item-{n}", "url": f"https://intranet.example/news/{n}"})
