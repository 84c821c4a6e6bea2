"""The response SLA of consultations (R-OPS-03), built on `core.workcalendar` (the one place for
the arithmetic; see docs/working-days.md).

* The first institution reply is measured with `first_response_seconds` and the measure (seconds
  counted, rule, limit) is stored on the consultation.
* `monthly_sla`: per institution and month (Asia/Shanghai), the average counted seconds of the
  consultations under the working-window rule (≤ 2 h) and whether every consultation received in
  daytime on a non-working day was answered within its limit (6 h), with the evidence. One still
  unanswered is measured up to `now`, as the docs say.
* `SlaTally` is the one definition of that verdict; `MonthlySla` reads it from its evidence and
  `monthly_tallies` (many institutions' month without the evidence, for the operator's
  spot-check list) from stored measures summed in SQL — `_tally_columns` is `SlaTally.add`
  written in SQL — plus the unanswered ones measured as `monthly_sla_many` measures them.
* `due_soon`: unanswered consultations whose counted time has reached the reminder threshold:
  `CONSULTATION_REMINDER_WORKING_MINUTES` (default 90) of service-window time for the working
  window rule, or the limit less `CONSULTATION_REMINDER_LEAD_MINUTES` (default 60) for the
  non-working-day rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, case, func, not_, or_, select

from core.consultations.models import Consultation, ConsultationStatus
from core.db import db, utcnow
from core.workcalendar.service import (
    SHANGHAI,
    ResponseSla,
    SlaMeasure,
    SlaRule,
    WorkCalendar,
    first_response_seconds,
    local_date,
)

AVERAGE_LIMIT_SECONDS = 2 * 3600  # R-OPS-03: the average on working days is at most 2 h
DEFAULT_REMINDER_WORKING_MINUTES = 90
DEFAULT_REMINDER_LEAD_MINUTES = 60


def policy_for(start: datetime, end: datetime) -> ResponseSla:
    """The configured policy with the override table loaded for the days from `start` to `end`."""
    calendar = WorkCalendar.load(local_date(start) - timedelta(days=1), local_date(end))
    return ResponseSla.from_config(calendar=calendar)


def measure(received_at: datetime, answered_at: datetime,
            policy: ResponseSla | None = None) -> SlaMeasure:
    """The counted first-response time (R-OPS-03)."""
    return first_response_seconds(received_at, answered_at,
                                  policy=policy or policy_for(received_at, answered_at))


def within_limit(seconds: int, limit_seconds: int | None) -> bool | None:
    """A consultation's counted time against its own limit (None: it has none)."""
    return None if limit_seconds is None else seconds <= limit_seconds


@dataclass
class SlaTally:
    """What R-OPS-03's verdict counts, and the verdict: the one definition of it.

    Working-window consultations are averaged (at most 2 h, true with none); every one received
    in daytime on a non-working day must be within its limit — one without a limit counts as
    missed, as `MonthlySla.non_working_missed` lists it."""

    working_count: int = 0
    working_seconds: int = 0
    non_working_missed: int = 0

    def add(self, rule: str, seconds: int, limit_seconds: int | None) -> None:
        if rule == SlaRule.NON_WORKING_DAYTIME:
            self.non_working_missed += not within_limit(seconds, limit_seconds)
        else:
            self.working_count += 1
            self.working_seconds += seconds

    @property
    def average_seconds(self) -> float | None:
        return self.working_seconds / self.working_count if self.working_count else None

    @property
    def average_within(self) -> bool:
        # In whole seconds, so the verdict does not depend on float rounding.
        return self.working_seconds <= AVERAGE_LIMIT_SECONDS * self.working_count

    @property
    def non_working_within(self) -> bool:
        return not self.non_working_missed

    @property
    def met(self) -> bool:
        return self.average_within and self.non_working_within


@dataclass(frozen=True)
class SlaEvidence:
    consultation_id: int
    received_at: datetime
    first_response_at: datetime | None  # None: still unanswered, measured up to the report time
    rule: str
    seconds: int
    limit_seconds: int | None

    @property
    def within_limit(self) -> bool | None:
        return within_limit(self.seconds, self.limit_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {"consultationId": self.consultation_id, "receivedAt": self.received_at.isoformat(),
                "firstResponseAt": self.first_response_at.isoformat()
                if self.first_response_at else None,
                "rule": self.rule, "seconds": self.seconds, "limitSeconds": self.limit_seconds}


@dataclass(frozen=True)
class MonthlySla:
    """One institution's month against R-OPS-03 (Annex 2 item 8 reads it), with the evidence."""

    institution_id: int
    year: int
    month: int
    working_window: list[SlaEvidence] = field(default_factory=list)
    non_working_daytime: list[SlaEvidence] = field(default_factory=list)

    @property
    def tally(self) -> SlaTally:
        tally = SlaTally()
        for e in self.working_window + self.non_working_daytime:
            tally.add(e.rule, e.seconds, e.limit_seconds)
        return tally

    @property
    def average_seconds(self) -> float | None:
        return self.tally.average_seconds

    @property
    def average_within(self) -> bool:
        return self.tally.average_within

    @property
    def non_working_missed(self) -> list[SlaEvidence]:
        return [e for e in self.non_working_daytime if not e.within_limit]

    @property
    def non_working_within(self) -> bool:
        return self.tally.non_working_within

    @property
    def met(self) -> bool:
        return self.tally.met


def _month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=SHANGHAI)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def monthly_sla(institution_id: int, year: int, month: int, *,
                now: datetime | None = None) -> MonthlySla:
    """R-OPS-03 for the consultations `institution_id` received in `year`-`month` (Shanghai)."""
    return monthly_sla_many({institution_id: [(year, month)]}, now=now)[institution_id][0]


def _received(institutions: Any, start: datetime, end: datetime, now: datetime) -> list[Any]:
    """The consultations of `institutions` (ids, or a SELECT of them) received in [start, end)
    and not after `now`: what a month's SLA counts."""
    return [Consultation.institution_id.in_(institutions), Consultation.received_at >= start,
            Consultation.received_at < end, Consultation.received_at <= now]


# Answered: the first reply's measure is stored on the consultation (`measure`, when replying).
_ANSWERED = and_(Consultation.first_response_at.is_not(None), Consultation.sla_rule.is_not(None))


def monthly_sla_many(months: Mapping[int, Sequence[tuple[int, int]]], *,
                     now: datetime | None = None) -> dict[int, list[MonthlySla]]:
    """`monthly_sla` of many institutions, each for its own (year, month)s, in one statement
    (the yearly assessment reads every institution's cycle this way)."""
    if any(not 1 <= month <= 12 for wanted in months.values() for _year, month in wanted):
        raise ValueError("month must be 1-12")
    now = now or utcnow()
    reports = {(i, y, m): MonthlySla(i, y, m) for i, wanted in months.items() for y, m in wanted}
    if not reports:
        return {i: [] for i in months}
    start = min(_month_bounds(y, m)[0] for _i, y, m in reports)
    end = max(_month_bounds(y, m)[1] for _i, y, m in reports)
    # Only the columns read below: a whole year of ten thousand institutions goes through here.
    rows = db.session.execute(
        select(Consultation.id, Consultation.institution_id, Consultation.received_at,
               Consultation.first_response_at, Consultation.sla_rule, Consultation.sla_seconds,
               Consultation.sla_limit_seconds, _ANSWERED.label("answered"))
        .where(*_received(list(months), start, end, now))
        .order_by(Consultation.received_at, Consultation.id))
    policy = policy_for(start, max(now, start))
    for c in rows:
        local = c.received_at.astimezone(SHANGHAI)
        report = reports.get((c.institution_id, local.year, local.month))
        if report is None:
            continue
        if c.answered:
            evidence = SlaEvidence(c.id, c.received_at, c.first_response_at, c.sla_rule,
                                   c.sla_seconds or 0, c.sla_limit_seconds)
        else:
            m = policy.measure(c.received_at, now)  # still unanswered: measured up to now
            evidence = SlaEvidence(c.id, c.received_at, None, str(m.rule), m.seconds_counted,
                                   m.limit_seconds)
        bucket = (report.non_working_daytime if evidence.rule == SlaRule.NON_WORKING_DAYTIME
                  else report.working_window)
        bucket.append(evidence)
    return {i: [reports[(i, y, m)] for y, m in wanted] for i, wanted in months.items()}


def _tally_columns() -> list[ColumnElement[Any]]:
    """`SlaTally.add` summed in SQL over answered consultations' stored measures: working-window
    count and seconds, and non-working-daytime ones not `within_limit` (no limit: missed)."""
    non_working = Consultation.sla_rule == SlaRule.NON_WORKING_DAYTIME.value
    seconds = func.coalesce(Consultation.sla_seconds, 0)
    limit = Consultation.sla_limit_seconds
    missed = and_(non_working, or_(limit.is_(None), seconds > limit))
    return [func.sum(case((non_working, 0), else_=1)), func.sum(case((non_working, 0), else_=seconds)),
            func.sum(case((missed, 1), else_=0))]


def monthly_tallies(institution_ids: Sequence[int], year: int, month: int, *,
                    now: datetime | None = None,
                    scope: Select[tuple[int]] | None = None) -> dict[int, SlaTally]:
    """`monthly_sla_many`'s verdict for one month of many institutions, without the evidence:
    the operator's spot-check list scores every live institution with it on each request.
    Answered consultations are tallied in SQL from their stored measures (reading each row costs
    too much for thousands of institutions), the unanswered ones measured up to `now` with the
    same policy and added with `SlaTally.add`. Two statements (three with an unanswered one, for
    the calendar). `scope`: the same ids as a SELECT, so a long id list stays out of the SQL."""
    if not 1 <= month <= 12:
        raise ValueError("month must be 1-12")
    now = now or utcnow()
    start, end = _month_bounds(year, month)
    window = _received(scope if scope is not None else list(institution_ids), start, end, now)
    tallies = {i: SlaTally() for i in institution_ids}
    for institution_id, count, seconds, missed in db.session.execute(
            select(Consultation.institution_id, *_tally_columns())
            .where(*window, _ANSWERED).group_by(Consultation.institution_id)):
        if institution_id in tallies:
            tallies[institution_id] = SlaTally(int(count or 0), int(seconds or 0), int(missed or 0))
    waiting = db.session.execute(select(Consultation.institution_id, Consultation.received_at)
                                 .where(*window, not_(_ANSWERED))).all()
    if waiting:
        policy = policy_for(start, max(now, start))
        for institution_id, received_at in waiting:
            if institution_id in tallies:
                m = policy.measure(received_at, now)
                tallies[institution_id].add(m.rule, m.seconds_counted, m.limit_seconds)
    return tallies


@dataclass(frozen=True)
class DueConsultation:
    consultation: Consultation
    measure: SlaMeasure
    threshold_seconds: int


def reminder_threshold(rule: SlaRule, limit_seconds: int | None) -> int:
    config = current_app.config
    if rule is SlaRule.NON_WORKING_DAYTIME and limit_seconds is not None:
        lead = int(config.get("CONSULTATION_REMINDER_LEAD_MINUTES", DEFAULT_REMINDER_LEAD_MINUTES))
        return max(limit_seconds - lead * 60, 0)
    return int(config.get("CONSULTATION_REMINDER_WORKING_MINUTES",
                          DEFAULT_REMINDER_WORKING_MINUTES)) * 60


def due_soon(now: datetime | None = None) -> list[DueConsultation]:
    """Unanswered open consultations whose counted time has reached the reminder threshold."""
    now = now or utcnow()
    rows = list(db.session.scalars(
        select(Consultation).where(Consultation.status == ConsultationStatus.OPEN,
                                   Consultation.first_response_at.is_(None),
                                   Consultation.received_at <= now)
        .order_by(Consultation.received_at, Consultation.id)))
    if not rows:
        return []
    policy = policy_for(min(c.received_at for c in rows), now)
    due: list[DueConsultation] = []
    for c in rows:
        m = policy.measure(c.received_at, now)
        threshold = reminder_threshold(m.rule, m.limit_seconds)
        if m.seconds_counted >= threshold:
            due.append(DueConsultation(c, m, threshold))
    return due
