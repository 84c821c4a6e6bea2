"""A client case: one successful trademark or patent filing, or one quality-management, brand or
quality-improvement service, with the photo that proves it (R-ELIG-07)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class CaseKind(enum.StrEnum):
    """What the institution achieved for its client (M Art. 8)."""

    TRADEMARK_REGISTRATION = "trademark_registration"  # 商标注册
    PATENT_GRANT = "patent_grant"  # 专利授权
    QUALITY_MANAGEMENT = "quality_management"  # 质量管理服务
    BRAND_CULTIVATION = "brand_cultivation"  # 品牌打造
    QUALITY_IMPROVEMENT = "quality_improvement"  # 质量提升


# The kinds whose reference number (registration or patent number) is required and checked.
NUMBERED_KINDS = frozenset({CaseKind.TRADEMARK_REGISTRATION, CaseKind.PATENT_GRANT})


class QualificationCase(Base):
    __tablename__ = "qualification_case"
    __table_args__ = (
        Index("ix_qualification_case_lookup", "institution_id", "category_code", "completed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    category_code: Mapped[str] = mapped_column(String(40))
    kind: Mapped[CaseKind] = mapped_column(Enum(
        CaseKind, name="qualification_case_kind", values_callable=lambda e: [m.value for m in e]))
    client_name: Mapped[str] = mapped_column(String(200))
    # The day the trademark was registered, the patent granted or the service accepted.
    completed_on: Mapped[date]
    # 注册号 (digits) or 专利号 (ZL202310123456.7); a contract number or none for services.
    reference_number: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    evidence_document_id: Mapped[int] = mapped_column(ForeignKey("document.id"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
