"""A consultation and its message thread (R-OPS-03, R-G-03, R-G-08)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


class ConsultationStatus(enum.StrEnum):
    OPEN = "open"  # waiting for the institution
    ANSWERED = "answered"  # the institution replied last
    CLOSED = "closed"  # finished: no longer blocks the institution's exit (R-ONB-06)


class MessageSide(enum.StrEnum):
    ENTERPRISE = "enterprise"  # the asker, or an operator acting for it (R-G-08)
    INSTITUTION = "institution"  # the institution's admin or one of its agents


class Consultation(Base):
    __tablename__ = "consultation"
    __table_args__ = (
        Index("ix_consultation_institution_received", "institution_id", "received_at"),
        Index("ix_consultation_status_first_response", "status", "first_response_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    # The enterprise user the question is for (服务对象), whoever typed it.
    enterprise_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # Who filed it: the enterprise user, or an operator acting for it (R-G-08).
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    on_behalf: Mapped[bool] = mapped_column(default=False)
    # The service item asked about; no foreign key yet (the item table comes with issue 8 item 1).
    service_item_id: Mapped[int | None]
    subject: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[ConsultationStatus] = mapped_column(
        Enum(ConsultationStatus, name="consultation_status",
             values_callable=lambda e: [m.value for m in e]),
        default=ConsultationStatus.OPEN)
    # The first reply of the institution and its SLA measure, stored for reporting (R-OPS-03).
    first_response_at: Mapped[datetime | None]
    first_response_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    sla_rule: Mapped[str | None] = mapped_column(String(32))
    sla_seconds: Mapped[int | None]
    sla_limit_seconds: Mapped[int | None]
    closed_at: Mapped[datetime | None]

    messages: Mapped[list[ConsultationMessage]] = relationship(
        back_populates="consultation", cascade="all, delete-orphan",
        order_by="ConsultationMessage.id")


class ConsultationMessage(Base):
    __tablename__ = "consultation_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    side: Mapped[MessageSide] = mapped_column(
        Enum(MessageSide, name="consultation_side", values_callable=lambda e: [m.value for m in e]))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    consultation: Mapped[Consultation] = relationship(back_populates="messages")
