"""The operator's spot checks of live institutions (R-OPS-04)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class SpotCheckResult(enum.StrEnum):
    OK = "ok"  # nothing to correct
    RECTIFY = "rectify"  # the institution must correct something (the findings say what)
    REFERRED = "referred"  # suspected illegal conduct referred to the regulator (R-OPS-04)


class SpotCheck(Base):
    __tablename__ = "spot_check"
    __table_args__ = (Index("ix_spot_check_institution_at", "institution_id", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id", ondelete="CASCADE"))
    operator_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[SpotCheckResult] = mapped_column(
        Enum(SpotCheckResult, name="spot_check_result", values_callable=lambda e: [m.value for m in e]))
    findings: Mapped[str] = mapped_column(Text)
