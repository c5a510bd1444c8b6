"""The website channel's public pages: a unit's news page and its Atom feed. No sign-in needed."""

from __future__ import annotations

from email.utils import format_datetime
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from civicpulse.domain.publishing import queries
from civicpulse.web.deps import DB, WebContext, settings
from civicpulse.web.ui.render import render, ui_context

router = APIRouter(tags=["public news"])


def _name(unit, lang: str) -> str:  # type: ignore[no-untyped-def]
    names = unit.names or {}
    return names.get(lang) or names.get("en") or next(iter(names.values()), unit.code)


@router.get("/u/{unit_code}/news", response_class=HTMLResponse, include_in_schema=False)
def news_page(unit_code: str, request: Request, ctx: WebContext = Depends(ui_context), s: Session = DB):
    unit = queries.public_unit(s, unit_code)
    posts = queries.website_posts(s, unit, limit=50)
    lang = getattr(request.state, "lang", "en")
    return render(request, "publishing/news.html", unit=unit, unit_name=_name(unit, lang), posts=posts,
                  feed_url=f"/u/{unit.code}/feed.xml")


@router.get("/u/{unit_code}/feed.xml", include_in_schema=False)
def news_feed(unit_code: str, request: Request, s: Session = DB) -> Response:
    unit = queries.public_unit(s, unit_code)
    posts = queries.website_posts(s, unit, limit=50)
    base = settings(request).base_url.rstrip("/")
    page = f"{base}/u/{unit.code}/news"
    updated = posts[0].published_at if posts else unit.created_at
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<feed xmlns="http://www.w3.org/2005/Atom">',
           f"<title>{escape(_name(unit, 'en'))}</title>", f'<link href="{escape(page)}" rel="alternate"/>',
           f'<link href="{escape(page.removesuffix("/news") + "/feed.xml")}" rel="self"/>',
           f"<id>{escape(page)}</id>", f"<updated>{updated.isoformat()}</updated>"]
    for p in posts:
        out += ["<entry>", f"<title>{escape(p.title or p.body[:80])}</title>",
                f'<link href="{escape(p.link or f"{page}#post-{p.id}")}" rel="alternate"/>',
                f"<id>{escape(page)}#post-{p.id}</id>", f"<published>{p.published_at.isoformat()}</published>",
                f"<updated>{p.published_at.isoformat()}</updated>",
                f'<content type="text"{f" xml:lang={chr(34)}{p.language}{chr(34)}" if p.language else ""}>'
                f"{escape(p.body)}</content>", "</entry>"]
    out.append("</feed>")
    return Response("\n".join(out), media_type="application/atom+xml; charset=utf-8",
                    headers={"Last-Modified": format_datetime(updated, usegmt=True)})
