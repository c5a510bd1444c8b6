"""Per-language routing between the fast path and the e5 embedding path (card ``route``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from civicpulse.nlp import embed as embed_mod
from civicpulse.nlp.classify import clear_cache, get_classifier
from civicpulse.nlp.cli import nlp_app
from civicpulse.nlp.model import PACKAGE_MODELS, active_version

runner = CliRunner()
TH = "ขอบคุณมากครับ บริการดีมาก"
VI = "Thủ tục ở phường chậm quá, chờ cả buổi sáng"
EN = "Please fix the road near the school"


def _stderr(result):
    try:
        return result.stderr
    except (ValueError, AttributeError):
        return result.output


@pytest.fixture()
def routed_dir(tmp_path):
    """A model dir whose active sentiment version is the shipped one with a given route."""

    def make(route, task="sentiment"):
        ver = active_version(task)
        dst = tmp_path / task / ver
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(PACKAGE_MODELS / task / ver, dst)
        card = json.loads((dst / "card.json").read_text(encoding="utf-8"))
        card["route"] = route
        # these tests fake the embedding (``embed.embed``): use the frozen-embedding head of the
        # version, not its fine-tuned e5 layers (those are tested in test_e5_numpy.py)
        if card.pop("e5_top", None):
            (dst / "e5top.npz").unlink(missing_ok=True)
            card.get("sha256", {}).pop("e5top.npz", None)
        (dst / "card.json").write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
        (tmp_path / "registry.json").write_text(json.dumps({"tasks": {task: {"active": ver, "history": []}}}))
        clear_cache()
        return tmp_path

    yield make
    clear_cache()


@pytest.fixture()
def fake_embed(monkeypatch):
    """Records which texts are embedded; returns deterministic unit vectors (no e5 model load)."""
    calls: list[list[str]] = []

    def fake(texts):
        texts = [str(t) for t in texts]
        calls.append(texts)
        rng = np.random.default_rng(len(calls))
        v = rng.normal(size=(len(texts), 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    monkeypatch.setattr(embed_mod, "embed", fake)
    return calls


def _predict(args, texts):
    lines = "\n".join(json.dumps({"text": t, "id": i}, ensure_ascii=False) for i, t in enumerate(texts)) + "\n"
    return runner.invoke(nlp_app, ["predict", "--task", "sentiment", *args], input=lines)


def test_vietnamese_goes_through_e5_when_the_card_says_so(routed_dir, fake_embed):
    mdir = routed_dir({"th": "fast", "vi": "e5", "en": "fast"})
    clf = get_classifier("sentiment", mdir)
    assert clf.embeds and clf.path_for("vi") == "e5" and clf.path_for("th") == "fast"
    assert clf.path_for("other") == "fast"  # languages not in the table: fast path
    res = _predict(["--model-dir", str(mdir)], [TH, VI, EN])
    assert res.exit_code == 0, res.output
    assert fake_embed == [[VI]]  # only the Vietnamese text was embedded
    got = [json.loads(x) for x in res.stdout.splitlines()]
    assert [g["id"] for g in got] == [0, 1, 2]
    # the Thai text gets exactly the fast-path label; the Vietnamese one the ensemble's
    fast = clf.predict([TH, VI, EN])
    assert (got[0]["label"], got[0]["score"]) == fast[0]
    assert (got[2]["label"], got[2]["score"]) == fast[2]


def test_fast_flag_forces_the_fast_path(routed_dir, fake_embed):
    mdir = routed_dir({"th": "e5", "vi": "e5", "en": "e5"})
    res = _predict(["--model-dir", str(mdir), "--fast"], [TH, VI])
    assert res.exit_code == 0, res.output
    assert fake_embed == []
    fast = get_classifier("sentiment", mdir).predict([TH, VI])
    assert [(g["label"], g["score"]) for g in map(json.loads, res.stdout.splitlines())] == fast


def test_with_embeddings_forces_e5_and_flags_exclude_each_other(routed_dir, fake_embed):
    mdir = routed_dir({"th": "fast", "vi": "fast", "en": "fast"})
    res = _predict(["--model-dir", str(mdir)], [TH, VI])
    assert res.exit_code == 0 and fake_embed == []  # route says fast everywhere
    res = _predict(["--model-dir", str(mdir), "--with-embeddings"], [TH, VI])
    assert res.exit_code == 0, res.output
    assert fake_embed == [[TH, VI]]
    res = _predict(["--model-dir", str(mdir), "--with-embeddings", "--fast"], [TH])
    assert res.exit_code == 2


def test_evaluate_reports_paths_and_speed(routed_dir, fake_embed, tmp_path):
    mdir = routed_dir({"th": "fast", "vi": "e5", "en": "fast"})
    data = tmp_path / "labelled.jsonl"
    rows = [{"text": TH, "label": "pos"}, {"text": VI, "label": "neg"}, {"text": EN, "label": "neu"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    res = runner.invoke(nlp_app, ["evaluate", "--task", "sentiment", "--data", str(data), "--json", "--model-dir", str(mdir)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n"] == 3 and out["paths"] == {"e5": 1, "fast": 2} and out["texts_per_s"] > 0
    res = runner.invoke(nlp_app, ["evaluate", "--task", "sentiment", "--data", str(data), "--json", "--fast",
                                  "--model-dir", str(mdir)])
    assert json.loads(res.stdout)["paths"] == {"e5": 0, "fast": 3}


def test_shipped_versions_route_per_language():
    """Every shipped version with an e5 head names its route for th / vi / en in the card."""
    for task in ("sentiment", "voice", "toxicity"):
        clf = get_classifier(task)
        if clf.embeds:
            assert set(clf.route) >= {"th", "vi", "en"}, task
            assert set(clf.route.values()) <= {"fast", "e5"}, task


@pytest.mark.parametrize("broken", ["missing", "corrupted"])
def test_cli_names_a_broken_model_file(routed_dir, broken):
    mdir = routed_dir({"vi": "e5"})
    npz = mdir / "sentiment" / active_version("sentiment", mdir) / "model.npz"
    if broken == "missing":
        npz.unlink()
    else:
        data = bytearray(npz.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
        npz.write_bytes(bytes(data))
    clear_cache()
    res = _predict(["--model-dir", str(mdir)], [VI])
    assert res.exit_code == 1
    err = _stderr(res)
    assert str(npz) in err.replace("\n", "") and ("not found" in err or "checksum" in err)
    assert res.stdout.strip() == ""


def test_evaluate_accepts_other_spellings_of_gold_labels(tmp_path):
    from civicpulse.nlp.cli import _gold_label

    assert _gold_label("toxicity", "HATE") == "hate" and _gold_label("toxicity", 2) == "hate"
    assert _gold_label("toxicity", "0") == "clean" and _gold_label("sentiment", "Positive") == "pos"
    assert _gold_label("sentiment", "q") == "q" and _gold_label("voice", "Request") == "request"
    data = tmp_path / "tox.jsonl"
    rows = [{"text": "Cảm ơn anh chị đã hỗ trợ", "label": "CLEAN"}, {"text": "thank you", "label": 0}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    res = runner.invoke(nlp_app, ["evaluate", "--task", "toxicity", "--data", str(data), "--json", "--fast"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["labels"] == ["clean", "offensive", "hate"]


def test_evaluate_refuses_gold_labels_the_task_does_not_have(tmp_path):
    data = tmp_path / "sent.jsonl"
    rows = [{"text": "tốt quá", "label": "2"}, {"text": "tệ quá", "label": 0}, {"text": "bình thường", "label": "neu"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    res = runner.invoke(nlp_app, ["evaluate", "--task", "sentiment", "--data", str(data), "--json", "--fast"])
    assert res.exit_code == 2 and res.stdout.strip() == ""
    msg = " ".join(res.output.replace("│", " ").split())
    assert "labels that sentiment does not have: '2' (1 row), '0' (1 row)" in msg
    assert "Expected pos, neu, neg, q" in msg


def test_evaluate_language_codes_outside_the_detector_count_as_other(tmp_path):
    data = tmp_path / "lang.jsonl"
    rows = [{"text": "你好，世界", "label": "zh"}, {"text": "Good morning, how are you today?", "label": "EN"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    res = runner.invoke(nlp_app, ["evaluate", "--task", "lang", "--data", str(data), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["per_class"]["other"]["support"] == 1 and out["per_class"]["en"]["support"] == 1


def test_labels_with_embeddings_match_predict_task(routed_dir, fake_embed):
    from civicpulse.nlp.pipeline import labels_with_embeddings, predict_task

    mdir = routed_dir({"th": "fast", "vi": "e5", "en": "fast"})
    emb, labels = labels_with_embeddings([TH, VI, ""], mdir)
    assert emb.shape == (3, 384) and set(labels) == {"sentiment", "voice", "toxicity"}
    assert labels["sentiment"][2] == ("neu", 0.0)
    # the Thai text is routed to the fast path: same label as predict_task in forced-fast mode
    assert labels["sentiment"][0] == predict_task("sentiment", [TH], mdir, mode="fast")[0][0]


def test_route_rule_needs_a_win_and_enough_rows():
    from civicpulse.nlp.train import ROUTE_MIN_N, _choose_route

    def row(n, fast, e5):
        return {"fast": {"n": n, "objective": fast}, "e5": {"n": n, "objective": e5}}

    by_lang = {"th": row(500, 0.70, 0.69), "vi": row(300, 0.80, 0.82), "en": row(ROUTE_MIN_N - 1, 0.9, 0.5),
               "all": row(849, 0.75, 0.76)}
    assert _choose_route(by_lang) == {"th": "fast", "vi": "e5", "en": "e5"}  # en: too few rows -> pooled
    by_lang["vi"] = row(300, 0.80, 0.80)  # a tie is not a win
    by_lang["all"] = row(849, 0.75, 0.74)
    assert _choose_route(by_lang) == {"th": "fast", "vi": "fast", "en": "fast"}


VI_PLAIN = "Thu tuc o phuong cham qua, cho ca buoi sang"


def test_vietnamese_without_diacritics_has_its_own_route_key():
    from civicpulse.nlp.classify import prepare, route_key, route_lang

    assert route_key("vi", VI_PLAIN) == "vi_plain" and route_key("vi", VI) == "vi"
    assert route_key("vi", "Đi đâu") == "vi"  # đ alone is a diacritic letter
    assert route_key("en", EN) == "en" and route_key("th", TH) == "th"  # other languages: their language
    assert route_lang("vi_plain") == "vi" and route_lang("th") == "th"
    prep = prepare([VI, VI_PLAIN, TH], ["vi", "vi", "th"])
    assert prep.route_keys == ["vi", "vi_plain", "th"]
    assert [lg for lg, _ in prep.langs] == ["vi", "vi", "th"]  # the language itself is unchanged


def test_vi_plain_route_is_followed_and_falls_back_to_vi(routed_dir, fake_embed):
    mdir = routed_dir({"th": "fast", "vi": "e5", "vi_plain": "fast", "en": "fast"})
    clf = get_classifier("sentiment", mdir)
    assert clf.path_for("vi") == "e5" and clf.path_for("vi_plain") == "fast"
    res = _predict(["--model-dir", str(mdir)], [VI, VI_PLAIN])
    assert res.exit_code == 0, res.output
    assert fake_embed == [[VI]]  # the text without diacritics took the fast path
    assert json.loads(res.stdout.splitlines()[1])["label"] == clf.predict([VI_PLAIN])[0][0]
    # a card without the key (versions before it) routes such texts like Vietnamese
    mdir = routed_dir({"th": "fast", "vi": "e5", "en": "fast"})
    assert get_classifier("sentiment", mdir).path_for("vi_plain") == "e5"


def test_route_is_chosen_for_vietnamese_without_diacritics_on_its_own_rows():
    from civicpulse.nlp.train import ROUTE_LANGS, _choose_route, paths_by_lang

    assert "vi_plain" in ROUTE_LANGS
    labels = ["pos", "neg"]
    gold = {"vi": ["pos", "neg"] * 40, "vi_plain": ["pos", "neg"] * 40}
    fast = {"vi": ["pos"] * 80, "vi_plain": ["pos", "neg"] * 40}  # fast: right only without diacritics
    e5 = {"vi": ["pos", "neg"] * 40, "vi_plain": ["neg"] * 80}  # e5: right only with them
    by_lang = paths_by_lang(gold, fast, e5, labels)
    assert by_lang["all"]["fast"]["n"] == 160
    assert _choose_route(by_lang) == {"vi": "e5", "vi_plain": "fast"}
