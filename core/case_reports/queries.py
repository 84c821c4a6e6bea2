"""What assessment reads about case reports: ONE definition of a reported success case
(Annex 2 item 6: "fewer than 10 success cases reported in the year")."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.case_reports.models import CaseReport
from core.clock import china_period
from core.db import db


def reported_cases(institution_id: int, start: date, end: date) -> list[CaseReport]:
    """Case reports `institution_id` made from `start` to `end` inclusive (China's calendar
    days) and has not withdrawn, oldest first."""
    lo, hi = china_period(start, end)
    return list(db.session.scalars(select(CaseReport).where(
        CaseReport.institution_id == institution_id, CaseReport.withdrawn_at.is_(None),
        CaseReport.reported_at >= lo, CaseReport.reported_at < hi)
        .order_by(CaseReport.reported_at, CaseReport.id)))
