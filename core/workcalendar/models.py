"""The operator-maintained override table of the working-day calendar."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

NOTE_MAX_LENGTH = 200


class CalendarOverride(Base):
    """One day whose status is fixed by an operator, beating the statutory calendar package.

    Used for years the `chinesecalendar` package does not know yet (operators enter the State
    Council's yearly holiday notice here) and for corrections. `created_by_id`/`created_at` say who
    recorded the current value and when (NULL: the system, i.e. `qi calendar`); earlier values
    are in the audit log.
    """

    __tablename__ = "calendar_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    is_working_day: Mapped[bool]
    note: Mapped[str] = mapped_column(String(NOTE_MAX_LENGTH))  # e.g. "2027年元旦放假"
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<CalendarOverride {self.day} {'work' if self.is_working_day else 'off'}>"
