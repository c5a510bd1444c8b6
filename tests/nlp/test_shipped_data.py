"""The shipped hand-written data: JSONL files in sync with their sources, probe rows held apart."""

from __future__ import annotations

from civicpulse.nlp.datasets import DATA_DIR, SRC_DIR, _is_valid, parse_src, probe_src_rows, read_jsonl


def _own_rows() -> list[dict]:
    rows: list[dict] = []
    for lang in ("vi", "en", "th"):
        rows.extend(parse_src(SRC_DIR / f"{lang}.txt", lang))
    return rows


def test_jsonl_files_match_their_sources() -> None:
    own = _own_rows()
    for split in ("train", "valid"):
        part = [r for r in own if _is_valid(r["text"]) == (split == "valid")]
        for task in ("voice", "toxicity"):
            got = read_jsonl(DATA_DIR / f"civic_{task}_{split}.jsonl")
            assert [(r["text"], r["label"], r["lang"]) for r in got] == [(r["text"], r[task], r["lang"]) for r in part]
        for lang in ("vi", "en", "th"):
            got = read_jsonl(DATA_DIR / f"{lang}_sentiment_{split}.jsonl")
            want = [(r["text"], r["sentiment"]) for r in part if r["lang"] == lang]
            assert [(r["text"], r["label"]) for r in got] == want
    probe = probe_src_rows()
    for task in ("sentiment", "voice", "toxicity"):
        got = read_jsonl(DATA_DIR / f"probe_{task}.jsonl")
        assert [(r["text"], r["label"], r["lang"]) for r in got] == [(r["text"], r[task], r["lang"]) for r in probe]


def test_probe_rows_are_not_training_or_validation_rows() -> None:
    def key(t: str) -> str:
        return " ".join(t.lower().split())

    own = {key(r["text"]) for r in _own_rows()}
    probe = probe_src_rows()
    assert {r["lang"] for r in probe} == {"vi", "th"} and len(probe) >= 200
    assert not [r["text"] for r in probe if key(r["text"]) in own]
    assert len({key(r["text"]) for r in probe}) == len(probe)
