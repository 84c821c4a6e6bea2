"""The platform's notion of "today": the calendar day in Asia/Shanghai, where its rules apply."""

from __future__ import annotations

from collections.abc import Mapping
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


class ChinaWindows:
    """A span of calendar days per key (an institution's cycle), read for many keys in ONE
    statement: filter on the union's bounds `lo`/`hi` in SQL, then keep a row with `contains`."""

    def __init__(self, spans: Mapping[int, tuple[date, date]]) -> None:
        self.bounds = {key: china_period(start, end) for key, (start, end) in spans.items()}
        self.lo = min((lo for lo, _hi in self.bounds.values()), default=None)
        self.hi = max((hi for _lo, hi in self.bounds.values()), default=None)

    def contains(self, key: int, at: datetime | None) -> bool:
        bounds = self.bounds.get(key)
        return at is not None and bounds is not None and bounds[0] <= at < bounds[1]
