"""Assessment cycles (R-ASM-01): 12 calendar months counted from the service opening date.

* Cycle `n` runs from the opening date plus 12·(n−1) months to the day before the opening date
  plus 12·n months (a 29 February or 31st falls back to the month's last day).
* The first 6 months after the opening date are the adaptation period: cycle 1 is assessed from
  month 7 to month 12 (`assessed_from`); later cycles are assessed over all 12 months.
* A cycle's service year (the quota's year, R-ASM-03) is its number: 1, 2, 3 and later.
* Without a service opening date the cycles count from the day the institution went live
  (Shanghai), and the sheet says so (`opening_source`).

See docs/assessment.md for the reading of M Art. 16 behind this.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from core.assessment.models import OpeningSource
from core.clock import CHINA
from core.institutions.models import Institution

CYCLE_MONTHS = 12
ADAPTATION_MONTHS = 6


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Cycle:
    institution_id: int
    number: int
    opening_date: date
    opening_source: OpeningSource

    @property
    def start(self) -> date:
        return add_months(self.opening_date, CYCLE_MONTHS * (self.number - 1))

    @property
    def end(self) -> date:
        """The cycle's last day (inclusive)."""
        return add_months(self.opening_date, CYCLE_MONTHS * self.number) - timedelta(days=1)

    @property
    def assessed_from(self) -> date:
        """The first day formally assessed: after the adaptation period in cycle 1."""
        if self.number == 1:
            return add_months(self.opening_date, ADAPTATION_MONTHS)
        return self.start

    @property
    def service_year(self) -> int:
        return self.number

    @property
    def span(self) -> tuple[date, date]:
        """The calendar days the period-based items count (both included)."""
        return self.assessed_from, self.end

    @property
    def months(self) -> list[tuple[int, int]]:
        """The calendar months the response SLA (item 8) checks: those whose last day falls in
        the assessed span, so each month belongs to exactly one cycle."""
        first, last = self.span
        found = []
        year, month = first.year, first.month
        while True:
            month_end = date(year, month, calendar.monthrange(year, month)[1])
            if month_end > last:
                return found
            if month_end >= first:
                found.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def ended(self, on: date) -> bool:
        """Whether the cycle is over on day `on` (its last day is before `on`)."""
        return self.end < on


def opening_of(institution: Institution) -> tuple[date, OpeningSource] | None:
    """The day cycles count from: the service opening date, else the day it went live."""
    if institution.service_opening_date is not None:
        return institution.service_opening_date, OpeningSource.SERVICE_OPENING
    if institution.went_live_at is not None:
        return institution.went_live_at.astimezone(CHINA).date(), OpeningSource.WENT_LIVE
    return None


def cycle(institution: Institution, number: int) -> Cycle | None:
    """Cycle `number` of the institution (None if it has no opening date yet)."""
    opening = opening_of(institution)
    if opening is None or number < 1:
        return None
    return Cycle(institution.id, number, *opening)


def current_cycle(institution: Institution, on: date) -> Cycle | None:
    """The cycle day `on` falls in (None before the opening date or without one)."""
    opening = opening_of(institution)
    if opening is None or on < opening[0]:
        return None
    number = 1
    while Cycle(institution.id, number, *opening).end < on:
        number += 1
    return Cycle(institution.id, number, *opening)


def cycles_until(institution: Institution, on: date) -> list[Cycle]:
    """Every cycle begun by day `on`, oldest first."""
    latest = current_cycle(institution, on)
    if latest is None:
        return []
    return [Cycle(institution.id, n, latest.opening_date, latest.opening_source)
            for n in range(1, latest.number + 1)]


def in_adaptation(institution: Institution, on: date) -> bool:
    """Whether day `on` is within the first 6 months after the opening date."""
    opening = opening_of(institution)
    return opening is not None and opening[0] <= on < add_months(opening[0], ADAPTATION_MONTHS)


def cycle_ending_within(institution: Institution, first: date, last: date) -> Cycle | None:
    """The cycle whose last day falls within [first, last] (at most one for a span ≤ a year;
    the latest when longer)."""
    latest = current_cycle(institution, last)
    if latest is None:
        return None
    candidate = latest if latest.end <= last else (
        Cycle(institution.id, latest.number - 1, latest.opening_date, latest.opening_source)
        if latest.number > 1 else None)
    return candidate if candidate is not None and candidate.end >= first else None
