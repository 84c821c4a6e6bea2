"""What assessment reads about case reports: ONE definition of a reported success case
(Annex 2 item 6: "fewer than 10 success cases reported in the year")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import select

from core.case_reports.models import CaseReport
from core.clock import ChinaWindows
from core.db import db


def reported_cases(institution_id: int, start: date, end: date) -> list[CaseReport]:
    """Case reports `institution_id` made from `start` to `end` inclusive (China's calendar
    days) and has not withdrawn, oldest first."""
    return reported_cases_many({institution_id: (start, end)})[institution_id]


def reported_cases_many(spans: Mapping[int, tuple[date, date]]) -> dict[int, list[CaseReport]]:
    """`reported_cases` of many institutions, each over its own span, in one statement."""
    windows = ChinaWindows(spans)
    found: dict[int, list[CaseReport]] = {key: [] for key in spans}
    if spans:
        for row in db.session.scalars(select(CaseReport).where(
                CaseReport.institution_id.in_(list(spans)), CaseReport.withdrawn_at.is_(None),
                CaseReport.reported_at >= windows.lo, CaseReport.reported_at < windows.hi)
                .order_by(CaseReport.reported_at, CaseReport.id)):
            if windows.contains(row.institution_id, row.reported_at):
                found[row.institution_id].append(row)
    return found
