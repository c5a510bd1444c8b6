"""Crisis mode: audited, in-app notification per unit of the network, email to the units' contacts (real SMTP)."""

from __future__ import annotations

import socket

from sqlalchemy import select

from civicpulse.domain.org.models import AuditEntry, Unit
from tests.plans.conftest import H


def test_crisis_mode_notifies_the_network(client, db, org, make_plan, token_for, smtp):  # type: ignore[no-untyped-def]
    with db.session() as s:
        for code in ("R", "A", "A1", "B"):
            u = s.scalar(select(Unit).where(Unit.code == code))
            u.contact_email = f"press.{code.lower()}@gov.example" if code != "A1" else None
    pid = make_plan(org.units["A"], sections={
        "crisis": {"holding_statements": [{"id": "h1", "phase": "initial", "pre_cleared": True,
                                           "text": {"en": "We are checking the facts; next update at 18:00."}}],
                   "contacts": [{"id": "c1", "name": "Spokes Person", "phone": "+84 24 0000", "spokesperson": True}]}})
    viewer, editor = H(token_for(org.users["viewer@A"])), H(token_for(org.users["editor@A"]))
    r = client.post(f"/api/v1/plans/{pid}/crisis", headers=viewer, json={"active": True})
    assert r.status_code == 403 and not smtp.messages
    r = client.post(f"/api/v1/plans/{pid}/crisis", headers=editor, json={"active": True, "note": "Bridge collapse"})
    assert r.status_code == 200, r.text
    assert r.json()["crisis_active"] is True and r.json()["crisis_phase"] == "initial"
    # R (above), A (the plan's unit) and A1 (below) are notified; the sibling B is not
    notes = client.get("/api/v1/plans/notifications", headers=H(token_for(org.users["root-admin"]))).json()
    by_unit = {n["unit_id"]: n for n in notes if n["kind"] == "crisis_on"}
    assert set(by_unit) == {org.units["R"], org.units["A"], org.units["A1"]}
    assert by_unit[org.units["A"]]["email_status"] == "sent"
    assert by_unit[org.units["A1"]]["email_status"] == "none"  # no contact email on A1
    rcpts = sorted(r for tos, _m in smtp.messages for r in tos)
    assert rcpts == ["press.a@gov.example", "press.r@gov.example"]
    msg = smtp.messages[0][1]
    assert "CRISIS MODE ON" in msg["Subject"]
    text = msg.get_payload(decode=True).decode()
    assert "Bridge collapse" in text and "next update at 18:00" in text and "Spokes Person" in text
    # the B admin sees nothing of it
    assert client.get("/api/v1/plans/notifications", headers=H(token_for(org.users["admin@B"]))).json() == []
    # phase change and turning it off are audited and notified too
    client.post(f"/api/v1/plans/{pid}/crisis", headers=editor, json={"active": True, "phase": "maintenance"})
    r = client.post(f"/api/v1/plans/{pid}/crisis", headers=editor, json={"active": False})
    assert r.json()["crisis_active"] is False
    with db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(
            AuditEntry.action.like("plan.crisis%")).order_by(AuditEntry.id))]
        note = s.scalar(select(AuditEntry.note).where(AuditEntry.action == "plan.crisis_on"))
    assert actions == ["plan.crisis_on", "plan.crisis_phase", "plan.crisis_off"]
    assert note == "Bridge collapse"
    assert len(smtp.messages) == 6
    nid = by_unit[org.units["A"]]["id"]
    r = client.post(f"/api/v1/plans/notifications/{nid}/read", headers=viewer)
    assert r.status_code == 200 and r.json()["read_at"]
    assert client.post(f"/api/v1/plans/notifications/{nid}/read",
                       headers=H(token_for(org.users["admin@B"]))).status_code == 404


def test_mail_failure_does_not_block_crisis_mode(client, cfg, db, org, make_plan, token_for):  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        cfg.smtp_host, cfg.smtp_port = "127.0.0.1", sock.getsockname()[1]  # nothing listens there
    with db.session() as s:
        s.get(Unit, org.units["A"]).contact_email = "press.a@gov.example"
    pid = make_plan(org.units["A"])
    r = client.post(f"/api/v1/plans/{pid}/crisis", headers=H(token_for(org.users["editor@A"])), json={"active": True})
    assert r.status_code == 200
    notes = client.get(f"/api/v1/plans/notifications?unit_id={org.units['A']}",
                       headers=H(token_for(org.users["editor@A"]))).json()
    assert notes[0]["email_status"] == "failed"
