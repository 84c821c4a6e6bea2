"""The enterprise's rating of a completed order and the follow-up a bad one opens
(Annex 2 item 10, R-OPS-04, R-G-04)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow

BAD_REVIEW_MAX_STARS = 2  # 1-2 stars is a bad review (差评)


class FollowUpStatus(enum.StrEnum):
    OPEN = "open"  # waiting for the institution
    RESPONDED = "responded"  # the institution answered; waiting for the enterprise's verdict
    SATISFIED = "satisfied"  # the enterprise is satisfied: closed
    UNSATISFIED = "unsatisfied"  # the enterprise is not: closed, deducted by assessment item 10


class Review(Base):
    __tablename__ = "review"
    __table_args__ = (
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
        Index("ix_review_institution_at", "institution_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id", ondelete="CASCADE"),
                                          unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    enterprise_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    # The operator who entered it for the enterprise (R-G-08), or None.
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    stars: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    follow_up: Mapped[FollowUp | None] = relationship(back_populates="review", uselist=False)


class FollowUp(Base):
    __tablename__ = "review_follow_up"
    __table_args__ = (Index("ix_review_follow_up_institution_status", "institution_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id", ondelete="CASCADE"), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    status: Mapped[FollowUpStatus] = mapped_column(
        Enum(FollowUpStatus, name="follow_up_status", values_callable=lambda e: [m.value for m in e]),
        default=FollowUpStatus.OPEN)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    response: Mapped[str | None] = mapped_column(Text)  # what the institution did about it
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    responded_at: Mapped[datetime | None]
    verdict_comment: Mapped[str | None] = mapped_column(Text)
    verdict_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    closed_at: Mapped[datetime | None]  # when the enterprise gave its verdict

    review: Mapped[Review] = relationship(back_populates="follow_up")
