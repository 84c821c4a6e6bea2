"""Recording client cases and reading the recent ones (R-ELIG-07, M Art. 8).

A case counts for R-ELIG-07 when it was completed within the 24 months before the day of the
check (a case exactly 24 months old counts, one a day older does not) and its evidence photo is
still there: one of the institution's own `case_evidence` documents, not deleted and not
rejected by the operator. How many are needed is `QI_CASES_REQUIRED` (default 1).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from core.audit import record_audit
from core.cases.models import NUMBERED_KINDS, CaseKind, QualificationCase
from core.clock import local_today
from core.db import db
from core.documents.models import Document, Verification
from core.errors import ErrorCode, InvalidInput, Problem
from core.identity.models import User
from core.ids import get_by_id, parse_id
from core.institutions.models import Institution
from core.onboarding.eligibility import CheckResult

RULE = "R-ELIG-07"
WINDOW_MONTHS = 24  # "两年内" (M Art. 8)
DEFAULT_CASES_REQUIRED = 1
EVIDENCE_KIND = "case_evidence"
CLIENT_NAME_MAX = 200
DESCRIPTION_MAX = 2000
REFERENCE_MAX = 64

_TRADEMARK = re.compile(r"\d{1,10}")
# A patent number after its ZL/CN prefix and dot are removed: 12 digits (since 2003) or 8 (1985-
# 2003), then the check digit (0-9 or X).
_PATENT = re.compile(r"(\d{12}|\d{8})([\dX])")
_PATENT_TYPES = frozenset("12389")  # invention, utility model, design, PCT invention / utility
_PATENT_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


# ---------------------------------------------------------------- dates and settings


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier; the month's last day when it has no such day (29 Feb)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def window_start(on: date) -> date:
    """The first day of the 24 months before `on` that R-ELIG-07 looks at."""
    return months_before(on, WINDOW_MONTHS)


def cases_required() -> int:
    """How many recent cases R-ELIG-07 asks for (config `QI_CASES_REQUIRED`, default 1)."""
    return int(current_app.config["QI_CASES_REQUIRED"])


# ---------------------------------------------------------------- reference numbers


def patent_check_digit(body: str) -> str:
    """The check digit of a patent application number's 8 or 12 digits (CNIPA, mod 11)."""
    total = sum(int(d) * w for d, w in zip(body, _PATENT_WEIGHTS, strict=False))
    return "0123456789X"[total % 11]


def normalise_patent_number(raw: str, *, granted_by: date | None = None) -> str | None:
    """`ZL202310123456.7` from `zl 2023 1012 3456.7`, `CN202310123456.7` or `2023101234567`;
    None when the format, year, type digit or check digit is wrong."""
    compact = re.sub(r"[\s.]", "", raw.upper())
    compact = re.sub(r"^(ZL|CN)", "", compact)
    match = _PATENT.fullmatch(compact)
    if match is None:
        return None
    body, check = match.groups()
    if len(body) == 12:
        year, kind = int(body[:4]), body[4]
        first, last = 2003, (granted_by or local_today()).year
    else:  # the older form: a two-digit year
        two = int(body[:2])
        year, kind = (1900 + two if two >= 85 else 2000 + two), body[2]
        first, last = 1985, 2003
    if not first <= year <= last or kind not in _PATENT_TYPES or patent_check_digit(body) != check:
        return None
    return f"ZL{body}.{check}"


def _clean_reference(kind: CaseKind, raw: str,
                     completed_on: date | None) -> tuple[str | None, Problem | None]:
    """The reference number as stored, or the problem with it."""
    field = "referenceNumber"
    text = re.sub(r"\s+", "", raw or "")
    if kind is CaseKind.TRADEMARK_REGISTRATION:
        text = text.removeprefix("第").removesuffix("号")
        if not text:
            return None, Problem(ErrorCode.REQUIRED, _("Enter the trademark registration number."),
                                 field)
        if not _TRADEMARK.fullmatch(text):
            return None, Problem(ErrorCode.INVALID_NUMBER,
                                 _("A trademark registration number has only digits, such as "
                                   "38476512."), field)
        return text, None
    if kind is CaseKind.PATENT_GRANT:
        if not text:
            return None, Problem(ErrorCode.REQUIRED, _("Enter the patent number."), field)
        number = normalise_patent_number(text, granted_by=completed_on)
        if number is None:
            return None, Problem(ErrorCode.INVALID_NUMBER,
                                 _("A patent number looks like ZL202310123456.7 and its last "
                                   "digit must check."), field)
        return number, None
    text = " ".join((raw or "").split())
    if len(text) > REFERENCE_MAX:
        return None, Problem(ErrorCode.INVALID_INPUT,
                             _("Enter at most %(n)d characters.", n=REFERENCE_MAX), field)
    return text or None, None


# ---------------------------------------------------------------- recording


def _evidence_problem(institution: Institution, document_id: Any) -> Problem | None:
    """The evidence must be the institution's own current, not rejected case photo; somebody
    else's document gets the same answer as a missing one (its existence is not revealed)."""
    document = get_by_id(Document, document_id)
    if (document is None or document.institution_id != institution.id
            or document.kind != EVIDENCE_KIND or not document.is_current
            or document.verification is Verification.REJECTED):
        return Problem(ErrorCode.INVALID_INPUT if document_id else ErrorCode.REQUIRED,
                       _("Choose a case evidence photo uploaded by this institution."),
                       "evidenceDocumentId")
    return None


def record_case(institution: Institution, *, category_code: str, kind: str | CaseKind,
                client_name: str, completed_on: date | None, reference_number: str | None,
                evidence_document_id: int | str | None, description: str | None = None,
                actor: User | None) -> QualificationCase:
    """Add a successful case to the institution's client list (R-ELIG-07).

    Only the institution's administrator may; the category must be one it chose; trademark and
    patent cases carry their registration or patent number (checked); the day may not lie in the
    future; the evidence is one of the institution's own current `case_evidence` documents.
    Every problem is reported at once; the case is audited.
    """
    from core.onboarding.profile import (
        clean_line,
        clean_paragraphs,
        institution_categories,
        require_institution_admin,
    )

    require_institution_admin(institution, actor, "case.record")
    problems: list[Problem] = []
    category = clean_line(category_code)
    if category not in institution_categories(institution):
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Choose one of the institution's service categories."),
                                "categoryCode"))
    try:
        case_kind: CaseKind | None = CaseKind(str(kind))
    except ValueError:
        case_kind = None
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("Choose the kind of case."), "kind"))
    client = clean_line(client_name)
    if not client:
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the client's name."), "clientName"))
    elif len(client) > CLIENT_NAME_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Enter at most %(n)d characters.", n=CLIENT_NAME_MAX), "clientName"))
    if not isinstance(completed_on, date):
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the day the case was completed."),
                                "completedOn"))
    elif completed_on > local_today():
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The day the case was completed cannot be in the future."),
                                "completedOn"))
    reference = None
    if case_kind is not None:
        reference, problem = _clean_reference(
            case_kind, reference_number or "", completed_on if isinstance(completed_on, date) else None)
        if problem is not None:
            problems.append(problem)
        elif reference and case_kind in NUMBERED_KINDS and db.session.scalar(
                select(QualificationCase.id).where(
                    QualificationCase.institution_id == institution.id,
                    QualificationCase.kind == case_kind,
                    QualificationCase.reference_number == reference).limit(1)) is not None:
            problems.append(Problem(ErrorCode.DUPLICATE,
                                    _("This number is already on the client list."),
                                    "referenceNumber"))
    text = clean_paragraphs(description) or None
    if text and len(text) > DESCRIPTION_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Enter at most %(n)d characters.", n=DESCRIPTION_MAX), "description"))
    evidence = _evidence_problem(institution, evidence_document_id)
    if evidence is not None:
        problems.append(evidence)
    if problems:
        raise InvalidInput(problems)

    assert case_kind is not None and isinstance(completed_on, date) and actor is not None
    case = QualificationCase(
        institution_id=institution.id, category_code=category, kind=case_kind, client_name=client,
        completed_on=completed_on, reference_number=reference, description=text,
        evidence_document_id=parse_id(evidence_document_id), recorded_by_id=actor.id)
    try:
        db.session.add(case)
        db.session.flush()
        record_audit("case.record", object_type="qualification_case", object_id=case.id,
                     after={"institution_id": institution.id, "category": category,
                            "kind": case_kind.value, "completed_on": completed_on.isoformat(),
                            "reference_number": reference,
                            "evidence_document_id": case.evidence_document_id}, actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return case


# ---------------------------------------------------------------- reading


def cases_of(institution_id: int, category_code: str | None = None) -> list[QualificationCase]:
    """The institution's client list (of one category), most recent first."""
    query = select(QualificationCase).where(QualificationCase.institution_id == institution_id)
    if category_code is not None:
        query = query.where(QualificationCase.category_code == category_code)
    return list(db.session.scalars(query.order_by(QualificationCase.completed_on.desc(),
                                                  QualificationCase.id.desc())))


def _why_not_counted(case: QualificationCase, evidence: Document | None, on: date) -> str | None:
    if case.completed_on < window_start(on):
        return "older_than_24_months"
    if case.completed_on > on:
        return "after_the_check_date"
    if (evidence is None or evidence.deleted_at is not None
            or evidence.verification is Verification.REJECTED
            or evidence.institution_id != case.institution_id):
        return "evidence_missing"
    return None


def _classified(institution_id: int, category_code: str, on: date,
                kinds: Iterable[CaseKind | str] | None) -> list[tuple[QualificationCase, str | None]]:
    query = (select(QualificationCase, Document)
             .join(Document, Document.id == QualificationCase.evidence_document_id, isouter=True)
             .where(QualificationCase.institution_id == institution_id,
                    QualificationCase.category_code == category_code)
             .order_by(QualificationCase.completed_on.desc(), QualificationCase.id.desc()))
    if kinds is not None:
        query = query.where(QualificationCase.kind.in_([CaseKind(str(k)) for k in kinds]))
    return [(case, _why_not_counted(case, evidence, on))
            for case, evidence in db.session.execute(query)]


def recent_cases(institution_id: int, category_code: str, on: date,
                 kinds: Iterable[CaseKind | str] | None = None) -> list[QualificationCase]:
    """The cases of `category_code` that count on day `on`: completed within the 24 months
    before it (inclusive) with their evidence photo still in place, most recent first."""
    return [case for case, reason in _classified(institution_id, category_code, on, kinds)
            if reason is None]


def _case_evidence(case: QualificationCase, reason: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"case_id": case.id, "kind": case.kind.value,
                           "completed_on": case.completed_on.isoformat(),
                           "reference_number": case.reference_number,
                           "evidence_document_id": case.evidence_document_id}
    if reason is not None:
        row["reason"] = reason
    return row


def case_list_check(institution: Institution, category_code: str, on: date,
                    kinds: Iterable[CaseKind | str] | None = None) -> CheckResult:
    """R-ELIG-07 for one category: at least `QI_CASES_REQUIRED` recent cases with evidence.
    The evidence names the cases counted and, with the reason, those that were not."""
    required = cases_required()
    since = window_start(on)
    classified = _classified(institution.id, category_code, on, kinds)
    counted = [case for case, reason in classified if reason is None]
    passed = len(counted) >= required
    if passed:
        message = _("%(n)d successful client case(s) with evidence since %(since)s (at least "
                    "%(required)d required).", n=len(counted), since=since.isoformat(),
                    required=required)
    else:
        message = _("At least %(required)d successful client case(s) with photo evidence are "
                    "required since %(since)s; there are %(n)d.", required=required,
                    since=since.isoformat(), n=len(counted))
    return CheckResult(RULE, passed, message, {
        "since": since.isoformat(), "on": on.isoformat(), "required": required,
        "cases": [_case_evidence(case) for case in counted],
        "not_counted": [_case_evidence(case, reason) for case, reason in classified
                        if reason is not None],
    }, category_code)
