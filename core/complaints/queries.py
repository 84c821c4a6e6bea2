"""What assessment reads about complaints: ONE definition of a complaint that counts
(Annex 2 item 2: "more than 3 verified complaints within one year")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import select

from core.clock import ChinaWindows
from core.complaints.models import Complaint, ComplaintStatus
from core.db import db


def verified_complaints(institution_id: int, start: date, end: date) -> list[Complaint]:
    """Complaints against `institution_id` filed from `start` to `end` inclusive (China's
    calendar days) that an operator verified (查实), oldest first."""
    return verified_complaints_many({institution_id: (start, end)})[institution_id]


def verified_complaints_many(spans: Mapping[int, tuple[date, date]]) -> dict[int, list[Complaint]]:
    """`verified_complaints` of many institutions, each over its own span, in one statement
    (the yearly assessment of every institution reads it in batches)."""
    windows = ChinaWindows(spans)
    found: dict[int, list[Complaint]] = {key: [] for key in spans}
    if spans:
        for row in db.session.scalars(select(Complaint).where(
                Complaint.institution_id.in_(list(spans)),
                Complaint.status == ComplaintStatus.VERIFIED,
                Complaint.filed_at >= windows.lo, Complaint.filed_at < windows.hi)
                .order_by(Complaint.filed_at, Complaint.id)):
            if windows.contains(row.institution_id, row.filed_at):
                found[row.institution_id].append(row)
    return found
