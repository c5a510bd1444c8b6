"""The one place that decides what an actor may do on a unit.

A role is granted on a unit, and (by default) on that unit's whole subtree: the head office
sees everything below it. Roles are ordered; each action needs a minimum role.
Services call :func:`require`; routes never decide on their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, false, literal, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from civicpulse.domain.errors import NotFound, PermissionDenied
from civicpulse.domain.org.models import ROLES, Unit

RANK = {role: i for i, role in enumerate(ROLES)}

# action -> minimum role on the unit concerned. Areas add their own actions here.
ACTIONS: dict[str, str] = {
    "unit.read": "viewer",
    "unit.create_child": "admin",
    "unit.update": "admin",
    "unit.delete": "admin",
    "user.read": "viewer",
    "user.manage": "admin",
    "role.manage": "admin",
    "audit.read": "admin",
    # areas built on the foundation
    "listening.read": "viewer",
    "listening.manage": "analyst",
    "nlp.correct": "analyst",
    "nlp.models": "admin",  # on the head office (a root unit): the model versions serve the whole network
    "content.draft": "editor",
    "content.approve": "approver",
    "content.read": "viewer",
    "content.workflow": "admin",
    "channel.manage": "admin",
    "plan.read": "viewer",
    "plan.edit": "editor",
    "plan.approve": "approver",
    "alert.read": "viewer",
    "alert.manage": "analyst",
    "alert.configure": "admin",
    "claim.read": "viewer",
    "claim.manage": "analyst",
    "campaign.read": "viewer",
    "campaign.manage": "editor",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    unit_id: int
    unit_path: str
    role: str
    include_subtree: bool

    def covers(self, unit_path: str) -> bool:
        if unit_path == self.unit_path:
            return True
        return self.include_subtree and unit_path.startswith(self.unit_path)


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, through what, and with which grants. Built once per request."""

    user_id: int | None
    label: str
    grants: tuple[Grant, ...] = ()
    via: str = "ui"  # ui | api | cli | system | external
    ip: str | None = None
    scopes: frozenset[str] = frozenset({"read", "write"})
    token_unit_path: str | None = None  # an API token limited to one subtree
    system: bool = False  # trusted internal jobs and the CLI's own bootstrap
    token_id: int | None = None  # set when the request came with a personal API token

    @classmethod
    def system_actor(cls, label: str = "system", via: str = "system") -> Actor:
        return cls(user_id=None, label=label, via=via, system=True)

    def best_role(self, unit_path: str) -> str | None:
        if self.token_unit_path and not unit_path.startswith(self.token_unit_path):
            return None
        best: str | None = None
        for g in self.grants:
            if g.covers(unit_path) and (best is None or RANK[g.role] > RANK[best]):
                best = g.role
        return best

    def can(self, action: str, unit: Unit | str) -> bool:
        if action not in ACTIONS:
            raise KeyError(f"unknown action {action!r}")
        is_write = not action.endswith(".read")
        if is_write and "write" not in self.scopes:
            return False
        if self.system:
            return True
        path = unit if isinstance(unit, str) else unit.path
        role = self.best_role(path)
        return role is not None and RANK[role] >= RANK[ACTIONS[action]]

    def can_see(self, unit: Unit | str) -> bool:
        return self.system or self.best_role(unit if isinstance(unit, str) else unit.path) is not None

    def is_admin_anywhere(self) -> bool:
        return self.system or any(g.role == "admin" for g in self.grants)

    def reads_from_above(self, unit: Unit | str) -> bool:
        """True for a unit the actor can see, or one *above* a unit they hold a role on.

        For published positions of the network (a ministry's claim verdicts and official corrections):
        a provincial office reads what its ministry decided, without seeing the ministry's other data.
        """
        path = unit if isinstance(unit, str) else unit.path
        if self.can_see(path):
            return True
        return any(g.unit_path.startswith(path) and (not self.token_unit_path or g.unit_path.startswith(
            self.token_unit_path)) for g in self.grants)

    def reads_from_above_filter(self, path_col: InstrumentedAttribute[str] | ColumnElement[str]) -> ColumnElement[bool]:
        """SQL form of :meth:`reads_from_above` on a materialised-path column."""
        if self.system:
            return path_col.is_not(None)
        above = [literal(g.unit_path).startswith(path_col) for g in self.grants
                 if not self.token_unit_path or g.unit_path.startswith(self.token_unit_path)]
        return or_(self.visible_filter(path_col), *above)

    def visible_filter(self, path_col: InstrumentedAttribute[str] | ColumnElement[str]) -> ColumnElement[bool]:
        """SQL condition on a materialised-path column: rows in units this actor can see."""
        return self.filter_for_role(path_col, "viewer")

    def filter_for_role(
        self,
        path_col: (
            InstrumentedAttribute[str] | InstrumentedAttribute[str | None] | ColumnElement[str]
            | ColumnElement[str | None]
        ),
        min_role: str,
    ) -> ColumnElement[bool]:
        if self.system:
            return path_col.is_not(None)
        conds: list[ColumnElement[bool]] = []
        for g in self.grants:
            if RANK[g.role] < RANK[min_role]:
                continue
            if self.token_unit_path and not g.unit_path.startswith(self.token_unit_path):
                if g.include_subtree and self.token_unit_path.startswith(g.unit_path):
                    conds.append(path_col.startswith(self.token_unit_path, autoescape=True))
                continue
            if g.include_subtree:
                conds.append(path_col.startswith(g.unit_path, autoescape=True))
            else:
                conds.append(path_col == g.unit_path)
        return or_(*conds) if conds else false()


def require(actor: Actor, action: str, unit: Unit) -> None:
    """Raise NotFound when the unit is invisible to the actor, PermissionDenied when the role is short.

    Hiding units the actor cannot see (404, not 403) keeps the network's shape private.
    """
    if actor.can(action, unit):
        return
    if not actor.can_see(unit):
        raise NotFound(f"Unit {unit.id} was not found")
    if not action.endswith(".read") and "write" not in actor.scopes:
        raise PermissionDenied("This API token is read-only")
    raise PermissionDenied(
        f"Your role on '{unit.code}' does not allow this ({action} needs the {ACTIONS[action]} role or higher)"
    )


def grants_from(rows: Iterable[tuple[int, str, str, bool]]) -> tuple[Grant, ...]:
    return tuple(Grant(unit_id=u, unit_path=p, role=r, include_subtree=s) for u, p, r, s in rows)


class _InUnit(Protocol):
    @property
    def unit(self) -> Unit: ...


T = TypeVar("T", bound=_InUnit)


def get_scoped(session: Session, actor: Actor, model: type[T], obj_id: int, action: str, what: str) -> T:
    """The row of ``model`` with this id, if the actor may do ``action`` on its unit.

    A missing row and a row in a unit the actor cannot see both answer NotFound ("<what> <id> was not
    found"), so ids do not reveal the network's shape; a visible row with too small a role is PermissionDenied.
    """
    obj = session.get(model, obj_id)
    if obj is None or not actor.can_see(obj.unit):
        raise NotFound(f"{what} {obj_id} was not found")
    require(actor, action, obj.unit)
    return obj


def visible_unit(session: Session, actor: Actor, unit_id: int) -> Unit:
    """The unit, if the actor can see it; NotFound otherwise (missing and invisible look the same)."""
    unit = session.get(Unit, unit_id)
    if unit is None or not actor.can_see(unit):
        raise NotFound(f"Unit {unit_id} was not found")
    return unit
