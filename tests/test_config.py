"""Settings: production refuses a missing, default or short secret; development accepts the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicpulse.config import DEV_SECRET, Settings, SettingsError, get_settings, reset_settings_cache

LONG = "a-production-secret-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CIVICPULSE_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("secret", [None, DEV_SECRET, "", "short", "x" * 31], ids=["default", "dev-default", "empty",
                                                                                   "short", "31-chars"])
@pytest.mark.parametrize("env", ["production", "test"])
def test_outside_dev_a_weak_secret_is_refused(env: str, secret: str | None) -> None:
    kwargs = {"env": env} if secret is None else {"env": env, "secret_key": secret}
    with pytest.raises(SettingsError) as info:
        Settings(**kwargs)
    message = str(info.value)
    assert "CIVICPULSE_SECRET_KEY" in message
    assert f"CIVICPULSE_ENV={env}" in message
    assert DEV_SECRET not in message


def test_production_accepts_a_long_secret() -> None:
    s = Settings(env="production", secret_key="x" * 32)
    assert s.secret_key == "x" * 32
    assert s.secure_cookies is True


def test_dev_accepts_the_default() -> None:
    s = Settings()
    assert s.env == "dev" and s.secret_key == DEV_SECRET
    assert s.secure_cookies is False


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CIVICPULSE_ENV", "production")
    monkeypatch.setenv("CIVICPULSE_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    try:
        with pytest.raises(SettingsError, match="CIVICPULSE_SECRET_KEY"):
            get_settings()
        monkeypatch.setenv("CIVICPULSE_SECRET_KEY", LONG)
        reset_settings_cache()
        s = get_settings()
        assert s.env == "production" and s.secret_key == LONG
        assert s.db_url == f"sqlite:///{tmp_path.resolve() / 'civicpulse.sqlite3'}"
    finally:
        reset_settings_cache()


def test_cli_reports_the_bad_secret_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from civicpulse.cli import app

    monkeypatch.setenv("CIVICPULSE_ENV", "production")
    monkeypatch.setenv("CIVICPULSE_DATA_DIR", str(tmp_path))
    reset_settings_cache()
    try:
        r = CliRunner().invoke(app, ["db", "upgrade"])
        assert r.exit_code == 2
        assert "CIVICPULSE_SECRET_KEY" in r.output
    finally:
        reset_settings_cache()
