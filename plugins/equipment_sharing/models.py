"""The equipment-sharing plugin's own tables: the instrument register (the platform's instrument
database, R-G-01) and enterprises' booking requests."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.institutions.models import Institution

PLUGIN = "equipment_sharing"
INFO = {"info": {"plugin": PLUGIN}}
# No two accepted bookings of one instrument overlap (half-open ranges: one may end when the
# next starts). PostgreSQL enforces it itself; elsewhere the service's check in the transaction.
NO_OVERLAP = "equipment_sharing_booking_no_overlap"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class InstrumentStatus(enum.StrEnum):
    IN_SERVICE = "in_service"  # 在用
    UNDER_MAINTENANCE = "under_maintenance"  # 维修保养中
    RETIRED = "retired"  # 停用/报废: kept for history, never listed


class BookingStatus(enum.StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Instrument(Base):
    """One instrument of an institution's register, with what an enterprise needs to choose it."""

    __tablename__ = "equipment_sharing_instrument"
    __table_args__ = (
        CheckConstraint("price_per_hour IS NULL OR price_per_hour >= 0", name="price_per_hour"),
        CheckConstraint("price_per_sample IS NULL OR price_per_sample >= 0", name="price_per_sample"),
        INFO,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(100))
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    indicators: Mapped[str | None] = mapped_column(Text)  # key technical indicators
    location: Mapped[str | None] = mapped_column(String(300))
    last_calibrated_on: Mapped[date | None]
    last_maintained_on: Mapped[date | None]
    status: Mapped[InstrumentStatus] = mapped_column(
        _enum(InstrumentStatus, "equipment_sharing_instrument_status"),
        default=InstrumentStatus.IN_SERVICE)
    price_per_hour: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # yuan
    price_per_sample: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    availability: Mapped[str | None] = mapped_column(String(1000))  # e.g. 工作日 9:00-17:00
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship()


class Booking(Base):
    """An enterprise's request to use an instrument from `starts_at` to `ends_at` (half-open)."""

    __tablename__ = "equipment_sharing_booking"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_equipment_sharing_booking_instrument_starts", "instrument_id", "starts_at"),
        ExcludeConstraint(
            ("instrument_id", "="), (text("tstzrange(starts_at, ends_at)"), "&&"),
            name=NO_OVERLAP, using="gist", where=text("status = 'accepted'"),
        ).ddl_if(dialect="postgresql"),
        INFO,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Named by hand: the convention's name would pass PostgreSQL's 63-character limit.
    instrument_id: Mapped[int] = mapped_column(ForeignKey(
        "equipment_sharing_instrument.id", name="fk_equipment_sharing_booking_instrument_id"))
    enterprise_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[BookingStatus] = mapped_column(
        _enum(BookingStatus, "equipment_sharing_booking_status"), default=BookingStatus.REQUESTED)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(String(1000))  # why it was declined
    cancelled_at: Mapped[datetime | None]

    instrument: Mapped[Instrument] = relationship()
