"""`record_audit` — the one function every state change calls.

The row joins the caller's transaction, so an audited change and its audit row commit or roll back
together. Text that came from a user is neutralised first: control characters are escaped, so a
newline in a user agent or a name cannot forge a second line in the logs or in an export.
"""

from __future__ import annotations

import re
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Session

from core.audit.models import AuditEvent
from core.db import db

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def sanitize_text(value: str, limit: int = 300) -> str:
    """Escape control characters (`\\n` → `\\x0a`) and cut to `limit` characters."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)[:limit]


def _sanitize(value: Any) -> Any:
    if isinstance(value, str):
        return sanitize_text(value, 1000)
    if isinstance(value, dict):
        return {sanitize_text(str(k), 100): _sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_sanitize(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return sanitize_text(str(value), 1000)


class _System:
    """The platform itself as the actor: a job, or a rule the platform applies as the consequence
    of someone's act. Pass `actor=SYSTEM` so the row names no person even inside a request."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Any = _System()


def client_ip() -> str | None:
    """The client address as Flask sees it (ProxyFix, when configured, has already applied)."""
    return request.remote_addr if has_request_context() else None


def record_audit(
    action: str,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    result: str = "success",
    actor: Any = None,
    session: Session | None = None,
) -> AuditEvent:
    """Add an audit row to the current transaction (the caller commits).

    `actor` defaults to the logged-in user; pass it explicitly where there is none yet
    (a login attempt names the account it targeted), or `SYSTEM` where the platform acts on its
    own although a user's request is running (the row then has no actor and no roles).
    """
    if actor is SYSTEM:
        actor = None
    elif actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    roles = ",".join(sorted(r.value for r in actor.roles)) if actor is not None else ""
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        actor_roles=roles,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else sanitize_text(str(object_id), 80),
        result=result,
        before=_sanitize(before) if before else None,
        after=_sanitize(after) if after else None,
        ip=client_ip(),
        user_agent=(
            sanitize_text(request.headers.get("User-Agent", ""), 300)
            if has_request_context()
            else None
        ),
    )
    (session or db.session).add(event)
    return event
