"""The institution record and who works for it.

This is the part documents need (an owner and its staff); onboarding extends the profile and
owns the status workflow.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.identity.models import User


class InstitutionStatus(enum.StrEnum):
    DRAFT = "draft"  # applying, not yet approved
    LIVE = "live"  # approved and shown to enterprises (R-ONB-05)
    REMOVED = "removed"  # cleared by the regulator; records kept (R-ONB-07)
    EXITED = "exited"  # left voluntarily once its open matters were closed (R-ONB-06)


class InstitutionType(enum.StrEnum):
    ENTERPRISE = "enterprise"  # 企业法人
    PUBLIC_INSTITUTION = "public_institution"  # 事业单位
    UNIVERSITY = "university"  # 高校
    RESEARCH_INSTITUTE = "research_institute"  # 科研院所
    OTHER = "other"


class StaffRole(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"  # online customer-service agent (R-ELIG-05)


_APPLYING_OR_LIVE = text("status IN ('draft', 'live')")


class Institution(Base):
    __tablename__ = "institution"
    # One applying or live institution per credit code; removed and exited ones keep theirs.
    __table_args__ = (Index("uq_institution_active_uscc", "uscc", unique=True,
                            postgresql_where=_APPLYING_OR_LIVE, sqlite_where=_APPLYING_OR_LIVE),)

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    status: Mapped[InstitutionStatus] = mapped_column(
        Enum(InstitutionStatus, name="institution_status",
             values_callable=lambda e: [m.value for m in e]),
        default=InstitutionStatus.DRAFT,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The profile (M Art. 10, 13); completeness is checked by onboarding and assessment item 3.
    institution_type: Mapped[InstitutionType | None] = mapped_column(
        Enum(InstitutionType, name="institution_type",
             values_callable=lambda e: [m.value for m in e]))
    legal_representative: Mapped[str | None] = mapped_column(String(100))
    registered_address: Mapped[str | None] = mapped_column(String(300))
    province_code: Mapped[str | None] = mapped_column(String(6))
    city_code: Mapped[str | None] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    introduction: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(String(300))
    logo_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("document.id", use_alter=True, name="fk_institution_logo_document_id_document"))
    main_category_code: Mapped[str | None] = mapped_column(String(40))
    went_live_at: Mapped[datetime | None]
    service_opening_date: Mapped[date | None]  # assessment cycles count from it (R-ASM-01)
    status_changed_at: Mapped[datetime | None]
    # R-OPS-05: a live institution's homepage and service plans hidden until it rectifies
    # (set and cleared by `core.visibility`); the reason is a stable code such as "no_item".
    homepage_hidden_at: Mapped[datetime | None]
    homepage_hidden_reason: Mapped[str | None] = mapped_column(String(64))

    staff: Mapped[list[InstitutionStaff]] = relationship(
        back_populates="institution", cascade="all, delete-orphan")

    @property
    def is_live(self) -> bool:
        return self.status is InstitutionStatus.LIVE

    @property
    def is_public(self) -> bool:
        """Live and not hidden under R-OPS-05: what enterprises and the public may see."""
        return self.is_live and self.homepage_hidden_at is None


class InstitutionStaff(Base):
    __tablename__ = "institution_staff"
    __table_args__ = (UniqueConstraint("institution_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institution.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[StaffRole] = mapped_column(
        Enum(StaffRole, name="staff_role", values_callable=lambda e: [m.value for m in e]))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    institution: Mapped[Institution] = relationship(back_populates="staff")
    user: Mapped[User] = relationship()
