"""Ids and page numbers from outside (URLs, query strings, forms, GraphQL): one rule for all.

An id is ASCII digits naming a 32-bit primary key, 1 ≤ id ≤ 2**31 - 1. Anything else names no
row and callers answer "not found", never a server error: `str.isdigit()` accepts "²", which
`int()` refuses, `int()` accepts " 1_0" and Arabic-Indic digits, and PostgreSQL refuses a larger
number with `integer out of range` (SQLite just finds nothing, so only PostgreSQL shows the bug).
"""

from __future__ import annotations

from typing import Any, TypeVar

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from core.db import db

T = TypeVar("T")
ID_MAX = 2**31 - 1
_ID_DIGITS = len(str(ID_MAX))
PAGE_NUMBER_MAX = 100_000  # a later page is empty anyway; its offset must stay far from overflow


def _digits(value: Any, longest: int) -> int | None:
    """The number `value` spells in at most `longest` ASCII digits (surrounding blanks allowed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    if not text or len(text) > longest or not (text.isascii() and text.isdigit()):
        return None  # the length check first: int() of a 5,000-digit string raises too
    return int(text)


def parse_id(value: Any) -> int | None:
    """The row id `value` names (an int, or a string of ASCII digits), or None if it names none."""
    number = _digits(value, _ID_DIGITS)
    return number if number is not None and 0 < number <= ID_MAX else None


def get_by_id(model: type[T], value: Any) -> T | None:
    """The `model` row `value` names, or None (a malformed id is no row and never reaches SQL)."""
    number = parse_id(value)
    return db.session.get(model, number) if number is not None else None


def clamp_number(value: Any, *, low: int, high: int, default: int) -> int:
    """A whole number from a query string kept in [low, high]; `default` if it is none."""
    number = _digits(value, 20)
    return default if number is None else max(low, min(number, high))


def page_number(value: Any, *, first: int = 1) -> int:
    """`?page=`: its number kept in [first, PAGE_NUMBER_MAX]; `first` if it is not a number."""
    return clamp_number(value, low=first, high=PAGE_NUMBER_MAX, default=first)


class IdConverter(IntegerConverter):
    """Every `<int:…>` URL part (registered under that name by the app factory): ASCII digits
    naming an id, else 404. Werkzeug's own accepts any size and Unicode digits. `min`/`max`
    arguments still narrow it."""

    regex = r"[0-9]{1,%d}" % _ID_DIGITS

    def to_python(self, value: str) -> Any:
        if parse_id(value) is None:
            # Not ValidationError: werkzeug would then answer 405 where another rule has the
            # same path for another method (GET and POST /institutions/0/documents).
            raise NotFound()
        return super().to_python(value)
