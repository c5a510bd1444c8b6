"""Input and output shapes for the organisation area (shared by API, UI and CLI)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from civicpulse.domain.org.models import LANGUAGES, ROLES, UNIT_KINDS

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")

Role = Literal["viewer", "analyst", "editor", "approver", "admin"]
Lang = Literal["vi", "th", "en"]
assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]


def _check_names(v: dict[str, str]) -> dict[str, str]:
    bad = [k for k in v if k not in LANGUAGES]
    if bad:
        raise ValueError(f"unknown language code(s) {', '.join(sorted(bad))}; use vi, th or en")
    cleaned = {k: " ".join(str(n).split()) for k, n in v.items() if str(n).strip()}
    if not cleaned:
        raise ValueError("give the unit a name in at least one language")
    for k, n in cleaned.items():
        if len(n) > 200:
            raise ValueError(f"the {k} name is {len(n)} characters long; the limit is 200")
    return cleaned


def _valid_kind(v: str | None) -> str | None:
    if v is not None and v not in UNIT_KINDS:
        raise ValueError(f"unknown kind {v!r}; one of {', '.join(UNIT_KINDS)}")
    return v


def _valid_email(v: str | None) -> str | None:
    if v and not EMAIL_RE.match(v):
        raise ValueError("not an email address")
    return v or None


def _valid_tz(v: str | None) -> str | None:
    if v is None:
        return v
    try:
        zoneinfo.ZoneInfo(v)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {v!r}, e.g. Asia/Bangkok or Asia/Ho_Chi_Minh") from exc
    return v


def _valid_names(v: dict[str, str] | None) -> dict[str, str] | None:
    return None if v is None else _check_names(v)


# NUL and other control characters: PostgreSQL refuses NUL in text, and none belongs in a name or a field
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; larger numbers cannot name anything


def _find_control(value: object, where: str = "") -> str | None:
    if isinstance(value, str):
        m = _CONTROL.search(value)
        return f"{where or 'a text'} contains the control character U+{ord(m.group()):04X}" if m else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        found = _find_control(k, where or "a field name") or _find_control(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


class CleanInput(BaseModel):
    """Input models: no control characters anywhere in the submitted data."""

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: object) -> object:
        found = _find_control(data)
        if found:
            raise ValueError(f"{found}; remove it")
        return data


class UnitFields(CleanInput):
    """Fields shared by create and update; validation lives here once."""

    model_config = ConfigDict(extra="forbid")

    contact_email: str | None = Field(default=None, max_length=254)
    contact_phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    website: str | None = Field(default=None, max_length=500)

    @field_validator("kind", check_fields=False)
    @classmethod
    def _kind(cls, v: str | None) -> str | None:
        return _valid_kind(v)

    @field_validator("names", check_fields=False)
    @classmethod
    def _names(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return _valid_names(v)

    @field_validator("contact_email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return _valid_email(v)

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return _valid_tz(v)


class UnitCreate(UnitFields):
    code: str = Field(min_length=1, max_length=40, description="Short unique code, e.g. MOH-HN")
    parent_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    kind: str = "department"
    names: dict[str, str] = Field(description="Name per language: vi, th, en")
    timezone: str = Field(default="Asia/Bangkok", max_length=64)
    default_language: Lang = "en"

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not CODE_RE.match(v):
            raise ValueError("use letters, digits, '-', '_' or '.' (up to 40), starting with a letter or digit")
        return v


class UnitUpdate(UnitFields):
    parent_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    kind: str | None = None
    names: dict[str, str] | None = None
    timezone: str | None = Field(default=None, max_length=64)
    default_language: Lang | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_ID, description="For optimistic locking: the version you edited")


class UnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    parent_id: int | None
    path: str
    kind: str
    names: dict[str, str]
    contact_email: str | None
    contact_phone: str | None
    address: str | None
    website: str | None
    timezone: str
    default_language: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RoleIn(CleanInput):
    model_config = ConfigDict(extra="forbid")

    unit_id: int = Field(ge=1, le=MAX_ID)
    role: Role
    include_subtree: bool = True


class RoleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    role: str
    include_subtree: bool


class UserCreate(CleanInput):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254)
    display_name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(default=None, max_length=1000, description="Omit to send an invitation link")
    language: Lang = "en"
    roles: list[RoleIn] = Field(min_length=1)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip().lower()
        if not EMAIL_RE.match(v):
            raise ValueError("not an email address")
        return v


class UserUpdate(CleanInput):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Lang | None = None
    is_active: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    language: str
    is_active: bool
    auth_provider: str
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    roles: list[RoleOut]


def _default_token_scopes() -> list[Literal["read", "write"]]:
    return ["read"]


class TokenCreate(CleanInput):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "write"]] = Field(default_factory=_default_token_scopes, min_length=1)
    unit_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Limit the token to this unit's subtree")
    expires_in_days: int | None = Field(default=90, ge=1, le=366)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    unit_id: int | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    created_at: dt.datetime


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once. Store it now: only its hash is kept.")


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor_id: int | None
    actor_label: str
    via: str
    unit_id: int | None
    action: str
    object_type: str | None
    object_id: str | None
    before: dict | None
    after: dict | None
    ip: str | None
    note: str | None
