"""Turning GraphQL ids into rows: one place, so every resolver answers a bad or unknown id the
same way (a typed NOT_FOUND naming the field, never a server error)."""

from __future__ import annotations

import strawberry
from flask_babel import gettext as _

from core.db import db
from core.errors import NotFound
from core.institutions.models import Institution


def int_id(value: strawberry.ID | str | int, field: str, message: str | None = None) -> int:
    """The integer behind an ID; anything else is "not found" on `field`."""
    if not str(value).isdigit():
        raise NotFound(message or _("No such object."), field=field)
    return int(value)


def get_institution(institution_id: strawberry.ID | str | int,
                    field: str = "institutionId") -> Institution:
    """The institution with that id, or NOT_FOUND on `field` (permissions are the caller's)."""
    message = _("No such institution.")
    institution = db.session.get(Institution, int_id(institution_id, field, message))
    if institution is None:
        raise NotFound(message, field=field)
    return institution
