"""The alignment score of a text against a campaign kit: does this post carry the agreed messages?

Signals (each becomes a reason shown next to the traffic light):

1. **Semantic similarity** to each key message, every language version of it, with the multilingual e5
   embeddings of :mod:`civicpulse.nlp.embed`: a Thai post is compared with the Thai, Vietnamese and English
   versions of a message and the best match counts, so a post in a language the kit lacks is still scored
   (and flagged ``no_message_in_language``). Message embeddings are cached by content (the embedder's LRU
   plus a per-kit cache here), so scoring a post embeds one new text.
2. **Mandatory elements**: hashtags, the campaign link and (when the post says whether it has one) an asset.
3. **Forbidden phrasings** from the kit, matched case-insensitively after normalisation.
4. **Tone**: the sentiment of the post (:func:`civicpulse.nlp.get_classifier`) against the kit's, and
   discouraging phrasings ("no need to", "không cần", "ไม่จำเป็น") absent from the kit itself.
5. **Numbers and dates** consistent with the kit (:mod:`civicpulse.domain.campaigns.numbers`).

Levels: ``contradicting`` (a number/date differs from the kit, or the tone turns against the message on
the topic), ``off_message`` (not about the messages, or a forbidden phrasing), ``aligned`` (close to a key
message with every mandatory element), otherwise ``partly``. The similarity thresholds come from
``data/alignment_thresholds.json``, calibrated by ``bench/eval_alignment.py`` on the labelled set in
``data/alignment_labelled.jsonl`` (see docs/models/alignment.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from civicpulse.domain.campaigns import numbers
from civicpulse.domain.campaigns.schemas import LANGS, Kit
from civicpulse.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from civicpulse.domain.campaigns.models import Campaign

DATA = Path(__file__).parent / "data"
THRESHOLDS_FILE = DATA / "alignment_thresholds.json"
LEVELS = ("aligned", "partly", "off_message", "contradicting")
LIGHT = {"aligned": "green", "partly": "amber", "off_message": "red", "contradicting": "red"}

# Phrasings that turn a post against a campaign's call to action; they count only when the kit itself
# does not use them (a kit may well say "don't leave water standing").
COUNTER_CUES = (
    "no need to", "no need for", "not necessary", "unnecessary", "don't bother", "do not bother", "is a hoax",
    "is fake", "waste of time", "not required", "skip the",
    "không cần", "không nhất thiết", "chẳng cần", "không bắt buộc", "tin đồn", "vô ích", "không cần thiết",
    "ไม่จำเป็น", "ไม่ต้อง", "ไม่ต้องไป", "เสียเวลา", "ข่าวปลอม", "ไม่บังคับ",
)

DEFAULTS: dict[str, float] = {"off": 0.03, "aligned": 0.08, "tone": 0.80}

# Everyday announcements with no campaign in them, in the three languages. e5 similarities are compressed
# (two unrelated texts of one language still score ~0.8, of two languages ~0.75), so a post's similarity to a
# message version in language L is read relative to the post's similarity to the background texts *of L*
# (the mean of its three closest): a Thai post is measured against a Vietnamese message on the Vietnamese
# scale, which keeps cross-language comparisons fair.
BACKGROUND_BY_LANG: dict[str, tuple[str, ...]] = {
    "en": ("The office will be closed on the public holiday.",
           "The provincial council met to discuss the annual budget.",
           "Weather forecast: light rain in the afternoon.",
           "A new bus route connects the district to the city centre.",
           "Registration for the cultural festival is now open."),
    "vi": ("Văn phòng nghỉ làm việc vào ngày lễ.", "Hội đồng nhân dân tỉnh họp bàn dự toán ngân sách năm.",
           "Dự báo thời tiết: chiều nay có mưa nhỏ.", "Tuyến xe buýt mới nối huyện với trung tâm thành phố.",
           "Đăng ký tham gia lễ hội văn hóa đã mở."),
    "th": ("สำนักงานปิดทำการในวันหยุดราชการ", "สภาจังหวัดประชุมพิจารณางบประมาณประจำปี", "พยากรณ์อากาศ ช่วงบ่ายมีฝนเล็กน้อย",
           "รถโดยสารสายใหม่เชื่อมอำเภอกับตัวเมือง", "เปิดรับสมัครเข้าร่วมงานเทศกาลวัฒนธรรมแล้ว"),
}
BACKGROUND = tuple(t for lg in LANGS for t in BACKGROUND_BY_LANG[lg])
FREE_WORDS = ("free of charge", "free", "miễn phí", "không mất tiền", "ฟรี", "ไม่เสียค่าใช้จ่าย")
_background: dict[str, np.ndarray] = {}


def background_vectors() -> dict[str, np.ndarray]:
    if not _background:
        from civicpulse.nlp.embed import embed

        vecs = embed(list(BACKGROUND))
        i = 0
        for lg in LANGS:
            n = len(BACKGROUND_BY_LANG[lg])
            _background[lg] = vecs[i:i + n]
            i += n
    return _background


@lru_cache(maxsize=1)
def thresholds() -> dict[str, float]:
    try:
        data = json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))
        return {k: float(data.get(k, v)) for k, v in DEFAULTS.items()}
    except (OSError, ValueError):
        return dict(DEFAULTS)


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    code: str
    ok: bool
    args: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        return reason_text(self.code, self.args)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "args": self.args}


def reason_text(code: str, args: dict[str, Any]) -> str:
    a = {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in args.items()}
    texts = {
        "similar": _("Close to the key message “%(message)s” (similarity %(sim)s)"),
        "weakly_similar": _("Touches the key message “%(message)s” but does not carry it (similarity %(sim)s)"),
        "not_similar": _("Not about any key message (best similarity %(sim)s)"),
        "hashtags_ok": _("Mandatory hashtags present: %(tags)s"),
        "hashtags_missing": _("Mandatory hashtags missing: %(tags)s"),
        "link_ok": _("Campaign link present"),
        "link_missing": _("Campaign link missing: %(link)s"),
        "asset_ok": _("Campaign asset attached"),
        "asset_missing": _("The campaign asset (logo, image or video) is not attached"),
        "forbidden": _("Forbidden phrasing “%(phrase)s”%(instead)s"),
        "no_forbidden": _("No forbidden phrasing"),
        "tone_contrary": _("Tone runs against the campaign (%(why)s)"),
        "tone_ok": _("Tone consistent with the campaign"),
        "number_mismatch": _("“%(post)s” contradicts the kit (%(kit)s)"),
        "numbers_ok": _("Figures and dates consistent with the kit"),
        "no_message_in_language": _("The kit has no key message in %(lang)s: compared across languages"),
    }
    t = texts.get(code, code)
    if code == "forbidden" and a.get("instead"):
        a["instead"] = " — " + _("say instead: %(x)s") % {"x": a["instead"]}
    elif code == "forbidden":
        a["instead"] = ""
    try:
        return t % a
    except (KeyError, TypeError, ValueError):
        return t


@dataclasses.dataclass
class AlignmentResult:
    score: float
    level: str
    lang: str | None
    reasons: list[Reason]
    similarity: float
    relative: float
    best_message_id: str | None
    flags: list[str]
    message_similarity: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def light(self) -> str:
        return LIGHT[self.level]

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "level": self.level, "lang": self.lang, "similarity": self.similarity,
                "relative": self.relative, "best_message_id": self.best_message_id, "flags": self.flags,
                "reasons": [{**r.as_dict(), "message": r.message} for r in self.reasons]}


def fold(text: str) -> str:
    """Case- and width-folded NFC text with single spaces, for phrase matching."""
    t = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", t).strip()


# ------------------------------------------------------------------ kit preparation (cached)


@dataclasses.dataclass
class PreparedKit:
    kit: Kit
    ids: list[str]  # one per reference text: the key message id
    langs: list[str]  # the language of each reference text
    core: list[bool]
    vectors: np.ndarray
    labels: dict[str, str]
    facts: list[numbers.Fact]
    folded_texts: str
    sentiment: str


_kits: dict[str, PreparedKit] = {}
_kits_lock = threading.Lock()


def _kit_key(kit: Kit) -> str:
    return hashlib.sha1(json.dumps(kit.dump(), sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def _sentiment(texts: list[str], vectors: np.ndarray | None = None) -> list[tuple[str, float]]:
    from civicpulse.nlp import get_classifier

    return list(get_classifier("sentiment").predict(texts, embeddings=vectors))


def prepare_kit(kit: Kit) -> PreparedKit:
    key = _kit_key(kit)
    with _kits_lock:
        hit = _kits.get(key)
    if hit is not None:
        return hit
    from civicpulse.nlp.embed import embed

    ids, langs, core, texts = [], [], [], []
    for m in kit.messages:
        for lg, t in m.text.items():
            ids.append(m.id or "")
            langs.append(lg)
            core.append(m.kind == "core")
            texts.append(t)
    vectors = embed(texts) if texts else np.zeros((0, 384), np.float32)
    all_texts = texts + [p.text for p in kit.suggested_posts]
    facts = [f for t in all_texts for f in numbers.extract(t)]
    kit_folded = fold(" \n ".join(all_texts))
    if not any(f.kind == "amount" for f in facts):
        free = next((w for w in FREE_WORDS if re.search(r"(?<![\w])" + re.escape(fold(w)) + r"(?![\w])", kit_folded)
                     or (w == "ฟรี" and fold(w) in kit_folded)), None)
        if free:
            facts.append(numbers.Fact("amount", 0.0, free))
    senti = _sentiment(texts, vectors) if texts else []
    counts: dict[str, int] = {}
    for lab, _p in senti:
        counts[lab] = counts.get(lab, 0) + 1
    kit_sent = max(counts, key=lambda k: counts[k]) if counts else "neu"
    labels = {m.id or "": (m.text.get("en") or "")[:120] for m in kit.messages}
    pk = PreparedKit(kit, ids, langs, core, vectors, labels, facts, kit_folded, kit_sent)
    with _kits_lock:
        if len(_kits) > 256:
            _kits.clear()
        _kits[key] = pk
    return pk


# ------------------------------------------------------------------ scoring


def _has_hashtag(folded: str, tag: str) -> bool:
    return re.search(re.escape(fold(tag)) + r"(?![\w])", folded) is not None


def _has_link(text: str, link: str) -> bool:
    want = re.sub(r"^https?://(www\.)?", "", link.strip().lower()).rstrip("/")
    got = text.lower()
    return bool(want) and want in got


@dataclasses.dataclass
class Signals:
    """Everything measured on one text; :func:`decide` turns it into a level with given thresholds."""

    lang: str | None
    flags: list[str]
    similarity: float
    background: float
    best_message_id: str | None
    best_label: str
    message_similarity: dict[str, float]
    mandatory: list[Reason]
    forbidden: list[Reason]
    has_forbidden_list: bool
    sentiment: str
    sentiment_p: float
    kit_sentiment: str
    cues: list[str]
    mismatches: list[numbers.Mismatch]
    numbers_checked: bool


def measure(kit: Kit, text: str, lang: str | None = None, *, has_asset: bool | None = None,
            vector: np.ndarray | None = None) -> Signals:
    from civicpulse.nlp import detect
    from civicpulse.nlp.embed import embed

    pk = prepare_kit(kit)
    text = unicodedata.normalize("NFC", text or "")
    folded = fold(text)
    if lang is None:
        detected, conf = detect(text)
        lang = detected if detected in LANGS and conf >= 0.5 else None
    flags: list[str] = []
    if lang is not None and lang not in kit.languages():
        flags.append("no_message_in_language")

    v = vector if vector is not None else embed([text])[0]
    sims = pk.vectors @ v if len(pk.ids) else np.zeros(0, np.float32)
    bg = {lg: float(np.sort(b @ v)[-3:].mean()) for lg, b in background_vectors().items()}
    per_msg: dict[str, float] = {}  # message id -> best relative similarity over its language versions
    raw: dict[str, tuple[float, float]] = {}  # message id -> (raw similarity, background) of that version
    for mid, lg, sv in zip(pk.ids, pk.langs, sims, strict=True):
        rel = float(sv) - bg[lg]
        if mid not in per_msg or rel > per_msg[mid]:
            per_msg[mid], raw[mid] = rel, (float(sv), bg[lg])
    best_id = max(per_msg, key=lambda k: per_msg[k]) if per_msg else None
    sim, background = raw[best_id] if best_id else (0.0, 0.0)

    mand = kit.mandatory
    mandatory: list[Reason] = []
    if mand.hashtags:
        missing = [t for t in mand.hashtags if not _has_hashtag(folded, t)]
        mandatory.append(Reason("hashtags_missing", False, {"tags": missing}) if missing
                         else Reason("hashtags_ok", True, {"tags": mand.hashtags}))
    if mand.link:
        mandatory.append(Reason("link_ok", True) if _has_link(text, mand.link)
                         else Reason("link_missing", False, {"link": mand.link}))
    if mand.asset_required and has_asset is not None:
        mandatory.append(Reason("asset_ok", True) if has_asset else Reason("asset_missing", False))

    forbidden = [Reason("forbidden", False, {"phrase": f.phrase, "instead": f.instead})
                 for f in kit.forbidden if fold(f.phrase) and fold(f.phrase) in folded]

    (post_sent, post_p), = _sentiment([text], v[None, :])
    cues = [c for c in COUNTER_CUES if fold(c) in folded and fold(c) not in pk.folded_texts]
    post_facts = numbers.extract(text)
    return Signals(lang=lang, flags=flags, similarity=sim, background=background, best_message_id=best_id,
                   best_label=pk.labels.get(best_id or "", "") or (best_id or ""),
                   message_similarity={k: round(x, 4) for k, x in per_msg.items()}, mandatory=mandatory,
                   forbidden=forbidden, has_forbidden_list=bool(kit.forbidden), sentiment=post_sent,
                   sentiment_p=float(post_p), kit_sentiment=pk.sentiment, cues=cues,
                   mismatches=numbers.compare(pk.facts, post_facts), numbers_checked=bool(pk.facts and post_facts))


def decide(sg: Signals, th: dict[str, float]) -> AlignmentResult:
    sim = sg.similarity - sg.background  # relative similarity: what the thresholds apply to
    reasons: list[Reason] = []
    if "no_message_in_language" in sg.flags:
        reasons.append(Reason("no_message_in_language", False, {"lang": sg.lang}))
    if sim >= th["aligned"]:
        reasons.append(Reason("similar", True, {"message": sg.best_label, "sim": f"{sg.similarity:.2f}"}))
    elif sim >= th["off"]:
        reasons.append(Reason("weakly_similar", False, {"message": sg.best_label, "sim": f"{sg.similarity:.2f}"}))
    else:
        reasons.append(Reason("not_similar", False, {"sim": f"{sg.similarity:.2f}"}))
    reasons.extend(sg.mandatory)
    reasons.extend(sg.forbidden)
    if sg.has_forbidden_list and not sg.forbidden:
        reasons.append(Reason("no_forbidden", True))
    contrary = bool(sg.cues) or (sg.sentiment_p >= th["tone"] and (
        (sg.sentiment == "neg" and sg.kit_sentiment in ("pos", "neu"))
        or (sg.sentiment == "pos" and sg.kit_sentiment == "neg")))
    if contrary:
        why = ", ".join(f"“{c}”" for c in sg.cues) if sg.cues else _("sentiment %(s)s") % {"s": sg.sentiment}
        reasons.append(Reason("tone_contrary", False, {"why": why}))
    else:
        reasons.append(Reason("tone_ok", True))
    for m in sg.mismatches:
        reasons.append(Reason("number_mismatch", False, {"post": m.post, "kit": m.kit}))
    if sg.numbers_checked and not sg.mismatches:
        reasons.append(Reason("numbers_ok", True))

    checks = len(sg.mandatory)
    passed = sum(1 for r in sg.mandatory if r.ok)
    on_topic = sim >= th["off"]
    if sg.mismatches or (contrary and on_topic):
        level = "contradicting"
    elif not on_topic or sg.forbidden:
        level = "off_message"
    elif sim >= th["aligned"] and passed == checks:
        level = "aligned"
    else:
        level = "partly"

    span = max(th["aligned"] - th["off"], 0.02)
    sim_part = float(np.clip((sim - (th["off"] - span)) / (2 * span), 0.0, 1.0))
    score = 0.75 * sim_part + 0.25 * (passed / checks if checks else 1.0)
    if sg.forbidden:
        score *= 0.5
    if level == "contradicting":
        score = min(score, 0.2)
    elif level == "off_message":
        score = min(score, 0.4)
    elif level == "partly":
        score = min(max(score, 0.4), 0.75)
    else:
        score = max(score, 0.75)
    return AlignmentResult(score=round(score, 3), level=level, lang=sg.lang, reasons=reasons,
                           similarity=round(sg.similarity, 4), relative=round(sim, 4),
                           best_message_id=sg.best_message_id, flags=list(sg.flags),
                           message_similarity=sg.message_similarity)


def score_kit(kit: Kit, text: str, lang: str | None = None, *, has_asset: bool | None = None,
              vector: np.ndarray | None = None, limits: dict[str, float] | None = None) -> AlignmentResult:
    """Score ``text`` against ``kit`` (no database): the function behind every alignment score."""
    return decide(measure(kit, text, lang, has_asset=has_asset, vector=vector), limits or thresholds())


def kit_of(campaign: Campaign) -> Kit:
    return Kit.model_validate(campaign.kit or {})


def score_text(session: Session, campaign: Campaign, text: str, lang: str | None = None, *,
               has_asset: bool | None = None) -> AlignmentResult:
    """The alignment of ``text`` with ``campaign``: for the compose screen and every agency post.

    The caller has already checked that the actor may read the campaign
    (:func:`civicpulse.domain.campaigns.queries.campaign`); nothing is written.
    """
    del session  # the kit is on the campaign row; the session is part of the stable signature
    return score_kit(kit_of(campaign), text, lang, has_asset=has_asset)
