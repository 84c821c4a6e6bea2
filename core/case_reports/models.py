"""A successful consultation case the institution reports, with the fields of M Art. 13
(R-OPS-02); assessment item 6 counts them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class CaseReport(Base):
    __tablename__ = "case_report"
    __table_args__ = (Index("ix_case_report_institution_reported", "institution_id", "reported_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    # The platform records it came from, when there are any.
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("service_order.id", ondelete="SET NULL"))
    service_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_item.id", ondelete="SET NULL"))
    consulted_at: Mapped[datetime]  # 咨询时间
    client_name: Mapped[str] = mapped_column(String(200))  # 客户名称
    client_contact: Mapped[str] = mapped_column(String(100))  # 联系方式: masked but for staff (R-G-05)
    item: Mapped[str] = mapped_column(String(200))  # 咨询事项
    content: Mapped[str] = mapped_column(Text)  # 咨询内容
    reply: Mapped[str] = mapped_column(Text)  # 答复情况
    business_followed: Mapped[bool] = mapped_column(default=False)  # 是否促成业务
    amount_saved_yuan: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))  # 为客户节约费用
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Withdrawn by the institution (a mistake): kept for the record, no longer counted.
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
