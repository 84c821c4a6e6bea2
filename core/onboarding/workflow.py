"""The application workflow: one state machine in one service (R-ONB-01…05).

draft → submitted → screening (operator) → review (regulator) → approved / rejected; from screening
or review a reviewer may request materials (deadline in working days; lapsing means not approved)
or schedule an on-site investigation. Every transition is checked against the table below,
audited with its actor and reason, written to the application's history, and notifies the
institution through the outbox in the same transaction. Two reviewers deciding at once cannot
both succeed: the row is locked and carries an optimistic version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from core.audit import record_audit, sanitize_text
from core.clock import local_today
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.institutions.access import can_manage_institution
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole
from core.onboarding.eligibility import EligibilityReport, evaluate
from core.onboarding.labels import state_label
from core.onboarding.models import Application, ApplicationEvent, ApplicationState

S = ApplicationState
MAX_MATERIALS_WORKING_DAYS = 60
ADMIN = "institution_admin"  # the institution's own administrator (checked per institution)
SYSTEM = "system"  # scheduled work, no person


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[ApplicationState]
    target: ApplicationState
    actors: frozenset[str]  # Role values, ADMIN or SYSTEM
    reason_required: bool = False


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("submit", frozenset({S.DRAFT, S.MATERIALS_REQUESTED}), S.SUBMITTED,
               frozenset({ADMIN})),
    Transition("start_screening", frozenset({S.SUBMITTED}), S.SCREENING,
               frozenset({Role.OPERATOR.value})),
    Transition("pass_screening", frozenset({S.SCREENING}), S.REVIEW,
               frozenset({Role.OPERATOR.value})),
    Transition("request_materials", frozenset({S.SCREENING, S.REVIEW}), S.MATERIALS_REQUESTED,
               frozenset({Role.OPERATOR.value, Role.REGULATOR.value}), reason_required=True),
    Transition("schedule_onsite", frozenset({S.SCREENING, S.REVIEW}), S.ONSITE_SCHEDULED,
               frozenset({Role.OPERATOR.value, Role.REGULATOR.value})),
    Transition("record_onsite", frozenset({S.ONSITE_SCHEDULED}), S.REVIEW,
               frozenset({Role.OPERATOR.value, Role.REGULATOR.value}), reason_required=True),
    Transition("approve", frozenset({S.REVIEW}), S.APPROVED, frozenset({Role.REGULATOR.value})),
    Transition("reject", frozenset({S.REVIEW}), S.REJECTED, frozenset({Role.REGULATOR.value}),
               reason_required=True),
    Transition("lapse", frozenset({S.MATERIALS_REQUESTED}), S.LAPSED, frozenset({SYSTEM})),
    Transition("reopen", frozenset({S.REJECTED, S.LAPSED}), S.DRAFT, frozenset({ADMIN})),
)}


class IllegalTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


class NotEligible(DomainError):
    """Submission refused: the report lists every failed condition (R-ELIG-10)."""

    code = ErrorCode.NOT_ELIGIBLE

    def __init__(self, report: EligibilityReport):
        super().__init__(_("The application cannot be submitted: %(n)d condition(s) are not met.",
                           n=len(report.failures)))
        self.report = report


def application_for(institution: Institution) -> Application:
    """The institution's application, created in draft on first use. Two requests creating it
    at once (two reviewers opening the page) both get the one row: the loser's insert is undone
    in its savepoint and the winner's row is read."""
    query = select(Application).where(Application.institution_id == institution.id)
    application = db.session.scalar(query)
    if application is None:
        try:
            with db.session.begin_nested():
                application = Application(institution_id=institution.id)
                db.session.add(application)
        except IntegrityError:
            application = db.session.scalar(query)
    assert application is not None
    return application


def _may_act(transition: Transition, actor: User | None, institution: Institution) -> bool:
    if actor is None:
        return SYSTEM in transition.actors
    if ADMIN in transition.actors and can_manage_institution(actor, institution.id):
        return True
    return any(actor.has_role(Role(a)) for a in transition.actors if a not in (ADMIN, SYSTEM))


def institution_admins(institution: Institution) -> list[User]:
    return list(db.session.scalars(select(User).join(
        InstitutionStaff, InstitutionStaff.user_id == User.id).where(
        InstitutionStaff.institution_id == institution.id, InstitutionStaff.role == StaffRole.ADMIN)))


def _notify(institution: Institution, template: str, application: Application,
            context: dict[str, Any], channels: tuple[str, ...] = ("sms", "inbox")) -> None:
    from core.notifications.service import notify

    for admin in institution_admins(institution):
        notify(admin, template, {"institution_name": institution.legal_name, **context},
               channels=channels,
               dedupe_key=f"application:{application.id}:{application.round}:{template}:"
                          f"{len(application.events)}:{admin.id}")


def transition(institution_id: int, action: str, *, actor: User | None, reason: str | None = None,
               on: date | None = None, **data: Any) -> Application:
    """Apply `action` to the institution's application; refused unless legal for its state and
    for the actor's role. Commits the state change, its history, audit row and messages."""
    spec = TRANSITIONS.get(action)
    if spec is None:
        raise IllegalTransition(_("Unknown action."), field="action")
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        raise NotFound(_("No such institution."), field="institutionId")
    # Lock the row (PostgreSQL) so a concurrent decision waits and then sees the new state.
    application = db.session.scalar(select(Application).where(
        Application.institution_id == institution_id).with_for_update())
    if application is None:
        application = application_for(institution)
    if not _may_act(spec, actor, institution):
        db.session.rollback()
        record_audit(f"application.{action}", object_type="application", object_id=application.id,
                     result="denied", actor=actor)
        db.session.commit()
        raise PermissionDenied(_("You may not do this to the application."))
    if application.state not in spec.sources:
        state = state_label(application.state)
        db.session.rollback()
        raise IllegalTransition(
            _("The application is %(state)s; this action is not possible now.", state=state),
            field="action")
    reason = sanitize_text(reason.strip(), 4000) if reason and reason.strip() else None
    if spec.reason_required and not reason:
        db.session.rollback()
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _("Give the reason."), "reason")])

    on = on or local_today()
    before = application.state
    extra = _apply(spec, application, institution, on=on, reason=reason, actor=actor, data=data)
    application.state = spec.target
    application.state_changed_at = utcnow()
    application.events.append(ApplicationEvent(
        round=application.round, from_state=before.value, to_state=spec.target.value,
        actor_id=actor.id if actor else None, reason=reason, data=extra or None))
    record_audit(f"application.{action}", object_type="application", object_id=application.id,
                 before={"state": before.value}, after={"state": spec.target.value,
                                                        "reason": reason, **(extra or {})},
                 actor=actor)
    try:
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise IllegalTransition(_("Someone else changed the application at the same time; reload "
                                  "it."), field="action") from exc
    return application


def _apply(spec: Transition, application: Application, institution: Institution, *, on: date,
           reason: str | None, actor: User | None, data: dict[str, Any]) -> dict[str, Any]:
    """The side of each transition that goes beyond the state; returns what to record."""
    if spec.action == "submit":
        report = evaluate(institution, on)
        if not report.eligible:
            db.session.rollback()
            raise NotEligible(report)
        application.submitted_at = utcnow()
        application.materials_deadline = None
        return {"checks": len(report.results)}
    if spec.action == "request_materials":
        from core.workcalendar.service import WorkCalendar

        days = int(data.get("working_days") or current_app.config["MATERIALS_DEADLINE_WORKING_DAYS"])
        if not 1 <= days <= MAX_MATERIALS_WORKING_DAYS:
            db.session.rollback()
            raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _(
                "Give 1 to %(n)d working days.", n=MAX_MATERIALS_WORKING_DAYS), "workingDays")])
        calendar = WorkCalendar.load(on, date(on.year + 1, 12, 31))
        application.materials_deadline = calendar.add_working_days(on, days)
        _notify(institution, "materials_requested", application,
                {"deadline": application.materials_deadline.isoformat(), "materials": reason})
        return {"deadline": application.materials_deadline.isoformat(), "working_days": days}
    if spec.action == "schedule_onsite":
        when = data.get("onsite_at")
        place = (data.get("onsite_place") or "").strip()
        if not isinstance(when, datetime) or not place:
            db.session.rollback()
            raise InvalidInput([Problem(ErrorCode.REQUIRED,
                                        _("Give the date, time and place of the visit."),
                                        "onsiteAt")])
        application.onsite_at = when
        application.onsite_place = sanitize_text(place, 300)
        local = when.astimezone(ZoneInfo("Asia/Shanghai"))
        _notify(institution, "onsite_visit_scheduled", application,
                {"visit_at": local.strftime("%Y-%m-%d %H:%M"), "place": application.onsite_place,
                 "contact": actor.display_name if actor else ""})
        return {"onsite_at": when.isoformat(), "place": application.onsite_place}
    if spec.action == "approve":
        institution.status = InstitutionStatus.LIVE
        institution.went_live_at = utcnow()
        institution.status_changed_at = institution.went_live_at
        institution.service_opening_date = on
        # R-OPS-01: the profile and service items are due within 5 working days of going live.
        from core.visibility.deadline import profile_deadline as deadline_for

        profile_deadline = deadline_for(on)
        _notify(institution, "application_approved", application,
                {"profile_deadline": profile_deadline.isoformat()})
        return {"service_opening_date": on.isoformat(), "profile_deadline": profile_deadline.isoformat()}
    if spec.action in ("reject", "lapse"):
        _notify(institution, "application_rejected", application,
                {"reason": reason or _("The requested materials were not provided in time.")})
        return {}
    if spec.action == "reopen":
        application.round += 1
        return {"round": application.round}
    return {}


def lapse_overdue(on: date) -> list[int]:
    """R-ONB-04: applications whose materials deadline passed before `on` are not approved."""
    overdue = list(db.session.scalars(select(Application.institution_id).where(
        Application.state == ApplicationState.MATERIALS_REQUESTED,
        Application.materials_deadline < on)))
    done = []
    for institution_id in overdue:
        try:
            transition(institution_id, "lapse", actor=None, on=on,
                       reason=_("The requested materials were not provided in time."))
        except IllegalTransition:
            continue  # another worker got there first
        done.append(institution_id)
    return done


def _queue_query(states: list[ApplicationState] | None, category: str | None):  # type: ignore[no-untyped-def]
    from core.onboarding.models import InstitutionCategory

    waiting = states or [S.SUBMITTED, S.SCREENING, S.REVIEW, S.ONSITE_SCHEDULED,
                         S.MATERIALS_REQUESTED]
    query = select(Application).where(Application.state.in_(waiting))
    if category:
        query = query.join(InstitutionCategory, InstitutionCategory.institution_id ==
                           Application.institution_id).where(
            InstitutionCategory.category_code == category)
    return query


def review_queue(*, states: list[ApplicationState] | None = None, category: str | None = None,
                 limit: int = 100, offset: int = 0) -> list[Application]:
    """Applications waiting for a reviewer, longest waiting first (one page of at most 100)."""
    query = _queue_query(states, category).order_by(Application.state_changed_at, Application.id)
    return list(db.session.scalars(query.limit(max(0, min(limit, 100))).offset(max(offset, 0))))


def review_queue_count(*, states: list[ApplicationState] | None = None,
                       category: str | None = None) -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).select_from(
        _queue_query(states, category).subquery())) or 0
