"""What assessment reads about complaints: ONE definition of a complaint that counts
(Annex 2 item 2: "more than 3 verified complaints within one year")."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.clock import china_period
from core.complaints.models import Complaint, ComplaintStatus
from core.db import db


def verified_complaints(institution_id: int, start: date, end: date) -> list[Complaint]:
    """Complaints against `institution_id` filed from `start` to `end` inclusive (China's
    calendar days) that an operator verified (查实), oldest first."""
    lo, hi = china_period(start, end)
    return list(db.session.scalars(select(Complaint).where(
        Complaint.institution_id == institution_id, Complaint.status == ComplaintStatus.VERIFIED,
        Complaint.filed_at >= lo, Complaint.filed_at < hi).order_by(Complaint.filed_at, Complaint.id)))
