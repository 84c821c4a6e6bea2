"""Complaints against institutions and their verification (Annex 2 item 2, R-OPS-06, R-ONB-06,
R-G-04, R-G-05, R-G-08; SECURITY.md 9-10).

* An enterprise user files a complaint against a live institution (one in its removal legacy
  period is still live), optionally about one of its own orders or consultations with it; an
  operator may file it for an enterprise user (R-G-08), recorded as such.
* The enterprise (or the operator who filed for it) may withdraw it while it waits; an operator
  verifies it once: `verified` (查实) or `unfounded` (不属实), with notes, and `serious` only
  when verified. `TRANSITIONS` is the one state table. The institution's admins hear of the
  complaint when it is filed and decided, the enterprise when it is decided.
* Who sees a complaint: the enterprise user it is for, the institution's staff, operators and
  regulators. The complainant's contact is in full for the complainant and platform staff,
  masked (`138****5678`) for the institution's staff, its admin included (R-G-05; the reasons:
  `core.institutions.access.sees_complainant_contact`).
* Filing the same complaint twice while the first waits (a double submit) is refused.
* A verified serious complaint can lead to a removal notice, which only a regulator issues
  (`issue_removal`, R-OPS-06); the notice and the complaint's record of it are one transaction,
  and notices for one institution are issued one at a time (its row is locked), so an
  institution never gets two pending notices from complaints.
* A complaint still waiting (`filed`) is an open matter that blocks the institution's exit
  (R-ONB-06). Assessment counts verified complaints through `core.complaints.queries`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, or_, select

from core.audit import record_audit
from core.complaints.models import Complaint, ComplaintStatus
from core.consultations.models import Consultation
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.ids import get_by_id
from core.institutions.access import is_platform_staff, sees_complainant_contact, staff_role
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus
from core.masking import mask_contact
from core.on_behalf import enterprise_user_by_id
from core.onboarding.eligibility import OpenMatter
from core.onboarding.profile import clean_line, clean_paragraphs
from core.orders.models import Order

S = ComplaintStatus
SUBJECT_MAX = 200
BODY_MAX = 5000
NOTES_MAX = 5000
PAGE_MAX = 100
OUTCOMES = frozenset({S.VERIFIED, S.UNFOUNDED})
# The one state table: which status each step leaves from.
TRANSITIONS: dict[str, frozenset[ComplaintStatus]] = {
    "withdraw": frozenset({S.FILED}),
    "verify": frozenset({S.FILED}),
}


# ---------------------------------------------------------------- who may do what


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None,
            message: str | None = None) -> None:
    """Audit a refusal (SECURITY.md 9) and raise; nothing of the request is kept."""
    db.session.rollback()
    record_audit(action, object_type=object_type, object_id=object_id, result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(message or _("You may not see or change this complaint."))


def _active(user: User | None) -> bool:
    return user is not None and user.is_active


def is_operator(user: User | None) -> bool:
    return _active(user) and user.has_role(Role.OPERATOR)  # type: ignore[union-attr]


def is_regulator(user: User | None) -> bool:
    return _active(user) and user.has_role(Role.REGULATOR)  # type: ignore[union-attr]


def can_view(user: User | None, complaint: Complaint) -> bool:
    """The enterprise user it is for, the institution's staff, operators and regulators."""
    if not _active(user):
        return False
    assert user is not None
    return (complaint.enterprise_user_id == user.id or is_platform_staff(user)
            or staff_role(user, complaint.institution_id) is not None)


def filed_for_enterprise_by(user: User | None, complaint: Complaint) -> bool:
    """Did `user` file this complaint on the enterprise's behalf (R-G-08)?"""
    return user is not None and complaint.on_behalf and complaint.filed_by_id == user.id


def may_verify(user: User | None, complaint: Complaint) -> bool:
    """An operator, but not the one who filed it for the enterprise: who speaks for the
    complainant does not also judge the complaint (separation of duties)."""
    return is_operator(user) and not filed_for_enterprise_by(user, complaint)


def acts_for_complainant(user: User | None, complaint: Complaint) -> bool:
    """The enterprise user, or the operator who filed for it (R-G-08)."""
    if not _active(user):
        return False
    assert user is not None
    return user.id == complaint.enterprise_user_id or (
        complaint.on_behalf and user.id == complaint.filed_by_id and is_operator(user))


def contact_entitled(user: User | None, complaint: Complaint) -> bool:
    """Who reads the complainant's contact in full: the complainant and platform staff, not the
    institution's admin nor its agents (R-G-05; why: `sees_complainant_contact`)."""
    return sees_complainant_contact(user, complaint.enterprise_user_id)


def complainant_contact(viewer: User | None, complaint: Complaint, complainant: User | None,
                        ) -> str | None:
    """The complainant's mobile number (or email), masked for viewers not entitled to it."""
    if complainant is None:
        return None
    contact = complainant.phone or complainant.email
    return contact if contact_entitled(viewer, complaint) else mask_contact(contact)


def get_complaint(complaint_id: int | str, viewer: User | None) -> Complaint:
    """The complaint if `viewer` may see it; NotFound, or PermissionDenied (audited)."""
    complaint = get_by_id(Complaint, complaint_id)
    if complaint is None:
        raise NotFound(_("No such complaint."), field="complaintId")
    if not can_view(viewer, complaint):
        _denied("complaint.read", "complaint", complaint.id, viewer)
    return complaint


# ---------------------------------------------------------------- input


def _problem(field: str, message: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> Problem:
    return Problem(code, message, field)


def _text(value: Any, field: str, limit: int, *, paragraphs: bool) -> str | Problem:
    text = clean_paragraphs(value) if paragraphs else clean_line(value)
    if not text:
        return _problem(field, _("This text is required."), ErrorCode.REQUIRED)
    if len(text) > limit:
        return _problem(field, _("At most %(n)d characters.", n=limit))
    return text


def _snapshot(c: Complaint) -> dict[str, Any]:
    return {"status": str(c.status), "institution_id": c.institution_id,
            "enterprise_user_id": c.enterprise_user_id, "filed_by_id": c.filed_by_id,
            "on_behalf": c.on_behalf, "order_id": c.order_id, "consultation_id": c.consultation_id,
            "subject": c.subject, "serious": c.serious, "verified_by_id": c.verified_by_id,
            "verification_notes": c.verification_notes, "removal_notice_id": c.removal_notice_id}


def _about_problems(institution: Institution, complainant: User, order_id: int | None,
                    consultation_id: int | None) -> list[Problem]:
    """An order or consultation the complaint is about must be the complainant's own with the
    institution complained of."""
    problems: list[Problem] = []
    for field, model, object_id, message in (
            ("orderId", Order, order_id, _("No such order.")),
            ("consultationId", Consultation, consultation_id, _("No such consultation."))):
        if object_id is None:
            continue
        row = get_by_id(model, object_id)
        if (row is None or row.institution_id != institution.id
                or row.enterprise_user_id != complainant.id):
            problems.append(_problem(field, message))
    return problems


# ---------------------------------------------------------------- notifications


def _institution_admins(institution_id: int) -> list[User]:
    from core.institutions.models import StaffRole

    return list(db.session.scalars(select(User).join(
        InstitutionStaff, InstitutionStaff.user_id == User.id).where(
        InstitutionStaff.institution_id == institution_id, InstitutionStaff.role == StaffRole.ADMIN,
        User.is_active.is_(True)).order_by(User.id)))


def _notify(recipients: Iterable[User], template: str, complaint: Complaint,
            institution: Institution, event: str) -> None:
    """Queue `template` in the caller's transaction: it commits or rolls back with the change."""
    from core.notifications.service import notify

    context = {"institution_name": institution.legal_name, "subject": complaint.subject,
               "filed_at": complaint.filed_at, "verified": complaint.status is S.VERIFIED,
               "serious": complaint.serious, "notes": complaint.verification_notes or ""}
    for user in recipients:
        notify(user, template, context, dedupe_key=f"complaint.{event}:{complaint.id}",
               link=f"/complaints/{complaint.id}")


# ---------------------------------------------------------------- filing, withdrawing, verifying


def complainant_by_id(institution: Institution, user_id: Any, actor: User | None) -> User | None:
    """The enterprise user an operator files a complaint for, named by id; anyone else naming
    another user is refused (audited) before the id is looked up."""
    return enterprise_user_by_id(actor, user_id, refuse=lambda: _denied(
        "complaint.file", "institution", institution.id, actor))


def file(institution: Institution, *, subject: Any, body: Any, actor: User | None,
         enterprise_user: User | None = None, order_id: int | None = None,
         consultation_id: int | None = None, now: datetime | None = None) -> Complaint:
    """An enterprise user complains about `institution`, or an operator files the complaint for
    `enterprise_user` (R-G-08). Committed, audited and the institution's admins notified."""
    if not _active(actor):
        _denied("complaint.file", "institution", institution.id, actor)
    assert actor is not None
    if is_operator(actor) and enterprise_user is not None and enterprise_user.id != actor.id:
        if not enterprise_user.is_active or not enterprise_user.has_role(Role.ENTERPRISE):
            raise InvalidInput([_problem("enterpriseUserId", _(
                "An operator files a complaint for an enterprise user."))])
        on_behalf, complainant = True, enterprise_user
    elif actor.has_role(Role.ENTERPRISE) and enterprise_user in (None, actor):
        on_behalf, complainant = False, actor
    else:
        _denied("complaint.file", "institution", institution.id, actor)
    if institution.status is not InstitutionStatus.LIVE:
        raise NotFound(_("No such institution."), field="institutionId")
    texts = {"subject": _text(subject, "subject", SUBJECT_MAX, paragraphs=False),
             "body": _text(body, "body", BODY_MAX, paragraphs=True)}
    problems = [t for t in texts.values() if isinstance(t, Problem)]
    problems += _about_problems(institution, complainant, order_id, consultation_id)
    if problems:
        raise InvalidInput(problems)
    # A double submit: the complainant's row is locked (PostgreSQL) so two at once see each other.
    db.session.execute(select(User.id).where(User.id == complainant.id).with_for_update())
    same = db.session.scalar(select(Complaint.id).where(
        Complaint.enterprise_user_id == complainant.id, Complaint.institution_id == institution.id,
        Complaint.status == S.FILED, Complaint.subject == texts["subject"],
        Complaint.body == texts["body"]).limit(1))
    if same is not None:
        db.session.rollback()
        raise InvalidInput([_problem("subject", _(
            "This complaint was filed already (#%(id)d) and is waiting for verification.", id=same),
            ErrorCode.DUPLICATE)])
    complaint = Complaint(
        institution_id=institution.id, enterprise_user_id=complainant.id, filed_by_id=actor.id,
        on_behalf=on_behalf, order_id=order_id, consultation_id=consultation_id,
        subject=texts["subject"], body=texts["body"], status=S.FILED, filed_at=now or utcnow())
    db.session.add(complaint)
    db.session.flush()
    _notify(_institution_admins(institution.id), "complaint_filed", complaint, institution, "filed")
    record_audit("complaint.file", object_type="complaint", object_id=complaint.id,
                 after=_snapshot(complaint), actor=actor)
    db.session.commit()
    return complaint


def _check_step(complaint: Complaint, step: str) -> None:
    """Re-read the complaint under a row lock (PostgreSQL) so two requests cannot both take a
    step from the same status; refuse a step the status does not allow."""
    db.session.refresh(complaint, with_for_update=True)
    if complaint.status not in TRANSITIONS[step]:
        db.session.rollback()
        raise InvalidInput([_problem("complaintId", _(
            "This complaint has already been decided or withdrawn."), ErrorCode.ILLEGAL_TRANSITION)])


def withdraw(complaint: Complaint, *, actor: User | None, now: datetime | None = None) -> Complaint:
    """The enterprise (or the operator who filed for it) withdraws a complaint still waiting."""
    if not acts_for_complainant(actor, complaint):
        _denied("complaint.withdraw", "complaint", complaint.id, actor)
    _check_step(complaint, "withdraw")
    before = _snapshot(complaint)
    complaint.status = S.WITHDRAWN
    complaint.withdrawn_at = now or utcnow()
    record_audit("complaint.withdraw", object_type="complaint", object_id=complaint.id,
                 before=before, after=_snapshot(complaint), actor=actor)
    db.session.commit()
    return complaint


def verify(complaint: Complaint, *, outcome: Any, notes: Any, serious: bool = False,
           actor: User | None, now: datetime | None = None) -> Complaint:
    """An operator's verification, once: `verified` (possibly serious) or `unfounded`, with
    notes. Committed, audited, and both sides notified, all or nothing."""
    if not is_operator(actor):
        _denied("complaint.verify", "complaint", complaint.id, actor)
    if filed_for_enterprise_by(actor, complaint):
        _denied("complaint.verify", "complaint", complaint.id, actor, _(
            "You filed this complaint on the enterprise's behalf, so another operator verifies it."))
    assert actor is not None
    _check_step(complaint, "verify")
    problems: list[Problem] = []
    try:
        result = ComplaintStatus(str(outcome or "").lower())
    except ValueError:
        result = None
    if result not in OUTCOMES:
        problems.append(_problem("outcome", _("Choose verified or unfounded.")))
    text = _text(notes, "notes", NOTES_MAX, paragraphs=True)
    if isinstance(text, Problem):
        problems.append(text)
    if serious and result is not S.VERIFIED:
        problems.append(_problem("serious", _("Only a verified complaint can be serious.")))
    if problems:
        db.session.rollback()  # releases the row lock; nothing was changed
        raise InvalidInput(problems)
    institution = db.session.get(Institution, complaint.institution_id)
    complainant = db.session.get(User, complaint.enterprise_user_id)
    assert institution is not None and result is not None and isinstance(text, str)
    before = _snapshot(complaint)
    complaint.status = result
    complaint.serious = bool(serious)
    complaint.verification_notes = text
    complaint.verified_by_id = actor.id
    complaint.verified_at = now or utcnow()
    recipients = _institution_admins(institution.id) + ([complainant] if complainant else [])
    _notify(recipients, "complaint_decided", complaint, institution, "decided")
    record_audit("complaint.verify", object_type="complaint", object_id=complaint.id,
                 before=before, after=_snapshot(complaint), actor=actor)
    db.session.commit()
    return complaint


# ---------------------------------------------------------------- removal (R-OPS-06)


def can_issue_removal(user: User | None, complaint: Complaint) -> bool:
    """Shown on the complaint's page: a regulator, for a verified serious complaint not yet
    behind a notice."""
    return (is_regulator(user) and complaint.status is S.VERIFIED and complaint.serious
            and complaint.removal_notice_id is None)


def issue_removal(complaint: Complaint, *, details: Any, actor: User | None,
                  legacy_days: int | None = None) -> Any:
    """A regulator issues a removal notice for a verified serious complaint (R-OPS-06) through
    `core.onboarding.exit.issue_removal_notice`, and the complaint records it: one transaction,
    so a failure leaves neither. The institution's row is locked first (PostgreSQL), so two
    regulators acting at once (on one complaint or on two) issue one notice. A notice for a
    serious complaint already pending (issued from the institution's page) and not yet
    recorded by any complaint is recorded instead of a second one being issued."""
    if not is_regulator(actor):
        _denied("complaint.removal_notice", "complaint", complaint.id, actor)
    assert actor is not None
    institution = db.session.get(Institution, complaint.institution_id)
    assert institution is not None
    db.session.refresh(institution, with_for_update=True)
    db.session.refresh(complaint, with_for_update=True)
    try:
        notice = _removal_notice(complaint, institution, details, actor, legacy_days)
    except DomainError:
        db.session.rollback()  # releases the locks; nothing was changed
        raise
    before = _snapshot(complaint)
    complaint.removal_notice_id = notice.id
    record_audit("complaint.removal_notice", object_type="complaint", object_id=complaint.id,
                 before=before, after={**_snapshot(complaint), "legacy_deadline":
                                       notice.legacy_deadline.isoformat()}, actor=actor)
    db.session.commit()
    return notice


def _removal_notice(complaint: Complaint, institution: Institution, details: Any, actor: User,
                    legacy_days: int | None) -> Any:
    """The notice `issue_removal` records, checked under its locks; issued uncommitted."""
    from core.onboarding import exit as exits
    from core.onboarding.models import RemovalNotice, RemovalReason

    if complaint.status is not S.VERIFIED or not complaint.serious:
        raise InvalidInput([_problem("complaintId", _(
            "Only a verified serious complaint leads to removal."), ErrorCode.ILLEGAL_TRANSITION)])
    if complaint.removal_notice_id is not None:
        raise InvalidInput([_problem("complaintId", _(
            "This complaint has already led to a removal notice."), ErrorCode.DUPLICATE)])
    text = clean_paragraphs(details)
    if len(text) > NOTES_MAX:  # refused, not cut short as the notice would
        raise InvalidInput([_problem("details", _("At most %(n)d characters.", n=NOTES_MAX))])
    pending = db.session.scalar(select(RemovalNotice).where(
        RemovalNotice.institution_id == institution.id, RemovalNotice.completed_at.is_(None),
        RemovalNotice.cancelled_at.is_(None)).order_by(RemovalNotice.id.desc()).limit(1))
    if pending is None:
        return exits.issue_removal_notice(
            institution, reason=RemovalReason.SERIOUS_COMPLAINT, details=text, actor=actor,
            legacy_days=legacy_days, commit=False)
    linked = db.session.scalar(select(Complaint.id).where(
        Complaint.removal_notice_id == pending.id).limit(1)) is not None
    if linked or pending.reason is not RemovalReason.SERIOUS_COMPLAINT:
        raise DomainError(_("The institution already has a removal notice pending."),
                          code=ErrorCode.DUPLICATE, field="complaintId")
    return pending


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class ComplaintPage:
    total: int
    complaints: list[Complaint]


def _visible(viewer: User) -> ColumnElement[bool] | None:
    """What `viewer` sees: everything for platform staff (None), else its own complaints and
    those against institutions it works for."""
    if is_platform_staff(viewer):
        return None
    return or_(Complaint.enterprise_user_id == viewer.id, Complaint.institution_id.in_(
        select(InstitutionStaff.institution_id).where(InstitutionStaff.user_id == viewer.id)))


def complaints(viewer: User | None, *, status: ComplaintStatus | None = None,
               institution_id: int | None = None, limit: int = 50, offset: int = 0,
               oldest_first: bool = False) -> ComplaintPage:
    """The complaints `viewer` may see, newest first (or oldest first), filtered by status and
    institution; one page and the total."""
    if not _active(viewer):
        _denied("complaint.list", "complaint", None, viewer)
    assert viewer is not None
    where: list[Any] = []
    visible = _visible(viewer)
    if visible is not None:
        where.append(visible)
    if status is not None:
        where.append(Complaint.status == status)
    if institution_id is not None:
        where.append(Complaint.institution_id == institution_id)
    total = db.session.scalar(select(func.count(Complaint.id)).where(*where)) or 0
    order = ((Complaint.filed_at, Complaint.id) if oldest_first
             else (Complaint.filed_at.desc(), Complaint.id.desc()))
    rows = list(db.session.scalars(select(Complaint).where(*where).order_by(*order)
                                   .limit(max(1, min(int(limit), PAGE_MAX)))
                                   .offset(max(0, int(offset)))))
    return ComplaintPage(total=total, complaints=rows)


def queue(viewer: User | None, *, limit: int = 50, offset: int = 0) -> ComplaintPage:
    """The operators' queue: complaints waiting for verification, oldest first (regulators may
    look too)."""
    if not (_active(viewer) and is_platform_staff(viewer)):
        _denied("complaint.queue", "complaint", None, viewer)
    return complaints(viewer, status=S.FILED, limit=limit, offset=offset, oldest_first=True)


# ---------------------------------------------------------------- exit (R-ONB-06)


def open_matters_of(institution: Institution) -> list[OpenMatter]:
    """Complaints still waiting for verification block the institution's exit (R-ONB-06)."""
    rows = db.session.execute(select(Complaint.id, Complaint.subject).where(
        Complaint.institution_id == institution.id, Complaint.status == S.FILED)
        .order_by(Complaint.id))
    return [OpenMatter("complaint", cid, _("Complaint #%(id)d: %(subject)s", id=cid,
                                           subject=subject))
            for cid, subject in rows]
