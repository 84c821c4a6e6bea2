"""Directory filters that plugins add (R-G-01): search institutions by what lives in a plugin's
own tables — the testing plugin's scope annex (standard numbers), equipment sharing's instrument
register — without core importing a plugin.

A filter turns the visitor's term into a SQL selectable of institution ids; the directory
applies it as `Institution.id IN (…)` inside its own statements, so a filter never adds a
statement per page or per institution.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_babel import get_locale

from core.plugins import PluginError, plugins

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# The directory's own parameters (web form and GraphQL): a filter may not take one of their names.
RESERVED = frozenset({"keyword", "category", "city_code", "district_code", "certificate_kind",
                      "min_rating", "sort", "page", "first", "offset", "filters"})
TERM_MAX = 100


@dataclass(frozen=True)
class DirectoryFilter:
    """One filter: `institution_ids(term)` returns a selectable of one column, the ids of the
    institutions matching `term` (already stripped, 1-100 characters). It must not filter on
    visibility: the directory adds that itself."""

    name: str  # the web form's field and the GraphQL filter name, e.g. "standard"
    label_zh: str
    label_en: str
    institution_ids: Callable[[str], Any]
    example: str = ""  # shown as the field's placeholder, e.g. "GB/T 2828.1-2012"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in RESERVED:
            raise ValueError(f"directory filter name {self.name!r} must match {_NAME.pattern} "
                             f"and not be one of {sorted(RESERVED)}")

    @property
    def label(self) -> str:
        locale = get_locale()
        return self.label_en if locale is not None and locale.language == "en" else self.label_zh


def directory_filters() -> dict[str, DirectoryFilter]:
    """Every plugin's filters by name; two plugins claiming one name is a broken installation."""
    found: dict[str, DirectoryFilter] = {}
    for batch in plugins.pm.hook.directory_filters():
        for f in batch:
            if f.name in found:
                raise PluginError(f"two plugins register the directory filter {f.name!r}")
            found[f.name] = f
    return dict(sorted(found.items()))
