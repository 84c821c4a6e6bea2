"""Leaving the platform: voluntary exit (R-ONB-06) and removal by the regulator (R-ONB-07,
R-ASM-05, R-OPS-06). Records are archived, never deleted."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from core.audit import record_audit, sanitize_text
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, PermissionDenied, Problem
from core.identity.models import Role, User
from core.institutions.access import can_manage_institution
from core.institutions.models import Institution, InstitutionStatus
from core.onboarding.eligibility import OpenMatter
from core.onboarding.models import ExitRequest, RemovalNotice, RemovalReason
from core.plugins import plugins

MAX_LEGACY_DAYS = 365


def _denied(action: str, institution: Institution, actor: User) -> None:
    """Refusals are audited too (SECURITY.md 9)."""
    record_audit(action, object_type="institution", object_id=institution.id, result="denied",
                 actor=actor)
    db.session.commit()


def open_matters(institution: Institution) -> list[OpenMatter]:
    """Every matter still open for the institution: the one function exit asks. Service
    operations (consultations, orders, complaints, follow-ups) contribute through the hook."""
    return [m for batch in plugins.pm.hook.open_matters(institution=institution) for m in batch]


def pending_exit(institution: Institution) -> ExitRequest | None:
    return db.session.scalar(select(ExitRequest).where(
        ExitRequest.institution_id == institution.id, ExitRequest.completed_at.is_(None),
        ExitRequest.withdrawn_at.is_(None)))


def request_exit(institution: Institution, *, letter: str, actor: User) -> ExitRequest:
    """The institution asks in writing to leave; exit completes once nothing is open."""
    if not can_manage_institution(actor, institution.id):
        _denied("institution.exit_requested", institution, actor)
        raise PermissionDenied(_("Only the institution's administrator can ask to exit."))
    if institution.status is not InstitutionStatus.LIVE:
        raise DomainError(_("Only a live institution can ask to exit."), field="institutionId")
    text = sanitize_text((letter or "").strip(), 5000)
    if len(text) < 10:
        raise InvalidInput([Problem(ErrorCode.REQUIRED,
                                    _("Write the exit request (at least 10 characters)."), "letter")])
    request = pending_exit(institution) or ExitRequest(
        institution_id=institution.id, letter=text, requested_by_id=actor.id)
    db.session.add(request)
    db.session.flush()
    record_audit("institution.exit_requested", object_type="institution", object_id=institution.id,
                 after={"exit_request": request.id}, actor=actor)
    db.session.commit()
    complete_exit_if_clear(institution)
    return request


def complete_exit_if_clear(institution: Institution) -> list[OpenMatter]:
    """Complete a pending exit when no matter is open; returns what still blocks it."""
    request = pending_exit(institution)
    if request is None:
        return []
    remaining = open_matters(institution)
    if remaining:
        return remaining
    now = utcnow()
    request.completed_at = now
    institution.status = InstitutionStatus.EXITED
    institution.status_changed_at = now
    record_audit("institution.exited", object_type="institution", object_id=institution.id,
                 after={"exit_request": request.id}, actor=None)
    db.session.commit()
    return []


def complete_clear_exits() -> list[int]:
    """Complete every pending exit whose open matters have all been closed since (R-ONB-06): the
    matters close in other areas (a consultation answered, an order completed, a complaint
    decided…), so this runs as a periodic job. Idempotent: a completed exit is no longer pending.
    Returns the ids of the institutions that left."""
    institution_ids = list(db.session.scalars(
        select(ExitRequest.institution_id).where(ExitRequest.completed_at.is_(None),
                                                 ExitRequest.withdrawn_at.is_(None))
        .order_by(ExitRequest.id)))
    exited: list[int] = []
    for institution_id in institution_ids:
        institution = db.session.get(Institution, institution_id)
        if (institution is not None and institution.status is InstitutionStatus.LIVE
                and not complete_exit_if_clear(institution)):
            exited.append(institution_id)
    return exited


def issue_removal_notice(institution: Institution, *, reason: RemovalReason, details: str,
                         actor: User, legacy_days: int | None = None,
                         on: date | None = None, commit: bool = True) -> RemovalNotice:
    """The regulator's removal notice; the institution handles its legacy matters until the
    deadline, then `complete_due_removals` removes it from the directory (R-ONB-07).
    `commit=False` leaves the notice, its notifications and audit row in the caller's
    transaction (a complaint records the notice in the same one); a refusal is still audited."""
    if not actor.has_role(Role.REGULATOR):
        _denied("institution.removal_notice", institution, actor)
        raise PermissionDenied(_("Only the platform management unit can issue a removal notice."))
    text = sanitize_text((details or "").strip(), 5000)
    if not text:
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _("Give the grounds of the removal."),
                                    "details")])
    if institution.status in (InstitutionStatus.REMOVED, InstitutionStatus.EXITED):
        raise DomainError(_("The institution has already left the platform."), field="institutionId")
    from core.clock import local_today
    from core.notifications.service import notify
    from core.onboarding.workflow import institution_admins

    start = on or local_today()
    days = current_app.config["REMOVAL_LEGACY_DAYS"] if legacy_days is None else legacy_days
    if not 0 <= days <= MAX_LEGACY_DAYS:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("Give 0 to %(n)d days.", n=MAX_LEGACY_DAYS), "legacyDays")])
    notice = RemovalNotice(institution_id=institution.id, reason=reason, details=text,
                           issued_by_id=actor.id, legacy_deadline=start + timedelta(days=days))
    db.session.add(notice)
    db.session.flush()
    for admin in institution_admins(institution):
        notify(admin, "removal_notice", {"institution_name": institution.legal_name,
                                         "reason": text,
                                         "deadline": notice.legacy_deadline.isoformat()},
               channels=("sms", "inbox"), dedupe_key=f"removal:{notice.id}:{admin.id}")
    record_audit("institution.removal_notice", object_type="institution", object_id=institution.id,
                 after={"reason": reason.value, "deadline": notice.legacy_deadline.isoformat()},
                 actor=actor)
    from core.visibility.service import apply_in_transaction

    apply_in_transaction(institution.id)  # the homepage closes with the notice (R-OPS-06)
    if commit:
        db.session.commit()
    return notice


def complete_due_removals(on: date) -> list[int]:
    """Remove institutions whose legacy period ended before `on`: gone from the directory,
    records kept. Idempotent: a notice is completed once."""
    notices = list(db.session.scalars(select(RemovalNotice).where(
        RemovalNotice.completed_at.is_(None), RemovalNotice.cancelled_at.is_(None),
        RemovalNotice.legacy_deadline < on)))
    removed = []
    for notice in notices:
        institution = db.session.get(Institution, notice.institution_id)
        now = utcnow()
        notice.completed_at = now
        if institution is not None and institution.status is not InstitutionStatus.REMOVED:
            institution.status = InstitutionStatus.REMOVED
            institution.status_changed_at = now
            removed.append(institution.id)
            record_audit("institution.removed", object_type="institution", object_id=institution.id,
                         after={"notice": notice.id, "reason": notice.reason.value}, actor=None)
    db.session.commit()
    return removed


def removed_institutions() -> list[tuple[Institution, RemovalNotice]]:
    """The public list of removed institutions with date and reason."""
    rows = db.session.execute(select(Institution, RemovalNotice).join(
        RemovalNotice, RemovalNotice.institution_id == Institution.id).where(
        Institution.status == InstitutionStatus.REMOVED, RemovalNotice.completed_at.is_not(None))
        .order_by(RemovalNotice.completed_at.desc()))
    return [(i, n) for i, n in rows]
