"""Service categories: what a category plugin declares about itself."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from flask_babel import get_locale


class QuotaGroup(enum.StrEnum):
    """Annex 2 note (R-ASM-03): group A has a yearly rising quota, group B a flat one."""

    A = "A"  # inspection & testing, metrology, special equipment: 20 / 30 / 50
    B = "B"  # every other category: 5 a year


_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    quota_group: QuotaGroup
    sort_order: int = 100

    def __post_init__(self) -> None:
        if not _CODE.match(self.code):
            raise ValueError(f"category code {self.code!r} must match {_CODE.pattern}")

    @property
    def name(self) -> str:
        """The name in the request's language (Chinese unless English was chosen)."""
        locale = get_locale()
        return self.name_en if locale is not None and locale.language == "en" else self.name_zh
