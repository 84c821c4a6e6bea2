"""The platform's notion of "today": the calendar day in Asia/Shanghai, where its rules apply."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from core.db import utcnow

CHINA = ZoneInfo("Asia/Shanghai")


def local_today() -> date:
    """Today in China; between 00:00 and 08:00 Beijing time this differs from the UTC date."""
    return utcnow().astimezone(CHINA).date()
