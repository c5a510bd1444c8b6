"""Writing the audit log. Every service write calls :func:`record` in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from civicpulse.domain.org.models import AuditEntry, Unit
from civicpulse.domain.org.permissions import Actor


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    unit: Unit | None = None,
    unit_id: int | None = None,
    unit_path: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEntry:
    if unit is not None:
        unit_id, unit_path = unit.id, unit.path
    entry = AuditEntry(
        actor_id=actor.user_id,
        actor_label=actor.label,
        via=actor.via,
        unit_id=unit_id,
        unit_path=unit_path,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        ip=actor.ip,
        note=note,
    )
    session.add(entry)
    return entry


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, for compact before/after records."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
