"""The publishing web UI: compose with live per-platform checks, the post page (decisions, scheduling, external
reviewer link), the calendar (drag to reschedule, exports), the channels page and the failed & stuck dashboard.
Each page is checked for the right roles (own, child and sibling unit), CSRF and escaping."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from civicpulse.db.base import utcnow
from civicpulse.domain.org.models import AuditEntry, Unit
from civicpulse.domain.publishing import engine
from civicpulse.domain.publishing import services as pub
from civicpulse.domain.publishing.models import Channel, ExternalReviewLink, Variant
from civicpulse.domain.publishing.schemas import ChannelCreate
from tests.conftest import login
from tests.publishing import support

PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (64).to_bytes(4, "big") + (48).to_bytes(4, "big")
       + b"\x08\x02\x00\x00\x00" + b"\x00" * 64)
TZ = ZoneInfo("Asia/Bangkok")


def _variant(db, vid: int) -> Variant:
    with db.session() as s:
        v = s.get(Variant, vid)
        assert v is not None
        s.expunge(v)
        return v


def _variant_ids(db, pid: int) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(Variant.id).where(Variant.post_id == pid).order_by(Variant.id)))


def _sign_in(client: TestClient, org, key: str) -> str:
    return login(client, org.email(key))


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_pages_by_role_and_unit(client, db, cfg, org, role):
    """Roles are held on A: own unit A and child unit A1 are visible; the sibling B is 404 and absent from lists.
    Writing needs the editor role; channel management needs admin."""
    author = support.actor(db, org.users["root-admin"])
    at = utcnow() + dt.timedelta(days=1)
    made = {}
    for target in ("A", "A1", "B"):
        ch = support.channel(db, cfg, org.units[target], name=f"Channel of {target}", account=target)
        made[target] = (ch, support.post(db, author, org.units[target], [ch], at=at, title=f"Post of {target}"))
    csrf = _sign_in(client, org, f"{role}@A")
    day = at.astimezone(TZ).date().isoformat()
    lst = client.get("/content/posts")
    cal = client.get(f"/calendar?view=week&date={day}")
    chans = client.get("/channels")
    compose = client.get("/content/new")
    assert lst.status_code == cal.status_code == chans.status_code == 200
    assert client.get("/publishing/failed").status_code == 200
    assert compose.status_code == (403 if role == "viewer" else 200)
    for target, (ch, pid) in made.items():
        visible = target != "B"
        r = client.get(f"/content/posts/{pid}")
        assert r.status_code == (200 if visible else 404), target
        if visible:
            assert f"Post of {target}" in r.text
            assert ('data-testid="submit"' in r.text) == (role != "viewer")  # the viewer sees no buttons
        assert (f"Post of {target}" in lst.text) == visible
        assert (f"Post of {target}" in cal.text) == visible
        assert (f"Channel of {target}" in chans.text) == visible
        assert (f'data-testid="check-{ch}"' in chans.text) == (visible and role == "admin")
        assert client.get(f"/channels/{ch}", follow_redirects=False).status_code == (303 if visible else 404)
        if role != "viewer":
            # the first unit offered is A: its own channels and those of the units below it
            assert (f"Channel of {target}" in compose.text) == visible
        vid = _variant_ids(db, pid)[0]
        moved = client.post(f"/calendar/variants/{vid}/reschedule", data={"csrf_token": csrf, "date": day})
        assert moved.status_code == (404 if not visible else 403 if role == "viewer" else 200), target


def test_forms_need_csrf(client, db, cfg, org):
    ch = support.channel(db, cfg, org.units["A"])
    pid = support.post(db, support.actor(db, org.users["root-admin"]), org.units["A"], [ch],
                       at=utcnow() + dt.timedelta(days=1))
    vid = _variant_ids(db, pid)[0]
    _sign_in(client, org, "admin@A")
    for url, data in [("/content/new", {"unit_id": org.units["A"], "title": "t", "text_en": "x"}),
                      ("/content/validate", {"text_en": "x"}),
                      (f"/content/posts/{pid}/submit", {}),
                      (f"/content/posts/{pid}/comment", {"comment": "hi"}),
                      (f"/calendar/variants/{vid}/reschedule", {"date": "2030-01-01"}),
                      (f"/content/variants/{vid}/cancel", {}),
                      ("/channels/new", {"platform": "webhook"}),
                      (f"/channels/{ch}/check", {})]:
        r = client.post(url, data=data)
        assert r.status_code == 403, url
        assert "CSRF" in r.text
    assert _variant(db, vid).state == "draft"


def test_hostile_html_is_escaped_everywhere(client, db, cfg, org):
    ch = support.channel(db, cfg, org.units["A"], name="<b>chan</b>")
    at = utcnow() + dt.timedelta(days=1)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    pid = support.post(db, support.actor(db, org.users["root-admin"]), org.units["A"], [ch], at=at,
                       title=evil, text=evil)
    csrf = _sign_in(client, org, "editor@A")
    pages = [f"/content/posts/{pid}", "/content/posts", f"/calendar?view=list&date={at.astimezone(TZ).date()}",
             "/channels", "/content/new"]
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, url
        assert "<script>alert" not in r.text and "<img src=x" not in r.text and "<b>chan</b>" not in r.text, url
    assert "&lt;script&gt;alert" in client.get(f"/content/posts/{pid}").text
    part = client.post("/content/validate", data={"csrf_token": csrf, "text_en": evil, "channel_ids": ch})
    assert part.status_code == 200 and "<script>alert" not in part.text


def test_validation_partial_counts_the_platform_way(client, db, cfg, org):
    with db.session() as s:
        # stored directly: ChannelCreate refuses the one-letter platform name "x" (see docs/publishing-ui.md)
        unit_a = s.get(Unit, org.units["A"])
        row = Channel(unit_id=unit_a.id, unit_path=unit_a.path, platform="x", name="X account", config={})
        s.add(row)
        s.flush()
        x = row.id
        bsky = pub.create_channel(s, support.SYSTEM, cfg, ChannelCreate(
            unit_id=org.units["A"], platform="bluesky", name="Sky", config={"identifier": "a.bsky.social"},
            secrets={"app_password": "p"})).id
    csrf = _sign_in(client, org, "editor@A")
    text = "Read https://example.org/" + "a" * 100 + " now"  # 5 + URL (23 on X) + 4
    r = client.post("/content/validate", data={"csrf_token": csrf, "text_en": text, "channel_ids": [x, bsky]})
    assert r.status_code == 200
    counter = re.search(rf'data-testid="counter-{x}">([^<]*)<', r.text)
    assert counter and counter.group(1).split() == ["32", "/", "280"]
    sky = re.search(rf'data-testid="counter-{bsky}">([^<]*)<', r.text)
    assert sky and sky.group(1).split() == [str(len(text)), "/", "300"]  # graphemes: the URL counts in full

    long = "ก" * 281
    r = client.post("/content/validate", data={"csrf_token": csrf, "text_th": long, "channel_ids": x,
                                               "lang_" + str(x): "th"})
    assert 'data-code="too_long"' in r.text and "281" in r.text

    # an image without alt text is refused by X; with alt text it is fine
    up = client.post("/content/media", data={"csrf_token": csrf, "unit_id": org.units["A"], "alt_text": ""},
                     files={"file": ("chart.png", PNG, "image/png")})
    assert up.status_code == 200, up.text
    mid = int(re.search(r'name="media_ids" value="(\d+)"', up.text).group(1))
    base = {"csrf_token": csrf, "text_en": "Chart", "channel_ids": x, "media_ids": mid}
    assert 'data-code="alt_text_missing"' in client.post("/content/validate", data={**base, f"alt_{mid}": ""}).text
    ok = client.post("/content/validate", data={**base, f"alt_{mid}": "Bar chart of cases"}).text
    assert "alt_text_missing" not in ok and "Ready for this platform" in ok

    bad = client.post("/content/media", data={"csrf_token": csrf, "unit_id": org.units["A"]},
                      files={"file": ("x.png", b"not an image", "image/png")})
    assert bad.status_code == 422 and "is not really a image/png file" in bad.text


def test_compose_prefill_save_draft_and_submit(client, db, cfg, org):
    ch = support.channel(db, cfg, org.units["A"], name="Testnet A")
    csrf = _sign_in(client, org, "editor@A")
    page = client.get("/content/new?text=The%20clinic%20is%20open&reply_to_item=999999&campaign=7")
    assert page.status_code == 200
    assert "The clinic is open" in page.text
    assert 'name="campaign" value="7"' in page.text
    assert 'name="reply_to_item"' not in page.text  # an item the officer cannot see is dropped

    form = {"csrf_token": csrf, "unit_id": org.units["A"], "title": "Clinic hours", "text_en": "Open 8-17",
            "text_vi": "Mở cửa 8-17", "channel_ids": ch, f"lang_{ch}": "vi", "hashtags": "#health",
            "scheduled_at": "2030-05-01T09:30", "campaign": "7", "action": "submit"}
    # no title: nothing stored, the text comes back
    r = client.post("/content/new", data={**form, "title": ""})
    assert r.status_code == 422 and "Mở cửa 8-17" in r.text
    r = client.post("/content/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    v = _variant(db, _variant_ids(db, pid)[0])
    assert v.state == "in_review" and v.language == "vi" and v.text == "Mở cửa 8-17\n\n#health"
    assert v.scheduled_at == dt.datetime(2030, 5, 1, 9, 30, tzinfo=TZ).astimezone(dt.UTC)
    assert v.options.get("campaign_id") == 7
    page = client.get(f"/content/posts/{pid}").text
    assert "In review" in page and "Sent for approval" in page


def test_approve_request_changes_and_comment_from_the_post_page(client, db, cfg, org):
    ch = support.channel(db, cfg, org.units["A"])
    author = support.actor(db, org.users["editor@A"])
    pid = support.post(db, author, org.units["A"], [ch], at=utcnow() + dt.timedelta(days=2))
    with db.session() as s:
        pub.submit(s, author, pid)
    csrf = _sign_in(client, org, "editor@A")
    assert 'data-testid="approve"' not in client.get(f"/content/posts/{pid}").text  # the author cannot approve
    assert client.post(f"/content/posts/{pid}/approve", data={"csrf_token": csrf}).status_code == 403

    other = TestClient(client.app)
    csrf2 = _sign_in(other, org, "approver@A")
    page = other.get(f"/content/posts/{pid}").text
    assert 'data-testid="approve"' in page
    r = other.post(f"/content/posts/{pid}/request-changes", data={"csrf_token": csrf2, "comment": ""})
    assert r.status_code == 422 and "comment is required" in r.text
    other.post(f"/content/posts/{pid}/comment", data={"csrf_token": csrf2, "comment": "Looks <b>good</b>"})
    r = other.post(f"/content/posts/{pid}/approve", data={"csrf_token": csrf2, "comment": "OK"})
    assert r.status_code == 200 and "Approved" in r.text
    vid = _variant_ids(db, pid)[0]
    assert _variant(db, vid).state == "scheduled"
    page = other.get(f"/content/posts/{pid}").text
    assert "Looks &lt;b&gt;good&lt;/b&gt;" in page and "variant.scheduled" in page  # the full history

    r = client.post(f"/content/variants/{vid}/unschedule", data={"csrf_token": csrf})
    assert r.status_code == 200 and _variant(db, vid).state == "approved"
    r = client.post(f"/content/variants/{vid}/schedule", data={"csrf_token": csrf, "scheduled_at": "2031-01-02T08:00"})
    assert r.status_code == 200 and _variant(db, vid).state == "scheduled"
    r = client.post(f"/content/variants/{vid}/schedule", data={"csrf_token": csrf, "scheduled_at": "tomorrow"})
    assert r.status_code == 422 and "is not a date and time" in r.text
    r = client.post(f"/content/variants/{vid}/edit", data={"csrf_token": csrf, "text": "New <i>wording</i>"})
    assert r.status_code == 200 and "New &lt;i&gt;wording&lt;/i&gt;" in r.text
    v = _variant(db, vid)
    assert v.text == "New <i>wording</i>" and v.state == "draft"  # an edit needs approval again
    assert client.post(f"/content/variants/{vid}/edit", data={"csrf_token": csrf, "text": " "}).status_code == 422
    r = client.post(f"/content/variants/{vid}/cancel", data={"csrf_token": csrf, "reason": "event moved"})
    assert r.status_code == 200 and _variant(db, vid).state == "cancelled"


def test_drag_reschedule_changes_time_keeps_clock_and_is_audited(client, db, cfg, org):
    ch = support.channel(db, cfg, org.units["A1"])
    at = dt.datetime(2030, 3, 12, 14, 45, tzinfo=TZ)
    pid = support.approved_post(db, support.actor(db, org.users["editor@A"]), support.actor(db, org.users["approver@A"]),
                                org.units["A1"], [ch], at=at)
    vid = _variant_ids(db, pid)[0]
    assert _variant(db, vid).state == "scheduled"
    csrf = _sign_in(client, org, "editor@A")
    page = client.get("/calendar?view=month&date=2030-03-01")
    assert f'data-variant="{vid}" draggable="true"' in page.text

    r = client.post(f"/calendar/variants/{vid}/reschedule", headers={"HX-Request": "true"},
                    data={"csrf_token": csrf, "date": "2030-03-20", "view": "month", "day": "2030-03-01"})
    assert r.status_code == 200 and 'id="calendar"' in r.text and "<html" not in r.text
    v = _variant(db, vid)
    assert v.scheduled_at == dt.datetime(2030, 3, 20, 14, 45, tzinfo=TZ).astimezone(dt.UTC)
    assert v.next_attempt_at == v.scheduled_at and v.state == "scheduled"
    assert 'data-testid="day-2030-03-20"' in r.text
    with db.session() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "variant.schedule",
                                                       AuditEntry.object_id == str(vid))))
    assert rows and rows[-1].actor_id == org.users["editor@A"]

    # the keyboard way: an exact time
    r = client.post(f"/calendar/variants/{vid}/reschedule", data={"csrf_token": csrf,
                                                                  "scheduled_at": "2030-03-21T07:05"},
                    follow_redirects=False)
    assert r.status_code == 303 and "date=2030-03-21" in r.headers["location"]
    assert _variant(db, vid).scheduled_at == dt.datetime(2030, 3, 21, 7, 5, tzinfo=TZ).astimezone(dt.UTC)

    # a published post cannot be moved: the calendar says why, nothing changes
    with db.session() as s:
        s.get(Variant, vid).state = "published"
    r = client.post(f"/calendar/variants/{vid}/reschedule", headers={"HX-Request": "true"},
                    data={"csrf_token": csrf, "date": "2030-03-25"})
    assert r.status_code == 409 and "cannot be scheduled" in r.text
    assert _variant(db, vid).scheduled_at == dt.datetime(2030, 3, 21, 7, 5, tzinfo=TZ).astimezone(dt.UTC)


def test_calendar_exports_and_filters(client, db, cfg, org):
    a = support.channel(db, cfg, org.units["A"], name="Chan A")
    b = support.channel(db, cfg, org.units["B"], name="Chan B")
    admin = support.actor(db, org.users["root-admin"])
    at = dt.datetime(2030, 6, 10, 9, 0, tzinfo=TZ)
    support.post(db, admin, org.units["A"], [a], at=at, title="=HYPERLINK(1)")
    support.post(db, admin, org.units["B"], [b], at=at, title="Sibling post")
    _sign_in(client, org, "viewer@A")
    ics = client.get("/calendar.ics?view=month&date=2030-06-01")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in ics.text and "Sibling post" not in ics.text and "DTSTART:20300610T020000Z" in ics.text
    csv = client.get("/calendar.csv?view=month&date=2030-06-01")
    assert csv.status_code == 200 and "'=HYPERLINK(1)" in csv.text and "Sibling post" not in csv.text
    assert "HYPERLINK" not in client.get("/calendar.csv?view=month&date=2030-06-01&platform=webhook").text
    lst = client.get(f"/calendar?view=list&date=2030-06-01&channel_id={a}")
    assert "HYPERLINK" in lst.text
    assert client.get("/calendar?date=not-a-date").status_code == 422


def test_external_reviewer_link_flow(client, db, cfg, org):
    ch = support.channel(db, cfg, org.units["A"], name="Ministry page")
    author = support.actor(db, org.users["editor@A"])
    pid = support.post(db, author, org.units["A"], [ch], title="Minister visit", text="The minister visits <Hue>")
    csrf = _sign_in(client, org, "editor@A")
    r = client.post(f"/content/posts/{pid}/review-link", data={"csrf_token": csrf, "reviewer": "Secretary"})
    assert r.status_code == 409 and "Send the post for approval" in r.text
    client.post(f"/content/posts/{pid}/submit", data={"csrf_token": csrf})
    r = client.post(f"/content/posts/{pid}/review-link", data={"csrf_token": csrf, "reviewer": "Secretary",
                                                               "hours": "24"})
    assert r.status_code == 200
    url = re.search(r'data-testid="review-link-url"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*data-testid="review-link-url"',
                    r.text)
    link = next(g for g in url.groups() if g)
    path = link.replace("http://testserver", "")
    assert path.startswith("/review/")
    assert link not in client.get(f"/content/posts/{pid}").text  # shown once

    guest = TestClient(client.app)
    page = guest.get(path)
    assert page.status_code == 200 and "Minister visit" in page.text and "The minister visits &lt;Hue&gt;" in page.text
    gcsrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = guest.post(path, data={"csrf_token": gcsrf, "decision": "approve", "name": ""})
    assert r.status_code == 422 and "Write your name" in r.text
    assert guest.post(path, data={"decision": "approve", "name": "Lan"}).status_code == 403  # CSRF
    r = guest.post(path, data={"csrf_token": gcsrf, "decision": "approve", "name": "Lan", "comment": "Fine"})
    assert r.status_code == 200 and 'data-testid="review-done"' in r.text
    assert _variant(db, _variant_ids(db, pid)[0]).state == "approved"
    assert "Lan (external reviewer)" in client.get(f"/content/posts/{pid}").text

    used = guest.get(path)
    assert used.status_code == 409 and "already used" in used.text
    tampered = guest.get(path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"))
    assert tampered.status_code == 404 and "not valid" in tampered.text

    # an expired link
    with db.session() as s:
        lk = s.scalars(select(ExternalReviewLink)).first()
        lk.used_at = None
        lk.expires_at = utcnow() - dt.timedelta(hours=1)
    expired = guest.get(path)
    assert expired.status_code == 403 and "expired" in expired.text
    with db.session() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "post.approve",
                                                    AuditEntry.via == "external")) is not None


def test_channels_add_secrets_write_only_and_check_now(client, db, cfg, org):
    csrf = _sign_in(client, org, "admin@A")
    page = client.get("/channels?platform=webhook")
    assert 'name="f_secret"' in page.text and 'type="password"' in page.text
    r = client.post("/channels/new", data={"csrf_token": csrf, "platform": "webhook", "unit_id": org.units["A"],
                                           "name": "Hook", "f_url": "https://hooks.example.org/in"})
    assert r.status_code == 422 and "Signing secret" in r.text
    r = client.post("/channels/new", data={"csrf_token": csrf, "platform": "webhook", "unit_id": org.units["A"],
                                           "name": "Hook", "f_url": "https://hooks.example.org/in",
                                           "f_secret": "s3cr3t-value-xyz"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/channels")
    assert "Hook" in page.text and "s3cr3t-value-xyz" not in page.text
    with db.session() as s:
        hook = s.scalar(select(Channel).where(Channel.name == "Hook"))
        assert hook is not None and hook.config["url"] == "https://hooks.example.org/in"
        assert "s3cr3t" not in (hook.secrets or "") and "secret" not in hook.config

    bad = support.channel(db, cfg, org.units["A1"], token="revoked", name="Old token")
    r = client.post(f"/channels/{bad}/check", data={"csrf_token": csrf}, follow_redirects=True)
    assert r.status_code == 200
    block = r.text[r.text.index(f'id="channel-{bad}"'):]
    assert "Not working" in block[:600] and "Token expired on 3 May" in block and "How to fix it" in block
    r = client.post(f"/channels/{hook.id}/credentials", data={"csrf_token": csrf, "f_secret": "rotated-value-42"},
                    follow_redirects=False)
    assert r.status_code == 303
    with db.session() as s:
        assert pub.get_channel(s, support.SYSTEM, hook.id).secrets_updated_at is not None
    assert client.post(f"/channels/{hook.id}/credentials", data={"csrf_token": csrf}).status_code == 422

    editor = TestClient(client.app)
    ecsrf = _sign_in(editor, org, "editor@A")
    assert editor.post(f"/channels/{bad}/check", data={"csrf_token": ecsrf}).status_code == 403
    assert editor.post("/channels/new", data={"csrf_token": ecsrf, "platform": "webhook", "name": "x",
                                              "unit_id": org.units["A"], "f_url": "https://e.org",
                                              "f_secret": "s"}).status_code == 403
    sib = support.channel(db, cfg, org.units["B"], name="Sibling")
    assert client.post(f"/channels/{sib}/check", data={"csrf_token": csrf}).status_code == 404


def test_failed_dashboard_retry_and_resolve(client, db, cfg, org, testnet):
    ch = support.channel(db, cfg, org.units["A"], token="revoked", name="Broken")
    pid = support.approved_post(db, support.actor(db, org.users["editor@A"]), support.actor(db, org.users["approver@A"]),
                                org.units["A"], [ch])
    vid = _variant_ids(db, pid)[0]
    engine.process(db, cfg, vid)
    assert _variant(db, vid).state == "failed"
    csrf = _sign_in(client, org, "editor@A")
    page = client.get("/publishing/failed")
    assert f'data-testid="failed-{vid}"' in page.text and "revoked" in page.text
    with db.session() as s:
        s.get(Channel, ch).secrets = None
    with db.session() as s:
        pub.set_credentials(s, support.SYSTEM, cfg, ch, __import__(
            "civicpulse.domain.publishing.schemas", fromlist=["CredentialsIn"]).CredentialsIn(secrets={"token": "good"}))
    r = client.post(f"/content/variants/{vid}/retry", data={"csrf_token": csrf, "next": "/publishing/failed"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/publishing/failed"
    assert _variant(db, vid).state == "scheduled"

    with db.session() as s:
        v = s.get(Variant, vid)
        v.state, v.needs_check, v.reason = "failed", True, "timeout: outcome unknown"
    page = client.get("/publishing/failed")
    assert f'data-testid="check-{vid}"' in page.text
    r = client.post(f"/content/variants/{vid}/resolve", data={"csrf_token": csrf, "found": "yes",
                                                              "url": "https://testnet.example/p/1",
                                                              "next": "//evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"  # never to another host
    v = _variant(db, vid)
    assert v.state == "published" and v.external_url == "https://testnet.example/p/1"

    viewer = TestClient(client.app)
    vcsrf = _sign_in(viewer, org, "viewer@A")
    assert viewer.post(f"/content/variants/{vid}/cancel", data={"csrf_token": vcsrf}).status_code == 403
