"""The enterprise user an operator names by id to act for (R-G-08): ordering, asking, posting a
demand or complaining on an enterprise's behalf. One rule for every service that allows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _

from core.db import db
from core.errors import NotFound
from core.identity.models import Role, User
from core.ids import parse_id


def enterprise_user_by_id(actor: User | None, user_id: Any, *,
                          refuse: Callable[[], object]) -> User | None:
    """The user `user_id` names, for an active operator. Anyone else naming a user other than
    themselves is refused by `refuse()` (the service's audited PermissionDenied) BEFORE the id is
    looked up: otherwise NotFound against PermissionDenied would tell them which ids exist.
    No id is None; one's own id is oneself, for anyone."""
    if user_id is None or str(user_id).strip() == "":
        return None
    number = parse_id(user_id)
    if actor is not None and number == actor.id:
        return actor
    if actor is None or not actor.is_active or not actor.has_role(Role.OPERATOR):
        refuse()
        raise AssertionError("refuse() must raise")  # pragma: no cover
    user = db.session.get(User, number) if number is not None else None
    if user is None:
        raise NotFound(_("No such enterprise user."), field="enterpriseUserId")
    return user
