"""Training / validation data for each task.

Sources (see ``docs/models/*.md`` for licences):

* ``<data_dir>/wisesight/{train,valid}.jsonl`` — Thai sentiment (CC0).
* ``<data_dir>/thaigov/thaigov_sample.jsonl`` — Thai government press releases (public domain);
  used as weak "other" (information) for voice and "clean" for toxicity.
* ``civicpulse/nlp/data/*.jsonl`` — citizen comments in th/vi/en **written and labelled by the
  civicpulse team** (built from ``data/src/*.txt`` by :func:`build_shipped_data`).

Every loader returns ``list[dict]`` rows with at least ``text``, ``label`` and ``lang``.
Test splits are never read: only ``train`` and ``valid`` files exist here.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
SRC_DIR = DATA_DIR / "src"
DEFAULT_SHARED = Path("/work/shared/data")


def shared_data_dir() -> Path:
    """The shared training corpora (wisesight/, thaigov/): ``$CIVICPULSE_SHARED_DATA``, else
    ``../shared/data`` beside the working directory or beside the checkout, else ``DEFAULT_SHARED``."""
    env = os.environ.get("CIVICPULSE_SHARED_DATA")
    if env:
        return Path(env)
    for cand in (Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3].parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    return DEFAULT_SHARED

_SENT = {"p": "pos", "u": "neu", "n": "neg", "q": "q"}
_VOICE = {"c": "complaint", "r": "request", "q": "question", "p": "praise", "o": "other"}
_TOX = {"c": "clean", "o": "offensive", "h": "hate"}
VALID_SHARE = 25  # percent of our own hand-written rows held out for validation

Row = dict[str, Any]


def read_jsonl(path: Path | str) -> list[Row]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def write_jsonl(path: Path, rows: Iterable[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _is_valid(text: str) -> bool:
    return int(hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest(), 16) % 100 < VALID_SHARE


def parse_src(path: Path, lang: str) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        codes, text = line.split("|", 1)
        s, v, t = codes.split()
        rows.append(
            {"text": text.strip(), "lang": lang, "sentiment": _SENT[s], "voice": _VOICE[v], "toxicity": _TOX[t]}
        )
    return rows


def build_shipped_data() -> dict[str, int]:
    """(Re)build ``data/*.jsonl`` from ``data/src/*.txt`` deterministically."""
    counts: dict[str, int] = {}
    allrows: list[Row] = []
    for lang in ("vi", "en", "th"):
        allrows.extend(parse_src(SRC_DIR / f"{lang}.txt", lang))
    for split in ("train", "valid"):
        part = [r for r in allrows if _is_valid(r["text"]) == (split == "valid")]
        for lang in ("vi", "en", "th"):
            rows = [{"text": r["text"], "label": r["sentiment"], "lang": lang} for r in part if r["lang"] == lang]
            name = f"{lang}_sentiment_{split}.jsonl"
            write_jsonl(DATA_DIR / name, rows)
            counts[name] = len(rows)
        for task in ("voice", "toxicity"):
            rows = [{"text": r["text"], "label": r[task], "lang": r["lang"]} for r in part]
            name = f"civic_{task}_{split}.jsonl"
            write_jsonl(DATA_DIR / name, rows)
            counts[name] = len(rows)
    probe = probe_src_rows()
    for task in ("sentiment", "voice", "toxicity"):
        name = f"probe_{task}.jsonl"
        write_jsonl(DATA_DIR / name, [{"text": r["text"], "label": r[task], "lang": r["lang"]} for r in probe])
        counts[name] = len(probe)
    return counts


def probe_src_rows() -> list[Row]:
    """The probe sets (``data/src/probe/*.txt``): report-only rows, never trained or tuned on.

    Written after the versions they first scored were built, so that they measure those versions
    on comments their training rows were not written alongside. ``nlp evaluate --data
    .../data/probe_<task>.jsonl`` scores them; no training code reads them.
    """
    rows: list[Row] = []
    for lang in ("vi", "th"):
        p = SRC_DIR / "probe" / f"{lang}.txt"
        if p.exists():
            rows.extend(parse_src(p, lang))
    return rows


def _shipped(name: str) -> list[Row]:
    p = DATA_DIR / name
    return read_jsonl(p) if p.exists() else []


def _wisesight(data_dir: Path, split: str) -> list[Row]:
    p = Path(data_dir) / "wisesight" / f"{split}.jsonl"
    if not p.exists():
        return []
    return [{"text": r["text"], "label": r["label"], "lang": "th"} for r in read_jsonl(p)]


def _thaigov(data_dir: Path) -> list[Row]:
    p = Path(data_dir) / "thaigov" / "thaigov_sample.jsonl"
    return read_jsonl(p) if p.exists() else []


def _thaigov_split(data_dir: Path, split: str) -> list[Row]:
    rows = _thaigov(data_dir)
    return [r for r in rows if (int(r.get("id", 0) or 0) % 10 == 0) == (split == "valid")]


# Unambiguous Thai profanity used to derive *weak* "offensive" labels from Wisesight.
STRONG_PROFANITY_TH = [
    "ควย", "สัส", "เหี้ย", "เย็ด", "ระยำ", "เชี่ย", "ดอกทอง", "ไอ้สัตว์", "ชาติหมา", "ไอ้เวร", "แม่ง", "ส้นตีน",
    "อีดอก", "ชิบหาย", "ไอ้ควาย", "อีควาย", "หน้าหี", "หี(?!บ)",  # not หีบ (box), สัตหีบ (a town)
]

# Toxicity guideline (since the ViHSD scheme, Luu et al. 2021): *offensive* = vulgar words not aimed
# at anyone; *hate* = insult / abuse aimed at a person or a group. For the weak Wisesight labels, a
# post with strong profanity is *hate* when it also carries an addressed insult or a rude
# second-person / group address (below), else *offensive*.
TARGETED_TH = [
    "ไอ้สัตว์", "ไอ้เวร", "ไอ้ควาย", "อีควาย", "อีดอก", "ไอ้เหี้ย", "อีเหี้ย", "ไอ้สัส", "อีสัส", "ไอ้ชั่ว", "อีชั่ว",
    "ไอ้บ้า", "อีบ้า", "ไอ้ระยำ", "ไอ้หน้า", "อีหน้า", "ชาติหมา", "หน้าหี", "หน้าส้นตีน", "ดอกทอง", "พวกมึง", "ไอ้พวก",
]
WEAK_TOXICITY_SCHEME = "vihsd"  # "vihsd" (targeted -> hate) or "profanity" (all -> offensive, v1)

_VOICE_FROM_SENT = {"q": "question", "neg": "complaint", "pos": "praise", "neu": "other"}


def load_task(task: str, data_dir: Path | str, split: str, weak_cap: int | None = None) -> dict[str, list[Row]]:
    """Named validation/training sets of a task. The first set is the primary one.

    Returns ``{set_name: rows}``; for training, all sets are concatenated by the caller.
    """
    data_dir = Path(data_dir)
    sets: dict[str, list[Row]] = {}
    if task == "sentiment":
        sets["wisesight"] = _wisesight(data_dir, split)
        sets["vi_own"] = _shipped(f"vi_sentiment_{split}.jsonl")
        sets["en_own"] = _shipped(f"en_sentiment_{split}.jsonl")
        sets["th_own"] = _shipped(f"th_sentiment_{split}.jsonl")
    elif task == "voice":
        sets["civic_own"] = _shipped(f"civic_voice_{split}.jsonl")
        ws = _wisesight(data_dir, split)
        rng = random.Random(7)
        cap = weak_cap if weak_cap is not None else (6000 if split == "train" else 800)
        by_label: dict[str, list[Row]] = {}
        for r in ws:
            by_label.setdefault(r["label"], []).append(r)
        weak: list[Row] = []
        for lab, rows in sorted(by_label.items()):
            rows = list(rows)
            rng.shuffle(rows)
            share = {"q": 1.0, "neg": 0.35, "pos": 0.3, "neu": 0.2}[lab]
            keep = rows[: max(1, int(min(len(rows) * share, cap * share)))] if lab != "q" else rows
            weak.extend({"text": r["text"], "label": _VOICE_FROM_SENT[lab], "lang": "th"} for r in keep)
        sets["wisesight_weak"] = weak
        gov = _thaigov_split(data_dir, split)
        gov_rows = [{"text": r["title"], "label": "other", "lang": r.get("lang", "th")} for r in gov if r.get("title")]
        sets["thaigov_weak"] = gov_rows[: (600 if split == "train" else 100)]
    elif task == "toxicity":
        sets["civic_own"] = _shipped(f"civic_toxicity_{split}.jsonl")
        import re

        prof = re.compile("|".join(STRONG_PROFANITY_TH))
        targeted = re.compile("|".join(TARGETED_TH))
        ws = _wisesight(data_dir, split)
        rng = random.Random(11)
        offensive = [r for r in ws if prof.search(r["text"].lower())]
        clean = [r for r in ws if not prof.search(r["text"].lower())]
        rng.shuffle(clean)
        n_clean = (3000 if split == "train" else 400) if weak_cap is None else weak_cap

        def weak_label(text: str) -> str:
            return "hate" if WEAK_TOXICITY_SCHEME == "vihsd" and targeted.search(text.lower()) else "offensive"

        sets["wisesight_weak"] = [{"text": r["text"], "label": weak_label(r["text"]), "lang": "th"} for r in offensive] + [
            {"text": r["text"], "label": "clean", "lang": "th"} for r in clean[:n_clean]
        ]
        gov = _thaigov_split(data_dir, split)
        sets["thaigov_weak"] = [
            {"text": r["title"], "label": "clean", "lang": r.get("lang", "th")} for r in gov if r.get("title")
        ][: (300 if split == "train" else 60)]
    else:
        raise ValueError(f"unknown task {task!r}")
    return {k: v for k, v in sets.items() if v}
