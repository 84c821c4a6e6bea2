"""The yearly service summary (R-ASM-06, M Art. 16): the institution reports on each cycle;
the operator sees which ended cycles have none."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import exists, func, select

from core.assessment import cycles as cycles_mod
from core.assessment.models import AssessmentSheet, ServiceSummary
from core.assessment.service import PAGE_MAX, _denied, _not_final
from core.audit import record_audit
from core.clock import local_today
from core.db import db, utcnow
from core.documents.models import Document
from core.errors import ErrorCode, InvalidInput, Problem
from core.identity.models import User
from core.institutions.access import can_manage_institution, is_platform_staff
from core.institutions.models import Institution

BODY_MIN = 20
BODY_MAX = 20000


def submit_summary(institution: Institution, cycle_number: int, *, body: str,
                   document_id: int | None = None, actor: User | None,
                   on: date | None = None) -> ServiceSummary:
    """The institution's admin submits (or corrects, until the cycle's sheet is final) its
    summary for a begun cycle, with an optional document of its own."""
    if not can_manage_institution(actor, institution.id):
        raise _denied("assessment.summary", "institution", institution.id, actor,
                      _("Only the institution's administrator can submit its service summary."))
    on = on or local_today()
    problems: list[Problem] = []
    current = cycles_mod.current_cycle(institution, on)
    if current is None or not 1 <= cycle_number <= current.number:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Choose a cycle that has begun."), "cycleNumber"))
    text = (body or "").strip()
    if len(text) < BODY_MIN:
        problems.append(Problem(ErrorCode.REQUIRED, _(
            "Write the summary (at least %(n)d characters).", n=BODY_MIN), "body"))
    elif len(text) > BODY_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("At most %(n)d characters.", n=BODY_MAX), "body"))
    if document_id is not None:
        document = db.session.get(Document, document_id)
        if document is None or document.institution_id != institution.id or document.deleted_at:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("Choose one of the institution's own documents."),
                                    "documentId"))
    if problems:
        raise InvalidInput(problems)
    sheet = db.session.scalar(select(AssessmentSheet).where(
        AssessmentSheet.institution_id == institution.id,
        AssessmentSheet.cycle_number == cycle_number))
    if sheet is not None:
        _not_final(sheet)
    c = cycles_mod.cycle(institution, cycle_number)
    assert c is not None and actor is not None
    summary = db.session.scalar(select(ServiceSummary).where(
        ServiceSummary.institution_id == institution.id,
        ServiceSummary.cycle_number == cycle_number))
    before = {"body_chars": len(summary.body), "document_id": summary.document_id} if summary \
        else None
    if summary is None:
        summary = ServiceSummary(institution_id=institution.id, cycle_number=cycle_number,
                                 submitted_by_id=actor.id)
        db.session.add(summary)
    summary.period_start, summary.period_end = c.start, c.end
    summary.body = text.replace("\x00", "")  # paragraphs kept; shown escaped by Jinja
    summary.document_id = document_id
    summary.updated_at = utcnow()
    db.session.flush()
    record_audit("assessment.summary", object_type="service_summary", object_id=summary.id,
                 before=before, after={"cycle": cycle_number, "body_chars": len(text),
                                       "document_id": document_id}, actor=actor)
    db.session.commit()
    return summary


def summary_for(institution_id: int, cycle_number: int) -> ServiceSummary | None:
    return db.session.scalar(select(ServiceSummary).where(
        ServiceSummary.institution_id == institution_id,
        ServiceSummary.cycle_number == cycle_number))


def sheets_missing_summary(viewer: User | None, *, first: int = 20,
                           offset: int = 0) -> tuple[list[AssessmentSheet], int]:
    """Operators and regulators: computed cycles whose institution sent no summary, newest
    first (every ended cycle gets a sheet from the daily task)."""
    if not is_platform_staff(viewer):
        raise _denied("assessment.summaries_missing", "service_summary", None, viewer,
                      _("Only the platform operator or regulator can see this list."))
    if not 1 <= first <= PAGE_MAX or offset < 0:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("Ask for 1 to %(n)d rows.", n=PAGE_MAX), "first")])
    missing = ~exists().where(ServiceSummary.institution_id == AssessmentSheet.institution_id,
                              ServiceSummary.cycle_number == AssessmentSheet.cycle_number)
    query = select(AssessmentSheet).where(missing)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(query.order_by(AssessmentSheet.period_end.desc(),
                                                  AssessmentSheet.id.desc())
                                   .limit(first).offset(offset)))
    return rows, total
