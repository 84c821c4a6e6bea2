"""An institution's public page (R-G-01): its directory entry with its rating, plus its response
times of the last three calendar months (R-OPS-03's figures, from `core.consultations.sla`).

The public sees the page of a listed institution only. One whose homepage is hidden under
R-OPS-05 is "not found" for the public and enterprises (the refused look is audited) but still
shown to its own staff and platform staff, who are told it is hidden and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.audit import record_audit
from core.catalogue.directory import DirectoryEntry, institution_is_listed, load_entries
from core.clock import local_today
from core.consultations.sla import monthly_sla
from core.db import db
from core.identity.models import User
from core.institutions.access import can_view_institution_private
from core.institutions.models import Institution

RESPONSE_MONTHS = 3


@dataclass(frozen=True)
class MonthlyResponse:
    """One calendar month (Asia/Shanghai) of consultations the institution received."""

    year: int
    month: int
    consultations: int
    # The average counted first-response time of those received in the working-day service
    # window (R-OPS-03: at most 2 h); None when there was none.
    average_seconds: float | None
    average_within_limit: bool


@dataclass(frozen=True)
class InstitutionPage:
    entry: DirectoryEntry
    response_times: list[MonthlyResponse]
    hidden: bool  # only its staff and platform staff get a hidden institution's page
    hidden_at: datetime | None
    hidden_reason: str | None  # a stable code set by core.visibility, e.g. "no_item"


def last_full_months(today: date, n: int = RESPONSE_MONTHS) -> list[tuple[int, int]]:
    """The `n` calendar months before `today`'s, oldest first: a month still running would
    compare a few days with whole months."""
    months = []
    year, month = today.year, today.month
    for _ in range(n):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append((year, month))
    return months[::-1]


def response_times(institution_id: int, today: date | None = None) -> list[MonthlyResponse]:
    """The institution's consultations and average first response, month by month, for the
    last three full calendar months — from `monthly_sla`, the one definition of the SLA."""
    figures = []
    for year, month in last_full_months(today or local_today()):
        sla = monthly_sla(institution_id, year, month)
        figures.append(MonthlyResponse(
            year, month, len(sla.working_window) + len(sla.non_working_daytime),
            sla.average_seconds, sla.average_within))
    return figures


def institution_page(institution_id: int, viewer: User | None = None,
                     on: date | None = None) -> InstitutionPage | None:
    """The page `viewer` may see, or None ("not found"): a live institution's, and if its
    homepage is hidden (R-OPS-05) only for its own staff and platform staff."""
    institution = db.session.get(Institution, institution_id)
    if institution is None or not institution.is_live:
        return None
    listed = institution_is_listed(institution)
    if not listed and not can_view_institution_private(viewer, institution.id):
        record_audit("institution_page.access_denied", object_type="institution",
                     object_id=institution.id, result="denied", actor=viewer)
        db.session.commit()
        return None
    entry = load_entries([institution], on, full_items=True)[0]
    return InstitutionPage(entry, response_times(institution.id, on), hidden=not listed,
                           hidden_at=institution.homepage_hidden_at,
                           hidden_reason=institution.homepage_hidden_reason)
