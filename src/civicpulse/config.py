"""One settings object for the whole application, read from ``CIVICPULSE_*`` variables."""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - the known default we refuse outside dev


class SettingsError(RuntimeError):
    """The configuration cannot be used; the message says which variable to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVICPULSE_", env_file=None, extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    secret_key: str = DEV_SECRET
    previous_secret_keys: list[str] = Field(default_factory=list)  # still accepted for decryption (key rotation)
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "var")
    database_url: str | None = None  # default: SQLite file under data_dir
    redis_url: str | None = None  # production task queue / cache; SQLite-backed queue when empty
    base_url: str = "http://127.0.0.1:8000"

    # sessions and login protection
    session_cookie_name: str = "civicpulse_session"
    session_lifetime_hours: int = 12
    cookie_secure: bool | None = None  # default: True outside dev/test
    login_max_failures: int = 5  # failures per account before lockout
    login_lockout_minutes: int = 15
    login_ip_max_attempts: int = 30  # attempts per IP per window before it is slowed down
    login_window_minutes: int = 15
    password_reset_minutes: int = 30
    password_min_length: int = 10

    # email (password reset, notifications); in dev with no host the message goes to the log
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "civicpulse@localhost"

    default_language: Literal["vi", "th", "en"] = "en"
    default_timezone: str = "Asia/Bangkok"
    max_upload_bytes: int = 200 * 1024 * 1024
    allow_private_fetch: bool = False  # feeds on private/loopback addresses (SSRF guard)
    log_level: str = "INFO"

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env != "dev" and (not self.secret_key or self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise SettingsError(
                "CIVICPULSE_SECRET_KEY is missing, is the development default, or is shorter than 32 characters. "
                f"Outside dev mode (CIVICPULSE_ENV={self.env}) set a long random value, for example: "
                f"CIVICPULSE_SECRET_KEY={secrets.token_urlsafe(48)}"
            )
        return self

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'civicpulse.sqlite3'}"

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
