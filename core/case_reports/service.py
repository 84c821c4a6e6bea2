"""Success cases an institution reports (R-OPS-02, M Art. 13), who reads them, and the client's
contact masked for anyone else (R-G-05; SECURITY.md 9-10).

* The institution's admin or one of its agents reports a case with the fields of M Art. 13:
  consultation time, client name and contact, item and content, the reply, whether business
  followed and the amount saved for the client. `draft_from` prefills them from one of the
  institution's consultations or orders. Every field is checked on its own and every problem is
  listed at once.
* A consultation or an order is the source of one counted report at most, so one case is not
  counted twice by assessment item 6 (`core.case_reports.queries.reported_cases`).
* Withdrawing (the institution's admin, or the agent who reported it) keeps the report and its
  reason; it is no longer counted.
* Readers: the institution's staff, operators and regulators; anybody else is refused and the
  refusal audited. The client's contact follows the one rule for an institution's clients
  (`core.institutions.access.sees_client_contact`): in full for the institution's admin and
  platform staff, masked (`138****5678`) for its agents — as a consultation's asker is — and on
  every other path (audit rows; a draft leaves it empty rather than masked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from core.audit import record_audit
from core.case_reports.models import CaseReport
from core.case_reports.queries import reported_cases
from core.catalogue.models import ServiceItem
from core.clock import CHINA, china_period, local_today
from core.consultations.models import Consultation, MessageSide
from core.db import db, utcnow
from core.errors import ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import User
from core.identity.service import normalize_email
from core.ids import get_by_id, parse_id
from core.institutions.access import (
    client_contact_institutions,
    is_platform_staff,
    sees_client_contact,
    staff_role,
)
from core.institutions.models import Institution, InstitutionStaff, StaffRole
from core.masking import mask_contact
from core.onboarding.profile import clean_line, clean_paragraphs, normalize_contact_phone
from core.orders.models import Order

NAME_MAX = 200
CONTACT_MAX = 100
ITEM_MAX = 200
TEXT_MAX = 5000
REASON_MAX = 2000
PAGE_MAX = 100
AMOUNT_MAX = Decimal("9999999999.99")
# The inputs of a report, by their GraphQL names (the web form maps its own onto them).
FIELDS = ("consultedAt", "clientName", "clientContact", "item", "content", "reply",
          "businessFollowed", "amountSaved", "consultationId", "orderId", "serviceItemId")


# ---------------------------------------------------------------- who may do what


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None) -> None:
    """Audit a refusal (SECURITY.md 9) and raise; nothing of the request is kept."""
    db.session.rollback()
    record_audit(action, object_type=object_type, object_id=object_id, result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(_("You may not see or change this institution's case reports."))


def _active(user: User | None) -> bool:
    return user is not None and user.is_active


def can_report(user: User | None, institution_id: int) -> bool:
    """The institution's admin and agents report its cases."""
    return _active(user) and staff_role(user, institution_id) is not None


def require_reporter(institution: Institution, user: User | None, action: str) -> None:
    """PermissionDenied (audited as `action`) unless `user` may report the institution's cases."""
    if not can_report(user, institution.id):
        _denied(action, "institution", institution.id, user)


def can_read(user: User | None, institution_id: int) -> bool:
    """The institution's staff, operators and regulators read its case reports."""
    return _active(user) and (is_platform_staff(user) or staff_role(user, institution_id) is not None)


def contact_entitled(user: User | None, report: CaseReport) -> bool:
    """Who reads the client's contact in full: the institution's admin and platform staff, not
    its agents (R-G-05; the one rule, `sees_client_contact`)."""
    return sees_client_contact(user, report.institution_id)


def contact_institutions(viewer: User | None, reports: list[CaseReport]) -> set[int]:
    """The institutions of `reports` whose clients' contacts `viewer` reads in full, in one
    statement at most (a page decides every row's masking with it)."""
    return client_contact_institutions(viewer, {r.institution_id for r in reports})


def client_contact(viewer: User | None, report: CaseReport, entitled: bool | None = None) -> str:
    """The client's contact, masked for viewers not entitled to it."""
    if entitled is None:
        entitled = contact_entitled(viewer, report)
    return report.client_contact if entitled else (mask_contact(report.client_contact) or "")


def get_report(report_id: int | str, viewer: User | None) -> CaseReport:
    """The report if `viewer` may read it; NotFound, or PermissionDenied (audited)."""
    report = get_by_id(CaseReport, report_id)
    if report is None:
        raise NotFound(_("No such case report."), field="caseReportId")
    if not can_read(viewer, report.institution_id):
        _denied("case_report.read", "case_report", report.id, viewer)
    return report


# ---------------------------------------------------------------- input


def _problem(field: str, message: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> Problem:
    return Problem(code, message, field)


def _required_text(value: Any, field: str, limit: int, *, paragraphs: bool = False) -> str:
    text = clean_paragraphs(value) if paragraphs else clean_line(value)
    if not text:
        raise InvalidInput([_problem(field, _("This text is required."), ErrorCode.REQUIRED)])
    if len(text) > limit:
        raise InvalidInput([_problem(field, _("At most %(n)d characters.", n=limit))])
    return text


def parse_local_datetime(value: Any) -> datetime | None:
    """A datetime from a form or an API: an aware one as given, a naive one (or ISO text without
    an offset) as Beijing time. None when it is not a date and time."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA)


def _consulted_at(value: Any, now: datetime) -> datetime:
    if value is None or value == "":
        raise InvalidInput([_problem("consultedAt", _("Give the time of the consultation."),
                                     ErrorCode.REQUIRED)])
    at = parse_local_datetime(value)
    if at is None:
        raise InvalidInput([_problem("consultedAt", _("Enter a date and time."))])
    if at > now:
        raise InvalidInput([_problem("consultedAt",
                                     _("The consultation time cannot be in the future."))])
    return at


def normalize_client_contact(value: Any) -> str | None:
    """A mobile number, a landline (`0757-83331234`) or an email address, normalised."""
    text = clean_line(value)
    if not text:
        return None
    return normalize_contact_phone(text) or normalize_email(text)


def _contact(value: Any) -> str:
    if not clean_line(value):
        raise InvalidInput([_problem("clientContact", _("Give the client's telephone or email."),
                                     ErrorCode.REQUIRED)])
    contact = normalize_client_contact(value)
    if contact is None or len(contact) > CONTACT_MAX:
        raise InvalidInput([_problem("clientContact", _(
            "Enter a mobile number, a landline such as 0757-83331234, or an email address."))])
    return contact


def _amount(value: Any) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        amount = Decimal(str(value).strip()).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise InvalidInput([_problem("amountSaved", _("Enter an amount in yuan."))]) from None
    if not amount.is_finite() or amount < 0 or amount > AMOUNT_MAX:
        raise InvalidInput([_problem("amountSaved",
                                     _("The amount saved is zero or more yuan."))])
    return amount


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "on", "yes", "y")


def _number(value: Any, field: str) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    number = parse_id(value)
    if number is None:
        raise InvalidInput([_problem(field, _("Enter a valid number."))])
    return number


def _source_problems(institution: Institution, consultation_id: int | None, order_id: int | None,
                     service_item_id: int | None) -> list[Problem]:
    """The consultation, order and item must be the institution's; a consultation or an order
    already behind a counted report is not reported again (the rows are locked on PostgreSQL so
    two staff reporting at once cannot both pass)."""
    problems: list[Problem] = []
    for field, model, object_id, column in (
            ("consultationId", Consultation, consultation_id, CaseReport.consultation_id),
            ("orderId", Order, order_id, CaseReport.order_id)):
        if object_id is None:
            continue
        row = db.session.scalar(select(model).where(model.id == object_id).with_for_update())
        if row is None or row.institution_id != institution.id:
            problems.append(_problem(field, _("No such consultation.") if model is Consultation
                                     else _("No such order.")))
            continue
        taken = db.session.scalar(select(CaseReport.id).where(
            column == object_id, CaseReport.withdrawn_at.is_(None)).limit(1))
        if taken is not None:
            problems.append(_problem(field, _("Case report #%(id)d already reports this case.",
                                              id=taken), ErrorCode.DUPLICATE))
    if service_item_id is not None:
        item = db.session.get(ServiceItem, service_item_id)
        if item is None or item.institution_id != institution.id:
            problems.append(_problem("serviceItemId", _("No such service item.")))
    return problems


def clean(institution: Institution, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The report's column values from `data` (keys of `FIELDS`); InvalidInput lists every
    problem, each naming its field."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    checks: list[tuple[str, str, Any]] = [
        ("consulted_at", "consultedAt", lambda v: _consulted_at(v, now)),
        ("client_name", "clientName", lambda v: _required_text(v, "clientName", NAME_MAX)),
        ("client_contact", "clientContact", _contact),
        ("item", "item", lambda v: _required_text(v, "item", ITEM_MAX)),
        ("content", "content", lambda v: _required_text(v, "content", TEXT_MAX, paragraphs=True)),
        ("reply", "reply", lambda v: _required_text(v, "reply", TEXT_MAX, paragraphs=True)),
        ("amount_saved_yuan", "amountSaved", _amount),
        ("consultation_id", "consultationId", lambda v: _number(v, "consultationId")),
        ("order_id", "orderId", lambda v: _number(v, "orderId")),
        ("service_item_id", "serviceItemId", lambda v: _number(v, "serviceItemId")),
    ]
    for column, name, check in checks:
        try:
            values[column] = check(data.get(name))
        except InvalidInput as exc:
            problems += exc.problems
    values["business_followed"] = _flag(data.get("businessFollowed"))
    if not problems:
        problems += _source_problems(institution, values["consultation_id"], values["order_id"],
                                     values["service_item_id"])
    if problems:
        raise InvalidInput(problems)
    return values


def _snapshot(r: CaseReport) -> dict[str, Any]:
    """The audit view of a report: the contact masked (SECURITY.md 14)."""
    return {"institution_id": r.institution_id, "consultation_id": r.consultation_id,
            "order_id": r.order_id, "service_item_id": r.service_item_id,
            "consulted_at": r.consulted_at.isoformat() if r.consulted_at else None,
            "client_name": r.client_name, "client_contact": mask_contact(r.client_contact),
            "item": r.item, "business_followed": r.business_followed,
            "amount_saved_yuan": str(r.amount_saved_yuan) if r.amount_saved_yuan is not None else None,
            "withdrawn": r.withdrawn_at is not None, "withdrawn_reason": r.withdrawn_reason}


# ---------------------------------------------------------------- prefilling


def _first(messages: list[Any], side: MessageSide) -> str:
    return next((m.body for m in messages if m.side is side), "")


def draft_from(institution: Institution, viewer: User | None, *, consultation_id: int | None = None,
               order_id: int | None = None) -> dict[str, Any]:
    """Field values (keys of `FIELDS`) prefilled from one of the institution's consultations or
    orders, for its staff. The client's phone or email is prefilled only for staff entitled to
    read it (`contact_entitled`: its admin, not its agents), so a draft reveals nothing the
    thread or the report would not; an agent types the contact it was given."""
    from core.enterprises.service import names_by_user

    require_reporter(institution, viewer, "case_report.draft")
    consultation = order = None
    if order_id is not None:
        order = get_by_id(Order, order_id)
        if order is None or order.institution_id != institution.id:
            raise NotFound(_("No such order."), field="orderId")
        if consultation_id is None:
            consultation_id = order.consultation_id
    if consultation_id is not None:
        consultation = get_by_id(Consultation, consultation_id)
        if consultation is None or consultation.institution_id != institution.id:
            raise NotFound(_("No such consultation."), field="consultationId")
    source = consultation or order
    if source is None:
        return {"businessFollowed": False}
    client = db.session.get(User, source.enterprise_user_id)
    names = names_by_user({source.enterprise_user_id})
    contact = ""
    if client is not None and sees_client_contact(viewer, institution.id):
        contact = client.phone or client.email or ""
    item_id = (consultation.service_item_id if consultation else None) or (
        order.service_item_id if order else None)
    item = db.session.get(ServiceItem, item_id) if item_id else None
    if item is not None and item.institution_id != institution.id:
        item = None
    messages = consultation.messages if consultation else []
    title = order.title if order is not None else consultation.subject  # type: ignore[union-attr]
    return {
        # The consultation's arrival when there is one, else when the order was placed.
        "consultedAt": consultation.received_at if consultation else source.placed_at,  # type: ignore[union-attr]
        "clientName": names.get(source.enterprise_user_id) or (client.display_name if client else ""),
        "clientContact": contact,
        "item": item.title if item is not None else title,
        "content": _first(messages, MessageSide.ENTERPRISE) or title,
        "reply": _first(messages, MessageSide.INSTITUTION),
        "businessFollowed": order is not None,
        "amountSaved": None,
        "consultationId": consultation.id if consultation else None,
        "orderId": order.id if order else None,
        "serviceItemId": item.id if item is not None else None,
    }


# ---------------------------------------------------------------- reporting and withdrawing


def report_case(institution: Institution, data: Mapping[str, Any], *, actor: User | None,
                now: datetime | None = None) -> CaseReport:
    """The institution's admin or agent reports a success case (R-OPS-02). Committed and audited."""
    require_reporter(institution, actor, "case_report.report")
    assert actor is not None
    if not institution.is_live:
        raise InvalidInput([_problem("institutionId", _(
            "Only an institution serving on the platform reports cases."),
            ErrorCode.ILLEGAL_TRANSITION)])
    at = now or utcnow()
    try:
        values = clean(institution, data, at)
    except InvalidInput:
        db.session.rollback()  # releases the source rows locked while checking; nothing changed
        raise
    report = CaseReport(institution_id=institution.id, reported_by_id=actor.id, reported_at=at,
                        **values)
    db.session.add(report)
    db.session.flush()
    record_audit("case_report.report", object_type="case_report", object_id=report.id,
                 after=_snapshot(report), actor=actor)
    db.session.commit()
    return report


def can_withdraw(user: User | None, report: CaseReport) -> bool:
    """The institution's admin, or the agent who reported the case."""
    role = staff_role(user, report.institution_id) if _active(user) else None
    return role is StaffRole.ADMIN or (role is not None and user is not None
                                       and report.reported_by_id == user.id)


def withdraw(report: CaseReport, *, reason: str, actor: User | None,
             now: datetime | None = None) -> CaseReport:
    """Withdraw a report made by mistake: kept with its reason, no longer counted."""
    if not can_withdraw(actor, report):
        _denied("case_report.withdraw", "case_report", report.id, actor)
    # Re-read under a row lock (PostgreSQL): of two withdrawals at once, the second sees the first.
    db.session.refresh(report, with_for_update=True)
    if report.withdrawn_at is not None:
        db.session.rollback()
        raise InvalidInput([_problem("caseReportId", _("This case report is already withdrawn."),
                                     ErrorCode.ILLEGAL_TRANSITION)])
    text = clean_paragraphs(reason)
    if not text or len(text) > REASON_MAX:
        db.session.rollback()  # releases the row lock; nothing was changed
        raise InvalidInput([_problem("reason", _("Give the reason."), ErrorCode.REQUIRED) if not text
                            else _problem("reason", _("At most %(n)d characters.", n=REASON_MAX))])
    before = _snapshot(report)
    report.withdrawn_at = now or utcnow()
    report.withdrawn_reason = text
    record_audit("case_report.withdraw", object_type="case_report", object_id=report.id,
                 before=before, after=_snapshot(report), actor=actor)
    db.session.commit()
    return report


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class ReportPage:
    total: int
    reports: list[CaseReport]


def year_bounds(year: int) -> tuple[datetime, datetime]:
    if not 2000 <= year <= 2100:
        raise InvalidInput([_problem("year", _("Enter a year from 2000 to 2100."))])
    return china_period(date(year, 1, 1), date(year, 12, 31))


def staff_institution_ids(user: User) -> list[int]:
    return list(db.session.scalars(select(InstitutionStaff.institution_id)
                                   .where(InstitutionStaff.user_id == user.id)
                                   .order_by(InstitutionStaff.institution_id)))


def reports(viewer: User | None, *, institution_id: int | None = None, year: int | None = None,
            limit: int = 50, offset: int = 0) -> ReportPage:
    """Case reports newest first, withdrawn ones included (and marked): of `institution_id`, or
    without it every institution the viewer reads (all of them for platform staff). The reports
    of a China calendar `year` when given. Refusals audited."""
    if institution_id is not None:
        if not can_read(viewer, institution_id):
            _denied("case_report.list", "institution", institution_id, viewer)
        where: list[Any] = [CaseReport.institution_id == institution_id]
    elif _active(viewer) and is_platform_staff(viewer):
        where = []
    else:
        ids = staff_institution_ids(viewer) if _active(viewer) else []  # type: ignore[arg-type]
        if not ids:
            _denied("case_report.list", "institution", None, viewer)
        where = [CaseReport.institution_id.in_(ids)]
    if year is not None:
        lo, hi = year_bounds(year)
        where += [CaseReport.reported_at >= lo, CaseReport.reported_at < hi]
    total = db.session.scalar(select(func.count(CaseReport.id)).where(*where)) or 0
    rows = list(db.session.scalars(
        select(CaseReport).where(*where).order_by(CaseReport.reported_at.desc(), CaseReport.id.desc())
        .limit(max(1, min(int(limit), PAGE_MAX))).offset(max(0, int(offset)))))
    return ReportPage(total=total, reports=rows)


def counted_in_year(institution_id: int, year: int | None = None) -> int:
    """How many reports assessment item 6 counts for the China calendar year (default: this one),
    by the one definition in `core.case_reports.queries`."""
    year = year or local_today().year
    return len(reported_cases(institution_id, date(year, 1, 1), date(year, 12, 31)))
