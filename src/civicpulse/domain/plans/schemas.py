"""Input and output shapes of plans (shared by API, UI and CLI); validation lives here once.

Cross-field rules that need no database (deadline after baseline date, end after start, budget not
negative, ISO 4217 currency, messages free of forbidden phrasings) are checked here; rules that need the
database or the clock of the operation (owner unit inside the plan's subtree, deadline not in the past on
create, linked topics visible) are checked by the services.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from civicpulse.domain.plans.models import CERC_PHASES, STATUSES, TEMPLATES

# ISO 4217 active currency codes
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF
CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG
HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
""".split())

SECTIONS = ("objectives", "audiences", "messages", "forbidden", "faq", "tactics", "kpis", "risks", "crisis",
            "checklist")
# sections that may still change once a plan is approved or active (the plan is a living object)
LIVE_SECTIONS = ("tactics", "kpis", "risks", "crisis")
COMMENT_SECTIONS = ("general", "summary", *SECTIONS)

OBJECTIVE_TYPES = ("inform", "engage", "change_behaviour", "build_trust")
TACTIC_STATUSES = ("planned", "in_progress", "done", "cancelled")
KPI_LEVELS = ("output", "outtake", "outcome")
# computed from listening data for the KPI's linked saved topics; "manual" = figures entered by hand
KPI_METRICS = ("manual", "mention_volume", "concern_volume", "negative_share", "positive_share", "questions")
PRINCIPLES = ("transparency", "integrity", "inclusiveness", "accessibility", "timeliness", "responsiveness",
              "evidence_based", "two_way")
APPROVAL = ("draft", "approved")

Status = Literal["draft", "in_review", "approved", "active", "closed"]
Phase = Literal["pre_crisis", "initial", "maintenance", "resolution", "evaluation"]
Template = Literal["blank", "policy_launch", "crisis_response", "behaviour_change"]
assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]
assert set(Phase.__args__) == set(CERC_PHASES)  # type: ignore[attr-defined]
assert set(Template.__args__) == set(TEMPLATES)  # type: ignore[attr-defined]

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _clean(v: str | None) -> str | None:
    if v is None:
        return None
    return unicodedata.normalize("NFC", v).strip()


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: ClassVar[str] = "x"

    id: str | None = Field(default=None, description="Stable id within the plan; leave empty for a new row")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and v != "" and not ID_RE.match(v):
            raise ValueError("use letters, digits, '-' or '_' (up to 40)")
        return v or None

    @model_validator(mode="after")
    def _assign_id(self) -> _Item:
        if not self.id:
            self.id = new_id(self.prefix)
        return self


class Texts(BaseModel):
    """One text in the three working languages."""

    model_config = ConfigDict(extra="forbid")

    vi: str = Field(default="", max_length=4000)
    th: str = Field(default="", max_length=4000)
    en: str = Field(default="", max_length=4000)

    @field_validator("vi", "th", "en")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v) or ""

    def any(self) -> bool:
        return bool(self.vi or self.th or self.en)

    def get(self, lang: str) -> str:
        return getattr(self, lang, "") or self.en or self.vi or self.th


class Objective(_Item):
    prefix: ClassVar[str] = "o"
    statement: str = Field(min_length=1, max_length=1000)
    type: Literal["inform", "engage", "change_behaviour", "build_trust"] = "inform"
    metric: str = Field(default="", max_length=300)
    baseline_value: float | None = None
    baseline_date: dt.date | None = None
    baseline_source: str = Field(default="", max_length=500)
    target_value: float | None = None
    deadline: dt.date | None = None

    @field_validator("statement", "metric", "baseline_source")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v) or ""

    @model_validator(mode="after")
    def _dates(self) -> Objective:
        if self.baseline_date and self.deadline and self.deadline <= self.baseline_date:
            raise ValueError(
                f"the target deadline ({self.deadline.isoformat()}) must come after the baseline date "
                f"({self.baseline_date.isoformat()}) of objective '{self.statement[:60]}'")
        return self


class Audience(_Item):
    prefix: ClassVar[str] = "a"
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    topic_ids: list[int] = Field(default_factory=list, max_length=20, description="Linked saved topics (listening)")
    evidence_item_ids: list[int] = Field(default_factory=list, max_length=50, description="Items pinned by the analyst")
    notes: str = Field(default="", max_length=4000, description="What they currently say, in the analyst's words")


class Message(_Item):
    prefix: ClassVar[str] = "m"
    kind: Literal["core", "supporting"] = "supporting"
    audience_id: str | None = Field(default=None, description="Empty for every audience")
    text: Texts = Field(default_factory=Texts)
    approval: Literal["draft", "approved"] = "draft"
    approved_by: str | None = Field(default=None, max_length=300)
    approved_at: dt.datetime | None = None

    @model_validator(mode="after")
    def _text(self) -> Message:
        if not self.text.any():
            raise ValueError("a message needs its text in at least one language (vi, th or en)")
        return self


class Forbidden(_Item):
    prefix: ClassVar[str] = "f"
    phrase: str = Field(min_length=1, max_length=300)
    reason: str = Field(default="", max_length=1000)
    instead: str = Field(default="", max_length=1000, description="What to say instead")


class Faq(_Item):
    prefix: ClassVar[str] = "q"
    question: Texts
    answer: Texts = Field(default_factory=Texts)
    approval: Literal["draft", "approved"] = "draft"
    approved_by: str | None = Field(default=None, max_length=300)
    approved_at: dt.datetime | None = None

    @model_validator(mode="after")
    def _text(self) -> Faq:
        if not self.question.any():
            raise ValueError("a question needs its text in at least one language (vi, th or en)")
        return self


class Tactic(_Item):
    prefix: ClassVar[str] = "t"
    name: str = Field(min_length=1, max_length=300)
    channels: list[str] = Field(default_factory=list, max_length=20)
    audience_id: str | None = None
    owner_unit_id: int | None = None
    start: dt.date
    end: dt.date
    budget: Decimal = Field(default=Decimal(0), max_digits=16, decimal_places=2)
    currency: str = Field(default="VND", min_length=3, max_length=3)
    status: Literal["planned", "in_progress", "done", "cancelled"] = "planned"
    notes: str = Field(default="", max_length=2000)

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        out = [c.strip()[:80] for c in v if c and c.strip()]
        return list(dict.fromkeys(out))

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: Decimal) -> Decimal:
        if v < 0:
            raise ValueError(f"the budget cannot be negative ({v})")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        v = v.strip().upper()
        if v not in CURRENCIES:
            raise ValueError(f"unknown currency {v!r}; use an ISO 4217 code such as VND, THB, USD or EUR")
        return v

    @model_validator(mode="after")
    def _dates(self) -> Tactic:
        if self.end < self.start:
            raise ValueError(f"tactic '{self.name[:60]}' ends ({self.end.isoformat()}) before it starts "
                             f"({self.start.isoformat()})")
        return self


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date
    value: float
    note: str = Field(default="", max_length=300)


class Kpi(_Item):
    prefix: ClassVar[str] = "k"
    name: str = Field(min_length=1, max_length=300)
    level: Literal["output", "outtake", "outcome"] = "outcome"
    metric: Literal["manual", "mention_volume", "concern_volume", "negative_share", "positive_share",
                    "questions"] = "manual"
    objective_id: str | None = None
    topic_ids: list[int] = Field(default_factory=list, max_length=20)
    unit_label: str = Field(default="", max_length=30, description="e.g. %, posts, people")
    baseline: float | None = None
    target: float | None = None
    direction: Literal["increase", "decrease"] = "increase"
    readings: list[Reading] = Field(default_factory=list, max_length=500, description="Figures entered by hand")

    @model_validator(mode="after")
    def _topics(self) -> Kpi:
        if self.metric != "manual" and not self.topic_ids:
            raise ValueError(f"KPI '{self.name[:60]}' is computed from listening ({self.metric}): "
                             "link at least one saved topic, or make it a manual KPI")
        return self


class Risk(_Item):
    prefix: ClassVar[str] = "r"
    description: str = Field(min_length=1, max_length=1000)
    likelihood: int = Field(default=3, ge=1, le=5)
    impact: int = Field(default=3, ge=1, le=5)
    mitigation: str = Field(default="", max_length=2000)
    owner: str = Field(default="", max_length=200)

    @property
    def score(self) -> int:
        return self.likelihood * self.impact


class HoldingStatement(_Item):
    prefix: ClassVar[str] = "h"
    phase: Literal["pre_crisis", "initial", "maintenance", "resolution", "evaluation"] = "initial"
    text: Texts
    pre_cleared: bool = False


class Contact(_Item):
    prefix: ClassVar[str] = "c"
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    email: str = Field(default="", max_length=254)
    spokesperson: bool = False
    reports_to: str | None = Field(default=None, description="id of the contact above in the contact tree")


class Crisis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(default="", max_length=2000)
    holding_statements: list[HoldingStatement] = Field(default_factory=list, max_length=50)
    contacts: list[Contact] = Field(default_factory=list, max_length=100)
    approval_shortcut: str = Field(default="", max_length=2000,
                                   description="Who may clear statements alone while crisis mode is on")

    @model_validator(mode="after")
    def _tree(self) -> Crisis:
        ids = {c.id for c in self.contacts}
        parent = {c.id: c.reports_to for c in self.contacts}
        for c in self.contacts:
            if c.reports_to and c.reports_to not in ids:
                raise ValueError(f"contact '{c.name}' reports to an unknown contact id {c.reports_to!r}")
            seen, cur = set(), c.id
            while cur:
                if cur in seen:
                    raise ValueError(f"the contact tree has a cycle through '{c.name}'")
                seen.add(cur)
                cur = parent.get(cur)
        return self


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int | None = Field(default=None, ge=0, le=3, description="0 missing · 1 weak · 2 adequate · 3 strong")
    note: str = Field(default="", max_length=1000)


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: dict[str, Score] = Field(default_factory=dict)
    scored_by: str | None = None
    scored_at: dt.datetime | None = None

    @field_validator("scores")
    @classmethod
    def _known(cls, v: dict[str, Score]) -> dict[str, Score]:
        bad = sorted(set(v) - set(PRINCIPLES))
        if bad:
            raise ValueError(f"unknown principle(s) {', '.join(bad)}; use {', '.join(PRINCIPLES)}")
        return v

    def complete(self) -> bool:
        return all(self.scores.get(p) is not None and self.scores[p].score is not None for p in PRINCIPLES)


class Sections(BaseModel):
    """The body of a plan."""

    model_config = ConfigDict(extra="forbid")

    objectives: list[Objective] = Field(default_factory=list, max_length=50)
    audiences: list[Audience] = Field(default_factory=list, max_length=50)
    messages: list[Message] = Field(default_factory=list, max_length=200)
    forbidden: list[Forbidden] = Field(default_factory=list, max_length=200)
    faq: list[Faq] = Field(default_factory=list, max_length=200)
    tactics: list[Tactic] = Field(default_factory=list, max_length=300)
    kpis: list[Kpi] = Field(default_factory=list, max_length=100)
    risks: list[Risk] = Field(default_factory=list, max_length=100)
    crisis: Crisis = Field(default_factory=Crisis)
    checklist: Checklist = Field(default_factory=Checklist)

    @model_validator(mode="after")
    def _consistent(self) -> Sections:
        for name in ("objectives", "audiences", "messages", "forbidden", "faq", "tactics", "kpis", "risks"):
            ids = [x.id for x in getattr(self, name)]
            dup = {i for i in ids if ids.count(i) > 1}
            if dup:
                raise ValueError(f"{name}: the id(s) {', '.join(sorted(map(str, dup)))} are used twice")
        audiences = {a.id for a in self.audiences}
        for m in self.messages:
            if m.audience_id and m.audience_id not in audiences:
                raise ValueError(f"message {m.id} is for an unknown audience {m.audience_id!r}")
        for t in self.tactics:
            if t.audience_id and t.audience_id not in audiences:
                raise ValueError(f"tactic '{t.name[:60]}' is for an unknown audience {t.audience_id!r}")
        objectives = {o.id for o in self.objectives}
        for k in self.kpis:
            if k.objective_id and k.objective_id not in objectives:
                raise ValueError(f"KPI '{k.name[:60]}' measures an unknown objective {k.objective_id!r}")
        for f in self.forbidden:
            needle = f.phrase.casefold()
            for m in self.messages:
                for lang in ("vi", "th", "en"):
                    if needle in getattr(m.text, lang).casefold():
                        raise ValueError(f"message {m.id} ({lang}) uses the forbidden phrasing '{f.phrase}'"
                                         + (f"; say instead: {f.instead}" if f.instead else ""))
            for q in self.faq:
                for lang in ("vi", "th", "en"):
                    if needle in getattr(q.answer, lang).casefold():
                        raise ValueError(f"the answer to FAQ {q.id} ({lang}) uses the forbidden phrasing "
                                         f"'{f.phrase}'")
        return self

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int
    title: str = Field(min_length=1, max_length=300)
    policy: str = Field(min_length=1, max_length=300, description="The policy communicated, e.g. a decree")
    summary: str = Field(default="", max_length=20000)
    language: Literal["vi", "th", "en"] = "en"
    template: Template = "blank"
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    sections: Sections | None = Field(default=None, description="Omit to start from the template")

    @field_validator("title", "policy", "summary")
    @classmethod
    def _nfc(cls, v: str) -> str:
        return _clean(v) or ""

    @model_validator(mode="after")
    def _period(self) -> PlanCreate:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("the plan ends before it starts")
        return self


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="The version you edited (optimistic locking)")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    policy: str | None = Field(default=None, min_length=1, max_length=300)
    summary: str | None = Field(default=None, max_length=20000)
    language: Literal["vi", "th", "en"] | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    sections: dict[str, Any] | None = Field(
        default=None, description="Only the sections you send are replaced, e.g. {\"tactics\": [...]}")
    note: str | None = Field(default=None, max_length=500, description="What changed, for the version history")

    @field_validator("title", "policy", "summary")
    @classmethod
    def _nfc(cls, v: str | None) -> str | None:
        return _clean(v)

    @field_validator("sections")
    @classmethod
    def _known(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            bad = sorted(set(v) - set(SECTIONS))
            if bad:
                raise ValueError(f"unknown section(s) {', '.join(bad)}; use {', '.join(SECTIONS)}")
        return v


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Status
    version: int | None = None
    note: str | None = Field(default=None, max_length=500)


class CrisisIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool
    phase: Phase | None = Field(default=None, description="CERC phase; 'initial' when turning crisis mode on")
    note: str | None = Field(default=None, max_length=1000)


class ChecklistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: dict[str, Score]
    version: int | None = None


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["message", "faq"] = "message"
    item_id: str
    approval: Literal["draft", "approved"]
    version: int | None = None


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    section: str = Field(default="general")
    body: str = Field(min_length=1, max_length=5000)

    @field_validator("section")
    @classmethod
    def _section(cls, v: str) -> str:
        if v not in COMMENT_SECTIONS:
            raise ValueError(f"unknown section {v!r}; use {', '.join(COMMENT_SECTIONS)}")
        return v

    @field_validator("body")
    @classmethod
    def _body(cls, v: str) -> str:
        v = _clean(v) or ""
        if not v:
            raise ValueError("the comment is empty")
        return v


class CopyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit_id: int = Field(description="The unit below the plan's unit that receives the copy")
    title: str | None = Field(default=None, min_length=1, max_length=300)


# ------------------------------------------------------------------ output


class PlanSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    title: str
    policy: str
    status: str
    template: str
    language: str
    start_date: dt.date | None
    end_date: dt.date | None
    crisis_active: bool
    crisis_phase: str | None
    copied_from_id: int | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PlanOut(PlanSummary):
    summary: str
    sections: dict[str, Any]
    crisis_since: dt.datetime | None


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    author_label: str
    note: str | None
    at: dt.datetime


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    section: str
    body: str
    author_label: str
    plan_version: int
    at: dt.datetime
    resolved_at: dt.datetime | None
    resolved_by: str | None


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    plan_id: int
    unit_id: int
    kind: str
    message: str
    email_to: str | None
    email_status: str
    at: dt.datetime
    read_at: dt.datetime | None


class Change(BaseModel):
    section: str
    kind: Literal["added", "removed", "changed"]
    item: str | None = None
    label: str | None = None
    field: str | None = None
    before: Any = None
    after: Any = None


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    changes: list[Change]
    text: str = Field(description="A unified diff of the two versions rendered as Markdown")

