"""Parse ``multipart/form-data`` and ``multipart/related`` bodies the way a platform's server would."""

from __future__ import annotations

import dataclasses
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from fakes.server import Request


@dataclasses.dataclass
class Part:
    name: str | None
    filename: str | None
    content_type: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def parts(req: Request) -> list[Part]:
    ctype = req.headers.get("content-type", "")
    if not ctype.startswith("multipart/"):
        return []
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + req.body)
    out = []
    for p in msg.iter_parts():
        payload = p.get_payload(decode=True)
        out.append(Part(p.get_param("name", header="content-disposition"), p.get_filename(),  # type: ignore[arg-type]
                        p.get_content_type(), payload if isinstance(payload, bytes) else b""))
    return out


def form(req: Request) -> tuple[dict[str, str], dict[str, Part]]:
    """Fields and files of a form post (urlencoded or multipart)."""
    ctype = req.headers.get("content-type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(req.body.decode(), keep_blank_values=True).items()}, {}
    fields: dict[str, str] = {}
    files: dict[str, Part] = {}
    for p in parts(req):
        if p.filename is not None:
            files[p.name or ""] = p
        elif p.name:
            fields[p.name] = p.text
    return fields, files


def any_args(req: Request) -> dict[str, Any]:
    """JSON body, form fields or query arguments — whichever the client sent."""
    if req.headers.get("content-type", "").startswith("application/json"):
        return dict(req.json() or {})
    fields, _ = form(req)
    return {**{k: v[0] for k, v in req.query.items()}, **fields}
