"""Compliance records (R-ELIG-03): violations, penalties and list entries the operator records.

`blocking_records` is the one place of the rule; onboarding eligibility (R-ELIG-03) and
assessment item 1 (R-ASM-02) both read it. A record blocks on day `on` when

* it is in effect that day — any kind: `occurred_on <= on` and (`ended_on` is None or
  `on < ended_on`); `ended_on` is the first day it no longer applies; or
* it is a violation or an administrative penalty that occurred within the three years before
  `on` (`three_years_before(on) <= occurred_on <= on`), ended or not (M Art. 5 "近三年内无违法违规
  行为"; Annex 2 item 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import select

from core.audit import record_audit, sanitize_text
from core.clock import local_today
from core.db import db, utcnow
from core.errors import ErrorCode, InvalidInput, PermissionDenied, Problem
from core.identity.models import Role, User
from core.institutions.models import Institution
from core.onboarding.models import ComplianceKind, ComplianceRecord

LOOKBACK_YEARS = 3
# Kinds that count for three years after they occurred, even once ended.
LOOKBACK_KINDS = frozenset({ComplianceKind.VIOLATION, ComplianceKind.ADMINISTRATIVE_PENALTY})
SOURCE_MAX = 500  # ComplianceRecord.source
REFERENCE_MAX = 100  # ComplianceRecord.reference
DESCRIPTION_MAX = 5000


# ---------------------------------------------------------------- the rule


def three_years_before(on: date) -> date:
    """The same calendar day three years earlier; 29 February falls back to 28 February."""
    try:
        return on.replace(year=on.year - LOOKBACK_YEARS)
    except ValueError:  # 29 Feb in a leap year, three years before: not a leap year
        return on.replace(year=on.year - LOOKBACK_YEARS, day=28)


def in_effect(record: ComplianceRecord, on: date) -> bool:
    return record.occurred_on <= on and (record.ended_on is None or on < record.ended_on)


def blocks(record: ComplianceRecord, on: date) -> bool:
    """Whether `record` blocks approval (and costs assessment item 1) on day `on`."""
    if in_effect(record, on):
        return True
    return (record.kind in LOOKBACK_KINDS
            and three_years_before(on) <= record.occurred_on <= on)


def blocking_records(institution_id: int, on: date) -> list[ComplianceRecord]:
    """The institution's records that block on day `on`, oldest first."""
    return blocking_records_many({institution_id: on})[institution_id]


def blocking_records_many(days: Mapping[int, date]) -> dict[int, list[ComplianceRecord]]:
    """`blocking_records` of many institutions, each on its own day, in one statement."""
    found: dict[int, list[ComplianceRecord]] = {i: [] for i in days}
    if days:
        for r in db.session.scalars(
                select(ComplianceRecord)
                .where(ComplianceRecord.institution_id.in_(list(days)),
                       ComplianceRecord.occurred_on <= max(days.values()))
                .order_by(ComplianceRecord.occurred_on, ComplianceRecord.id)):
            if blocks(r, days[r.institution_id]):
                found[r.institution_id].append(r)
    return found


def records_of(institution_id: int) -> list[ComplianceRecord]:
    """Every record of the institution, most recent first."""
    return list(db.session.scalars(
        select(ComplianceRecord).where(ComplianceRecord.institution_id == institution_id)
        .order_by(ComplianceRecord.occurred_on.desc(), ComplianceRecord.id.desc())))


# ---------------------------------------------------------------- recording


def _require_operator(actor: User, object_type: str, object_id: int) -> None:
    if not actor.has_role(Role.OPERATOR):
        record_audit("compliance.denied", object_type=object_type, object_id=object_id,
                     result="denied", actor=actor)  # refusals are audited (SECURITY.md 9)
        db.session.commit()
        raise PermissionDenied(_("Only the platform operator can record compliance information."))


def _is_day(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _text(value: str | None, field: str, limit: int, problems: list[Problem], *,
          required: bool = False) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        if required:
            problems.append(Problem(ErrorCode.REQUIRED,
                                    _("Enter the source of the record (e.g. the credit "
                                      "information publicity system)."), field))
        return None
    if len(text) > limit:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("At most %(n)d characters.", n=limit), field))
        return None
    return sanitize_text(text, limit)


def _check_end(occurred_on: date | None, ended_on: object, problems: list[Problem]) -> None:
    if ended_on is None:
        return
    if not _is_day(ended_on):
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("Enter the end date as a date."),
                                "endedOn"))
    elif occurred_on is not None and ended_on < occurred_on:  # type: ignore[operator]
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The end date is before the date it occurred."), "endedOn"))


def record(institution: Institution, *, kind: ComplianceKind, occurred_on: date, source: str,
           reference: str | None = None, description: str | None = None,
           ended_on: date | None = None, actor: User) -> ComplianceRecord:
    """The operator records a dated compliance fact with its source (R-ELIG-03)."""
    _require_operator(actor, "institution", institution.id)
    problems: list[Problem] = []
    clean_kind: ComplianceKind | None = None
    try:
        clean_kind = ComplianceKind(kind)
    except ValueError:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("Choose the kind of record."), "kind"))
    if not _is_day(occurred_on):
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the date it occurred."), "occurredOn"))
        day: date | None = None
    elif occurred_on > local_today():
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The date it occurred cannot be in the future."), "occurredOn"))
        day = None
    else:
        day = occurred_on
    _check_end(day, ended_on, problems)
    clean_source = _text(source, "source", SOURCE_MAX, problems, required=True)
    clean_reference = _text(reference, "reference", REFERENCE_MAX, problems)
    clean_description = _text(description, "description", DESCRIPTION_MAX, problems)
    if problems or clean_kind is None:
        raise InvalidInput(problems)

    row = ComplianceRecord(
        institution_id=institution.id, kind=clean_kind, occurred_on=occurred_on,
        ended_on=ended_on, source=clean_source, reference=clean_reference,
        description=clean_description, recorded_by_id=actor.id, recorded_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    record_audit("compliance.record", object_type="compliance_record", object_id=row.id,
                 after={"institution_id": institution.id, "kind": clean_kind.value,
                        "occurred_on": occurred_on.isoformat(),
                        "ended_on": ended_on.isoformat() if ended_on else None,
                        "source": clean_source, "reference": clean_reference}, actor=actor)
    db.session.commit()
    return row


def end_record(record: ComplianceRecord, *, ended_on: date, actor: User) -> ComplianceRecord:
    """The operator records the day a record stopped being in effect (removed from the list,
    penalty fulfilled). A violation or penalty still counts for three years after it occurred."""
    _require_operator(actor, "compliance_record", record.id)
    problems: list[Problem] = []
    if not _is_day(ended_on):
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the end date."), "endedOn"))
    else:
        _check_end(record.occurred_on, ended_on, problems)
    if problems:
        raise InvalidInput(problems)
    before = record.ended_on
    record.ended_on = ended_on
    record_audit("compliance.end", object_type="compliance_record", object_id=record.id,
                 before={"ended_on": before.isoformat() if before else None},
                 after={"ended_on": ended_on.isoformat()}, actor=actor)
    db.session.commit()
    return record
