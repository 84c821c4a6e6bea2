"""The regulator's figures over the score sheets (issue 6 item 7): score distribution, pass rate,
the most frequent deductions, per category and per region, and year over year.

Computed with three aggregate statements whatever the number of sheets: the years (by status),
the chosen year's sheets grouped by category, region and score, and its deductions grouped by
category, region and item. Everything else is summed up here from those groups, so the page and
GraphQL (`api/assessment_stats.py`) show the same figures.

* A year is the calendar year the cycle ended in, as in the sheet list and `qi assess --period`.
* A sheet's category is the one whose quota item 9 used (`quota_category`: the main category by
  default), recorded when the sheet was computed; its region is the institution's district code,
  or its city code when it has no district.
* A deduction counts when it is in force: the operator's override, else the computed answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import case, func, select

from core.assessment.models import AssessmentItem, AssessmentSheet, SheetStatus
from core.assessment.sheet import FULL_MARKS, ITEMS, PASS_MARK
from core.audit import record_audit
from core.clock import local_today
from core.db import db
from core.errors import ErrorCode, InvalidInput, PermissionDenied, Problem
from core.identity.models import User
from core.institutions.access import is_platform_staff
from core.institutions.models import Institution
from core.plugins import plugins

BAND_WIDTH = 10
BANDS = FULL_MARKS // BAND_WIDTH  # 0–9, 10–19, …, 90–100 (a full score joins the last band)
PASS_BAND = PASS_MARK // BAND_WIDTH  # the first band that passes (60–69)
YEAR_MIN, YEAR_MAX = 2000, 2200  # as `qi assess --period`
# The deployment's own city and districts by name; any other region is shown by its code.
REGION_NAMES = {"440600": "佛山市", "440604": "禅城区", "440605": "南海区", "440606": "顺德区",
                "440607": "三水区", "440608": "高明区"}


def band_of(score: int) -> int:
    return min(max(score, 0) // BAND_WIDTH, BANDS - 1)


def band_bounds(band: int) -> tuple[int, int]:
    """The lowest and highest score of a band (both included)."""
    low = band * BAND_WIDTH
    return low, FULL_MARKS if band == BANDS - 1 else low + BAND_WIDTH - 1


def band_label(band: int) -> str:
    return "{}–{}".format(*band_bounds(band))


@dataclass
class Figures:
    """Sheets, passes, score distribution and deductions of one group of sheets."""

    key: str | None = None
    name: str = ""
    sheets: int = 0
    passed: int = 0
    score_total: int = 0
    bands: list[int] = field(default_factory=lambda: [0] * BANDS)
    deductions: Counter[int] = field(default_factory=Counter)  # item number → sheets deducted

    @property
    def failed(self) -> int:
        return self.sheets - self.passed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.sheets if self.sheets else None

    @property
    def average(self) -> float | None:
        return self.score_total / self.sheets if self.sheets else None

    def top_deductions(self) -> list[tuple[int, int]]:
        """(item number, sheets) most frequent first, then by item number."""
        return sorted(((n, c) for n, c in self.deductions.items() if c), key=lambda x: (-x[1], x[0]))


@dataclass(frozen=True)
class YearFigures:
    year: int
    final: int
    draft: int
    passed: int
    score_total: int

    @property
    def sheets(self) -> int:
        return self.final + self.draft

    @property
    def failed(self) -> int:
        return self.sheets - self.passed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.sheets if self.sheets else None

    @property
    def average(self) -> float | None:
        return self.score_total / self.sheets if self.sheets else None


@dataclass
class Statistics:
    year: int
    status: SheetStatus | None  # None: drafts and final sheets together
    overall: Figures
    categories: list[Figures]  # most sheets first
    regions: list[Figures]
    years: list[YearFigures]  # oldest first, every year with a sheet (and the chosen one)


def item_title(number: int) -> str:
    return str(ITEMS[number][1])


def _category_name(code: str | None, known: dict[str, Any]) -> str:
    if code is None:
        return _("No category")
    return known[code].name if code in known else code


def _region_name(code: str | None) -> str:
    if code is None:
        return _("No region")
    return f"{REGION_NAMES[code]} ({code})" if code in REGION_NAMES else code


def require_viewer(viewer: User | None) -> None:
    """Operators and regulators only; a refusal is audited (SECURITY.md 9)."""
    if viewer is not None and viewer.is_active and is_platform_staff(viewer):
        return
    record_audit("assessment.statistics", object_type="assessment_sheet", result="denied",
                 actor=viewer)
    db.session.commit()
    raise PermissionDenied(_("Only the platform operator or regulator can see the assessment "
                             "statistics."))


def _years() -> list[YearFigures]:
    year = func.extract("year", AssessmentSheet.period_end)
    found: dict[int, dict[str, int]] = {}
    for y, status, count, passed, total in db.session.execute(
            select(year, AssessmentSheet.status, func.count(),
                   func.sum(case((AssessmentSheet.passed, 1), else_=0)),
                   func.sum(AssessmentSheet.score))
            .group_by(year, AssessmentSheet.status)):
        row = found.setdefault(int(y), {"final": 0, "draft": 0, "passed": 0, "total": 0})
        row["final" if status is SheetStatus.FINAL else "draft"] += count
        row["passed"] += passed or 0
        row["total"] += total or 0
    return [YearFigures(y, r["final"], r["draft"], r["passed"], r["total"])
            for y, r in sorted(found.items())]


def statistics(viewer: User | None, *, year: int | None = None,
               status: SheetStatus | None = None) -> Statistics:
    """The figures of the sheets whose cycle ended in `year` (default: the latest year with a
    sheet, else last year), drafts and final sheets unless `status` says which."""
    require_viewer(viewer)
    if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _(
            "Choose a year from %(low)d to %(high)d.", low=YEAR_MIN, high=YEAR_MAX), "year")])
    years = _years()
    if year is None:
        year = years[-1].year if years else local_today().year - 1
    if year not in {y.year for y in years}:
        years = sorted([*years, YearFigures(year, 0, 0, 0, 0)], key=lambda y: y.year)
    region = func.coalesce(Institution.district_code, Institution.city_code)
    where = [AssessmentSheet.period_end >= date(year, 1, 1),
             AssessmentSheet.period_end <= date(year, 12, 31)]
    if status is not None:
        where.append(AssessmentSheet.status == status)

    overall = Figures(name=_("All institutions"))
    categories: dict[str | None, Figures] = {}
    regions: dict[str | None, Figures] = {}

    known = plugins.categories()

    def groups(category: str | None, place: str | None) -> list[Figures]:
        if category not in categories:
            categories[category] = Figures(category, _category_name(category, known))
        if place not in regions:
            regions[place] = Figures(place, _region_name(place))
        return [overall, categories[category], regions[place]]

    for category, place, score, passed, count in db.session.execute(
            select(AssessmentSheet.quota_category, region, AssessmentSheet.score,
                   AssessmentSheet.passed, func.count())
            .join(Institution, Institution.id == AssessmentSheet.institution_id).where(*where)
            .group_by(AssessmentSheet.quota_category, region, AssessmentSheet.score,
                      AssessmentSheet.passed)):
        for figures in groups(category, place):
            figures.sheets += count
            figures.passed += count if passed else 0
            figures.score_total += score * count
            figures.bands[band_of(score)] += count

    in_force = func.coalesce(AssessmentItem.override_deducted, AssessmentItem.computed_deducted)
    for category, place, number, count in db.session.execute(
            select(AssessmentSheet.quota_category, region, AssessmentItem.number, func.count())
            .join(AssessmentSheet, AssessmentSheet.id == AssessmentItem.sheet_id)
            .join(Institution, Institution.id == AssessmentSheet.institution_id)
            .where(*where, in_force.is_(True))
            .group_by(AssessmentSheet.quota_category, region, AssessmentItem.number)):
        for figures in groups(category, place):
            figures.deductions[number] += count

    def ordered(found: dict[str | None, Figures]) -> list[Figures]:
        return sorted(found.values(), key=lambda f: (-f.sheets, f.key is None, f.key or ""))

    return Statistics(year, status, overall, ordered(categories), ordered(regions), years)
