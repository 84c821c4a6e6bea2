"""A service item an institution offers: the common fields plus its category's own fields."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.institutions.models import Institution


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class PricingKind(enum.StrEnum):
    FIXED = "fixed"  # 固定价格
    FROM = "from"  # 起价
    QUOTATION = "quotation"  # 面议 / 按报价


class ItemStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class ServiceItem(Base):
    __tablename__ = "service_item"
    __table_args__ = (Index("ix_service_item_listing", "institution_id", "status", "category_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    category_code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)
    pricing_kind: Mapped[PricingKind] = mapped_column(_enum(PricingKind, "service_item_pricing"),
                                                      default=PricingKind.QUOTATION)
    price_yuan: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    turnaround_days: Mapped[int | None]
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ItemStatus] = mapped_column(_enum(ItemStatus, "service_item_status"),
                                               default=ItemStatus.DRAFT)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]

    institution: Mapped[Institution] = relationship()
