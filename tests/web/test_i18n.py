"""Translations: the catalogs are complete for what the code says today, and the UI speaks Thai and Vietnamese.

The message list is extracted here from the current templates and Python sources (with babel.cfg), not
read from messages.pot, so a new _("...") without a vi and th translation fails this file: run
scripts/i18n.sh and translate the empty entries.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select

from civicpulse import i18n
from tests.conftest import csrf_from, login

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = ROOT / "src" / "civicpulse" / "locale"
TRANSLATED = ("vi", "th")
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdirfx%])")


def _catalog(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _extracted() -> dict[str, list[str]]:
    """msgid (the singular, for plural messages) -> where it is used, straight from the sources (what
    `pybabel extract -F babel.cfg` sees)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


def _placeholders(text: str) -> list[str]:
    return sorted(f"{name or ''}:{conv}" for name, conv in PLACEHOLDER.findall(text) if conv != "%")


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    return _extracted()


# ------------------------------------------------------------------ the catalogs


@pytest.mark.parametrize("lang", ["vi", "th", "en"])
def test_catalog_parses_and_loads(lang: str) -> None:
    cat = _catalog(lang)
    assert str(cat.locale) == lang
    assert len([m for m in cat if m.id]) > 50
    assert not cat.fuzzy, f"{lang}: the catalog header is marked fuzzy"
    i18n.translations.cache_clear()
    t = i18n.translations(lang)
    if lang == "en":
        assert t.gettext("Audit log") == "Audit log"
    else:
        assert t.gettext("Audit log") != "Audit log"


def test_sources_have_messages(extracted: dict[str, list[str]]) -> None:
    # the extraction really reads the templates and the Python routes
    assert "Audit log" in extracted
    assert "The email or password is wrong" in extracted
    assert "Page %(n)s of %(total)s" in extracted
    assert any(".py:" in loc for locs in extracted.values() for loc in locs)
    assert any(".html:" in loc for locs in extracted.values() for loc in locs)
    assert len(extracted) > 100


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_source_message_is_translated(lang: str, extracted: dict[str, list[str]]) -> None:
    cat = _catalog(lang)
    problems = []
    for msgid, where in sorted(extracted.items()):
        m = cat.get(msgid)
        if m is None:
            problems.append(f"missing  {msgid!r}  ({where[0]})")
        elif m.fuzzy:
            problems.append(f"fuzzy    {msgid!r}  ({where[0]})")
        elif not all(m.string if isinstance(m.string, tuple) else (m.string,)):
            problems.append(f"empty    {msgid!r}  ({where[0]})")
    assert not problems, (
        f"{len(problems)} message(s) without a {lang} translation; run scripts/i18n.sh and translate "
        f"src/civicpulse/locale/{lang}/LC_MESSAGES/messages.po:\n  " + "\n  ".join(problems)
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_fuzzy_or_untranslated_entries_at_all(lang: str) -> None:
    cat = _catalog(lang)
    bad = [m.id for m in cat if m.id and (m.fuzzy or not m.string)]
    assert not bad, f"{lang}: fuzzy or empty entries: {bad}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_and_markup_match(lang: str) -> None:
    """Templates use newstyle gettext: the translation is %-formatted and trusted as HTML (Markup)."""
    problems = []
    for m in _catalog(lang):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = _placeholders(ids[-1])  # vi and th have one plural form: it follows the plural msgid
        for s in strings:
            if _placeholders(s) != want:
                problems.append(f"placeholders differ: {m.id!r} -> {s!r}")
            names = {n for n, _conv in PLACEHOLDER.findall(s) if n}
            try:
                s % ({n: "x" for n in names} if names else {})
            except (TypeError, ValueError, KeyError) as exc:
                problems.append(f"cannot be %-formatted ({exc}): {s!r}")
            for ch in '<>"&':
                if ch in s and not any(ch in i for i in ids):
                    problems.append(f"{ch!r} in a translation but not in its msgid (breaks the HTML): {s!r}")
            if s.startswith("\n") != ids[0].startswith("\n") or s.endswith("\n") != ids[0].endswith("\n"):
                problems.append(f"leading/trailing newline differs: {m.id!r}")
            if s.strip() != s and ids[0].strip() == ids[0]:
                problems.append(f"stray whitespace: {s!r}")
    assert not problems, "\n".join(problems)


def test_english_catalog_is_identity() -> None:
    for m in _catalog("en"):
        if m.id:
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            assert not any(strings) or tuple(strings) == ids, m.id


# ------------------------------------------------------------------ the UI in each language

PAGES = ["/", "/units", "/units/new", "/users", "/users/new", "/audit", "/tokens"]
# words that must appear (nav, titles) and English words that must not, per language
EXPECT = {
    "th": (["ภาพรวม", "หน่วยงาน", "ผู้ใช้และบทบาท", "บันทึกการตรวจสอบ", "ออกจากระบบ"], ["Sign out", "Dashboard"]),
    "vi": (["Tổng quan", "Đơn vị", "Người dùng và vai trò", "Nhật ký kiểm toán", "Đăng xuất"], ["Sign out", "Dashboard"]),
    "en": (["Dashboard", "Units", "Users & roles", "Audit log", "Sign out"], ["ออกจากระบบ", "Đăng xuất"]),
}


def switch_language(client, lang: str, next_url: str = "/") -> None:  # type: ignore[no-untyped-def]
    """Uses the real language form in the page header, as a person would."""
    page = client.get("/login" if next_url == "/login" else next_url)
    assert 'action="/language"' in page.text
    r = client.post("/language", data={"lang": lang, "next": next_url, "csrf_token": csrf_from(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == next_url


@pytest.mark.parametrize("lang", ["th", "vi", "en"])
def test_pages_render_after_switching_language(client, org, lang: str) -> None:
    login(client, org.email("root-admin"))
    switch_language(client, lang, "/units")
    must, must_not = EXPECT[lang]
    unit_a = {"th": "หน่วย A", "vi": "Đơn vị A", "en": "Unit A"}[lang]
    pages = PAGES + [f"/units/{org.units['A']}/edit", f"/users/{org.users['editor@A']}"]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert f'<html lang="{lang}">' in r.text, path
        for word in must:
            assert word in r.text, (path, word)
        for word in must_not:
            assert word not in r.text, (path, word)
    assert unit_a in client.get("/units").text  # unit names follow the language too


@pytest.mark.parametrize(("lang", "title", "kind", "role"), [
    ("th", "หน่วยงานใหม่", "กรม", "บรรณาธิการ"),
    ("vi", "Đơn vị mới", "Cục/Vụ", "Biên tập viên"),
])
def test_forms_errors_and_results_are_translated(client, org, lang: str, title: str, kind: str, role: str) -> None:
    login(client, org.email("root-admin"))
    switch_language(client, lang)
    page = client.get(f"/units/new?parent={org.units['A']}").text
    assert title in page and kind in page
    assert role in client.get("/users/new").text
    # a created token, an invitation and the error pages
    token = csrf_from(client.get("/tokens").text)
    r = client.post("/tokens", data={"name": "ci", "expires_in_days": "30", "csrf_token": token})
    assert r.status_code == 200 and {"th": "โทเค็นใหม่ของคุณ", "vi": "Mã truy cập mới của bạn"}[lang] in r.text
    assert "Authorization: Bearer &lt;token&gt;" in r.text
    r = client.post("/users/new", data={"display_name": "Invitee", "email": f"invitee-{lang}@example.org",
                                         "language": lang, "unit_id": str(org.units["A"]), "role": "viewer",
                                         "csrf_token": token})
    assert r.status_code == 200, r.text[:500]
    assert {"th": "สร้างคำเชิญแล้ว", "vi": "Đã tạo lời mời"}[lang] in r.text
    assert f"invitee-{lang}@example.org" in r.text
    r = client.get("/users/999999")
    assert r.status_code == 404 and {"th": "ไม่พบข้อมูล", "vi": "Không tìm thấy"}[lang] in r.text
    assert f'<html lang="{lang}">' in r.text


def test_language_preference_survives_sign_out_and_in(client, db, org) -> None:
    from civicpulse.domain.org.models import User

    token = login(client, org.email("editor@A"))
    switch_language(client, "th", "/")
    assert "ภาพรวม" in client.get("/").text
    with db.session() as s:
        assert s.get(User, org.users["editor@A"]).language == "th"
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.clear()
    # a fresh browser whose own language is English: the stored preference wins once signed in
    client.headers["Accept-Language"] = "en-US,en;q=0.9"
    assert "Sign in" in client.get("/login").text
    login(client, org.email("editor@A"))
    page = client.get("/").text
    assert '<html lang="th">' in page and "ภาพรวม" in page and "Dashboard" not in page


def test_language_chosen_before_signing_in_is_kept(client, org) -> None:
    switch_language(client, "vi", "/login")
    assert "Đăng nhập" in client.get("/login").text
    login(client, org.email("viewer@A"))
    assert "Tổng quan" in client.get("/").text


@pytest.mark.parametrize(("header", "lang", "word"), [
    ("th-TH,th;q=0.9,en;q=0.5", "th", "เข้าสู่ระบบ"),
    ("vi-VN,vi;q=0.9", "vi", "Đăng nhập"),
    ("en;q=0.4, vi;q=0.8, th;q=0.6", "vi", "Đăng nhập"),
    ("fr-FR,fr;q=0.9", "en", "Sign in"),
    ("", "en", "Sign in"),
])
def test_accept_language_for_anonymous_visitors(client, header: str, lang: str, word: str) -> None:
    client.cookies.clear()
    headers = {"Accept-Language": header} if header else {}
    for path in ("/login", "/password/forgot", "/password/reset/not-a-real-token"):
        r = client.get(path, headers=headers)
        assert r.status_code == 200, path
        assert f'<html lang="{lang}">' in r.text, path
    assert word in client.get("/login", headers=headers).text


def test_anonymous_negotiation_is_not_frozen_into_the_session(client) -> None:
    client.cookies.clear()
    assert "เข้าสู่ระบบ" in client.get("/login", headers={"Accept-Language": "th"}).text
    # same browser session, its language setting changed: follow it (nothing was chosen explicitly)
    assert "Đăng nhập" in client.get("/login", headers={"Accept-Language": "vi"}).text


def test_python_messages_are_translated(client, org, monkeypatch) -> None:
    client.cookies.clear()
    client.headers["Accept-Language"] = "th"
    page = client.get("/login").text
    r = client.post("/login", data={"email": org.email("viewer@A"), "password": "wrong-password-123",
                                    "csrf_token": csrf_from(page), "next": "/"})
    assert r.status_code == 401 and "อีเมลหรือรหัสผ่านไม่ถูกต้อง" in r.text
    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr("civicpulse.web.ui.auth.send_mail", lambda cfg, to, subject, body: sent.append((to, subject, body)))
    page = client.get("/password/forgot").text
    r = client.post("/password/forgot", data={"email": org.email("viewer@A"), "csrf_token": csrf_from(page)})
    assert r.status_code == 200 and "ลิงก์สำหรับตั้งรหัสผ่านใหม่" in r.text
    assert len(sent) == 1
    _to, subject, body = sent[0]
    assert subject == "civicpulse: ตั้งรหัสผ่านใหม่"
    assert body.startswith("เรียน viewer@A\n") and "/password/reset/" in body
    r = client.post("/password/reset/not-a-real-token",
                    data={"password": "abcdefghijkl", "password2": "abcdefghijkX", "csrf_token": csrf_from(page)})
    assert r.status_code == 422 and "รหัสผ่านทั้งสองช่องไม่ตรงกัน" in r.text


def test_unknown_path_error_page_is_translated(client) -> None:
    r = client.get("/no-such-page", headers={"Accept-Language": "vi"})
    assert r.status_code == 404
    assert '<html lang="vi">' in r.text and "Trang này không tồn tại" in r.text and "Not Found" not in r.text


def test_user_language_is_stored_per_user(client, db, org) -> None:
    from civicpulse.domain.org.models import User

    login(client, org.email("analyst@A"))
    switch_language(client, "vi")
    with db.session() as s:
        langs = dict(s.execute(select(User.email, User.language)).all())
    assert langs[org.email("analyst@A")] == "vi"
    assert langs[org.email("viewer@A")] == "en"


def test_error_pages_for_a_signed_in_person_keep_their_language(client, org) -> None:
    login(client, org.email("viewer@A"))
    switch_language(client, "th")
    for path, status, text in [("/no-such-page", 404, "ไม่พบหน้านี้"), ("/audit", 403, "ไม่มีสิทธิ์เข้าถึง"),
                               (f"/units/{org.units['B']}/edit", 404, "ไม่พบข้อมูล")]:
        r = client.get(path)
        assert r.status_code == status, (path, r.text[:300])
        assert '<html lang="th">' in r.text and text in r.text, path
        assert "ออกจากระบบ" in r.text, path  # the signed-in header is there
    # a form posted with a stale CSRF token: a clear page, not a crash
    r = client.post("/tokens", data={"name": "x", "csrf_token": "stale"})
    assert r.status_code == 403 and '<html lang="th">' in r.text
