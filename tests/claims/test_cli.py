"""`civicpulse claims add / list / match / run`, in-process against the test database."""

from __future__ import annotations

import json

import pytest

from tests.claims.conftest import CLAIM_EN, PARAPHRASE_EN, TRANSLATION_VI


@pytest.fixture
def run(cfg, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from civicpulse.cli import app
    from civicpulse.config import reset_settings_cache

    monkeypatch.setenv("CIVICPULSE_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("CIVICPULSE_SECRET_KEY", cfg.secret_key.get_secret_value()
                       if hasattr(cfg.secret_key, "get_secret_value") else cfg.secret_key)
    monkeypatch.setenv("CIVICPULSE_ENV", "test")
    monkeypatch.setenv("CIVICPULSE_DATA_DIR", str(cfg.data_dir))
    reset_settings_cache()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):  # type: ignore[no-untyped-def]
        r = runner.invoke(app, ["claims", *args])
        assert r.exit_code == code, r.output
        return r

    yield invoke
    reset_settings_cache()


def test_add_list_match_and_run(run, org, collect):  # type: ignore[no-untyped-def]
    collect(org.units["A1"], [PARAPHRASE_EN])
    r = run("add", "--text", CLAIM_EN, "--verdict", "false", "--correction", "The water is safe.",
            "--link", "https://water.example.org/safe", "--unit", "A", "--lang", "en", "--json")
    added = json.loads(r.output)
    assert added["unit"] == "A" and added["status"] == "false" and added["matches"] == 1
    r = run("add", "--text", CLAIM_EN, "--verdict", "false", "--unit", "A", code=1)
    assert "already has the wording" in " ".join(r.output.split())
    assert "Unknown verdict" in run("add", "--text", "x y z", "--verdict", "fake", code=1).output
    assert "http" in run("add", "--text", "Rumour one two", "--link", "ftp://a.example.org", code=1).output
    assert "No unit with code" in run("add", "--text", "Rumour one two", "--unit", "ZZ", code=1).output

    rows = [json.loads(x) for x in run("list", "--json").output.splitlines() if x.strip()]
    assert [(x["id"], x["matches"], x["languages"]) for x in rows] == [(added["id"], 1, ["en"])]

    r = run("match", "--text", TRANSLATION_VI, "--json")
    found = json.loads(r.output)
    assert found[0]["claim_id"] == added["id"] and found[0]["score"] > 0
    assert json.loads(run("match", "--text", "Cách nấu phở bò ngon tại nhà", "--json").output) == []
    assert "No known claim" in run("match", "--text", "Cách nấu phở bò ngon tại nhà").output

    collect(org.units["A"], [CLAIM_EN + " - so they say"])
    assert "1 new match" in run("run").output  # the new post; the first was matched when the claim was added
    assert "0 new match" in run("run").output
