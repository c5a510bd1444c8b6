"""Imports every area's models so that Base.metadata is complete (Alembic, tests).

Add an area's models module here when the area gains tables.
"""

from __future__ import annotations

import importlib

AREAS = [
    "civicpulse.domain.org.models",
    "civicpulse.domain.listening.models",
    "civicpulse.domain.plans.models",
    "civicpulse.domain.alerts.models",
    "civicpulse.domain.alerts.claims.models",
    "civicpulse.domain.content.models",
    "civicpulse.domain.publishing.models",
    "civicpulse.domain.campaigns.models",
]


def import_all_models() -> None:
    for name in AREAS:
        importlib.import_module(name)
