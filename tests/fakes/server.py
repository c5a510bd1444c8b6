"""A tiny threaded HTTP server for fakes: regex routes, recorded requests, seedable state."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclasses.dataclass
class Request:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    match: re.Match[str] | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


@dataclasses.dataclass
class Reply:
    """What to send back. ``body`` may be bytes, str or anything JSON-serialisable."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0  # sleep before answering (hanging servers)
    chunk_delay: float = 0.0  # sleep between 64 KB chunks (trickling servers)
    no_length: bool = False  # omit Content-Length and close the connection after the body

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode("utf-8")
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return data, headers


Handler = Callable[[Request], Reply]


class FakeServer:
    """Threaded HTTP server on 127.0.0.1:<free port>. Register routes with :meth:`route`."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.injected: list[tuple[re.Pattern[str], Reply]] = []
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routing -------------------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.insert(0, (method.upper(), re.compile(pattern), fn))
            return fn
        return deco

    def add(self, method: str, pattern: str, fn: Handler) -> None:
        """Register (or override: newest wins) a handler for ``method`` + full-match ``pattern``."""
        self.routes.insert(0, (method.upper(), re.compile(pattern), fn))

    def inject(self, path_regex: str, reply: Reply, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path matches ``path_regex`` with ``reply``
        (errors, 429s, expired tokens...), before normal routing."""
        with self.lock:
            self.injected.extend((re.compile(path_regex), reply) for _ in range(times))

    def dispatch(self, req: Request) -> Reply:
        with self.lock:
            for i, (pat, reply) in enumerate(self.injected):
                if pat.search(req.path):
                    del self.injected[i]
                    return reply
        for method, pattern, fn in self.routes:
            if method != req.method and method != "*":
                continue
            m = pattern.fullmatch(req.path)
            if m:
                req.match = m
                return fn(req)
        return self.not_found(req)

    def not_found(self, req: Request) -> Reply:
        return Reply(404, {"error": "NotFound", "message": f"no route for {req.method} {req.path}"})

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                with fake.lock:
                    fake.requests.append(req)
                try:
                    reply = fake.dispatch(req)
                except Exception as exc:  # a bug in a fake should show up as a 500
                    reply = Reply(500, {"error": "FakeServerError", "message": repr(exc)})
                if reply.delay:
                    time.sleep(reply.delay)
                data, headers = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if reply.no_length:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    elif "content-length" not in {k.lower() for k in headers}:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD" and reply.status not in (204, 304):
                        step = 65536
                        for i in range(0, len(data), step):
                            self.wfile.write(data[i:i + step])
                            if reply.chunk_delay:
                                self.wfile.flush()
                                time.sleep(reply.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

        class _Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._httpd = _Server(("127.0.0.1", 0), _H)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=f"fake-{type(self).__name__}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, path_regex: str) -> list[Request]:
        """Recorded requests whose path matches ``path_regex`` (search)."""
        pat = re.compile(path_regex)
        with self.lock:
            return [r for r in self.requests if pat.search(r.path)]
