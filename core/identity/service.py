"""Identity: registration, authentication with lock-out, login sessions and API tokens.

Every function here is the one place its rule lives; web views, GraphQL resolvers and the CLI
call them. Each commits its own work, because an authentication attempt must be recorded even
when it fails.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from core import ratelimit
from core.audit import record_audit, sanitize_text
from core.db import db, utcnow
from core.errors import (
    AccountLocked,
    AuthenticationFailed,
    ErrorCode,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Problem,
    RateLimited,
    ServiceBusy,
)
from core.identity import passwords
from core.identity.models import (
    SELF_SERVICE_ROLES,
    ApiToken,
    LoginFailure,
    LoginSession,
    Role,
    User,
    UserRole,
)
from core.ids import get_by_id
from core.masking import mask_contact

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
TOKEN_PREFIX = "qit_"
# A session's last-seen time is written at most this often, not on every request.
_TOUCH_EVERY = timedelta(seconds=60)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _cfg(key: str) -> int:
    return int(current_app.config[key])


# ---------------------------------------------------------------- identifiers


def normalize_email(raw: str) -> str | None:
    value = raw.strip().lower()
    return value if _EMAIL.match(value) and len(value) <= 254 else None


def normalize_phone(raw: str) -> str | None:
    """A mainland mobile number as 11 digits; accepts +86, spaces and dashes."""
    value = re.sub(r"[\s\-()]", "", raw)
    value = value.removeprefix("+86").removeprefix("0086")
    return value if _MOBILE.match(value) else None


def find_user(identifier: str) -> User | None:
    """The user whose email or mobile number is `identifier`, if any."""
    email = normalize_email(identifier)
    if email:
        return db.session.scalar(select(User).where(User.email == email))
    phone = normalize_phone(identifier)
    if phone:
        return db.session.scalar(select(User).where(User.phone == phone))
    return None


def mask_identifier(identifier: str) -> str:
    """An identifier fit for an audit row: `138****5678`, `z***@example.com` (`core.masking`)."""
    return mask_contact(identifier) or "***"


# ---------------------------------------------------------------- registration


def check_password_policy(password: str, field: str = "password") -> list[Problem]:
    messages = {
        "PASSWORD_TOO_SHORT": _(
            "The password must have at least %(n)d characters.", n=_cfg("PASSWORD_MIN_LENGTH")
        ),
        "PASSWORD_TOO_LONG": _("The password must have at most 128 characters."),
        "PASSWORD_TOO_SIMPLE": _(
            "The password must mix at least %(n)d of: lower case, upper case, digits, symbols.",
            n=_cfg("PASSWORD_MIN_CLASSES"),
        ),
        "PASSWORD_TOO_COMMON": _("This password is too common; choose another."),
    }
    codes = passwords.password_problems(
        password,
        min_length=_cfg("PASSWORD_MIN_LENGTH"),
        min_classes=_cfg("PASSWORD_MIN_CLASSES"),
    )
    return [Problem(ErrorCode(code), messages[code], field) for code in codes]


def _contact_problems(email: str | None, phone: str | None) -> tuple[str | None, str | None, list[Problem]]:
    problems: list[Problem] = []
    norm_email = norm_phone = None
    if email:
        norm_email = normalize_email(email)
        if not norm_email:
            problems.append(Problem(ErrorCode.INVALID_INPUT, _("Enter a valid email address."), "email"))
        elif db.session.scalar(select(User.id).where(User.email == norm_email)):
            problems.append(Problem(ErrorCode.DUPLICATE, _("This email is already registered."), "email"))
    if phone:
        norm_phone = normalize_phone(phone)
        if not norm_phone:
            problems.append(
                Problem(ErrorCode.INVALID_INPUT, _("Enter an 11-digit mainland mobile number."), "phone")
            )
        elif db.session.scalar(select(User.id).where(User.phone == norm_phone)):
            problems.append(
                Problem(ErrorCode.DUPLICATE, _("This mobile number is already registered."), "phone")
            )
    if not email and not phone:
        problems.append(
            Problem(ErrorCode.REQUIRED, _("Enter a mobile number or an email address."), "phone")
        )
    return norm_email, norm_phone, problems


def create_user(
    *,
    display_name: str,
    password: str,
    roles: Iterable[Role],
    email: str | None = None,
    phone: str | None = None,
    audit_action: str = "user.create",
) -> User:
    """Validate and create a user with `roles`; every problem is reported at once."""
    name = display_name.strip()
    problems: list[Problem] = []
    if not name or len(name) > 100:
        problems.append(
            Problem(ErrorCode.REQUIRED, _("Enter a name of 1 to 100 characters."), "displayName")
        )
    norm_email, norm_phone, contact = _contact_problems(email, phone)
    problems += contact
    problems += check_password_policy(password)
    if problems:
        raise InvalidInput(problems)
    user = User(
        display_name=sanitize_text(name, 100),
        email=norm_email,
        phone=norm_phone,
        password_hash=passwords.hash_password(password),
        role_rows=[UserRole(role=r) for r in set(roles)],
    )
    db.session.add(user)
    db.session.flush()
    record_audit(
        audit_action,
        object_type="user",
        object_id=user.id,
        after={"roles": sorted(r.value for r in user.roles)},
        actor=user if audit_action == "user.register" else None,
    )
    db.session.commit()
    return user


def register(
    *, display_name: str, password: str, role: Role, email: str | None = None, phone: str | None = None
) -> User:
    """Self-registration: only enterprise users and institution admins may sign themselves up.
    Every attempt counts against the client's address (`RATE_LIMIT_REGISTER`): a failed one tells
    whether an address or a number is registered already."""
    ratelimit.hit("register")
    if role not in SELF_SERVICE_ROLES:
        raise InvalidInput(
            [Problem(ErrorCode.INVALID_INPUT, _("This role cannot be chosen at registration."), "role")]
        )
    return create_user(
        display_name=display_name,
        password=password,
        roles=[role],
        email=email,
        phone=phone,
        audit_action="user.register",
    )


# ---------------------------------------------------------------- authentication


def _local_time(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:%M")


def _locked_error(until: datetime) -> AccountLocked:
    return AccountLocked(
        _(
            "Too many failed logins: the account is locked. Try again after %(time)s.",
            time=_local_time(until),
        ),
        until=until,
    )


def _failed() -> AuthenticationFailed:
    # One answer for an unknown account, a wrong password and a deactivated account.
    return AuthenticationFailed(_("Wrong mobile number / email or password."), field="password")


def authenticate(identifier: str, password: str) -> User:
    """Check one login attempt and record it; raise on failure.

    Counted per attempt, not per HTTP request: GraphQL aliases each call this once, so a batch
    of aliases gets no more tries than single requests would. After `LOGIN_MAX_FAILURES` failures
    within `LOGIN_FAILURE_WINDOW_MINUTES` the account is locked for `LOGIN_LOCK_MINUTES`. Failed
    attempts also count against the client's address (`core.ratelimit`, `RATE_LIMIT_LOGIN`),
    whatever account they name, known or not; past that limit nothing is looked up or hashed.
    """
    masked = {"identifier": mask_identifier(identifier)}
    try:
        ticket = ratelimit.hit("login")
    except RateLimited:
        record_audit("auth.login", result="rate_limited", after=masked)
        db.session.commit()
        raise
    try:
        user = _check_attempt(identifier, password, masked)
    except ServiceBusy:  # no password was checked: neither the account nor the address is charged
        db.session.rollback()
        ratelimit.refund(ticket)
        raise
    ratelimit.refund(ticket)  # a successful login does not count against the address
    return user


def _check_attempt(identifier: str, password: str, masked: dict[str, str]) -> User:
    now = utcnow()
    user = find_user(identifier)
    if user is None:
        passwords.verify_password(passwords.dummy_hash(), password)
        record_audit("auth.login", result="failed", after=masked)
        db.session.commit()
        raise _failed()

    # Serialise attempts on one account (row lock on PostgreSQL) so the count is exact.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    db.session.refresh(user)
    if user.locked_until and user.locked_until > now:
        record_audit("auth.login", object_type="user", object_id=user.id, result="locked",
                     after=masked, actor=user)
        db.session.commit()
        raise _locked_error(user.locked_until)

    if not passwords.verify_password(user.password_hash, password) or not user.is_active:
        db.session.add(LoginFailure(user_id=user.id, at=now))
        record_audit("auth.login", object_type="user", object_id=user.id, result="failed",
                     after=masked, actor=user)
        window_start = now - timedelta(minutes=_cfg("LOGIN_FAILURE_WINDOW_MINUTES"))
        # Failures before a lock ended or before a successful login do not count again.
        since = max(t for t in (window_start, user.locked_until, user.last_login_at) if t)
        db.session.flush()
        failures = db.session.scalar(
            select(func.count()).where(LoginFailure.user_id == user.id, LoginFailure.at > since)
        ) or 0
        if user.is_active and failures >= _cfg("LOGIN_MAX_FAILURES"):
            user.locked_until = now + timedelta(minutes=_cfg("LOGIN_LOCK_MINUTES"))
            record_audit("auth.lockout", object_type="user", object_id=user.id, result="success",
                         after={"locked_until": user.locked_until.isoformat(), "failures": failures},
                         actor=user)
            db.session.commit()
            raise _locked_error(user.locked_until)
        db.session.commit()
        raise _failed()

    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    record_audit("auth.login", object_type="user", object_id=user.id, after=masked, actor=user)
    db.session.commit()
    return user


# ---------------------------------------------------------------- browser sessions


def start_session(user: User, *, ip: str | None, user_agent: str | None) -> str:
    """Open a server-side session; returns the random id the cookie will carry."""
    sid = secrets.token_urlsafe(32)
    db.session.add(
        LoginSession(
            user_id=user.id,
            sid_hash=_sha256(sid),
            ip=ip,
            user_agent=sanitize_text(user_agent or "", 300),
        )
    )
    db.session.commit()
    return sid


def resolve_session(sid: str) -> User | None:
    """The user of a live session, or None when it ended, idled out or its user was deactivated."""
    now = utcnow()
    row = db.session.scalar(select(LoginSession).where(LoginSession.sid_hash == _sha256(sid)))
    if row is None or row.ended_at is not None:
        return None
    idle = timedelta(minutes=_cfg("SESSION_IDLE_MINUTES"))
    if now - row.last_seen_at > idle:
        row.ended_at = now
        db.session.commit()
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return user


def end_session(sid: str) -> None:
    db.session.execute(
        update(LoginSession)
        .where(LoginSession.sid_hash == _sha256(sid), LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def end_other_sessions(user: User, keep_sid: str | None = None) -> None:
    """End every session and revoke every API token of `user`, except the session `keep_sid`."""
    now = utcnow()
    stmt = update(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    if keep_sid:
        stmt = stmt.where(LoginSession.sid_hash != _sha256(keep_sid))
    db.session.execute(stmt.values(ended_at=now))
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def live_sessions(user: User) -> list[LoginSession]:
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
            .order_by(LoginSession.last_seen_at.desc())
        )
    )


# ---------------------------------------------------------------- account changes


def change_password(user: User, *, current: str, new: str, keep_sid: str | None) -> None:
    """Change the password and end the user's other sessions and tokens."""
    if not passwords.verify_password(user.password_hash, current):
        raise InvalidInput(
            [Problem(ErrorCode.AUTHENTICATION_FAILED, _("The current password is wrong."), "currentPassword")]
        )
    problems = check_password_policy(new, "newPassword")
    if problems:
        raise InvalidInput(problems)
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = utcnow()
    end_other_sessions(user, keep_sid)
    record_audit("user.password_change", object_type="user", object_id=user.id)
    db.session.commit()


def set_active(user: User, active: bool, *, actor: User | None = None) -> None:
    """Deactivate (ending every session and token) or reactivate an account."""
    before = user.is_active
    user.is_active = active
    if not active:
        end_other_sessions(user)
    record_audit("user.set_active", object_type="user", object_id=user.id,
                 before={"active": before}, after={"active": active}, actor=actor)
    db.session.commit()


def set_roles(user: User, roles: Iterable[Role], *, actor: User | None) -> None:
    """Replace the user's roles (a system admin's act); audited with before and after."""
    if actor is not None and not actor.has_role(Role.SYSADMIN):
        raise PermissionDenied(_("Only a system administrator can change roles."))
    before = sorted(r.value for r in user.roles)
    wanted = set(roles)
    user.role_rows = [row for row in user.role_rows if row.role in wanted] + [
        UserRole(role=r) for r in wanted - user.roles
    ]
    db.session.flush()
    record_audit("user.roles_change", object_type="user", object_id=user.id,
                 before={"roles": before}, after={"roles": sorted(r.value for r in wanted)}, actor=actor)
    db.session.commit()


# ---------------------------------------------------------------- API tokens


def issue_token(user: User, *, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Create a personal API token; the plain token is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput([Problem(
            ErrorCode.REQUIRED, _("Give the token a name of 1 to 100 characters."), "name")])
    days = _cfg("API_TOKEN_DEFAULT_DAYS") if days is None else days
    if not 1 <= days <= _cfg("API_TOKEN_MAX_DAYS"):
        raise InvalidInput([Problem(
            ErrorCode.INVALID_INPUT,
            _("A token lives between 1 and %(n)d days.", n=_cfg("API_TOKEN_MAX_DAYS")),
            "expiresInDays",
        )])
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=sanitize_text(name, 100),
        token_hash=_sha256(raw),
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    record_audit("token.issue", object_type="api_token", object_id=token.id,
                 after={"name": token.name, "expires_at": token.expires_at.isoformat()}, actor=user)
    db.session.commit()
    return token, raw


def resolve_token(raw: str) -> User | None:
    """The owner of a live token (not revoked, not expired, user active), else None."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256(raw)))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = db.session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        token.last_used_at = now
        db.session.commit()
    return user


def revoke_token(user: User, token_id: int | str) -> ApiToken:
    """Revoke one of the user's own tokens (someone else's is "not found", not "forbidden")."""
    token = get_by_id(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_("No such token."), field="id")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record_audit("token.revoke", object_type="api_token", object_id=token.id, actor=user)
        db.session.commit()
    return token


def user_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        )
    )
