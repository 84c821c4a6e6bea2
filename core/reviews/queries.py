"""What other areas read about reviews: ONE definition of an institution's rating (directory,
institution page) and of a follow-up left unsatisfied (Annex 2 item 10)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from core.clock import ChinaWindows
from core.db import db
from core.reviews.models import FollowUp, FollowUpStatus, Review


@dataclass(frozen=True)
class Rating:
    average: float | None  # mean stars, None with no review
    count: int


NO_RATING = Rating(None, 0)


def rating_columns():  # type: ignore[no-untyped-def]
    """(institution_id, average, count) of every reviewed institution: a selectable to join or
    filter on, so lists read ratings in one statement whatever their size."""
    return (select(Review.institution_id.label("institution_id"),
                   func.avg(Review.stars).label("average"),
                   func.count(Review.id).label("count"))
            .group_by(Review.institution_id))


def ratings(institution_ids: Collection[int]) -> dict[int, Rating]:
    """The rating of each institution in `institution_ids` (NO_RATING for the unreviewed)."""
    found: dict[int, Rating] = {}
    if institution_ids:
        sub = rating_columns().where(Review.institution_id.in_(set(institution_ids))).subquery()
        for institution_id, average, count in db.session.execute(select(sub)):
            found[institution_id] = Rating(round(float(average), 2), int(count))
    return {i: found.get(i, NO_RATING) for i in institution_ids}


def unsatisfied_follow_ups(institution_id: int, start: date, end: date) -> list[FollowUp]:
    """Bad-review follow-ups of `institution_id` the enterprise closed as unsatisfied from
    `start` to `end` inclusive (China's calendar days), oldest first."""
    return unsatisfied_follow_ups_many({institution_id: (start, end)})[institution_id]


def unsatisfied_follow_ups_many(spans: Mapping[int, tuple[date, date]]) -> dict[int, list[FollowUp]]:
    """`unsatisfied_follow_ups` of many institutions, each over its own span, in one statement."""
    windows = ChinaWindows(spans)
    found: dict[int, list[FollowUp]] = {key: [] for key in spans}
    if spans:
        for row in db.session.scalars(select(FollowUp).where(
                FollowUp.institution_id.in_(list(spans)),
                FollowUp.status == FollowUpStatus.UNSATISFIED,
                FollowUp.closed_at >= windows.lo, FollowUp.closed_at < windows.hi)
                .order_by(FollowUp.closed_at, FollowUp.id)):
            if windows.contains(row.institution_id, row.closed_at):
                found[row.institution_id].append(row)
    return found
