"""A complaint an enterprise files against an institution and the operator's verification
(Annex 2 item 2, R-OPS-06, R-G-04)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class ComplaintStatus(enum.StrEnum):
    FILED = "filed"  # waiting for an operator
    VERIFIED = "verified"  # 查实: counted by assessment item 2
    UNFOUNDED = "unfounded"  # 不属实
    WITHDRAWN = "withdrawn"  # withdrawn by the enterprise before verification


class Complaint(Base):
    __tablename__ = "complaint"
    __table_args__ = (Index("ix_complaint_institution_status", "institution_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    enterprise_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    on_behalf: Mapped[bool] = mapped_column(default=False)  # an operator filed it (R-G-08)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("service_order.id", ondelete="SET NULL"))
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[ComplaintStatus] = mapped_column(
        Enum(ComplaintStatus, name="complaint_status", values_callable=lambda e: [m.value for m in e]),
        default=ComplaintStatus.FILED)
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The operator's verification: a verified serious complaint can lead to removal (R-OPS-06).
    serious: Mapped[bool] = mapped_column(default=False)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    verified_at: Mapped[datetime | None]
    verification_notes: Mapped[str | None] = mapped_column(Text)
    removal_notice_id: Mapped[int | None]  # the removal notice it led to, if any
    withdrawn_at: Mapped[datetime | None]
