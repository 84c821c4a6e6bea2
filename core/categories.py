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


# R-ASM-03 (Annex 2 note): yearly effective orders by service year; the numbers live here once,
# each category plugin answers `annual_order_quota` for its own category with them.
QUOTAS: dict[QuotaGroup, tuple[int, ...]] = {
    QuotaGroup.A: (20, 30, 50),  # year 1, year 2, year 3 and later
    QuotaGroup.B: (5,),  # every year
}


def group_quota(group: QuotaGroup, service_year: int) -> int:
    """The quota of `group` in service year `service_year` (1, 2, 3 …)."""
    if service_year < 1:
        raise ValueError(f"service years start at 1, got {service_year}")
    steps = QUOTAS[group]
    return steps[min(service_year, len(steps)) - 1]


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
