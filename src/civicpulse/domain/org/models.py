"""Organisation network: units, users, roles, sessions, tokens and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicpulse.db.base import Base, UTCDateTime, utcnow

LANGUAGES = ("vi", "th", "en")
ROLES = ("viewer", "analyst", "editor", "approver", "admin")  # ordered by power
UNIT_KINDS = (
    "ministry",
    "department",
    "bureau",
    "provincial_office",
    "institute",
    "state_enterprise",
    "agency",
    "other",
)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    # materialised path of ids, e.g. "/1/4/9/": subtree checks are a prefix test
    path: Mapped[str] = mapped_column(String(1000), index=True, default="/")
    kind: Mapped[str] = mapped_column(String(30), default="department")
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Bangkok")
    default_language: Mapped[str] = mapped_column(String(2), default="en")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent")

    __mapper_args__ = {"version_id_col": version}

    def name(self, lang: str = "en") -> str:
        for candidate in (lang, "en", "vi", "th"):
            if self.names.get(candidate):
                return self.names[candidate]
        return self.code

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def snapshot(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "parent_id": self.parent_id,
            "kind": self.kind,
            "names": dict(self.names or {}),
            "contact_email": self.contact_email,
            "contact_phone": self.contact_phone,
            "address": self.address,
            "website": self.website,
            "timezone": self.timezone,
            "default_language": self.default_language,
        }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # the seam for single sign-on: an OIDC provider name and its stable subject id
    auth_provider: Mapped[str] = mapped_column(String(40), default="local")
    external_subject: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2), default="en")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", foreign_keys="RoleAssignment.user_id"
    )

    __table_args__ = (UniqueConstraint("auth_provider", "external_subject"),)

    def snapshot(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "display_name": self.display_name,
            "language": self.language,
            "is_active": self.is_active,
            "auth_provider": self.auth_provider,
        }


class RoleAssignment(Base):
    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    include_subtree: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(back_populates="roles", foreign_keys=[user_id])
    unit: Mapped[Unit] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "unit_id", "role"),)

    def snapshot(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "unit_id": self.unit_id,
            "role": self.role,
            "include_subtree": self.include_subtree,
        }


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)  # "read", "write"
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))  # limit to a subtree
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes or []),
            "unit_id": self.unit_id,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class WebSession(Base):
    """Server-side session. The cookie holds a random value; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(2))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordReset(Base):
    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    success: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AuditEntry(Base):
    """Append-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: history outlives users
    actor_label: Mapped[str] = mapped_column(String(300))
    via: Mapped[str] = mapped_column(String(20))  # ui | api | cli | system | external
    unit_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: history outlives units
    unit_path: Mapped[str | None] = mapped_column(String(1000), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(String(60))
    object_id: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)


class Notification(Base):
    """An in-app message to the people of one unit (and its email copy to the unit's contact address).

    Every area raises them through :func:`civicpulse.domain.org.notifications.notify`: alerts, publishing
    failures, campaign kits, crisis switches. Read state is per person (:class:`NotificationRead`).
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    # set: a personal notification (only this person sees it); unset: everyone with a role on the unit
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)  # e.g. alert, post_failed, campaign_kit
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    object_type: Mapped[str | None] = mapped_column(String(60))
    object_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    email_to: Mapped[str | None] = mapped_column(String(254))
    email_status: Mapped[str | None] = mapped_column(String(20))  # sent | failed | None (no email)
    email_error: Mapped[str | None] = mapped_column(Text)

    unit: Mapped[Unit] = relationship()


class NotificationRead(Base):
    __tablename__ = "notification_reads"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
