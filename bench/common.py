"""Shared helpers for the benchmarks: synthetic items from the shared corpora, temporary databases, timing.

Synthetic items are built from real sentences: Thai from the thaigov press releases (split into
clauses) and the wisesight posts, English from the English thaigov releases plus generated lines,
Vietnamese from generated lines (no permissively licensed Vietnamese corpus is in shared/data).
An item is 1-3 sentences of one language with a random author, time and engagement, so the texts
vary while the vocabulary stays realistic.

Everything is written under ``$CIVICPULSE_BENCH_DIR`` (default ``/tmp/civicpulse-bench``); the
user's database and data directory are never touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import pickle
import platform
import random
import re
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CIVICPULSE_BENCH_DATA", "/work/shared/data"))
WORK = Path(os.environ.get("CIVICPULSE_BENCH_DIR", "/tmp/civicpulse-bench"))
LANG_MIX = (("th", 0.60), ("vi", 0.25), ("en", 0.15))
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)  # fixed so runs are comparable
N_GENERATED = 8_000  # generated Vietnamese and English lines in the pools


# ------------------------------------------------------------------ command line and output


def parse_args(description: str, extra: Any = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--n", type=int, default=1_000_000, help="number of items (default 1,000,000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the temporary database and files")
    if extra:
        extra(p)
    return p.parse_args()


def machine() -> str:
    import sqlite3

    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"{platform.system()} {platform.machine()}")


def header(title: str, args: argparse.Namespace) -> None:
    print(f"# {title}")
    print(f"date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}   machine: {machine()}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"load average at start: {loadavg()} (other processes share the cores: compare CPU-time figures)")
    print(flush=True)


def save_results(name: str, n: int, results: dict[str, Any]) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"results-{name}-{n}.json"
    results = {"bench": name, "n": n, "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
               "machine": machine(), "command": "python " + " ".join(sys.argv), "loadavg_end": loadavg(),
               **results}
    path.write_text(json.dumps(results, ensure_ascii=False, indent=2, default=str))
    print(f"\nresults saved to {path}")
    return path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # child processes that have ended (were waited for)
    return r.ru_utime + r.ru_stime


class Clock:
    """Wall and CPU seconds of a block (CPU = this process, all threads, plus its child processes that ended in
    the block; robust when the machine is shared)."""

    def __init__(self) -> None:
        self.wall = self.cpu = self.children_cpu = 0.0

    def __enter__(self) -> Clock:
        self._w, self._c, self._k = time.perf_counter(), time.process_time(), _children_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.children_cpu = _children_cpu() - self._k
        self.cpu = time.process_time() - self._c + self.children_cpu


def loadavg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ corpora


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _clauses(text: str, max_chars: int = 220, min_chars: int = 15) -> list[str]:
    """Splits a press release into clause-sized pieces (Thai separates clauses with spaces)."""
    out: list[str] = []
    for line in re.split(r"[\r\n]+", text):
        line = " ".join(line.split())
        if len(line) < min_chars:
            continue
        buf = ""
        for part in re.split(r"(?<=[.!?])\s+|\s{1,}(?=[\u0e01-\u0e5b])", line) if len(line) > max_chars else [line]:
            if len(buf) + len(part) + 1 > max_chars and buf:
                out.append(buf)
                buf = part
            else:
                buf = f"{buf} {part}" if buf else part
        if len(buf) >= min_chars:
            out.append(buf)
    return out


_VI = {
    "subject": ["Người dân", "Bà con", "Cư dân", "Nhiều hộ gia đình", "Người lao động", "Tiểu thương", "Phụ huynh",
                "Học sinh", "Tài xế", "Nông dân", "Doanh nghiệp", "Cử tri", "Người cao tuổi", "Sinh viên"],
    "place": ["quận 1", "quận Bình Thạnh", "huyện Củ Chi", "phường Bến Nghé", "thành phố Thủ Đức", "Hà Nội",
              "Đà Nẵng", "Cần Thơ", "Hải Phòng", "tỉnh Nghệ An", "Huế", "Nha Trang", "quận Hoàng Mai",
              "huyện Bình Chánh", "tỉnh Quảng Nam", "thị xã Sơn Tây", "tỉnh Lào Cai", "Vũng Tàu"],
    "issue": ["ngập lụt", "giá điện tăng", "tiền điện", "ô nhiễm không khí", "kẹt xe", "thủ tục hành chính",
              "tin giả", "xử phạt vi phạm giao thông", "học phí", "bảo hiểm y tế", "nước sạch", "rác thải",
              "sạt lở đất", "dịch sốt xuất huyết", "giá xăng", "cấp căn cước", "đền bù giải phóng mặt bằng",
              "tiêm chủng", "mất điện", "lừa đảo qua mạng", "chậm trả lương", "cấp giấy phép xây dựng"],
    "pattern": ["{s} phản ánh tình trạng {i} tại {p}", "{s} đề nghị chính quyền giải quyết {i} ở {p}",
                "{s} bức xúc vì {i} kéo dài ở {p}", "{s} cảm ơn cơ quan chức năng đã xử lý {i} nhanh chóng",
                "{s} hỏi khi nào {i} ở {p} được khắc phục", "{s} chia sẻ thông tin về {i} trên mạng xã hội",
                "Ủy ban nhân dân {p} thông báo về {i}", "Sở ban ngành {p} trả lời kiến nghị về {i}",
                "{s} ở {p} lo lắng về {i}", "Cần làm rõ trách nhiệm trong vụ {i} tại {p}",
                "Báo chí đưa tin về {i} ở {p}", "{s} ủng hộ chủ trương mới về {i}"],
    "tail": ["", "", "", "mong được hỗ trợ sớm", "rất mong lãnh đạo thành phố quan tâm", "đã nhiều tuần nay",
             "từ sáng đến giờ", "ai cũng thấy", "không biết hỏi ai", "thật sự rất mệt", "cảm ơn mọi người",
             "đề nghị kiểm tra lại", "hôm qua", "{n} ngày rồi", "khoảng {n} hộ bị ảnh hưởng"],
}
_EN = {
    "subject": ["Residents", "Commuters", "Parents", "Small business owners", "Farmers", "Students", "Drivers",
                "Local officials", "Health workers", "Tourists", "Voters", "Retirees", "Shop owners"],
    "place": ["Bangkok", "Chiang Mai", "Phuket", "Khon Kaen", "Hat Yai", "Nakhon Ratchasima", "Udon Thani",
              "Hanoi", "Da Nang", "Ho Chi Minh City", "Pattaya", "Ayutthaya", "Songkhla", "Surat Thani"],
    "issue": ["flooding", "electricity prices", "air pollution", "traffic jams", "the new ID card service",
              "fake news", "school fees", "health insurance", "clean water", "waste collection", "landslides",
              "dengue fever", "fuel prices", "vaccination", "power cuts", "online scams", "late wages",
              "building permits", "the digital wallet", "rice prices", "PM2.5 dust", "public transport"],
    "pattern": ["{s} complain about {i} in {p}", "{s} ask the government to fix {i} in {p}",
                "{s} are angry that {i} has lasted for weeks in {p}", "{s} thank the ministry for handling {i}",
                "When will {i} in {p} be fixed?", "{s} share news about {i} on social media",
                "The provincial office in {p} announced measures on {i}", "The Prime Minister spoke about {i}",
                "{s} in {p} worry about {i}", "Who is responsible for {i} in {p}?",
                "Local media report on {i} in {p}", "{s} support the new policy on {i}"],
    "tail": ["", "", "", "please help soon", "we hope the city listens", "for weeks now", "since this morning",
             "everyone can see it", "nobody answers the hotline", "so tired of this", "thanks everyone",
             "please check again", "yesterday", "{n} days already", "about {n} households affected"],
}


def _generate(spec: dict[str, list[str]], rng: random.Random, n: int) -> list[str]:
    out: set[str] = set()
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        line = rng.choice(spec["pattern"]).format(s=rng.choice(spec["subject"]), i=rng.choice(spec["issue"]),
                                                  p=rng.choice(spec["place"]))
        tail = rng.choice(spec["tail"]).format(n=rng.randint(2, 500))
        out.add(f"{line}, {tail}" if tail else line)
    return sorted(out)


def load_sentences(seed: int = 7) -> dict[str, list[str]]:
    """Sentence pools per language (deterministic)."""
    rng = random.Random(seed)
    th: list[str] = []
    en: list[str] = []
    for r in _read_jsonl(DATA / "thaigov" / "thaigov_sample.jsonl"):
        pieces = ([r["title"]] if r.get("title") else []) + _clauses(r.get("text") or "")
        (en if r.get("lang") == "en" else th).extend(pieces)
    for name in ("train.jsonl", "valid.jsonl"):
        th.extend(" ".join(r["text"].split()) for r in _read_jsonl(DATA / "wisesight" / name)
                  if len(r["text"].strip()) >= 5)
    en.extend(_generate(_EN, rng, N_GENERATED))
    vi = _generate(_VI, rng, N_GENERATED)
    return {"th": sorted(set(th)), "vi": vi, "en": sorted(set(en))}


def tokenized_pools(seed: int = 7) -> dict[str, tuple[list[str], list[str]]]:
    """(sentences, index_tokens of each) per language, computed once with the real tokenizer and cached."""
    pools = load_sentences(seed)
    seg = ROOT / "src" / "civicpulse" / "nlp" / "segment.py"
    key = hashlib.sha256(json.dumps(pools, ensure_ascii=False).encode() + seg.read_bytes()).hexdigest()[:16]
    cache = WORK / "cache" / f"tokens-{key}.pkl"
    if cache.exists():
        with cache.open("rb") as fh:
            return pickle.load(fh)  # noqa: S301 - our own cache file
    from civicpulse.nlp.segment import index_tokens

    out: dict[str, tuple[list[str], list[str]]] = {}
    t0 = time.perf_counter()
    for lang, sents in pools.items():
        toks = [index_tokens(s, lang) for s in sents]
        keep = [i for i, t in enumerate(toks) if t.strip()]
        out[lang] = ([sents[i] for i in keep], [toks[i] for i in keep])
        log(f"tokenized {len(sents):,} {lang} sentences ({time.perf_counter() - t0:.0f}s so far)")
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as fh:
        pickle.dump(out, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return out


# ------------------------------------------------------------------ synthetic items


_AUTHORS = 50_000


def _lang(rng: random.Random) -> str:
    x = rng.random()
    for lang, p in LANG_MIX:
        if x < p:
            return lang
        x -= p
    return LANG_MIX[-1][0]


def pick_sentences(rng: random.Random, pool_len: int) -> list[int]:
    k = rng.choice((1, 1, 2, 2, 2, 3))
    return [rng.randrange(pool_len) for _ in range(k)]


def meta(rng: random.Random, i: int, lang: str) -> dict[str, Any]:
    """Everything of an item except its text: author (Zipf-like), time (last 365 days), engagement."""
    a = int(_AUTHORS * rng.random() ** 3)
    likes = int(rng.paretovariate(1.1)) - 1
    return {
        "id": f"p{i:08d}", "lang": lang, "kind": "post" if rng.random() < 0.7 else "comment",
        "author": f"user{a}", "author_name": f"User {a}",
        "published_at": (NOW - dt.timedelta(seconds=rng.randrange(365 * 86400))).isoformat(),
        "likes": likes, "shares": likes // 7, "comments": likes // 3, "views": likes * 20 + rng.randrange(100),
        "url": f"https://social.example/{a}/posts/{i}",
    }


def synthetic_items(n: int, seed: int = 7, pools: dict[str, list[str]] | None = None) -> Iterator[dict[str, Any]]:
    """n JSON-ready item dicts (text only; no tokens)."""
    pools = pools or load_sentences(seed)
    rng = random.Random(seed * 1_000_003 + 1)
    for i in range(n):
        lang = _lang(rng)
        pool = pools[lang]
        text = " ".join(pool[j] for j in pick_sentences(rng, len(pool)))
        yield {**meta(rng, i, lang), "text": text}


def write_jsonl(path: Path, n: int, seed: int = 7) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with path.open("w", encoding="utf-8") as fh:
        for item in synthetic_items(n, seed):
            line = json.dumps(item, ensure_ascii=False) + "\n"
            size += len(line.encode())
            fh.write(line)
    return size


# ------------------------------------------------------------------ databases


def bench_dir(name: str) -> Path:
    d = WORK / f"{name}-{os.getpid()}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def fresh_db(directory: Path, filename: str = "civicpulse.sqlite3"):  # type: ignore[no-untyped-def]
    """A migrated SQLite database in ``directory`` (alembic upgrade head): (settings, Database, path)."""
    import logging

    from civicpulse.config import Settings
    from civicpulse.db import migrate
    from civicpulse.db.session import Database

    path = directory / filename
    settings = Settings(env="dev", database_url=f"sqlite:///{path}", data_dir=directory / "data")
    migrate.upgrade(settings)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings, Database(settings), path


def make_org(db, codes: Sequence[str] = ("GOV", "TH-PRD", "VN-MOIC", "EN-DESK")) -> list[int]:  # type: ignore[no-untyped-def]
    """Units: the first is the root, the others its children. Returns their ids."""
    from civicpulse.domain.org import services
    from civicpulse.domain.org.permissions import Actor
    from civicpulse.domain.org.schemas import UnitCreate

    actor = Actor.system_actor("bench", via="cli")
    ids: list[int] = []
    with db.session() as s:
        for k, code in enumerate(codes):
            u = services.create_unit(s, actor, UnitCreate(code=code, parent_id=ids[0] if k else None,
                                                          names={"en": code, "th": code, "vi": code}))
            ids.append(u.id)
    return ids


def make_file_source(db, settings, unit_id: int, name: str = "bench import"):  # type: ignore[no-untyped-def]
    from civicpulse.domain.listening import services
    from civicpulse.domain.listening.schemas import SourceCreate
    from civicpulse.domain.org.permissions import Actor

    with db.session() as s:
        src, _ = services.create_source(s, Actor.system_actor("bench", via="cli"), settings,
                                        SourceCreate(unit_id=unit_id, name=name, platform="file"))
        return src.id


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def cleanup(directory: Path, keep: bool) -> None:
    if keep:
        print(f"kept {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)
