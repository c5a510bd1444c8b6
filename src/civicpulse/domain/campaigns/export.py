"""The compliance table of a campaign as XLSX (openpyxl) or PDF (WeasyPrint) for the weekly meeting.

Both carry the same rows: one per target unit the reader can see, with status (on time / late / missing /
pending), first publication, channels, posts, alignment levels, mean score, reach, engagement and the
sentiment of citizen replies. Cells that start with = + - @ are written as text (no formulas from posts).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import jinja2

from civicpulse import i18n
from civicpulse.domain.campaigns.models import LEVELS
from civicpulse.domain.campaigns.queries import Compliance
from civicpulse.domain.errors import ValidationFailed
from civicpulse.i18n import _

HERE = Path(__file__).parent
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "pdf": "application/pdf"}


def level_label(level: str) -> str:
    return {"aligned": _("Aligned"), "partly": _("Partly aligned"), "off_message": _("Off message"),
            "contradicting": _("Contradicting")}.get(level, level)


def status_label(status: str) -> str:
    return {"on_time": _("On time"), "late": _("Late"), "missing": _("Missing"), "pending": _("Not yet"),
            "draft": _("Draft"), "published": _("Published"), "closed": _("Closed")}.get(status, status)


def _cell(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
        return "'" + v
    return v


def headers() -> list[str]:
    return [_("Unit"), _("Status"), _("First published"), _("Channels"), _("Posts"),
            *[level_label(lv) for lv in LEVELS], _("Mean score"), _("Reach"), _("Engagement"),
            _("Replies: positive"), _("Replies: neutral"), _("Replies: negative")]


def rows(cp: Compliance, lang: str) -> list[list[Any]]:
    out = []
    for r in cp.rows:
        out.append([r.unit.name(lang), status_label(r.status),
                    r.first_published.strftime("%Y-%m-%d %H:%M") if r.first_published else "",
                    ", ".join(r.channels), r.posts, *[r.levels.get(lv, 0) for lv in LEVELS],
                    r.mean_score if r.mean_score is not None else "", r.reach, r.engagement,
                    r.replies.get("pos", 0), r.replies.get("neu", 0) + r.replies.get("q", 0), r.replies.get("neg", 0)])
    return out


def to_xlsx(cp: Compliance, lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    c = cp.campaign
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _("Compliance")[:31]
    ws.append([_cell(c.title)])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([_("Sent by"), c.unit.name(lang), _("Deadline"), c.deadline.isoformat(), _("As of"),
               cp.today.isoformat()])
    ws.append([])
    ws.append(headers())
    for cell in ws[4]:
        cell.font = Font(bold=True)
    for r in rows(cp, lang):
        ws.append([_cell(v) for v in r])
    ws.append([])
    ws.append([_("Total"), ", ".join(f"{status_label(k)}: {v}" for k, v in cp.statuses.items() if v), "", "",
               sum(r.posts for r in cp.rows), *[cp.levels.get(lv, 0) for lv in LEVELS], "", cp.reach,
               cp.engagement])
    for col, width in zip("ABCDEFGHIJKLMNO", (30, 12, 17, 22, 7, 9, 9, 9, 9, 10, 10, 11, 10, 10, 10), strict=False):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "B5"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "export_templates")), autoescape=True,
                          extensions=["jinja2.ext.i18n"])
_env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]


def to_html(cp: Compliance, lang: str) -> str:
    return _env.get_template("compliance.html").render(cp=cp, c=cp.campaign, headers=headers(), rows=rows(cp, lang),
                                                       levels=LEVELS, level_label=level_label,
                                                       status_label=status_label, lang=lang)


def to_pdf(cp: Compliance, lang: str) -> bytes:
    from weasyprint import HTML

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"exports never fetch from the network ({url[:60]})")

    return HTML(string=to_html(cp, lang), base_url=str(HERE), url_fetcher=no_fetch).write_pdf()  # type: ignore[no-any-return]


def export(cp: Compliance, fmt: str, lang: str = "en") -> tuple[bytes, str, str]:
    """(content, media type, file name)."""
    if fmt not in MEDIA_TYPES:
        raise ValidationFailed(_("Unknown export format %(f)s; use xlsx or pdf") % {"f": fmt})
    token = i18n.set_language(lang)
    try:
        content = to_xlsx(cp, lang) if fmt == "xlsx" else to_pdf(cp, lang)
    finally:
        i18n._current.reset(token)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", cp.campaign.title).strip("-").lower()[:50] or "campaign"
    return content, MEDIA_TYPES[fmt], f"campaign-{cp.campaign.id}-{slug}-{cp.today.isoformat()}.{fmt}"
