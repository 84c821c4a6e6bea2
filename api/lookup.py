"""Turning GraphQL ids into rows: one place, so every resolver answers a bad or unknown id the
same way (a typed NOT_FOUND naming the field, never a server error)."""

from __future__ import annotations

import strawberry
from flask_babel import gettext as _

from core.db import db
from core.errors import NotFound
from core.ids import parse_id
from core.institutions.models import Institution


def int_id(value: strawberry.ID | str | int, field: str, message: str | None = None) -> int:
    """The row id behind an ID (`core.ids.parse_id`); anything else is "not found" on `field`."""
    number = parse_id(value)
    if number is None:
        raise NotFound(message or _("No such object."), field=field)
    return number


def optional_id(value: strawberry.ID | str | int | None, field: str,
                message: str | None = None) -> int | None:
    """An optional ID argument or input field: None when left out, else as `int_id`."""
    return None if value is None else int_id(value, field, message)


def get_institution(institution_id: strawberry.ID | str | int,
                    field: str = "institutionId") -> Institution:
    """The institution with that id, or NOT_FOUND on `field` (permissions are the caller's)."""
    message = _("No such institution.")
    institution = db.session.get(Institution, int_id(institution_id, field, message))
    if institution is None:
        raise NotFound(message, field=field)
    return institution
