"""A demand an enterprise posts, the institutions the platform proposes, their responses and the
timeline of every step (R-G-02, R-G-03, R-G-08)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class DemandStatus(enum.StrEnum):
    OPEN = "open"  # collecting responses
    PICKED = "picked"  # the enterprise chose one response
    CLOSED = "closed"  # withdrawn by the enterprise, or past its deadline with no pick
    # (the reason is on the timeline)


class Demand(Base):
    __tablename__ = "demand"
    __table_args__ = (Index("ix_demand_status_category", "status", "category_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The enterprise user the need is for (服务对象), whoever typed it.
    enterprise_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprise.id", ondelete="SET NULL"))
    # Who filed it: the enterprise user, or an operator acting for it (R-G-08).
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    on_behalf: Mapped[bool] = mapped_column(default=False)
    # How the need reached the platform (R-G-02: many channels): online, window, phone, visit…
    channel: Mapped[str] = mapped_column(String(32), default="online")
    category_code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    province_code: Mapped[str | None] = mapped_column(String(6))
    city_code: Mapped[str | None] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    budget_yuan: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    deadline: Mapped[date | None]
    status: Mapped[DemandStatus] = mapped_column(_enum(DemandStatus, "demand_status"),
                                                 default=DemandStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    picked_response_id: Mapped[int | None] = mapped_column(ForeignKey(
        "demand_response.id", use_alter=True, name="fk_demand_picked_response_id_demand_response"))
    picked_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    matches: Mapped[list[DemandMatch]] = relationship(
        back_populates="demand", cascade="all, delete-orphan", order_by="DemandMatch.rank")
    responses: Mapped[list[DemandResponse]] = relationship(
        back_populates="demand", cascade="all, delete-orphan", order_by="DemandResponse.id",
        foreign_keys="DemandResponse.demand_id")
    events: Mapped[list[DemandEvent]] = relationship(
        back_populates="demand", cascade="all, delete-orphan", order_by="DemandEvent.id")


class DemandMatch(Base):
    """An institution (and optionally one of its items) the platform proposed for the demand."""

    __tablename__ = "demand_match"
    __table_args__ = (UniqueConstraint("demand_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demand.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"),
                                                index=True)
    service_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_item.id", ondelete="SET NULL"))
    rank: Mapped[int] = mapped_column(default=0)  # 1 = best match
    score: Mapped[float] = mapped_column(default=0.0)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # why it matched, for people
    at: Mapped[datetime] = mapped_column(default=utcnow)

    demand: Mapped[Demand] = relationship(back_populates="matches")


class DemandResponse(Base):
    """An institution's answer to a demand: what it offers, optionally with an item and a quote."""

    __tablename__ = "demand_response"
    __table_args__ = (UniqueConstraint("demand_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demand.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"),
                                                index=True)
    service_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_item.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text)
    quote_yuan: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    responded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]

    demand: Mapped[Demand] = relationship(back_populates="responses", foreign_keys=[demand_id])


class DemandEvent(Base):
    """One step of the demand's life, kept for the record (R-G-03)."""

    __tablename__ = "demand_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demand.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))  # posted, matched, responded, picked, closed…
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # None: the platform
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    demand: Mapped[Demand] = relationship(back_populates="events")
