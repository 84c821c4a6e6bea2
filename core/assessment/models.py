"""Score sheets (one per institution and cycle), their ten Annex 2 items, and the yearly service
summaries (R-ASM-02, R-ASM-04, R-ASM-06).

A cycle itself is not stored: it follows from the institution's service opening date
(`core.assessment.cycles`). A sheet copies the cycle's dates when computed, so later edits of the
opening date never move an existing sheet.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


class SheetStatus(enum.StrEnum):
    DRAFT = "draft"  # computed; recomputable; the operator may override items
    FINAL = "final"  # finalised by the regulator: never changes again


class OpeningSource(enum.StrEnum):
    SERVICE_OPENING = "service_opening"  # Institution.service_opening_date
    WENT_LIVE = "went_live"  # fallback: no service opening date, the day it went live


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class AssessmentSheet(Base):
    __tablename__ = "assessment_sheet"
    __table_args__ = (
        UniqueConstraint("institution_id", "cycle_number"),
        Index("ix_assessment_sheet_status_period_end", "status", "period_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    cycle_number: Mapped[int]  # 1, 2, … counted from the opening date
    opening_date: Mapped[date]  # the day the cycles count from
    opening_source: Mapped[OpeningSource] = mapped_column(_enum(OpeningSource, "assessment_opening"))
    period_start: Mapped[date]  # the cycle's 12 calendar months, inclusive
    period_end: Mapped[date]
    assessed_from: Mapped[date]  # after the adaptation period in cycle 1, else period_start
    service_year: Mapped[int]  # = cycle_number; the quota's year (R-ASM-03)
    quota_category: Mapped[str | None] = mapped_column(String(40))  # whose quota item 9 used
    status: Mapped[SheetStatus] = mapped_column(_enum(SheetStatus, "assessment_status"),
                                                default=SheetStatus.DRAFT)
    score: Mapped[int]  # 100 less the deductions in force (overrides included)
    passed: Mapped[bool]  # score >= 60
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    computed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # None: task
    finalised_at: Mapped[datetime | None]
    finalised_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    removal_notice_id: Mapped[int | None] = mapped_column(ForeignKey("removal_notice.id"))

    items: Mapped[list[AssessmentItem]] = relationship(
        back_populates="sheet", cascade="all, delete-orphan", order_by="AssessmentItem.number")

    @property
    def is_final(self) -> bool:
        return self.status is SheetStatus.FINAL


class AssessmentItem(Base):
    """One Annex 2 row: the computed answer with its evidence, and the operator's override
    beside it (R-ASM-04) — the computed value is never overwritten by an override."""

    __tablename__ = "assessment_item"
    __table_args__ = (UniqueConstraint("sheet_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("assessment_sheet.id", ondelete="CASCADE"))
    number: Mapped[int]  # 1-10, the Annex 2 row
    points: Mapped[int]  # what the row deducts when answered "yes" (10 or 20)
    computed_deducted: Mapped[bool]
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    override_deducted: Mapped[bool | None]
    override_reason: Mapped[str | None] = mapped_column(Text)
    overridden_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    overridden_at: Mapped[datetime | None]

    sheet: Mapped[AssessmentSheet] = relationship(back_populates="items")

    @property
    def deducted(self) -> bool:
        return self.computed_deducted if self.override_deducted is None else self.override_deducted

    @property
    def deduction(self) -> int:
        return self.points if self.deducted else 0


class ServiceSummary(Base):
    """The institution's yearly service summary for one cycle (R-ASM-06, M Art. 16)."""

    __tablename__ = "service_summary"
    __table_args__ = (UniqueConstraint("institution_id", "cycle_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    cycle_number: Mapped[int]
    period_start: Mapped[date]
    period_end: Mapped[date]
    body: Mapped[str] = mapped_column(Text)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
