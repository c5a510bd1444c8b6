"""Translations: gettext catalogs (Babel .po files) for vi, th and en, loaded without compiling."""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "vi": "Tiếng Việt", "th": "ภาษาไทย"}
LOCALE_DIR = Path(__file__).parent / "locale"
_current = contextvars.ContextVar("civicpulse_lang", default="en")


@functools.lru_cache(maxsize=8)
def translations(lang: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def set_language(lang: str) -> contextvars.Token[str]:
    return _current.set(lang if lang in LANGUAGES else "en")


def current_language() -> str:
    return _current.get()


def gettext_(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


_ = gettext_


def negotiate(accept_language: str | None, default: str = "en") -> str:
    """Pick vi/th/en from an Accept-Language header."""
    if not accept_language:
        return default
    best: tuple[float, str] | None = None
    for part in accept_language.split(","):
        bits = part.strip().split(";")
        code = bits[0].strip().lower()[:2]
        q = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    q = float(b.strip()[2:])
                except ValueError:
                    q = 0.0
        if code in LANGUAGES and (best is None or q > best[0]):
            best = (q, code)
    return best[1] if best else default
