"""Exports of a plan: Markdown, DOCX (python-docx), PDF (WeasyPrint), the timeline (Gantt) as SVG and PNG
drawn here (no network, no browser), and an iCalendar feed of the tactics.

The document is what an officer hands to a minister: the organisation's letterhead, the plan's status and
version, tables per section, the timeline chart, KPIs against target and the review checklist.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import re
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import jinja2
from sqlalchemy.orm import Session

from civicpulse import i18n
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.plans import queries
from civicpulse.domain.plans.models import Plan
from civicpulse.domain.plans.schemas import PRINCIPLES, Sections, Tactic
from civicpulse.i18n import _

HERE = Path(__file__).parent
FORMATS = ("docx", "pdf", "md")
MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
}
FONT_DIRS = [Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/truetype/dejavu"),
             Path("/usr/share/fonts/truetype/tlwg")]
STATUS_COLOURS = {"planned": "#6b8fc7", "in_progress": "#e0a526", "done": "#3a9a5b", "cancelled": "#b0b0b0"}
_THAI = re.compile(r"[\u0e00-\u0e7f]")


def L(key: str) -> str:  # noqa: N802 - short on purpose: labels used in every export
    """Labels of the exports (translated in the export's language)."""
    labels = {
        "draft": _("Draft"), "in_review": _("In review"), "approved": _("Approved"), "active": _("Active"),
        "closed": _("Closed"),
        "inform": _("Inform"), "engage": _("Engage"), "change_behaviour": _("Change behaviour"),
        "build_trust": _("Build trust"),
        "planned": _("Planned"), "in_progress": _("In progress"), "done": _("Done"), "cancelled": _("Cancelled"),
        "output": _("Output"), "outtake": _("Outtake"), "outcome": _("Outcome"),
        "manual": _("Entered by hand"), "mention_volume": _("Mentions per week"),
        "concern_volume": _("Concerns per week (negative + questions)"),
        "negative_share": _("Share of negative responses"), "positive_share": _("Share of positive responses"),
        "questions": _("Questions per week"),
        "met": _("Target met"), "on_track": _("On track"), "off_track": _("Off track"), "no_target": _("No target"),
        "no_data": _("No data yet"),
        "pre_crisis": _("Pre-crisis"), "initial": _("Initial"), "maintenance": _("Maintenance"),
        "resolution": _("Resolution"), "evaluation": _("Evaluation"),
        "transparency": _("Transparency"), "integrity": _("Integrity"), "inclusiveness": _("Inclusiveness"),
        "accessibility": _("Accessibility"), "timeliness": _("Timeliness"), "responsiveness": _("Responsiveness"),
        "evidence_based": _("Evidence-based"), "two_way": _("Two-way engagement"),
        "core": _("Core message"), "supporting": _("Supporting message"),
        "increase": _("increase"), "decrease": _("decrease"),
    }
    return labels.get(key, key.replace("_", " "))


# ------------------------------------------------------------------ the data of an export


@dataclasses.dataclass
class ExportData:
    plan: Plan
    sections: Sections
    header: list[str]
    unit_name: str
    unit_names: dict[int, str]
    audiences: dict[str, str]
    objectives: dict[str, str]
    kpis: list[queries.KpiResult]
    insight: list[queries.AudienceInsight]
    lang: str
    generated_at: dt.datetime
    budgets: dict[str, Decimal]
    contact: str


def collect(session: Session, actor: Actor, plan: Plan, lang: str | None = None, *,
            live: bool = True) -> ExportData:
    lang = lang if lang in ("vi", "th", "en") else plan.language
    s = queries.sections(plan)
    owner_ids = {t.owner_unit_id for t in s.tactics if t.owner_unit_id} | {plan.unit_id}
    budgets: dict[str, Decimal] = defaultdict(Decimal)
    for t in s.tactics:
        if t.status != "cancelled":
            budgets[t.currency] += t.budget
    unit = plan.unit
    contact = " · ".join(x for x in (unit.address, unit.contact_phone, unit.contact_email, unit.website) if x)
    return ExportData(
        plan=plan, sections=s, header=queries.organisation_header(plan, lang), unit_name=unit.name(lang),
        unit_names=queries.unit_names(session, owner_ids, lang),
        audiences={a.id or "": a.name for a in s.audiences}, objectives={o.id or "": o.statement for o in s.objectives},
        kpis=queries.kpis(session, actor, plan) if live else [],
        insight=queries.insight(session, actor, plan) if live else [],
        lang=lang, generated_at=dt.datetime.now(dt.UTC), budgets=dict(budgets), contact=contact)


def money(v: Decimal | str | float, currency: str) -> str:
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        return f"{v} {currency}"
    q = f"{d:,.0f}" if currency in ("VND", "JPY", "KRW") or d == d.to_integral() else f"{d:,.2f}"
    return f"{q} {currency}"


def num(v: float | None, unit_label: str = "") -> str:
    if v is None:
        return "—"
    s = f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
    return f"{s}{' ' + unit_label if unit_label and unit_label != '%' else unit_label}"


def text_in(t: Any, lang: str) -> str:
    if t is None:
        return ""
    if isinstance(t, dict):
        return t.get(lang) or t.get("en") or t.get("vi") or t.get("th") or ""
    return t.get(lang)


def _fmt_date(d: dt.date | None) -> str:
    return d.isoformat() if d else "—"


# ------------------------------------------------------------------ Markdown


def _md_cell(v: Any) -> str:
    return str(v if v not in (None, "") else "—").replace("|", "\\|").replace("\n", " ")


def _md_table(head: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return [f"_{_('None yet.')}_", ""]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return out + [""]


def snapshot_markdown(snap: dict[str, Any]) -> str:
    """A plain rendering of a saved version, line by line, for the text diff between versions."""
    s = snap.get("sections") or {}
    out = [f"# {snap.get('title')}", f"policy: {snap.get('policy')}", f"status: {snap.get('status')}",
           f"period: {snap.get('start_date')} – {snap.get('end_date')}",
           f"crisis: {snap.get('crisis_active')} {snap.get('crisis_phase') or ''}".rstrip(), "", "## summary"]
    out += (snap.get("summary") or "").splitlines()
    for name in queries.LISTS:
        out += ["", f"## {name}"]
        for x in s.get(name) or []:
            out.append(f"- [{x.get('id')}] {queries.item_label(x)}")
            for k, v in x.items():
                if k != "id":
                    out.append(f"    {k}: {v}")
    c = s.get("crisis") or {}
    out += ["", "## crisis", f"scenario: {c.get('scenario', '')}", f"approval shortcut: {c.get('approval_shortcut', '')}"]
    for name in ("holding_statements", "contacts"):
        for x in c.get(name) or []:
            out.append(f"- {name} [{x.get('id')}] {x}")
    out += ["", "## checklist"]
    for p, sc in ((s.get("checklist") or {}).get("scores") or {}).items():
        out.append(f"- {p}: {sc}")
    return "\n".join(out)


def to_markdown(d: ExportData) -> str:
    with _lang(d.lang):
        return _markdown(d)


def _markdown(d: ExportData) -> str:
    p, s = d.plan, d.sections
    out = [f"**{' › '.join(d.header)}**", ""]
    if d.contact:
        out += [d.contact, ""]
    out += [f"# {p.title}", "", f"*{_('Policy')}: {p.policy}*", ""]
    out += _md_table([_("Unit"), _("Status"), _("Version"), _("Period"), _("Generated")], [[
        d.unit_name, L(p.status), p.version, f"{_fmt_date(p.start_date)} – {_fmt_date(p.end_date)}",
        d.generated_at.strftime("%Y-%m-%d %H:%M UTC")]])
    if p.crisis_active:
        out += [f"> **{_('CRISIS MODE')}** — {_('CERC phase')}: {L(p.crisis_phase or '')}", ""]
    out += [f"## 1. {_('Strategy')}", "", p.summary or f"_{_('None yet.')}_", ""]
    out += [f"## 2. {_('Objectives')}", ""]
    out += _md_table([_("Objective"), _("Type"), _("Metric"), _("Baseline"), _("Target"), _("Deadline")], [
        [o.statement, L(o.type), o.metric, _baseline(o), num(o.target_value), _fmt_date(o.deadline)]
        for o in s.objectives])
    out += [f"## 3. {_('Audiences and insight')}", ""]
    ins = {a.id: a for a in d.insight}
    for a in s.audiences:
        out += [f"### {a.name}", ""]
        if a.description:
            out += [a.description, ""]
        if a.notes:
            out += [f"{_('What they say')}: {a.notes}", ""]
        ai = ins.get(a.id or "")
        if ai and ai.topics:
            out += _md_table([_("Saved topic"), _("Mentions (30 days)"), _("Negative"), _("Questions"),
                              _("Top concerns")], [
                [t.name, t.total, t.mix.get("neg", 0), t.mix.get("q", 0), ", ".join(c for c, _n in t.concerns[:5])]
                for t in ai.topics])
        if ai and ai.evidence:
            out += [f"{_('Evidence')}:", ""] + [f"> {e['text']}" for e in ai.evidence] + [""]
    out += [f"## 4. {_('Key messages')}", ""]
    out += _md_table([_("Audience"), _("Kind"), "vi", "th", "en", _("Approval")], [
        [d.audiences.get(m.audience_id or "", _("Everyone")), L(m.kind), m.text.vi, m.text.th, m.text.en,
         L(m.approval)] for m in s.messages])
    out += [f"### {_('Forbidden phrasings')}", ""]
    out += _md_table([_("Do not say"), _("Why"), _("Say instead")], [[f.phrase, f.reason, f.instead]
                                                                      for f in s.forbidden])
    out += [f"### {_('Frequently asked questions')}", ""]
    out += _md_table([_("Question"), _("Answer"), _("Approval")], [
        [q.question.get(d.lang), q.answer.get(d.lang), L(q.approval)] for q in s.faq])
    out += [f"## 5. {_('Channels and tactics')}", ""]
    out += _md_table([_("Tactic"), _("Channels"), _("Audience"), _("Owner"), _("Start"), _("End"), _("Budget"),
                      _("Status")], [
        [t.name, ", ".join(t.channels), d.audiences.get(t.audience_id or "", _("Everyone")),
         d.unit_names.get(t.owner_unit_id or 0, "—"), t.start.isoformat(), t.end.isoformat(),
         money(t.budget, t.currency), L(t.status)] for t in s.tactics])
    if d.budgets:
        out += [f"**{_('Total budget')}:** " + "; ".join(money(v, c) for c, v in sorted(d.budgets.items())), ""]
    if s.tactics:
        out += [f"### {_('Timeline')}", "", "```"] + gantt_text(s.tactics) + ["```", ""]
    out += [f"## 6. {_('KPIs')}", ""]
    out += _md_table([_("Level"), _("KPI"), _("Measure"), _("Baseline"), _("Target"), _("Latest"), _("Status")], [
        [L(k.level), k.name, L(k.metric), num(k.baseline, k.unit_label), num(k.target, k.unit_label),
         num(k.latest, k.unit_label), L(k.status)] for k in d.kpis])
    out += [f"## 7. {_('Risks')}", ""]
    out += _md_table([_("Risk"), _("Likelihood"), _("Impact"), _("Score"), _("Mitigation"), _("Owner")], [
        [r.description, r.likelihood, r.impact, r.score, r.mitigation, r.owner]
        for r in sorted(s.risks, key=lambda r: -r.score)])
    c = s.crisis
    out += [f"## 8. {_('Crisis communication (CERC)')}", ""]
    if c.scenario:
        out += [c.scenario, ""]
    out += _md_table([_("Phase"), _("Holding statement"), _("Pre-cleared")], [
        [L(h.phase), h.text.get(d.lang), _("yes") if h.pre_cleared else _("no")] for h in c.holding_statements])
    out += _md_table([_("Name"), _("Role"), _("Phone"), _("Email"), _("Spokesperson"), _("Reports to")], [
        [x.name, x.role, x.phone, x.email, _("yes") if x.spokesperson else "",
         next((y.name for y in c.contacts if y.id == x.reports_to), "")] for x in c.contacts])
    if c.approval_shortcut:
        out += [f"**{_('Approval shortcut')}:** {c.approval_shortcut}", ""]
    out += [f"## 9. {_('Public-communication checklist')}", ""]
    out += _md_table([_("Principle"), _("Score (0–3)"), _("Note")], [
        [L(p_), _score(s, p_), (sc.note if (sc := s.checklist.scores.get(p_)) else "")]
        for p_ in PRINCIPLES])
    if s.checklist.scored_by:
        out += [f"{_('Scored by')} {s.checklist.scored_by}", ""]
    return "\n".join(out).rstrip() + "\n"


def _score(s: Sections, p: str) -> str:
    sc = s.checklist.scores.get(p)
    return "—" if sc is None or sc.score is None else str(sc.score)


def _baseline(o: Any) -> str:
    parts = [num(o.baseline_value)] if o.baseline_value is not None else []
    if o.baseline_date:
        parts.append(f"({o.baseline_date.isoformat()})")
    if o.baseline_source:
        parts.append(f"— {o.baseline_source}")
    return " ".join(parts) or "—"


# ------------------------------------------------------------------ Gantt


@dataclasses.dataclass
class Bar:
    label: str
    x: float
    w: float
    y: float
    colour: str
    status: str


@dataclasses.dataclass
class GanttLayout:
    width: int
    height: int
    left: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    today_x: float | None
    row_h: int
    top: int


def gantt_layout(tactics: list[Tactic], *, width: int = 960, row_h: int = 26, left: int = 300,
                 today: dt.date | None = None) -> GanttLayout:
    today = today or dt.datetime.now(dt.UTC).date()
    ts = sorted(tactics, key=lambda t: (t.start, t.end))
    top = 34
    if not ts:
        return GanttLayout(width, top + 20, left, [], [], None, row_h, top)
    d0 = min(t.start for t in ts).replace(day=1)
    last = max(t.end for t in ts)
    d1 = (last.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    span = max(1, (d1 - d0).days)
    plot = width - left - 16

    def x(d: dt.date) -> float:
        return left + plot * (d - d0).days / span

    bars = []
    for i, t in enumerate(ts):
        x0, x1 = x(t.start), x(t.end + dt.timedelta(days=1))
        bars.append(Bar(label=t.name, x=x0, w=max(3.0, x1 - x0), y=top + i * row_h + 5,
                        colour=STATUS_COLOURS.get(t.status, "#6b8fc7"), status=t.status))
    ticks = []
    m = d0
    months = span / 30
    step = 1 if months <= 14 else (3 if months <= 40 else 12)
    while m < d1 and x(m) < width - 60:
        ticks.append((x(m), m.strftime("%b %Y") if step > 1 or m.month == 1 or m == d0 else m.strftime("%b")))
        for _i in range(step):
            m = (m + dt.timedelta(days=32)).replace(day=1)
    tx = x(today) if d0 <= today <= d1 else None
    return GanttLayout(width, top + len(ts) * row_h + 12, left, bars, ticks, tx, row_h, top)


def _truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def gantt_svg(tactics: list[Tactic], *, today: dt.date | None = None, title: str = "") -> str:
    g = gantt_layout(tactics, today=today)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{g.width}" height="{g.height}" '
           f'viewBox="0 0 {g.width} {g.height}" role="img" aria-label="{xml_escape(title or "Timeline")}" '
           'font-family="Noto Sans, Noto Sans Thai, DejaVu Sans, sans-serif" font-size="12">']
    out.append(f'<rect x="0" y="0" width="{g.width}" height="{g.height}" fill="#ffffff"/>')
    for i in range(len(g.bars)):
        if i % 2 == 0:
            out.append(f'<rect x="0" y="{g.top + i * g.row_h}" width="{g.width}" height="{g.row_h}" fill="#f3f5f8"/>')
    for tx, label in g.ticks:
        out.append(f'<line x1="{tx:.1f}" y1="{g.top - 6}" x2="{tx:.1f}" y2="{g.height - 8}" stroke="#d0d5dd"/>')
        out.append(f'<text x="{tx + 3:.1f}" y="{g.top - 12}" fill="#444">{xml_escape(label)}</text>')
    for b in g.bars:
        out.append(f'<text x="8" y="{b.y + 12}" fill="#111">{xml_escape(_truncate(b.label, 42))}</text>')
        out.append(f'<rect x="{b.x:.1f}" y="{b.y}" width="{b.w:.1f}" height="{g.row_h - 10}" rx="3" '
                   f'fill="{b.colour}"><title>{xml_escape(b.label)}</title></rect>')
    if g.today_x is not None:
        out.append(f'<line x1="{g.today_x:.1f}" y1="{g.top - 6}" x2="{g.today_x:.1f}" y2="{g.height - 8}" '
                   'stroke="#c0392b" stroke-width="1.5" stroke-dasharray="4 3"/>')
    out.append("</svg>")
    return "".join(out)


@functools.lru_cache(maxsize=16)
def _font(thai: bool, size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    names = ["NotoSansThai-Regular.ttf", "TlwgTypo.ttf"] if thai else ["NotoSans-Regular.ttf", "DejaVuSans.ttf"]
    for d in FONT_DIRS:
        for n in names:
            if (d / n).exists():
                return ImageFont.truetype(str(d / n), size)
    return ImageFont.load_default()


def gantt_png(tactics: list[Tactic], *, today: dt.date | None = None, scale: int = 2) -> bytes:
    """The timeline as a PNG drawn with Pillow (for DOCX)."""
    from PIL import Image, ImageDraw

    g = gantt_layout(tactics, today=today)
    img = Image.new("RGB", (g.width * scale, g.height * scale), "white")
    dr = ImageDraw.Draw(img)

    def S(v: float) -> int:  # noqa: N802
        return int(round(v * scale))

    for i in range(len(g.bars)):
        if i % 2 == 0:
            dr.rectangle([0, S(g.top + i * g.row_h), S(g.width), S(g.top + (i + 1) * g.row_h)], fill="#f3f5f8")
    for tx, label in g.ticks:
        dr.line([S(tx), S(g.top - 6), S(tx), S(g.height - 8)], fill="#d0d5dd", width=scale)
        dr.text((S(tx + 3), S(g.top - 24)), label, fill="#444444", font=_font(False, 12 * scale))
    for b in g.bars:
        label = _truncate(b.label, 42)
        dr.text((S(8), S(b.y)), label, fill="#111111", font=_font(bool(_THAI.search(label)), 12 * scale))
        dr.rounded_rectangle([S(b.x), S(b.y), S(b.x + b.w), S(b.y + g.row_h - 10)], radius=S(3), fill=b.colour)
    if g.today_x is not None:
        y = g.top - 6
        while y < g.height - 8:
            dr.line([S(g.today_x), S(y), S(g.today_x), S(min(y + 4, g.height - 8))], fill="#c0392b", width=scale)
            y += 7
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def gantt_text(tactics: list[Tactic], width: int = 48) -> list[str]:
    """A character timeline for the Markdown export."""
    ts = sorted(tactics, key=lambda t: (t.start, t.end))
    d0, d1 = min(t.start for t in ts), max(t.end for t in ts)
    span = max(1, (d1 - d0).days + 1)
    out = [f"{'':30} {d0.isoformat()}{' ' * max(1, width - 20)}{d1.isoformat()}"]
    for t in ts:
        a = int(width * (t.start - d0).days / span)
        b = max(a + 1, int(width * ((t.end - d0).days + 1) / span))
        out.append(f"{_truncate(t.name, 30):30} {' ' * a}{'█' * (b - a)}{' ' * (width - b)}")
    return out


def kpi_svg(k: queries.KpiResult, width: int = 320, height: int = 90) -> str:
    """A small line chart of a KPI over time with its target (dashed) and baseline (dotted)."""
    vals = [p.value for p in k.points if p.value is not None]
    refs = [v for v in (k.target, k.baseline) if v is not None]
    if not vals:
        return ""
    lo, hi = min(vals + refs), max(vals + refs)
    if hi == lo:
        hi = lo + 1
    pad = 8
    n = max(1, len(k.points) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad + (width - 2 * pad) * i / n, height - pad - (height - 2 * pad) * (v - lo) / (hi - lo)

    pts = [xy(i, p.value) for i, p in enumerate(k.points) if p.value is not None]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">', f'<rect width="{width}" height="{height}" fill="#fafbfc"/>']
    if k.target is not None:
        y = xy(0, k.target)[1]
        out.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{width - pad}" y2="{y:.1f}" stroke="#3a9a5b" '
                   'stroke-dasharray="5 3"/>')
    if k.baseline is not None:
        y = xy(0, k.baseline)[1]
        out.append(f'<line x1="{pad}" y1="{y:.1f}" x2="{width - pad}" y2="{y:.1f}" stroke="#888" '
                   'stroke-dasharray="1 3"/>')
    out.append('<polyline fill="none" stroke="#1f5fae" stroke-width="2" points="'
               + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
    for x, y in pts:
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#1f5fae"/>')
    out.append("</svg>")
    return "".join(out)


# ------------------------------------------------------------------ DOCX


def to_docx(d: ExportData) -> bytes:
    with _lang(d.lang):
        return _docx(d)


def _docx(d: ExportData) -> bytes:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt, RGBColor

    p, s = d.plan, d.sections
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Noto Sans"
    style.font.size = Pt(10)
    rpr = style.element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(rfonts)
    rfonts.set(qn("w:cs"), "Noto Sans Thai")
    rfonts.set(qn("w:eastAsia"), "Noto Sans")
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin"):
        setattr(sec, side, Cm(1.8))
    sec.top_margin = sec.bottom_margin = Cm(1.6)
    hp = sec.header.paragraphs[0]
    hp.text = " › ".join(d.header)
    hp.alignment = WD_ALIGN_PARAGRAPH.LEFT
    for r in hp.runs:
        r.font.size, r.font.color.rgb = Pt(8), RGBColor(0x55, 0x55, 0x55)
    fp = sec.footer.paragraphs[0]
    fp.text = (f"{p.title} · {_('Version')} {p.version} · {L(p.status)} · "
               f"{_('Generated')} {d.generated_at.strftime('%Y-%m-%d %H:%M UTC')} · civicpulse")
    for r in fp.runs:
        r.font.size, r.font.color.rgb = Pt(8), RGBColor(0x55, 0x55, 0x55)

    letter = doc.add_paragraph()
    run = letter.add_run(d.header[0] if d.header else d.unit_name)
    run.bold, run.font.size = True, Pt(13)
    if len(d.header) > 1:
        letter.add_run("\n" + "\n".join(d.header[1:])).font.size = Pt(11)
    if d.contact:
        letter.add_run("\n" + d.contact).font.size = Pt(8)
    doc.add_heading(p.title, level=0)
    sub = doc.add_paragraph()
    sub.add_run(f"{_('Policy')}: ").bold = True
    sub.add_run(p.policy)
    _docx_table(doc, [_("Unit"), _("Status"), _("Version"), _("Period"), _("Generated")], [[
        d.unit_name, L(p.status), str(p.version), f"{_fmt_date(p.start_date)} – {_fmt_date(p.end_date)}",
        d.generated_at.strftime("%Y-%m-%d")]])
    if p.crisis_active:
        cp = doc.add_paragraph()
        r = cp.add_run(f"{_('CRISIS MODE')} — {_('CERC phase')}: {L(p.crisis_phase or '')}")
        r.bold, r.font.color.rgb = True, RGBColor(0xC0, 0x39, 0x2B)

    doc.add_heading(f"1. {_('Strategy')}", level=1)
    for para in (p.summary or _("None yet.")).split("\n\n"):
        doc.add_paragraph(para.strip())

    doc.add_heading(f"2. {_('Objectives')}", level=1)
    _docx_table(doc, [_("Objective"), _("Type"), _("Metric"), _("Baseline"), _("Target"), _("Deadline")], [
        [o.statement, L(o.type), o.metric, _baseline(o), num(o.target_value), _fmt_date(o.deadline)]
        for o in s.objectives])

    doc.add_heading(f"3. {_('Audiences and insight')}", level=1)
    ins = {a.id: a for a in d.insight}
    if not s.audiences:
        doc.add_paragraph(_("None yet."))
    for a in s.audiences:
        doc.add_heading(a.name, level=2)
        if a.description:
            doc.add_paragraph(a.description)
        if a.notes:
            doc.add_paragraph(f"{_('What they say')}: {a.notes}")
        ai = ins.get(a.id or "")
        if ai and ai.topics:
            _docx_table(doc, [_("Saved topic"), _("Mentions (30 days)"), _("Negative"), _("Questions"),
                              _("Top concerns")], [
                [t.name, str(t.total), str(t.mix.get("neg", 0)), str(t.mix.get("q", 0)),
                 ", ".join(c for c, _n in t.concerns[:5])] for t in ai.topics])
        if ai and ai.evidence:
            doc.add_paragraph(f"{_('Evidence')}:")
            for e in ai.evidence:
                doc.add_paragraph(e["text"], style="Intense Quote")

    doc.add_heading(f"4. {_('Key messages')}", level=1)
    _docx_table(doc, [_("Audience"), _("Kind"), "Tiếng Việt", "ภาษาไทย", "English", _("Approval")], [
        [d.audiences.get(m.audience_id or "", _("Everyone")), L(m.kind), m.text.vi, m.text.th, m.text.en,
         L(m.approval) + (f"\n{m.approved_by}" if m.approved_by else "")] for m in s.messages])
    doc.add_heading(_("Forbidden phrasings"), level=2)
    _docx_table(doc, [_("Do not say"), _("Why"), _("Say instead")], [[f.phrase, f.reason, f.instead]
                                                                      for f in s.forbidden])
    doc.add_heading(_("Frequently asked questions"), level=2)
    _docx_table(doc, [_("Question"), _("Answer"), _("Approval")], [
        [q.question.get(d.lang), q.answer.get(d.lang), L(q.approval)] for q in s.faq])

    doc.add_heading(f"5. {_('Channels and tactics')}", level=1)
    _docx_table(doc, [_("Tactic"), _("Channels"), _("Audience"), _("Owner"), _("Start"), _("End"), _("Budget"),
                      _("Status")], [
        [t.name, ", ".join(t.channels), d.audiences.get(t.audience_id or "", _("Everyone")),
         d.unit_names.get(t.owner_unit_id or 0, "—"), t.start.isoformat(), t.end.isoformat(),
         money(t.budget, t.currency), L(t.status)] for t in s.tactics])
    if d.budgets:
        bp = doc.add_paragraph()
        bp.add_run(f"{_('Total budget')}: ").bold = True
        bp.add_run("; ".join(money(v, c) for c, v in sorted(d.budgets.items())))
    if s.tactics:
        doc.add_heading(_("Timeline"), level=2)
        doc.add_picture(io.BytesIO(gantt_png(s.tactics)), width=Cm(25))

    doc.add_heading(f"6. {_('KPIs')}", level=1)
    _docx_table(doc, [_("Level"), _("KPI"), _("Measure"), _("Baseline"), _("Target"), _("Latest"), _("Status")], [
        [L(k.level), k.name, L(k.metric), num(k.baseline, k.unit_label) + (" *" if k.baseline_computed else ""),
         num(k.target, k.unit_label), num(k.latest, k.unit_label), L(k.status)] for k in d.kpis])
    if any(k.baseline_computed for k in d.kpis):
        doc.add_paragraph("* " + _("Baseline computed from listening data over the 4 weeks before the plan started."))

    doc.add_heading(f"7. {_('Risks')}", level=1)
    _docx_table(doc, [_("Risk"), _("Likelihood"), _("Impact"), _("Score"), _("Mitigation"), _("Owner")], [
        [r.description, str(r.likelihood), str(r.impact), str(r.score), r.mitigation, r.owner]
        for r in sorted(s.risks, key=lambda r: -r.score)])

    c = s.crisis
    doc.add_heading(f"8. {_('Crisis communication (CERC)')}", level=1)
    if c.scenario:
        doc.add_paragraph(c.scenario)
    _docx_table(doc, [_("Phase"), _("Holding statement"), _("Pre-cleared")], [
        [L(h.phase), h.text.get(d.lang), _("yes") if h.pre_cleared else _("no")] for h in c.holding_statements])
    if c.contacts:
        doc.add_heading(_("Spokespeople and contact tree"), level=2)
        _docx_table(doc, [_("Name"), _("Role"), _("Phone"), _("Email"), _("Spokesperson"), _("Reports to")], [
            [x.name, x.role, x.phone, x.email, _("yes") if x.spokesperson else "",
             next((y.name for y in c.contacts if y.id == x.reports_to), "")] for x in c.contacts])
    if c.approval_shortcut:
        ap = doc.add_paragraph()
        ap.add_run(f"{_('Approval shortcut')}: ").bold = True
        ap.add_run(c.approval_shortcut)

    doc.add_heading(f"9. {_('Public-communication checklist')}", level=1)
    _docx_table(doc, [_("Principle"), _("Score (0–3)"), _("Note")], [
        [L(x), _score(s, x), (s.checklist.scores[x].note if x in s.checklist.scores else "")] for x in PRINCIPLES])
    if s.checklist.scored_by:
        doc.add_paragraph(f"{_('Scored by')} {s.checklist.scored_by}")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _docx_table(doc: Any, head: list[str], rows: list[list[str]]) -> None:
    from docx.shared import Pt

    if not rows:
        doc.add_paragraph(_("None yet."))
        return
    t = doc.add_table(rows=1, cols=len(head))
    t.style = "Light Grid Accent 1"
    for i, h in enumerate(head):
        cell = t.rows[0].cells[i]
        cell.text = ""
        r = cell.paragraphs[0].add_run(h)
        r.bold = True
        r.font.size = Pt(9)
    for row in rows:
        cells = t.add_row().cells
        for i, v in enumerate(row):
            cells[i].text = ""
            cells[i].paragraphs[0].add_run("" if v is None else str(v)).font.size = Pt(9)
    doc.add_paragraph()


# ------------------------------------------------------------------ PDF


_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "export_templates")), autoescape=True,
                          extensions=["jinja2.ext.i18n"])
_env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]


def to_html(d: ExportData) -> str:
    from markupsafe import Markup

    with _lang(d.lang):
        return _env.get_template("plan.html").render(
            d=d, p=d.plan, s=d.sections, L=L, num=num, money=money, fmt_date=_fmt_date, baseline=_baseline,
            score=_score, principles=PRINCIPLES, lang=d.lang,
            # both SVGs escape every text they contain (xml_escape), so they are safe markup
            gantt=Markup(gantt_svg(d.sections.tactics)) if d.sections.tactics else None,  # noqa: S704
            kpi_svg=lambda k: Markup(kpi_svg(k)),  # noqa: S704
            insight={a.id: a for a in d.insight})


def to_pdf(d: ExportData) -> bytes:
    from weasyprint import HTML

    def no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"exports never fetch from the network ({url[:60]})")

    return HTML(string=to_html(d), base_url=str(HERE), url_fetcher=no_fetch).write_pdf()


def export(session: Session, actor: Actor, plan: Plan, fmt: str, lang: str | None = None) -> tuple[bytes, str, str]:
    """(content, media type, file name)."""
    if fmt not in FORMATS:
        from civicpulse.domain.errors import ValidationFailed

        raise ValidationFailed(f"Unknown export format {fmt!r}; use docx, pdf or md")
    d = collect(session, actor, plan, lang)
    content = {"md": lambda: to_markdown(d).encode("utf-8"), "docx": lambda: to_docx(d), "pdf": lambda: to_pdf(d)}[fmt]()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", plan.title).strip("-").lower()[:50] or "plan"
    return content, MEDIA_TYPES[fmt], f"plan-{plan.id}-{slug}-v{plan.version}.{fmt}"


class _lang:  # noqa: N801 - used as a context manager
    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __enter__(self) -> None:
        self.token = i18n.set_language(self.lang)

    def __exit__(self, *exc: Any) -> None:
        i18n._current.reset(self.token)


# ------------------------------------------------------------------ iCalendar


def _ics_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545 3.1: lines longer than 75 octets are folded (CRLF + space), never inside a UTF-8 character."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts, cur, size = [], "", 0
    limit = 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            parts.append(cur)
            cur, size, limit = "", 0, 74
        cur += ch
        size += n
    parts.append(cur)
    return "\r\n ".join(parts)


def ical(plan: Plan, unit_names: dict[int, str], *, host: str = "civicpulse", base_url: str = "") -> str:
    s = queries.sections(plan)
    audiences = {a.id: a.name for a in s.audiences}
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//civicpulse//plans//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{_ics_escape(plan.title)}"]
    for t in sorted(s.tactics, key=lambda t: t.start):
        desc = [f"Plan: {plan.title}", f"Channels: {', '.join(t.channels) or '-'}",
                f"Audience: {audiences.get(t.audience_id, 'everyone')}",
                f"Owner: {unit_names.get(t.owner_unit_id or 0, '-')}", f"Budget: {money(t.budget, t.currency)}",
                f"Status: {t.status.replace('_', ' ')}"]
        if t.notes:
            desc.append(t.notes)
        lines += [
            "BEGIN:VEVENT",
            f"UID:plan-{plan.id}-{t.id}@{host}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{t.start.strftime('%Y%m%d')}",
            f"DTEND;VALUE=DATE:{(t.end + dt.timedelta(days=1)).strftime('%Y%m%d')}",
            f"SUMMARY:{_ics_escape(t.name)}",
            f"DESCRIPTION:{_ics_escape(chr(10).join(desc))}",
            f"STATUS:{'CANCELLED' if t.status == 'cancelled' else 'CONFIRMED'}",
            f"CATEGORIES:{','.join(_ics_escape(c) for c in t.channels) or 'tactic'}",
        ]
        if base_url:
            lines.append(f"URL:{base_url.rstrip('/')}/plans/{plan.id}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(x) for x in lines) + "\r\n"
