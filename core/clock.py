"""The platform's notion of "today": the calendar day in Asia/Shanghai, where its rules apply."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.db import utcnow

CHINA = ZoneInfo("Asia/Shanghai")


def local_today() -> date:
    """Today in China; between 00:00 and 08:00 Beijing time this differs from the UTC date."""
    return utcnow().astimezone(CHINA).date()


def china_period(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Asia/Shanghai: a span of calendar days, both included, as the
    bounds of a timestamp filter (`lo <= at < hi`)."""
    return (datetime.combine(start, time(), tzinfo=CHINA),
            datetime.combine(end + timedelta(days=1), time(), tzinfo=CHINA))
