"""The testing plugin's own table: the scope annex of an institution's CMA certificate (the
standards and methods it is qualified to test to), one row per standard."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.institutions.models import Institution

PLUGIN = "testing"


class TestingScopeEntry(Base):
    """One standard (or method) of the institution's qualified scope, e.g. GB/T 2828.1-2012."""

    __tablename__ = "testing_scope_entry"
    __table_args__ = ({"info": {"plugin": PLUGIN}},)
    __test__ = False  # not a pytest test class, whatever its name

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    # Normalised (see scope.normalise_standard): upper case, single spaces, ASCII dashes.
    standard_number: Mapped[str] = mapped_column(String(100), index=True)
    standard_title: Mapped[str | None] = mapped_column(String(300))
    parameters: Mapped[str | None] = mapped_column(Text)  # the items / parameters tested
    limits: Mapped[str | None] = mapped_column(Text)  # 限制范围: restrictions stated in the annex
    # The uploaded CMA certificate whose annex lists this standard, when known.
    document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    institution: Mapped[Institution] = relationship()
