"""Facebook Graph API connector against a local fake Graph API."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from civicpulse.connectors.base import ConnectorError
from civicpulse.connectors.facebook import FacebookConnector
from fakes.facebook import EXPIRED, FakeGraph, graph_error
from fakes.helpers import FakeClock


def make(srv: FakeGraph, clock: FakeClock | None = None, **cfg: object) -> FacebookConnector:
    clock = clock or FakeClock()
    base = {"page_id": srv.page["id"], "access_token": "page-token", "base_url": srv.url, "allow_private": True}
    return FacebookConnector({**base, **cfg}, clock=clock.clock, sleep=clock.sleep, now=clock.now)


def test_posts_paging_resume_and_fields(fake_graph: FakeGraph) -> None:
    first = [fake_graph.post(f"ประกาศ {i}", reactions=i, shares=2) for i in range(3)]
    res = make(fake_graph).fetch(None)
    assert [i.external_id for i in res.items] == [p["id"] for p in reversed(first)]
    item = res.items[-1]
    assert item.text == "ประกาศ 0" and item.url == first[0]["permalink_url"] and item.shares == 2
    assert item.likes == 0 and res.items[0].likes == 2 and item.comments == 0
    assert item.author_name == "Provincial PR Office"
    assert item.published_at == dt.datetime(2025, 5, 1, 0, 1, tzinfo=dt.UTC)
    call = fake_graph.calls("/posts")[0]
    assert "reactions.summary(true)" in (call.arg("fields") or "") and call.arg("access_token") == "page-token"
    assert call.path == f"/v21.0/{fake_graph.page['id']}/posts"
    cursor = json.loads(json.dumps(res.cursor))

    new = [fake_graph.post(f"new {i}") for i in range(5)]
    res2 = make(fake_graph, limit=2).fetch(cursor)
    assert [i.external_id for i in res2.items] == [p["id"] for p in reversed(new)]
    calls = fake_graph.calls("/posts")[1:]
    assert len(calls) == 3 and calls[0].arg("since") is not None and calls[1].arg("after")
    assert make(fake_graph).fetch(res2.cursor).items == []


def test_comments_mode_and_include_comments(fake_graph: FakeGraph) -> None:
    post = fake_graph.post("Road works")
    c1 = fake_graph.comment(post, "When will it end?", likes=3)
    c2 = fake_graph.comment(post, "Next week", name="PR Office", parent=c1["id"])
    res = make(fake_graph, mode="comments", post_ids=[post["id"]]).fetch(None)
    assert [i.external_id for i in res.items] == [c2["id"], c1["id"]]
    reply, top = res.items
    assert top.kind == "comment" and top.parent_external_id == post["id"] and top.thread_external_id == post["id"]
    assert top.likes == 3 and top.author_name == "Somchai"
    assert reply.kind == "reply" and reply.parent_external_id == c1["id"]
    call = fake_graph.calls("/comments")[0]
    assert call.arg("filter") == "stream" and call.arg("order") == "reverse_chronological"
    c3 = fake_graph.comment(post, "thanks")
    res2 = make(fake_graph, mode="comments", post_ids=[post["id"]]).fetch(json.loads(json.dumps(res.cursor)))
    assert [i.external_id for i in res2.items] == [c3["id"]]

    both = make(fake_graph, include_comments=True).fetch(None)
    assert [i.kind for i in both.items] == ["post", "comment", "reply", "comment"]
    assert list(both.cursor["comments"]) == [post["id"]]


def test_expired_token_plain_message(fake_graph: FakeGraph) -> None:
    fake_graph.inject("/posts", EXPIRED)
    with pytest.raises(ConnectorError) as ei:
        make(fake_graph).fetch(None)
    err = ei.value
    assert err.kind == "auth" and err.message.startswith("The Facebook Page token has expired. Reconnect the Page")
    assert "Session has expired" in (err.platform_message or "")


@pytest.mark.parametrize(("reply", "kind"), [
    (graph_error(190, "Invalid OAuth access token"), "auth"),
    (graph_error(200, "Permissions error", type_="OAuthException", status=403), "auth"),
    (graph_error(4, "Application request limit reached", type_="OAuthException", status=400), "rate_limited"),
    (graph_error(17, "User request limit reached"), "rate_limited"),
    (graph_error(32, "Page request limit reached", status=400,
                 headers={"x-business-use-case-usage": '{"1234567890":[{"type":"pages","call_count":100,'
                                                       '"estimated_time_to_regain_access":7}]}'}), "rate_limited"),
    (graph_error(613, "Calls to this api have exceeded the rate limit."), "rate_limited"),
    (graph_error(2, "An unexpected error has occurred. Please retry your request later.", status=500), "transient"),
    (graph_error(100, "Invalid parameter", type_="GraphMethodException"), "permanent"),
])
def test_error_kinds(fake_graph: FakeGraph, reply: object, kind: str) -> None:
    fake_graph.inject("/posts", reply)  # type: ignore[arg-type]
    with pytest.raises(ConnectorError) as ei:
        make(fake_graph).fetch(None)
    assert ei.value.kind == kind
    if "x-business-use-case-usage" in reply.headers:  # type: ignore[attr-defined]
        assert ei.value.retry_after == 7 * 60


def test_unknown_page_is_permanent(fake_graph: FakeGraph) -> None:
    with pytest.raises(ConnectorError) as ei:
        make(fake_graph, page_id="999").fetch(None)
    assert ei.value.kind == "permanent" and "could not find the Page" in ei.value.message


def test_health_reports_expiry(fake_graph: FakeGraph) -> None:
    h = make(fake_graph).health()
    assert h.ok and "Provincial PR Office" in h.message
    assert h.token_expires_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC) and "01 Jan 2026" in h.message
    fake_graph.tokens["page-token"] = 0
    h = make(fake_graph).health()
    assert h.ok and h.token_expires_at is None and "does not expire" in h.message
    fake_graph.tokens["page-token"] = 1_746_000_000  # before the fake "now" (2025-05-01 12:00 UTC)
    h = make(fake_graph).health()
    assert not h.ok and "expired" in h.message
    h = make(fake_graph, access_token="bogus").health()
    assert not h.ok and h.details["kind"] == "auth"
