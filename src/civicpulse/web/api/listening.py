"""/api/v1 for the listening area."""

from __future__ import annotations

from fastapi import APIRouter

from civicpulse.web.api.common import ERRORS

router = APIRouter(responses=ERRORS)
