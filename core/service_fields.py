"""The fields a category adds to its service items (R-OPS-01, Annex 2 item 5), declared by its
plugin and turned into forms, GraphQL and validation here: one place for "written to
specification"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _

from core.errors import ErrorCode, Problem
from core.plugins import plugins

KINDS = ("text", "textarea", "number", "boolean", "choice", "list")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class FieldChoice:
    value: str
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class ItemField:
    """One field of a category's service items. `list` holds several short texts (one per
    line in a form), e.g. the standards a test follows."""

    name: str
    label_zh: str
    label_en: str
    kind: str = "text"
    required: bool = False
    choices: tuple[FieldChoice, ...] = ()
    help_zh: str = ""
    max_length: int = 500
    example: str = ""
    category: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"item field name {self.name!r} must match {_NAME.pattern}")
        if self.kind not in KINDS:
            raise ValueError(f"item field kind {self.kind!r} must be one of {KINDS}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"choice field {self.name!r} needs choices")

    @property
    def label(self) -> str:
        locale = get_locale()
        return self.label_en if locale is not None and locale.language == "en" else self.label_zh


def item_fields(category: str) -> list[ItemField]:
    """Every field the plugins declare for `category`, in declaration order."""
    return [f for batch in plugins.pm.hook.service_item_fields(category=category) for f in batch]


def clean_item_values(category: str, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Check a service item's category fields; returns the cleaned values and every problem
    (a missing required field is what makes an item "not written to specification")."""
    cleaned: dict[str, Any] = {}
    problems: list[Problem] = []
    for spec in item_fields(category):
        raw = values.get(spec.name)
        where = f"fields.{spec.name}"
        if spec.kind == "list":
            items = raw if isinstance(raw, list | tuple) else str(raw or "").splitlines()
            value: Any = [str(i).strip()[:spec.max_length] for i in items if str(i).strip()]
            empty = not value
        elif spec.kind == "boolean":
            value, empty = bool(raw), False
        elif spec.kind == "number":
            empty = raw is None or str(raw).strip() == ""
            try:
                value = None if empty else float(str(raw).strip())
            except ValueError:
                problems.append(Problem(ErrorCode.INVALID_INPUT,
                                        _("%(field)s must be a number.", field=spec.label), where))
                continue
        else:
            value = str(raw or "").strip()
            empty = not value
            if len(value) > spec.max_length:
                problems.append(Problem(ErrorCode.INVALID_INPUT, _(
                    "%(field)s has at most %(n)d characters.", field=spec.label, n=spec.max_length),
                    where))
                continue
            if spec.kind == "choice" and value and value not in {c.value for c in spec.choices}:
                problems.append(Problem(ErrorCode.INVALID_INPUT,
                                        _("Choose a value for %(field)s from the list.",
                                          field=spec.label), where))
                continue
        if spec.required and empty:
            problems.append(Problem(ErrorCode.REQUIRED, _("Fill in %(field)s.", field=spec.label),
                                    where))
            continue
        cleaned[spec.name] = value
    return cleaned, problems
