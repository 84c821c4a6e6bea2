"""An enterprise (service object, R-G-01) and the users who act for it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.identity.models import User


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class EnterpriseSize(enum.StrEnum):
    """The statistical size classes (大型 / 中型 / 小型 / 微型企业)."""

    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"
    MICRO = "micro"


class MemberRole(enum.StrEnum):
    ADMIN = "admin"  # created the record or was made admin: edits it, sees the join code
    MEMBER = "member"


class Enterprise(Base):
    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    province_code: Mapped[str | None] = mapped_column(String(6))
    city_code: Mapped[str | None] = mapped_column(String(6), index=True)
    district_code: Mapped[str | None] = mapped_column(String(6))
    size: Mapped[EnterpriseSize | None] = mapped_column(_enum(EnterpriseSize, "enterprise_size"))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    # sha256 of the code an admin hands to colleagues so that they can join.
    join_code_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[EnterpriseMember]] = relationship(
        back_populates="enterprise", cascade="all, delete-orphan")


class EnterpriseMember(Base):
    """A user acts for one enterprise at most."""

    __tablename__ = "enterprise_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"),
                                               index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"),
                                         unique=True)
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "enterprise_member_role"))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    enterprise: Mapped[Enterprise] = relationship(back_populates="members")
    user: Mapped[User] = relationship()
