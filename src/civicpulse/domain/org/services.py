"""All writes of the organisation area. Each checks permission and writes the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from civicpulse.config import Settings
from civicpulse.db.base import utcnow
from civicpulse.domain.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from civicpulse.domain.org import audit
from civicpulse.domain.org.models import (
    ApiToken,
    LoginAttempt,
    PasswordReset,
    RoleAssignment,
    Unit,
    User,
    WebSession,
)
from civicpulse.domain.org.permissions import Actor, grants_from, require
from civicpulse.domain.org.schemas import RoleIn, TokenCreate, UnitCreate, UnitUpdate, UserCreate, UserUpdate
from civicpulse.domain.org.security import hash_password, needs_rehash, new_secret, sha256, verify_password

TOKEN_PREFIX = "cp"  # noqa: S105 - the public prefix of API tokens, not a secret


# ---------------------------------------------------------------- actors


def actor_for(
    session: Session,
    user: User,
    *,
    via: str,
    ip: str | None = None,
    scopes: frozenset[str] = frozenset({"read", "write"}),
    token_unit_path: str | None = None,
) -> Actor:
    rows = session.execute(
        select(RoleAssignment.unit_id, Unit.path, RoleAssignment.role, RoleAssignment.include_subtree)
        .join(Unit, Unit.id == RoleAssignment.unit_id)
        .where(RoleAssignment.user_id == user.id)
        .order_by(Unit.path)
    ).all()
    return Actor(
        user_id=user.id,
        label=user.email,
        grants=grants_from(rows),
        via=via,
        ip=ip,
        scopes=scopes,
        token_unit_path=token_unit_path,
    )


def _home(actor: Actor) -> tuple[int | None, str | None]:
    """The unit an actor's own events (login, tokens) are filed under: their broadest grant."""
    if not actor.grants:
        return None, None
    g = min(actor.grants, key=lambda g: (g.unit_path.count("/"), g.unit_path))
    return g.unit_id, g.unit_path


def get_unit(session: Session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"Unit {unit_id} was not found")
    return unit


# ---------------------------------------------------------------- units


def create_unit(session: Session, actor: Actor, data: UnitCreate) -> Unit:
    parent: Unit | None = None
    if data.parent_id is not None:
        parent = get_unit(session, data.parent_id)
        require(actor, "unit.create_child", parent)
    elif not actor.system:
        raise PermissionDenied(
            "Only an installation administrator can create a top-level unit (command: civicpulse unit add)"
        )
    if session.scalar(select(func.count()).select_from(Unit).where(Unit.code == data.code)):
        raise Conflict(f"A unit with code '{data.code}' already exists", details={"field": "code"})
    unit = Unit(**data.model_dump(), path="/")
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    session.flush()
    audit.record(session, actor, "unit.create", unit=unit, object_type="unit", object_id=unit.id, after=unit.snapshot())
    return unit


def update_unit(session: Session, actor: Actor, unit_id: int, data: UnitUpdate) -> Unit:
    unit = get_unit(session, unit_id)
    require(actor, "unit.update", unit)
    if data.version is not None and data.version != unit.version:
        raise Conflict(
            f"Unit '{unit.code}' was changed by someone else (version {unit.version}, you edited {data.version}). "
            "Reload it and apply your change again.",
            details={"current_version": unit.version},
        )
    before = unit.snapshot()
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "parent_id" in changes and changes["parent_id"] != unit.parent_id:
        _move(session, actor, unit, changes.pop("parent_id"))
    else:
        changes.pop("parent_id", None)
    for key, value in changes.items():
        if value is None and key in {"kind", "names", "timezone", "default_language"}:
            continue
        setattr(unit, key, value)
    session.flush()
    b, a = audit.diff(before, unit.snapshot())
    if a:
        audit.record(session, actor, "unit.update", unit=unit, object_type="unit", object_id=unit.id, before=b, after=a)
    return unit


def _move(session: Session, actor: Actor, unit: Unit, new_parent_id: int | None) -> None:
    if new_parent_id is None:
        if not actor.system:
            raise PermissionDenied("Only an installation administrator can make a unit top-level")
        new_prefix = "/"
    else:
        parent = get_unit(session, new_parent_id)
        require(actor, "unit.create_child", parent)
        if parent.path.startswith(unit.path):
            raise ValidationFailed(
                f"Cannot move '{unit.code}' under '{parent.code}': '{parent.code}' is inside '{unit.code}', "
                "which would make a cycle in the unit tree",
                details={"field": "parent_id"},
            )
        new_prefix = parent.path
    old_path = unit.path
    new_path = f"{new_prefix}{unit.id}/"
    descendants = session.scalars(select(Unit).where(Unit.path.startswith(old_path, autoescape=True), Unit.id != unit.id))
    for d in descendants:
        d.path = new_path + d.path[len(old_path):]
    unit.parent_id = new_parent_id
    unit.path = new_path


def delete_unit(session: Session, actor: Actor, unit_id: int) -> None:
    unit = get_unit(session, unit_id)
    require(actor, "unit.delete", unit)
    if unit.parent_id is None:
        if not actor.system:
            raise PermissionDenied("Only an installation administrator can delete a top-level unit")
    elif not actor.can("unit.delete", get_unit(session, unit.parent_id)):
        # the unit is visible (checked above): refuse with 403, without revealing the parent
        raise PermissionDenied(
            f"Deleting '{unit.code}' needs the admin role on the unit above it; ask an administrator there"
        )
    children = session.scalar(select(func.count()).select_from(Unit).where(Unit.parent_id == unit.id)) or 0
    if children:
        raise Conflict(
            f"Unit '{unit.code}' has {children} child unit(s); move or delete them first", details={"children": children}
        )
    holders = session.scalar(select(func.count()).select_from(RoleAssignment).where(RoleAssignment.unit_id == unit.id)) or 0
    if holders:
        raise Conflict(
            f"{holders} role(s) are held on unit '{unit.code}'; remove them first", details={"roles": holders}
        )
    for area_check in UNIT_DELETE_CHECKS:
        reason = area_check(session, unit)
        if reason:
            raise Conflict(f"Unit '{unit.code}' still has {reason}; move or delete it first")
    before = unit.snapshot()
    audit.record(session, actor, "unit.delete", unit=unit, object_type="unit", object_id=unit.id, before=before)
    session.delete(unit)
    session.flush()


# Other areas register a function (session, unit) -> "3 sources" | None that blocks deleting a unit with data.
UNIT_DELETE_CHECKS: list = []


# ---------------------------------------------------------------- users and roles


def _check_password(settings: Settings, password: str) -> None:
    if len(password) < settings.password_min_length:
        raise ValidationFailed(
            f"The password must be at least {settings.password_min_length} characters long",
            details={"field": "password"},
        )


def create_user(session: Session, actor: Actor, settings: Settings, data: UserCreate) -> tuple[User, str | None]:
    """Create a person with roles. Without a password an invitation (reset) token is returned."""
    units = []
    for r in data.roles:
        unit = get_unit(session, r.unit_id)
        require(actor, "role.manage", unit)
        units.append(unit)
    if session.scalar(select(func.count()).select_from(User).where(User.email == data.email)):
        raise Conflict(f"A user with email {data.email} already exists", details={"field": "email"})
    if data.password is not None:
        _check_password(settings, data.password)
    user = User(
        email=data.email,
        display_name=" ".join(data.display_name.split()),
        language=data.language,
        password_hash=hash_password(data.password) if data.password else None,
        password_changed_at=utcnow() if data.password else None,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", unit=units[0], object_type="user", object_id=user.id, after=user.snapshot())
    for r, unit in zip(data.roles, units, strict=True):
        _add_role(session, actor, user, unit, r)
    invite = None
    if data.password is None:
        invite = _new_reset(session, settings, user)
    return user, invite


def _add_role(session: Session, actor: Actor, user: User, unit: Unit, r: RoleIn) -> RoleAssignment:
    exists = session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.user_id == user.id, RoleAssignment.unit_id == unit.id, RoleAssignment.role == r.role
        )
    )
    if exists:
        raise Conflict(f"{user.email} already has the {r.role} role on '{unit.code}'")
    ra = RoleAssignment(
        user_id=user.id, unit_id=unit.id, role=r.role, include_subtree=r.include_subtree, created_by_id=actor.user_id
    )
    session.add(ra)
    session.flush()
    audit.record(session, actor, "role.grant", unit=unit, object_type="user", object_id=user.id, after=ra.snapshot())
    return ra


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} was not found")
    return user


def _require_manage_user(session: Session, actor: Actor, user: User) -> Unit:
    """An admin may manage a person only if every unit where the person holds a role is in the admin's scope."""
    if actor.system:
        return user.roles[0].unit if user.roles else None  # type: ignore[return-value]
    if not user.roles:
        if actor.is_admin_anywhere():
            return None  # type: ignore[return-value]
        raise NotFound(f"User {user.id} was not found")
    visible = [ra for ra in user.roles if actor.can_see(ra.unit)]
    if not visible:
        raise NotFound(f"User {user.id} was not found")
    for ra in user.roles:
        if not actor.can("user.manage", ra.unit):
            raise PermissionDenied(
                f"{user.email} also holds roles outside the units you administer; ask an administrator above you"
            )
    return visible[0].unit


def assign_role(session: Session, actor: Actor, user_id: int, r: RoleIn) -> RoleAssignment:
    user = get_user(session, user_id)
    unit = get_unit(session, r.unit_id)
    require(actor, "role.manage", unit)
    return _add_role(session, actor, user, unit, r)


def revoke_role(session: Session, actor: Actor, user_id: int, assignment_id: int) -> None:
    ra = session.get(RoleAssignment, assignment_id)
    if ra is None or ra.user_id != user_id:
        raise NotFound(f"Role assignment {assignment_id} was not found")
    require(actor, "role.manage", ra.unit)
    if ra.role == "admin" and ra.unit.parent_id is None:
        admins = session.scalar(
            select(func.count()).select_from(RoleAssignment).where(
                RoleAssignment.unit_id == ra.unit_id, RoleAssignment.role == "admin"
            )
        )
        if (admins or 0) <= 1:
            raise Conflict(f"This is the last administrator of '{ra.unit.code}'; add another one first")
    audit.record(session, actor, "role.revoke", unit=ra.unit, object_type="user", object_id=user_id, before=ra.snapshot())
    session.delete(ra)
    session.flush()


def update_user(session: Session, actor: Actor, user_id: int, data: UserUpdate) -> User:
    user = get_user(session, user_id)
    unit = _require_manage_user(session, actor, user)
    if data.is_active is False and actor.user_id == user.id:
        raise ValidationFailed("You cannot deactivate your own account")
    before = user.snapshot()
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(user, key, " ".join(value.split()) if key == "display_name" else value)
    if data.is_active is False:
        session.execute(
            delete(WebSession).where(WebSession.user_id == user.id).execution_options(synchronize_session=False)
        )
    session.flush()
    b, a = audit.diff(before, user.snapshot())
    if a:
        audit.record(session, actor, "user.update", unit=unit, object_type="user", object_id=user.id, before=b, after=a)
    return user


def set_my_language(session: Session, actor: Actor, lang: str) -> None:
    if lang not in ("vi", "th", "en"):
        raise ValidationFailed(f"Unknown language {lang!r}; use vi, th or en")
    if actor.user_id is None:
        return
    user = get_user(session, actor.user_id)
    if user.language != lang:
        uid, upath = _home(actor)
        audit.record(session, actor, "user.language", unit_id=uid, unit_path=upath, object_type="user",
                     object_id=user.id, before={"language": user.language}, after={"language": lang})
        user.language = lang


# ---------------------------------------------------------------- login, sessions, password reset


def _auth_actor(session: Session, user: User | None, email: str, ip: str | None, via: str) -> Actor:
    if user is not None:
        return actor_for(session, user, via=via, ip=ip)
    return Actor(user_id=None, label=email[:254], via=via, ip=ip)


def authenticate(session: Session, settings: Settings, email: str, password: str, ip: str | None, via: str = "ui") -> User:
    """Check a password with per-account lockout and per-IP throttling. Every outcome is audited."""
    email = (email or "").strip().lower()[:254]
    now = utcnow()
    window = now - dt.timedelta(minutes=settings.login_window_minutes)
    if ip:
        recent = session.scalar(
            select(func.count()).select_from(LoginAttempt).where(
                LoginAttempt.ip == ip, LoginAttempt.at >= window, LoginAttempt.success.is_(False)
            )
        ) or 0
        if recent >= settings.login_ip_max_attempts:
            actor = Actor(user_id=None, label=email, via=via, ip=ip)
            audit.record(session, actor, "auth.throttled", note=f"{recent} failed attempts from this address")
            raise RateLimited(
                "Too many failed sign-in attempts from your network. Wait a few minutes and try again.",
                retry_after=settings.login_window_minutes * 60,
            )
    user = session.scalar(select(User).where(User.email == email))
    actor = _auth_actor(session, user, email, ip, via)
    uid, upath = _home(actor)
    if user is not None and user.locked_until and user.locked_until > now:
        session.add(LoginAttempt(email=email, ip=ip, success=False))
        audit.record(session, actor, "auth.login_locked", unit_id=uid, unit_path=upath, object_type="user", object_id=user.id)
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        raise RateLimited(
            f"This account is locked after repeated failed sign-ins. Try again in {minutes} minute(s) "
            "or reset your password.",
            retry_after=minutes * 60,
        )
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None or not user.is_active:
        session.add(LoginAttempt(email=email, ip=ip, success=False))
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= settings.login_max_failures:
                user.locked_until = now + dt.timedelta(minutes=settings.login_lockout_minutes)
                user.failed_logins = 0
                audit.record(session, actor, "auth.lockout", unit_id=uid, unit_path=upath, object_type="user",
                             object_id=user.id, note=f"locked for {settings.login_lockout_minutes} minutes")
        audit.record(session, actor, "auth.login_failed", unit_id=uid, unit_path=upath,
                     object_type="user" if user else None, object_id=user.id if user else None)
        raise NotAuthenticated("The email or password is wrong")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.add(LoginAttempt(email=email, ip=ip, success=True))
    audit.record(session, actor, "auth.login", unit_id=uid, unit_path=upath, object_type="user", object_id=user.id)
    return user


def create_web_session(
    session: Session, settings: Settings, user_id: int | None, *, ip: str | None, user_agent: str | None,
    language: str | None = None,
) -> tuple[str, WebSession]:
    raw = new_secret(32)
    now = utcnow()
    ws = WebSession(
        id=sha256(raw),
        user_id=user_id,
        csrf_token=new_secret(24),
        language=language,
        ip=ip,
        user_agent=(user_agent or "")[:300],
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(hours=settings.session_lifetime_hours),
    )
    session.add(ws)
    session.flush()
    return raw, ws


def load_web_session(session: Session, raw: str | None) -> WebSession | None:
    if not raw or len(raw) > 200:
        return None
    ws = session.get(WebSession, sha256(raw))
    if ws is None:
        return None
    now = utcnow()
    if ws.expires_at <= now:
        session.delete(ws)
        return None
    if (now - ws.last_seen_at).total_seconds() > 60:
        ws.last_seen_at = now
    return ws


def login_session(
    session: Session, settings: Settings, old: WebSession | None, user: User, *, ip: str | None, user_agent: str | None
) -> tuple[str, WebSession]:
    """After a successful login: a brand-new session id (prevents session fixation)."""
    language = old.language if old else None
    if old is not None:
        session.delete(old)
    return create_web_session(session, settings, user.id, ip=ip, user_agent=user_agent, language=language or user.language)


def logout(session: Session, actor: Actor, ws: WebSession) -> None:
    uid, upath = _home(actor)
    audit.record(session, actor, "auth.logout", unit_id=uid, unit_path=upath, object_type="user", object_id=actor.user_id)
    session.delete(ws)


def purge_expired_sessions(session: Session) -> int:
    now = utcnow()
    res = session.execute(
        delete(WebSession).where(WebSession.expires_at <= now).execution_options(synchronize_session=False)
    )
    return res.rowcount or 0  # type: ignore[attr-defined]


def _new_reset(session: Session, settings: Settings, user: User) -> str:
    raw = new_secret(32)
    session.execute(
        update(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)).values(used_at=utcnow())
    )
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=sha256(raw),
            expires_at=utcnow() + dt.timedelta(minutes=settings.password_reset_minutes),
        )
    )
    session.flush()
    return raw


def request_password_reset(session: Session, settings: Settings, email: str, ip: str | None) -> tuple[User, str] | None:
    """Returns (user, raw token) to be emailed, or None for an unknown/inactive address (not revealed to the caller)."""
    email = (email or "").strip().lower()[:254]
    user = session.scalar(select(User).where(User.email == email))
    actor = _auth_actor(session, user, email, ip, "ui")
    uid, upath = _home(actor)
    audit.record(session, actor, "auth.reset_requested", unit_id=uid, unit_path=upath,
                 object_type="user" if user else None, object_id=user.id if user else None)
    if user is None or not user.is_active or user.auth_provider != "local":
        return None
    return user, _new_reset(session, settings, user)


def reset_password(session: Session, settings: Settings, raw: str, new_password: str, ip: str | None) -> User:
    pr = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == sha256(raw or "")))
    now = utcnow()
    if pr is None or pr.used_at is not None or pr.expires_at <= now:
        raise ValidationFailed("This reset link is invalid, was already used, or has expired. Ask for a new one.")
    _check_password(settings, new_password)
    user = get_user(session, pr.user_id)
    pr.used_at = now
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    session.execute(
        delete(WebSession).where(WebSession.user_id == user.id).execution_options(synchronize_session=False)
    )
    actor = actor_for(session, user, via="ui", ip=ip)
    uid, upath = _home(actor)
    audit.record(session, actor, "auth.password_reset", unit_id=uid, unit_path=upath, object_type="user", object_id=user.id)
    return user


def set_password(session: Session, actor: Actor, settings: Settings, user_id: int, password: str) -> None:
    user = get_user(session, user_id)
    if actor.user_id != user.id:
        _require_manage_user(session, actor, user)
    _check_password(settings, password)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    uid, upath = _home(actor)
    audit.record(session, actor, "user.password_set", unit_id=uid, unit_path=upath, object_type="user", object_id=user.id)


# ---------------------------------------------------------------- API tokens


def create_token(session: Session, actor: Actor, data: TokenCreate) -> tuple[str, ApiToken]:
    if actor.user_id is None:
        raise PermissionDenied("Tokens belong to a person; sign in first")
    if actor.token_id is not None:
        raise PermissionDenied("Create tokens in the web interface, not with another token")
    if data.unit_id is not None:
        require(actor, "unit.read", get_unit(session, data.unit_id))
    secret = new_secret(24)
    prefix = new_secret(6)[:8].replace("-", "x").replace("_", "y")
    raw = f"{TOKEN_PREFIX}_{prefix}_{secret}"
    token = ApiToken(
        user_id=actor.user_id,
        name=" ".join(data.name.split()),
        prefix=prefix,
        token_hash=sha256(raw),
        scopes=sorted(set(data.scopes)),
        unit_id=data.unit_id,
        expires_at=utcnow() + dt.timedelta(days=data.expires_in_days) if data.expires_in_days else None,
    )
    session.add(token)
    session.flush()
    uid, upath = _home(actor)
    audit.record(session, actor, "token.create", unit_id=uid, unit_path=upath, object_type="api_token",
                 object_id=token.id, after=token.snapshot())
    return raw, token


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.user_id and not actor.system):
        raise NotFound(f"Token {token_id} was not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        uid, upath = _home(actor)
        audit.record(session, actor, "token.revoke", unit_id=uid, unit_path=upath, object_type="api_token",
                     object_id=token.id, after={"revoked_at": token.revoked_at})
    return token


def authenticate_token(session: Session, raw: str, *, ip: str | None, method: str, path: str) -> Actor:
    parts = (raw or "").split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise NotAuthenticated("The API token is malformed; it should look like cp_xxxxxxxx_…")
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == parts[1]))
    now = utcnow()
    if token is None or token.token_hash != sha256(raw):
        raise NotAuthenticated("The API token is not valid")
    if token.revoked_at is not None:
        raise NotAuthenticated(f"The API token '{token.name}' was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise NotAuthenticated(f"The API token '{token.name}' expired on {token.expires_at:%Y-%m-%d}")
    user = token.user
    if not user.is_active:
        raise NotAuthenticated("The account that owns this API token is deactivated")
    unit_path = None
    if token.unit_id is not None:
        unit = session.get(Unit, token.unit_id)
        unit_path = unit.path if unit else "/nowhere/"
    actor = actor_for(session, user, via="api", ip=ip, scopes=frozenset(token.scopes or ["read"]), token_unit_path=unit_path)
    token.last_used_at = now
    uid, upath = _home(actor)
    audit.record(session, actor, "token.use", unit_id=uid, unit_path=upath, object_type="api_token",
                 object_id=token.id, note=f"{method} {path}"[:500])
    return Actor(
        user_id=actor.user_id, label=f"{user.email} (token {token.prefix})", grants=actor.grants, via="api", ip=ip,
        scopes=actor.scopes, token_unit_path=unit_path, token_id=token.id,
    )
