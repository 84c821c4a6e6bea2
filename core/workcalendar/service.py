"""Working days (R-ONB-04, R-OPS-01) and the response-SLA service window (R-OPS-03).

One place for each rule:

* **Is a day a working day?** `WorkCalendar.is_working_day`: an operator override (table
  `calendar_override`) wins; otherwise the Chinese statutory calendar of the `chinesecalendar`
  package (public holidays and adjusted working weekends, 调休); for a year the package does not
  know (it raises `NotImplementedError`, e.g. 2027 with version 1.11) the weekday rule, Monday to
  Friday, with a warning logged once per year per process. Never an exception (SECURITY.md 17).
* **Deadlines in working days.** `add_working_days(start, n)` is the n-th working day after
  `start`, `start` itself excluded ("more materials within 15 working days", R-ONB-04; "profile
  within 5 working days of going live", R-OPS-01).
* **Response time** (`first_response_seconds`, R-OPS-03), in Asia/Shanghai local time; datetimes
  in are timezone-aware (UTC as stored), a naive one is refused. The service window is
  08:00-18:00 (`SERVICE_WINDOW_START_HOUR`/`SERVICE_WINDOW_END_HOUR`); "daytime" is the same
  hours on any day.

  1. Received on a **working day**, at any hour: rule ``working_window``. Only seconds inside
     the service window of working days count: a question at 20:00 counts from 08:00 of the
     next working day; one at 17:30 on a Friday answered at 08:10 on the next working Monday
     counts 30 + 10 = 40 minutes. No per-consultation limit (`limit_seconds` is None): the
     2-hour rule is on the *average* over working-day consultations.
  2. Received in **daytime on a non-working day**: rule ``non_working_daytime``, limit
     `SLA_NON_WORKING_DAY_LIMIT_HOURS` (6 h). How the 6 hours are counted is
     `SLA_NON_WORKING_DAY_COUNTING`:

     - ``"daytime"`` (default): the seconds between 08:00 and 18:00 of *every* day from receipt
       until the answer, working day or not. Night hours never count (R-OPS-03: time outside
       the service window does not count; on a non-working day the service time is daytime), so
       a question at 16:00 on a holiday answered at 10:00 the next day counts 2 h + 2 h = 4 h,
       and its deadline is 12:00 of that next day.
     - ``"elapsed"``: wall-clock time from receipt to answer (the same example counts 18 h).
  3. Received **at night** (before 08:00 or from 18:00) **on a non-working day**: rule
     ``working_window`` as in 1, so counting starts at 08:00 of the next working day.

  Which rule applies is decided by the local day and hour of receipt, never of the answer.

docs/working-days.md explains the same for operators.
"""

from __future__ import annotations

import enum
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar
from flask import current_app, has_request_context
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import record_audit, sanitize_text
from core.db import db, utcnow
from core.errors import ErrorCode, InvalidInput, PermissionDenied, Problem
from core.identity.models import Role, User
from core.workcalendar.models import NOTE_MAX_LENGTH, CalendarOverride

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Who may change the calendar (the system itself, `actor=None`, may too: `qi calendar`).
CALENDAR_ADMIN_ROLES = frozenset({Role.OPERATOR, Role.SYSADMIN})
COUNTING_MODES = ("daytime", "elapsed")
_DAY = timedelta(days=1)


# ---------------------------------------------------------------------------- working days


class DaySource(enum.StrEnum):
    """Where the answer for a day came from."""

    OVERRIDE = "override"  # the operator's calendar_override row
    STATUTORY = "statutory"  # the chinesecalendar package
    WEEKDAY_FALLBACK = "weekday-fallback"  # a year the package does not know: Mon-Fri work


@dataclass(frozen=True)
class DayInfo:
    day: date
    is_working_day: bool
    source: DaySource
    detail: str | None = None  # the override's note, or the package's holiday name


class OverrideRow(NamedTuple):
    day: date
    is_working_day: bool
    note: str


_warn_lock = threading.Lock()
_warned_years: set[int] = set()  # years already warned about in this process
_uncovered_years: set[int] = set()  # years the package refused (no need to ask it again)


def statutory_years() -> range:
    """The years the installed chinesecalendar package knows (2004-2026 for version 1.11)."""
    try:
        from chinese_calendar.constants import holidays

        years = [d.year for d in holidays]
        return range(min(years), max(years) + 1)
    except Exception:  # an unexpected package layout must not break a status display
        return range(0)


def _check_date(day: Any) -> date:
    # A datetime is a date too, but its date part is in UTC (as stored): refuse it, so nobody
    # silently asks about the wrong day. Use `local_date(moment)`.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}; use local_date() for a datetime")
    return day


@functools.lru_cache(maxsize=8192)
def _package_workday(day: date) -> bool:
    """chinese_calendar's answer, remembered: measuring a long-open consultation asks about
    every day since (an uncovered year raises, and a raised call is not cached)."""
    return bool(chinese_calendar.is_workday(day))


def _statutory(day: date) -> bool | None:
    """The package's answer, or None for a year it does not cover (warned once per year)."""
    if day.year not in _uncovered_years:
        try:
            return _package_workday(day)
        except NotImplementedError:
            _uncovered_years.add(day.year)
    _warn_fallback(day.year)
    return None


def _warn_fallback(year: int) -> None:
    with _warn_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    covered = statutory_years()
    known = f"{covered.start}-{covered.stop - 1}" if covered else "none"
    log.warning(
        "working-day calendar: the chinesecalendar package has no data for %d (it knows %s); "
        "using the override table and the Monday-Friday rule for that year. Record the State "
        "Council's holiday notice with `qi calendar import` or upgrade the package.", year, known)


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware datetime."""
    return _aware(moment, "moment").astimezone(SHANGHAI).date()


class WorkCalendar:
    """Answers "is this a working day?" from overrides, the statutory package and the weekday rule.

    `WorkCalendar(overrides)` uses exactly the given overrides (tests, or callers with their own
    source). `WorkCalendar.load(start, end)` reads the override table once for that range; a day
    outside it later (a deadline that runs further) loads the missing span, whole years at a
    time, through the same session, so a loaded calendar never silently misses an override.
    """

    def __init__(self, overrides: Mapping[date, bool] | None = None, *,
                 notes: Mapping[date, str] | None = None) -> None:
        self._overrides: dict[date, bool] = dict(overrides or {})
        self._notes: dict[date, str] = dict(notes or {})
        self._loader: Callable[[date, date], list[OverrideRow]] | None = None
        self._span: tuple[date, date] | None = None

    @classmethod
    def load(cls, start: date, end: date, *, session: Session | None = None) -> WorkCalendar:
        """A calendar with the override table's rows for `start`..`end` (both included)."""
        start, end = _check_date(start), _check_date(end)
        if end < start:
            raise ValueError("end is before start")
        sess = session if session is not None else db.session

        def read(a: date, b: date) -> list[OverrideRow]:
            rows = sess.execute(
                select(CalendarOverride.day, CalendarOverride.is_working_day, CalendarOverride.note)
                .where(CalendarOverride.day >= a, CalendarOverride.day <= b))
            return [OverrideRow(*row) for row in rows]

        calendar = cls()
        calendar._loader = read
        calendar._add(read(start, end))
        calendar._span = (start, end)
        return calendar

    def _add(self, rows: Iterable[OverrideRow]) -> None:
        for row in rows:
            self._overrides[row.day] = row.is_working_day
            self._notes[row.day] = row.note

    def _ensure_loaded(self, day: date) -> None:
        if self._loader is None or self._span is None:
            return
        lo, hi = self._span
        if lo <= day <= hi:
            return
        new_lo, new_hi = min(lo, date(day.year, 1, 1)), max(hi, date(day.year, 12, 31))
        if new_lo < lo:
            self._add(self._loader(new_lo, lo - _DAY))
        if new_hi > hi:
            self._add(self._loader(hi + _DAY, new_hi))
        self._span = (new_lo, new_hi)

    def _lookup(self, day: date) -> tuple[bool, DaySource]:
        self._ensure_loaded(_check_date(day))
        override = self._overrides.get(day)
        if override is not None:
            return override, DaySource.OVERRIDE
        statutory = _statutory(day)
        if statutory is not None:
            return statutory, DaySource.STATUTORY
        return day.weekday() < 5, DaySource.WEEKDAY_FALLBACK

    def explain(self, day: date) -> DayInfo:
        """The answer for `day`, where it came from and the note or holiday name behind it."""
        working, source = self._lookup(day)
        detail: str | None = None
        if source is DaySource.OVERRIDE:
            detail = self._notes.get(day)
        elif source is DaySource.STATUTORY:
            detail = chinese_calendar.get_holiday_detail(day)[1]
        return DayInfo(day, working, source, detail)

    def is_working_day(self, day: date) -> bool:
        return self._lookup(day)[0]

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (`start` excluded; n = 0 gives `start`)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        day = _check_date(start)
        while n:
            day += _DAY
            if self.is_working_day(day):
                n -= 1
        return day

    def next_working_day(self, day: date, *, inclusive: bool = False) -> date:
        """The first working day after `day` (or `day` itself when `inclusive` and it works)."""
        day = _check_date(day)
        if inclusive and self.is_working_day(day):
            return day
        return self.add_working_days(day, 1)

    def working_days_between(self, a: date, b: date) -> int:
        """The number of working days d with a < d <= b, so that
        `working_days_between(a, add_working_days(a, n)) == n`; negative when b < a."""
        a, b = _check_date(a), _check_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        count, day = 0, a
        while day < b:
            day += _DAY
            count += self.is_working_day(day)
        return count


# ---------------------------------------------------------------------------- the override table


def _deny(actor: User | None, day: date) -> None:
    record_audit("calendar.denied", object_type="calendar_override", object_id=day.isoformat(),
                 result="denied", actor=actor)  # refusals are audited (SECURITY.md 9)
    db.session.commit()
    raise PermissionDenied(_("You are not allowed to do this."))


def _require_calendar_admin(actor: User | None, day: date) -> None:
    if actor is None:
        # The system (CLI, scheduled task). Inside a web request there is always a person, so
        # a missing actor there is a caller's mistake: refuse rather than act unattributed.
        if has_request_context():
            _deny(None, day)
        return
    if not actor.is_active or not actor.has_role(*CALENDAR_ADMIN_ROLES):
        _deny(actor, day)


def _clean_note(note: Any) -> str:
    text = sanitize_text(" ".join(str(note or "").split()), 10_000)
    if not text or len(text) > NOTE_MAX_LENGTH:
        raise InvalidInput([Problem(
            ErrorCode.REQUIRED if not text else ErrorCode.INVALID_INPUT,
            _("Enter a note of at most %(n)d characters saying where this day comes from, "
              "e.g. the State Council's holiday notice.", n=NOTE_MAX_LENGTH),
            field="note")])
    return text


def _as_dict(row: CalendarOverride) -> dict[str, Any]:
    return {"day": row.day.isoformat(), "is_working_day": row.is_working_day, "note": row.note}


def _upsert(entry: OverrideRow, actor: User | None) -> CalendarOverride:
    session = db.session
    row = session.scalar(select(CalendarOverride).where(CalendarOverride.day == entry.day))
    before = _as_dict(row) if row is not None else None
    if row is None:
        row = CalendarOverride(day=entry.day)
        session.add(row)
    row.is_working_day = entry.is_working_day
    row.note = entry.note
    row.created_by_id = actor.id if actor is not None else None
    row.created_at = utcnow()
    session.flush()
    record_audit("calendar.override_set", object_type="calendar_override",
                 object_id=entry.day.isoformat(), before=before, after=_as_dict(row), actor=actor)
    return row


def _commit_with_retry(work: Callable[[], Any]) -> Any:
    """Run `work` and commit; a concurrent insert of the same day (unique) is retried once,
    and then finds the other's row and updates it."""
    for attempt in range(2):
        try:
            result = work()
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
            if attempt:
                raise
        except BaseException:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


def set_override(day: date, is_working_day: bool, note: str, actor: User | None) -> CalendarOverride:
    """Record (or replace) the status of one day; an operator's or a system admin's act.

    `actor=None` is the system (`qi calendar set`), allowed outside web requests only. Audited
    with before/after; committed.
    """
    day = _check_date(day)
    _require_calendar_admin(actor, day)
    entry = OverrideRow(day, bool(is_working_day), _clean_note(note))
    return _commit_with_retry(lambda: _upsert(entry, actor))


def import_overrides(rows: Iterable[OverrideRow | tuple[date, bool, str]],
                     actor: User | None) -> int:
    """Record many days at once (a State Council notice): all of them or, on any bad row, none.

    Returns the number of days written. Problems name the row as `rows[i].note`.
    """
    raw_rows = [(_check_date(day), working, note) for day, working, note in rows]
    if not raw_rows:
        return 0
    _require_calendar_admin(actor, raw_rows[0][0])
    entries: list[OverrideRow] = []
    problems: list[Problem] = []
    for i, (day, working, note) in enumerate(raw_rows):
        try:
            entries.append(OverrideRow(day, bool(working), _clean_note(note)))
        except InvalidInput as exc:
            problems += [Problem(p.code, p.message, f"rows[{i}].{p.field}") for p in exc.problems]
    if problems:
        raise InvalidInput(problems)

    def work() -> int:
        for entry in entries:
            _upsert(entry, actor)
        return len(entries)

    return _commit_with_retry(work)


def remove_override(day: date, actor: User | None) -> bool:
    """Delete the override for `day` (the package or the weekday rule answers again).

    Returns False when there was none (nothing changes; safe to retry). Audited; committed.
    """
    day = _check_date(day)
    _require_calendar_admin(actor, day)
    row = db.session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))
    if row is None:
        return False
    before = _as_dict(row)
    db.session.delete(row)
    record_audit("calendar.override_remove", object_type="calendar_override",
                 object_id=day.isoformat(), before=before, actor=actor)
    db.session.commit()
    return True


def list_overrides(start: date, end: date) -> list[CalendarOverride]:
    return list(db.session.scalars(
        select(CalendarOverride)
        .where(CalendarOverride.day >= start, CalendarOverride.day <= end)
        .order_by(CalendarOverride.day)))


# ---------------------------------------------------------------------------- response SLA


class SlaRule(enum.StrEnum):
    WORKING_WINDOW = "working_window"
    NON_WORKING_DAYTIME = "non_working_daytime"


@dataclass(frozen=True)
class SlaMeasure:
    seconds_counted: int
    rule: SlaRule
    limit_seconds: int | None  # None: no per-consultation limit (the 2 h rule is an average)

    @property
    def within_limit(self) -> bool | None:
        return None if self.limit_seconds is None else self.seconds_counted <= self.limit_seconds


def _aware(moment: Any, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime; use an aware UTC datetime")
    return moment


@dataclass(frozen=True)
class ResponseSla:
    """The response-time policy of R-OPS-03 with its calendar; see the module docstring."""

    calendar: WorkCalendar
    window_start_hour: int = 8
    window_end_hour: int = 18
    non_working_day_limit_hours: int = 6
    non_working_day_counting: Literal["daytime", "elapsed"] = "daytime"

    def __post_init__(self) -> None:
        if not 0 <= self.window_start_hour < self.window_end_hour <= 24:
            raise ValueError("the service window needs 0 <= start hour < end hour <= 24, got "
                             f"{self.window_start_hour}-{self.window_end_hour}")
        if self.non_working_day_limit_hours <= 0:
            raise ValueError("SLA_NON_WORKING_DAY_LIMIT_HOURS must be positive")
        if self.non_working_day_counting not in COUNTING_MODES:
            raise ValueError("SLA_NON_WORKING_DAY_COUNTING must be daytime or elapsed, got "
                             f"{self.non_working_day_counting!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None, *,
                    calendar: WorkCalendar | None = None) -> ResponseSla:
        """The policy the app is configured with (`current_app.config` by default).

        Without `calendar`, one is loaded from the override table for the current year (and
        extends itself to other years when asked about them)."""
        config = current_app.config if config is None else config
        if calendar is None:
            year = local_date(utcnow()).year
            calendar = WorkCalendar.load(date(year, 1, 1), date(year, 12, 31))
        return cls(
            calendar=calendar,
            window_start_hour=int(config.get("SERVICE_WINDOW_START_HOUR", 8)),
            window_end_hour=int(config.get("SERVICE_WINDOW_END_HOUR", 18)),
            non_working_day_limit_hours=int(config.get("SLA_NON_WORKING_DAY_LIMIT_HOURS", 6)),
            non_working_day_counting=config.get("SLA_NON_WORKING_DAY_COUNTING", "daytime"),
        )

    @property
    def non_working_day_limit_seconds(self) -> int:
        return self.non_working_day_limit_hours * 3600

    def _window(self, day: date) -> tuple[datetime, datetime]:
        midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
        return (midnight + timedelta(hours=self.window_start_hour),
                midnight + timedelta(hours=self.window_end_hour))

    def in_daytime(self, moment: datetime) -> bool:
        """Whether `moment` falls inside the day's service hours (working day or not)."""
        local = _aware(moment, "moment").astimezone(SHANGHAI)
        start, end = self._window(local.date())
        return start <= local < end

    def _counted(self, start: datetime, end: datetime, *, working_days_only: bool) -> int:
        start, end = _aware(start, "start"), _aware(end, "end")
        if end <= start:
            return 0
        total = timedelta()
        day, last = local_date(start), local_date(end)
        while day <= last:
            if not working_days_only or self.calendar.is_working_day(day):
                w_start, w_end = self._window(day)
                overlap = min(end, w_end) - max(start, w_start)
                if overlap > timedelta():
                    total += overlap
            day += _DAY
        return int(total.total_seconds())

    def window_seconds(self, start: datetime, end: datetime) -> int:
        """Seconds of [start, end) inside the service window of working days."""
        return self._counted(start, end, working_days_only=True)

    def daytime_seconds(self, start: datetime, end: datetime) -> int:
        """Seconds of [start, end) inside the service hours of any day."""
        return self._counted(start, end, working_days_only=False)

    def rule_for(self, received_at: datetime) -> SlaRule:
        if self.calendar.is_working_day(local_date(received_at)) or not self.in_daytime(received_at):
            return SlaRule.WORKING_WINDOW
        return SlaRule.NON_WORKING_DAYTIME

    def measure(self, received_at: datetime, answered_at: datetime) -> SlaMeasure:
        """The counted first-response time; pass `answered_at=utcnow()` for one still open."""
        received_at, answered_at = _aware(received_at, "received_at"), _aware(answered_at, "answered_at")
        if answered_at < received_at:
            raise ValueError("answered_at is before received_at")
        rule = self.rule_for(received_at)
        if rule is SlaRule.WORKING_WINDOW:
            return SlaMeasure(self.window_seconds(received_at, answered_at), rule, None)
        if self.non_working_day_counting == "elapsed":
            seconds = int((answered_at - received_at).total_seconds())
        else:
            seconds = self.daytime_seconds(received_at, answered_at)
        return SlaMeasure(seconds, rule, self.non_working_day_limit_seconds)


def window_seconds(start: datetime, end: datetime, *, policy: ResponseSla | None = None) -> int:
    """Seconds of [start, end) inside 08:00-18:00 (configurable) on working days, Asia/Shanghai.

    Without `policy`, the app's configuration and override table are used (needs an app context).
    """
    return (policy or ResponseSla.from_config()).window_seconds(start, end)


def first_response_seconds(received_at: datetime, answered_at: datetime, *,
                           policy: ResponseSla | None = None) -> SlaMeasure:
    """R-OPS-03: the first-response time as counted by the rule that applies (module docstring)."""
    return (policy or ResponseSla.from_config()).measure(received_at, answered_at)
