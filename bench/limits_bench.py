"""How fast the per-platform counters are (the composer recounts on every keystroke).

Prints texts per second for each platform's counter and for ``validate`` on a mixed th/vi/en corpus, as a
ratio to a baseline measured in the same run: a plain ``\\X`` grapheme count with the ``regex`` module.

    .venv/bin/python bench/limits_bench.py
"""

from __future__ import annotations

import random
import time

import regex

from civicpulse.connectors.base import MediaRef
from civicpulse.connectors.limits import text_length, validate

SAMPLES = [
    "ประกาศเตือนภัย น้ำท่วมฉับพลันในเขตอำเภอเมือง โปรดติดตามข่าวสาร #น้ำท่วม https://pr.go.th/news/2024/11/23",
    "Cảnh báo lũ lụt tại Thừa Thiên Huế, người dân cần sơ tán ngay 🌊 https://hue.gov.vn/tin-tuc/1234 #LũLụt",
    "Press briefing at 10:00 on the flood response 👨‍👩‍👧‍👦 @ministry.example https://gov.example/briefing",
]


def corpus(n: int) -> list[str]:
    rnd = random.Random(7)
    return [" ".join(rnd.choice(SAMPLES) for _ in range(rnd.randint(1, 4))) for _ in range(n)]


def rate(fn, texts: list[str]) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for t in texts:
        fn(t)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    texts = corpus(3000)
    base = rate(lambda t: len(regex.findall(r"\X", t)), texts)
    print(f"baseline (\\X grapheme count): {base:,.0f} texts/s")
    for platform in ("x", "bluesky", "mastodon", "telegram", "facebook"):
        r = rate(lambda t, p=platform: text_length(p, t), texts)
        print(f"text_length({platform!r:10}) {r:>10,.0f} texts/s  ratio {r / base:.2f}")
    img = [MediaRef("/d/a.jpg", "image/jpeg", 200_000, alt_text="alt", width=1200, height=800)]
    r = rate(lambda t: validate("x", t, img), texts)
    print(f"validate('x', 1 image)  {r:>10,.0f} texts/s  ratio {r / base:.2f}")


if __name__ == "__main__":
    main()
