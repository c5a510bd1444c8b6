"""Starting points for a new plan: blank, policy launch, crisis response, behaviour-change campaign.

Each returns the sections of a plan as plain data (validated by :class:`Sections` when the plan is made),
with dates relative to ``start`` so a fresh plan never begins with deadlines in the past.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from civicpulse.domain.plans.models import TEMPLATES

DESCRIPTIONS = {
    "blank": "Empty sections with the public-communication checklist",
    "policy_launch": "Announce a new policy: inform, explain, answer questions, measure understanding",
    "crisis_response": "CERC phases with holding statements, spokespeople and a contact tree",
    "behaviour_change": "A campaign to change what people do, with outcomes measured against a baseline",
}


def _d(start: dt.date, days: int) -> str:
    return (start + dt.timedelta(days=days)).isoformat()


def sections_for(template: str, start: dt.date, unit_id: int) -> dict[str, Any]:
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    if template == "blank":
        return {}
    if template == "policy_launch":
        return {
            "objectives": [
                {"id": "o1", "statement": "People affected know what the policy changes for them and from when",
                 "type": "inform", "metric": "Share of surveyed people who know the start date",
                 "baseline_date": start.isoformat(), "deadline": _d(start, 90)},
                {"id": "o2", "statement": "Questions are answered quickly and the volume of concerns falls",
                 "type": "engage", "metric": "Concerns in listening per week", "baseline_date": start.isoformat(),
                 "deadline": _d(start, 90)},
            ],
            "audiences": [{"id": "a1", "name": "Directly affected people"}, {"id": "a2", "name": "Media"}],
            "messages": [{"id": "m1", "kind": "core", "text": {"en": "What changes, for whom, from when — and why."}}],
            "tactics": [
                {"id": "t1", "name": "Press conference and release", "channels": ["press"], "owner_unit_id": unit_id,
                 "start": _d(start, 7), "end": _d(start, 7), "budget": 0, "currency": "VND"},
                {"id": "t2", "name": "Explainer video and infographics", "channels": ["facebook", "youtube"],
                 "owner_unit_id": unit_id, "start": _d(start, 7), "end": _d(start, 35), "budget": 0,
                 "currency": "VND"},
                {"id": "t3", "name": "FAQ page and hotline script", "channels": ["website", "hotline"],
                 "owner_unit_id": unit_id, "start": _d(start, 0), "end": _d(start, 90), "budget": 0,
                 "currency": "VND"},
            ],
            "kpis": [{"id": "k1", "name": "Posts published", "level": "output", "metric": "manual",
                      "unit_label": "posts", "target": 30}],
            "risks": [{"id": "r1", "description": "Misinformation about the policy spreads faster than the facts",
                       "likelihood": 3, "impact": 4, "mitigation": "Monitor daily; answer with the FAQ"}],
        }
    if template == "crisis_response":
        return {
            "objectives": [
                {"id": "o1", "statement": "The public gets accurate, timely guidance from one voice",
                 "type": "build_trust", "metric": "Negative share of responses", "baseline_date": start.isoformat(),
                 "deadline": _d(start, 30)},
            ],
            "audiences": [{"id": "a1", "name": "People in the affected area"}, {"id": "a2", "name": "Media"},
                          {"id": "a3", "name": "Partner agencies"}],
            "messages": [{"id": "m1", "kind": "core", "text": {
                "en": "We know what is happening, this is what we are doing, this is what you should do."}}],
            "tactics": [
                {"id": "t1", "name": "First statement within one hour", "channels": ["website", "facebook"],
                 "owner_unit_id": unit_id, "start": _d(start, 0), "end": _d(start, 0), "budget": 0,
                 "currency": "VND"},
                {"id": "t2", "name": "Daily briefing", "channels": ["press"], "owner_unit_id": unit_id,
                 "start": _d(start, 1), "end": _d(start, 14), "budget": 0, "currency": "VND"},
            ],
            "crisis": {
                "scenario": "Describe the crisis scenario this plan prepares for.",
                "holding_statements": [
                    {"id": "h1", "phase": "initial", "pre_cleared": True, "text": {
                        "en": "We are aware of the situation and are gathering the facts. We will update you by "
                              "[time]. For now: [what people should do]."}},
                    {"id": "h2", "phase": "maintenance", "text": {
                        "en": "Here is what we know now, what we are doing and when we will update you next."}},
                    {"id": "h3", "phase": "resolution", "text": {
                        "en": "The situation is under control. This is what happened and what we will change."}},
                ],
                "contacts": [{"id": "c1", "name": "Head of communication", "spokesperson": True}],
                "approval_shortcut": "While crisis mode is on, pre-cleared holding statements may be published by "
                                     "the duty officer; anything else is cleared by the head of communication alone.",
            },
            "risks": [{"id": "r1", "description": "Rumours fill the information gap", "likelihood": 4, "impact": 4,
                       "mitigation": "Publish early and often, even when facts are incomplete"}],
        }
    # behaviour_change
    return {
        "objectives": [
            {"id": "o1", "statement": "More of the target group adopts the behaviour", "type": "change_behaviour",
             "metric": "Share of the target group doing it (survey)", "baseline_date": start.isoformat(),
             "deadline": _d(start, 180)},
        ],
        "audiences": [{"id": "a1", "name": "Primary target group"}, {"id": "a2", "name": "Influencers around them"}],
        "messages": [{"id": "m1", "kind": "core", "text": {"en": "Why it matters to you, and how to start today."}}],
        "tactics": [
            {"id": "t1", "name": "Campaign launch", "channels": ["facebook", "tiktok"], "owner_unit_id": unit_id,
             "start": _d(start, 14), "end": _d(start, 28), "budget": 0, "currency": "VND"},
            {"id": "t2", "name": "Community events with local offices", "channels": ["events"],
             "owner_unit_id": unit_id, "start": _d(start, 30), "end": _d(start, 120), "budget": 0,
             "currency": "VND"},
        ],
        "kpis": [{"id": "k1", "name": "Survey: share doing the behaviour", "level": "outcome", "metric": "manual",
                  "unit_label": "%", "objective_id": "o1", "direction": "increase"}],
    }
