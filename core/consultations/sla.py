"""The response SLA of consultations (R-OPS-03), built on `core.workcalendar` (the one place for
the arithmetic; see docs/working-days.md).

* The first institution reply is measured with `first_response_seconds` and the measure (seconds
  counted, rule, limit) is stored on the consultation.
* `monthly_sla`: per institution and month (Asia/Shanghai), the average counted seconds of the
  consultations under the working-window rule (≤ 2 h) and whether every consultation received in
  daytime on a non-working day was answered within its limit (6 h), with the evidence. One still
  unanswered is measured up to `now`, as the docs say.
* `due_soon`: unanswered consultations whose counted time has reached the reminder threshold:
  `CONSULTATION_REMINDER_WORKING_MINUTES` (default 90) of service-window time for the working
  window rule, or the limit less `CONSULTATION_REMINDER_LEAD_MINUTES` (default 60) for the
  non-working-day rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

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
        return None if self.limit_seconds is None else self.seconds <= self.limit_seconds

    def as_dict(self) -> dict[str, Any]:
        return {"consultationId": self.consultation_id, "receivedAt": self.received_at.isoformat(),
                "firstResponseAt": self.first_response_at.isoformat()
                if self.first_response_at else None,
                "rule": self.rule, "seconds": self.seconds, "limitSeconds": self.limit_seconds}


@dataclass(frozen=True)
class MonthlySla:
    """One institution's month against R-OPS-03 (Annex 2 item 8 reads it)."""

    institution_id: int
    year: int
    month: int
    working_window: list[SlaEvidence] = field(default_factory=list)
    non_working_daytime: list[SlaEvidence] = field(default_factory=list)

    @property
    def average_seconds(self) -> float | None:
        if not self.working_window:
            return None
        return sum(e.seconds for e in self.working_window) / len(self.working_window)

    @property
    def average_within(self) -> bool:
        """The working-window average is at most 2 h (true with no such consultation)."""
        average = self.average_seconds
        return average is None or average <= AVERAGE_LIMIT_SECONDS

    @property
    def non_working_missed(self) -> list[SlaEvidence]:
        return [e for e in self.non_working_daytime if not e.within_limit]

    @property
    def non_working_within(self) -> bool:
        return not self.non_working_missed

    @property
    def met(self) -> bool:
        return self.average_within and self.non_working_within


def _month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=SHANGHAI)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def monthly_sla(institution_id: int, year: int, month: int, *,
                now: datetime | None = None) -> MonthlySla:
    """R-OPS-03 for the consultations `institution_id` received in `year`-`month` (Shanghai)."""
    if not 1 <= month <= 12:
        raise ValueError("month must be 1-12")
    now = now or utcnow()
    start, end = _month_bounds(year, month)
    rows = list(db.session.scalars(
        select(Consultation).where(Consultation.institution_id == institution_id,
                                   Consultation.received_at >= start,
                                   Consultation.received_at < end,
                                   Consultation.received_at <= now)
        .order_by(Consultation.received_at, Consultation.id)))
    report = MonthlySla(institution_id, year, month)
    policy = policy_for(start, max(now, start))
    for c in rows:
        if c.first_response_at is not None and c.sla_rule is not None:
            evidence = SlaEvidence(c.id, c.received_at, c.first_response_at, c.sla_rule,
                                   c.sla_seconds or 0, c.sla_limit_seconds)
        else:
            m = policy.measure(c.received_at, now)
            evidence = SlaEvidence(c.id, c.received_at, None, str(m.rule), m.seconds_counted,
                                   m.limit_seconds)
        bucket = (report.non_working_daytime if evidence.rule == SlaRule.NON_WORKING_DAYTIME
                  else report.working_window)
        bucket.append(evidence)
    return report


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
