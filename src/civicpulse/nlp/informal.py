"""Informal Vietnamese written out for the models: shorthand, stretched words, shouting, masked words.

Vietnamese comments are full of shorthand ("teencode"): *ko* and *k* for *không*, *dc* / *đc* for
*được*, *j* for *gì*, *r* for *rồi*, *mn* for *mọi người*, *sp* for *sản phẩm*…, of words stretched
for stress (*quáaaa*, *ngonnn*, *tệệệ*), of words in capitals (*THẬT SỰ CHÁN*) and of vulgar words
masked to get past filters (*đ.m*, *n.g.u*, *t***g*). The models learnt mostly plain, written-out
words: on our Vietnamese validation rows, the sentiment model's micro-F1 fell from 0.916 to 0.850 on
the rows given common shorthand, from 0.896 to 0.863 with two words per row stretched, and to 0.852
with comments or their last clause in capitals; masking the vulgar words took the toxicity model
from 0.973 to 0.63 on the rows that hold one (docs/models/README.md, "Informal Vietnamese").
:func:`for_models` undoes the four before the classifiers' features and the e5 encoder see a text;
what is stored and indexed (tokens, search text, entities) keeps the author's words.

**Masked vulgar words.** Comments mask vulgar words to get past filters: *đ.m*, *n.g.u*, *t.hằng*,
*t h ằ n g*, *l*n*, *t***g*. Letters joined by dots (or a word with one dot inside) are joined again
when the result is a vulgar word of :data:`VULGAR` or when every piece is one letter; letters
separated by spaces, when the result is a vulgar word or a Vietnamese syllable; a word with
asterisks for letters (one or more each), when a vulgar word fits it (the first of
:data:`VULGAR_ORDER`).

**Shouting.** A text mostly in capitals is put in lower case, else every run of two or more
Vietnamese syllables in capitals; acronyms stay (*CSGT*, *UBND TP*: not syllables). English texts get
this part too (runs of words with a vowel: *THIS IS UNACCEPTABLE*; *NHS*, *DMV* stay): in capitals,
our English validation rows lost 6 points of sentiment micro-F1 and 7.5 of voice.

**Shorthand.** Only words that are almost never anything else are written out, in the text's own
spelling (with diacritics, or without them when the text has none), and only in texts identified
as Vietnamese. Vulgar abbreviations (*vl*, *đm*…) are left as they are: the toxicity model knows
them as such. Guards: nothing right after a number (*50 k* is a price, *2 kg* a weight) or before
a colon (*đc:* an address); a single letter only in lower case (*Bệnh viện K* is a name); a
capitalised word (*Ng*, not *NG*) followed by a full stop or by another capitalised word is left
alone (*Ng. Văn An*); nothing inside URLs, mentions, hashtags, *v.v.*

**Stretched words.** A word that ends in a run of one letter (tone marks aside: *quáaa*, *tệệệ*,
*ngonn*) loses the run's repeats when what is left is a possible Vietnamese syllable; loanwords
stay (*pass*, *full*, *Shopee*, *coffee* are not Vietnamese syllables once shortened). No
Vietnamese word ends in a doubled letter (*cừu*, *hưu* end in two different letters).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from civicpulse.nlp import langid
from civicpulse.nlp.normalize import has_diacritics, strip_diacritics

# (written with diacritics, written without): the shorthand spellings of it
# Left out because they are as often something else: kh (khách hàng), mk (mật khẩu), bh (bảo hành, bảo hiểm), hs (hồ
# sơ), ms (mã số), ck (chuyển khoản), bít (bít tết), bn (bao nhiêu), vs (versus), bt (bình thường, biết), đk (điều kiện).
_FORMS: dict[tuple[str, str], str] = {
    ("không", "khong"): "ko k khg kg hok kô khum",
    ("không phải", "khong phai"): "kp",
    ("không bao giờ", "khong bao gio"): "kbh kbg",
    ("được", "duoc"): "dc đc",
    ("gì", "gi"): "j",
    ("rồi", "roi"): "r",
    ("người", "nguoi"): "ng",
    ("người ta", "nguoi ta"): "ngta",
    ("người yêu", "nguoi yeu"): "ny",
    ("mọi người", "moi nguoi"): "mn mng",
    ("anh em", "anh em"): "ae",
    ("cũng", "cung"): "cx cg",
    ("mình", "minh"): "mik",
    ("trước", "truoc"): "trc",
    ("nhiều", "nhieu"): "nhìu nhiu",
    ("thôi", "thoi"): "thui",
    ("luôn", "luon"): "lun",
    ("quá", "qua"): "wá qá",
    ("yêu", "yeu"): "iu",
    ("biết", "biet"): "bik",
    ("hiểu", "hieu"): "hiu",
    ("thích", "thich"): "thik thík",
    ("đang", "dang"): "đag dag",
    ("nói", "noi"): "ns",
    ("nói chuyện", "noi chuyen"): "nch",
    ("như thế nào", "nhu the nao"): "ntn",
    ("bây giờ", "bay gio"): "bjo bgio",
    ("hôm nay", "hom nay"): "hnay",
    ("bình thường", "binh thuong"): "bth",
    ("vậy", "vay"): "v z zậy dzậy",
    ("vui", "vui"): "zui dzui",
    ("buồn", "buon"): "bùn",
    ("phải", "phai"): "pải fải",
    ("quen", "quen"): "wen",
    ("đi", "di"): "ik",
    ("thằng", "thang"): "thg",
    ("ví dụ", "vi du"): "vd",
    ("trả lời", "tra loi"): "tl",
    ("kết quả", "ket qua"): "kq",
    ("giáo viên", "giao vien"): "gv",
    ("sinh viên", "sinh vien"): "sv",
    ("công ty", "cong ty"): "cty",
    ("sản phẩm", "san pham"): "sp",
    ("dịch vụ", "dich vu"): "dv",
    ("số điện thoại", "so dien thoai"): "sđt sdt",
    ("vợ", "vo"): "vk",
}
SHORTHAND: dict[str, tuple[str, str]] = {s: forms for forms, spellings in _FORMS.items() for s in spellings.split()}
_RE = re.compile(
    r"(?<![\w.@#/'’*-])(" + "|".join(re.escape(s) for s in sorted(SHORTHAND, key=len, reverse=True)) + r")"
    r"(?![\w@#/'’*-]|\.\w)",
    re.IGNORECASE,
)
_NUMBER_BEFORE_RE = re.compile(r"\d\s*$")
_CAPITALISED_AFTER_RE = re.compile(r"\.|\s+[^\W\d_]", re.UNICODE)


# Vulgar and insulting Vietnamese words, one syllable or written as one word: what masked words are matched against.
VULGAR_ORDER = tuple(
    """đm dm đmm dmm đcm dcm đkm vcl vl vkl vcc clgt cmm cmn cc đéo đếch éo địt đụ đù lồn buồi cặc đĩ điếm phò cave
    ngu đần khùng điên chó óc thằng súc vật cút mẹ má cứt đái khốn nạn""".split()
)
VULGAR = frozenset(VULGAR_ORDER)
VULGAR_PLAIN = frozenset(strip_diacritics(w) for w in VULGAR)


def _vulgar(word: str) -> bool:
    w = word.lower()
    return w in VULGAR or w in VULGAR_PLAIN


_DOTTED_RE = re.compile(r"(?<![\w.@/])(?:[^\W\d_]+[.\-_]){1,12}[^\W\d_]+(?![\w@/]|\.\w)")
_SPACED_RE = re.compile(r"(?<![\w.])(?:[^\W\d_] ){1,11}[^\W\d_](?![\w.])")
_STARRED_RE = re.compile(r"(?<![\w*])[^\W\d_]+\*+[^\W\d_*]*(?:\*+[^\W\d_*]+)*(?![\w*])")


def _unmask_dotted(m: re.Match[str]) -> str:
    pieces = re.split(r"[.\-_]", m.group(0))
    joined = "".join(pieces)
    if pieces[0].lower() == "v" and pieces[1:] == ["v"]:  # v.v (vân vân: "etc.")
        return m.group(0)
    return joined if _vulgar(joined) or all(len(p) == 1 for p in pieces) else m.group(0)


def _unmask_spaced(m: re.Match[str]) -> str:
    """Two letters only when they make a vulgar word (*đ m*), three or more also a syllable (*c h ó*)."""
    joined = m.group(0).replace(" ", "")
    if _vulgar(joined) or (len(joined) > 2 and _syllable(joined)):
        return joined
    return m.group(0)


def _unmask_starred(word: str, plain: bool) -> str:
    """The first vulgar word (in :data:`VULGAR_ORDER`) that fits ``word``, its asterisks standing for
    one or more letters (normalize leaves one of a run: *t***g* arrives as *t*g*)."""
    pattern = re.compile(re.sub(r"\\\*", ".+", re.escape(word.lower())))
    for w in VULGAR_ORDER:
        if pattern.fullmatch(w) or pattern.fullmatch(strip_diacritics(w)):
            return strip_diacritics(w) if plain else w
    return word


_TONES = "\u0300\u0301\u0303\u0309\u0323"  # grave, acute, tilde, hook above, dot below


# a word-final run of letters of one family (after normalize, ASCII runs are at most 2 long)
_VOWEL_FAMILIES: dict[str, str] = {}
for _base in "aăâeêioôơuưy":
    for _t in ("", *_TONES):
        _v = unicodedata.normalize("NFC", _base + _t)
        _VOWEL_FAMILIES[_v] = _VOWEL_FAMILIES[_v.upper()] = _base
_STRETCH_RE = re.compile(
    "(?:"
    + "|".join(
        f"[{''.join(k for k, f in _VOWEL_FAMILIES.items() if f == base)}]{{2,}}" for base in "aăâeêioôơuưy"
    )
    + r"|([bcdđghklmnpqrstvxBCDĐGHKLMNPQRSTVX])\1+)(?![\w])"
)
_WORD_RE = re.compile(r"(?<![\w@#/.])[^\W\d_]+(?![\w@#/]|\.\w)")
_SYLLABLE_RE = re.compile(r"(?:ngh|ng|gh|gi|kh|nh|ph|th|tr|ch|qu|[bcdghklmnprstvx])?[aeiouy]{1,3}(?:ch|ng|nh|[cmnpt])?")


def _syllable(word: str) -> bool:
    """Whether ``word`` could be one Vietnamese syllable (onset, vowels, final), accents aside."""
    return _SYLLABLE_RE.fullmatch(strip_diacritics(word.lower())) is not None


_MASK_HINT_RE = re.compile(r"[^\W\d_][.\-_*][^\W\d_]|[^\W\d_]\*|(?<![\w.])[^\W\d_] [^\W\d_](?![\w.])")
_UPPER = "".join(sorted({k for k in _VOWEL_FAMILIES if k.isupper()} | set("BCDĐFGHJKLMNPQRSTVWXZ")))
_TWO_CAPITALS_RE = re.compile(f"[{_UPPER}]{{2}}")
_LETTERS_RE = re.compile(r"[^\W\d_]+")


def _en_shout_word(w: str) -> bool:
    return len(w) >= 2 and re.search("[AEIOUY]", w) is not None  # not an acronym without a vowel (NHS, DMV)


def _unshout(text: str, shout_word: Callable[[str], bool] = _syllable) -> str:
    """Words written in capitals for shouting in lower case: the whole text when most of its letters
    are capitals, else every run of two or more words in capitals that ``shout_word`` accepts
    (Vietnamese: syllables, so acronyms stay: CSGT, UBND TP)."""
    words = list(_LETTERS_RE.finditer(text))
    letters = sum(len(m.group(0)) for m in words)
    upper = sum(len(m.group(0)) for m in words if m.group(0).isupper())
    if letters and upper > 0.6 * letters:
        return text.lower()
    runs: list[list[re.Match[str]]] = [[]]
    for m in words:
        w = m.group(0)
        if w.isupper() and shout_word(w):
            runs[-1].append(m)
        elif runs[-1]:
            runs.append([])
    out, pos = [], 0
    for run in runs:
        if len(run) >= 2:
            out += [text[pos : run[0].start()], text[run[0].start() : run[-1].end()].lower()]
            pos = run[-1].end()
    out.append(text[pos:])
    return "".join(out)


def _unstretch(word: str) -> str:
    m = _STRETCH_RE.search(word)
    if m is None or m.start() == 0:
        return word
    short = word[: m.start() + 1]
    return short if _syllable(short) else word


def expand(text: str) -> str:
    """``text`` (Vietnamese, normalised) with its masked vulgar words unmasked, its shouting in lower
    case, its stretched words shortened and its shorthand written out (see the module docstring)."""
    if _MASK_HINT_RE.search(text):
        plain_text = not has_diacritics(text)
        text = _SPACED_RE.sub(_unmask_spaced, _DOTTED_RE.sub(_unmask_dotted, text))
        text = _STARRED_RE.sub(lambda m: _unmask_starred(m.group(0), plain_text), text)
    if _TWO_CAPITALS_RE.search(text):
        text = _unshout(text)
    if _STRETCH_RE.search(text):
        text = _WORD_RE.sub(lambda m: _unstretch(m.group(0)), text)
    plain = not has_diacritics(text)

    def sub(m: re.Match[str]) -> str:
        word = m.group(1)
        lower = word.lower()
        if (len(word) == 1 and word != lower) or _NUMBER_BEFORE_RE.search(text, 0, m.start()):
            return word
        if text.startswith(":", m.end()):  # a label ("đc: 12 Lê Lợi" is an address)
            return word
        if word[0].isupper() and word[1:].islower():
            after = _CAPITALISED_AFTER_RE.match(text, m.end())
            if after and (after.group(0) == "." or after.group(0)[-1].isupper()):
                return word
        full = SHORTHAND[lower][1 if plain else 0]
        if word.isupper() and len(word) > 1:
            return full.upper()
        return full[0].upper() + full[1:] if word[0].isupper() else full

    return _RE.sub(sub, text)


def has_informal(text: str) -> bool:
    """Whether ``text`` holds a shorthand word, a stretched ending, two capitals in a row or a masked
    word (what :func:`expand` may change)."""
    return any(r.search(text) is not None for r in (_RE, _STRETCH_RE, _TWO_CAPITALS_RE, _MASK_HINT_RE))


def for_models(norm_texts: Sequence[str], langs: Sequence[str] | None = None) -> list[str]:
    """The texts the models see: ``norm_texts`` (normalised) with the informal spellings of the
    Vietnamese ones written out, and the shouting of the English ones in lower case. ``langs``: the
    texts' languages, where known; otherwise the texts that may change are identified here (one
    batched call, none when no text may change)."""
    out = list(norm_texts)
    if langs is None:
        todo = [i for i, t in enumerate(out) if has_informal(t)]
        if not todo:
            return out
        found = [lg for lg, _ in langid.detect_batch([out[i] for i in todo], normalized=True)]
    else:  # only Vietnamese and English texts can change: the others are not searched
        todo = [i for i, t in enumerate(out) if langs[i] in ("vi", "en") and has_informal(t)]
        found = [langs[i] for i in todo]
    for i, lang in zip(todo, found, strict=True):
        if lang == "vi":
            new = expand(out[i])
        elif lang == "en" and _TWO_CAPITALS_RE.search(out[i]):
            new = _unshout(out[i], _en_shout_word)
        else:
            continue
        if new != out[i]:  # unchanged texts stay the same objects (classify.prepare segments only the others again)
            out[i] = new
    return out
