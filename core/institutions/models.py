"""The institution record and who works for it.

This is the part documents need (an owner and its staff); onboarding extends the profile and
owns the status workflow.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.identity.models import User


class InstitutionStatus(enum.StrEnum):
    DRAFT = "draft"  # applying, not yet approved
    LIVE = "live"  # approved and shown to enterprises (R-ONB-05)
    REMOVED = "removed"  # exited or cleared; records kept (R-ONB-06/07)


class StaffRole(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"  # online customer-service agent (R-ELIG-05)


class Institution(Base):
    __tablename__ = "institution"

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    status: Mapped[InstitutionStatus] = mapped_column(
        Enum(InstitutionStatus, name="institution_status",
             values_callable=lambda e: [m.value for m in e]),
        default=InstitutionStatus.DRAFT,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    staff: Mapped[list[InstitutionStaff]] = relationship(
        back_populates="institution", cascade="all, delete-orphan")

    @property
    def is_live(self) -> bool:
        return self.status is InstitutionStatus.LIVE


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
