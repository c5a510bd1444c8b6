"""/api/v1/claims: CRUD with the same permissions as the UI, the one error body, matching a text, matches of a
claim (only items the caller can open)."""

from __future__ import annotations

from tests.claims.conftest import CLAIM_EN, CORRECTION, LINK, PARAPHRASE_EN, TRANSLATION_TH, H


def _body(unit_id: int, **over):  # type: ignore[no-untyped-def]
    d = {"unit_id": unit_id, "texts": [{"lang": "en", "text": CLAIM_EN}], "status": "false",
         "correction": CORRECTION, "correction_url": LINK}
    d.update(over)
    return d


def test_crud_permissions_and_errors(client, org, token_for):  # type: ignore[no-untyped-def]
    analyst = H(token_for(org.users["analyst@A"]))
    viewer = H(token_for(org.users["viewer@A"]))
    sibling = H(token_for(org.users["admin@B"]))
    readonly = H(token_for(org.users["analyst@A"], scopes=("read",)))

    r = client.post("/api/v1/claims", json=_body(org.units["A"]), headers=viewer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = client.post("/api/v1/claims", json=_body(org.units["A"]), headers=readonly)
    assert r.status_code == 403
    r = client.post("/api/v1/claims", json=_body(org.units["A"], correction_url="ftp://x.example.org"), headers=analyst)
    assert r.status_code == 422 and "http" in r.text
    r = client.post("/api/v1/claims", json=_body(org.units["A"], texts=[{"lang": "en", "text": ""}]), headers=analyst)
    assert r.status_code == 422 and "empty" in r.text

    r = client.post("/api/v1/claims", json=_body(org.units["A"]), headers=analyst)
    assert r.status_code == 201, r.text
    claim = r.json()
    assert claim["status"] == "false" and claim["texts"][0]["text"] == CLAIM_EN and claim["match_count"] == 0
    r = client.post("/api/v1/claims", json=_body(org.units["A"]), headers=analyst)
    assert r.status_code == 409 and "already has the wording" in r.json()["error"]["message"]

    cid = claim["id"]
    assert client.get(f"/api/v1/claims/{cid}", headers=viewer).status_code == 200
    r = client.get(f"/api/v1/claims/{cid}", headers=sibling)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/claims", headers=sibling).json()["total"] == 0
    assert client.get("/api/v1/claims?status=false", headers=viewer).json()["total"] == 1
    assert client.get("/api/v1/claims?status=bogus", headers=viewer).status_code == 422

    assert client.patch(f"/api/v1/claims/{cid}", json={"status": "true"}, headers=viewer).status_code == 403
    r = client.patch(f"/api/v1/claims/{cid}", json={"status": "partly_true", "texts": [
        {"lang": "en", "text": CLAIM_EN}, {"lang": "vi", "text": "Nước máy ở thủ đô bị nhiễm độc clo"}]}, headers=analyst)
    assert r.status_code == 200 and r.json()["status"] == "partly_true" and len(r.json()["texts"]) == 2
    assert client.delete(f"/api/v1/claims/{cid}", headers=sibling).status_code == 404
    assert client.delete(f"/api/v1/claims/{cid}", headers=analyst).status_code == 204
    assert client.get(f"/api/v1/claims/{cid}", headers=analyst).status_code == 404


def test_match_endpoint_and_matches_of_a_claim(client, org, token_for, collect):  # type: ignore[no-untyped-def]
    a_items = collect(org.units["A1"], [PARAPHRASE_EN])
    b_items = collect(org.units["B"], [TRANSLATION_TH])
    root = H(token_for(org.users["root-admin"]))
    analyst = H(token_for(org.users["analyst@A"]))
    cid = client.post("/api/v1/claims", json=_body(org.units["R"]), headers=root).json()["id"]
    # the head office sees both matched items; A's analyst reads R's claim (a verdict from above) but only
    # the matched items of units A's analyst can see
    r = client.get(f"/api/v1/claims/{cid}/matches", headers=root)
    assert r.status_code == 200
    assert {m["item_id"] for m in r.json()} == {a_items[0], b_items[0]}
    assert all(m["source_name"] == "posts" and m["platform"] == "file" for m in r.json())
    r = client.get(f"/api/v1/claims/{cid}/matches", headers=analyst)
    assert r.status_code == 200 and {m["item_id"] for m in r.json()} == {a_items[0]}
    assert client.get(f"/api/v1/claims/{cid}/matches", headers=H(token_for(org.users["viewer@A"]))).status_code == 200

    r = client.post("/api/v1/claims/match", json={"text": "Nước máy ở thủ đô bị nhiễm độc clo, đừng uống"}, headers=root)
    assert r.status_code == 200 and r.json()[0]["claim_id"] == cid and r.json()[0]["status"] == "false"
    r = client.post("/api/v1/claims/match", json={"text": "   "}, headers=root)
    assert r.status_code == 422
    r = client.post("/api/v1/claims/match", json={"text": "Nước máy ở thủ đô bị nhiễm độc clo, đừng uống"},
                    headers=analyst)
    assert [m["claim_id"] for m in r.json()][:1] == [cid]  # the parent's claim is matched for the unit below
