"""An order, its timeline and its attachments (R-G-03, R-G-08, R-ASM-03)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OrderSource(enum.StrEnum):
    CONSULTATION = "consultation"
    SERVICE_ITEM = "service_item"
    DEMAND = "demand"  # the response the enterprise picked for its demand (R-G-02)
    NONE = "none"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class Order(Base):
    __tablename__ = "service_order"
    __table_args__ = (
        Index("ix_service_order_institution_status", "institution_id", "status"),
        Index("ix_service_order_institution_completed", "institution_id", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    # The enterprise user the order is for (服务对象), whoever typed it.
    enterprise_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # Who placed it: the enterprise user, or an operator acting for it (R-G-08).
    placed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    on_behalf: Mapped[bool] = mapped_column(default=False)
    # Whether the customer or the placer was staff of the institution when it was placed: such an
    # order is never effective (R-ASM-03), even if that person leaves the institution later.
    placed_by_staff: Mapped[bool] = mapped_column(default=False)
    source: Mapped[OrderSource] = mapped_column(_enum(OrderSource, "order_source"),
                                                default=OrderSource.NONE)
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="SET NULL"))
    service_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_item.id", ondelete="SET NULL"))
    demand_id: Mapped[int | None] = mapped_column(ForeignKey("demand.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    amount_yuan: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"),
                                                default=OrderStatus.PLACED)
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id")
    attachments: Mapped[list[OrderAttachment]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderAttachment.id")


class OrderEvent(Base):
    """One step of the timeline, seen by both sides (R-G-03)."""

    __tablename__ = "order_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id", ondelete="CASCADE"),
                                          index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[OrderStatus | None] = mapped_column(_enum(OrderStatus, "order_status"))
    to_status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus, "order_status"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")


class OrderAttachment(Base):
    """A contract or report of the order: a document of the institution."""

    __tablename__ = "order_attachment"
    __table_args__ = (UniqueConstraint("order_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id", ondelete="CASCADE"),
                                          index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id", ondelete="CASCADE"))
    attached_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="attachments")
