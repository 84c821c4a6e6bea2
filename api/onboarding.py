"""Onboarding in GraphQL: the viewer's institution, its profile, categories, agents, commitment
letter and application; the eligibility report; the reviewers' queue and decisions; exit and
removal (R-ONB-01…07, R-ELIG-10, R-COM-01).

Object-level permission checks live in the services (`core.onboarding.*`); the resolvers here
only check who may read what, audit a refused read (SECURITY.md 9) and mask personal data for
viewers not entitled to it (SECURITY.md 10, PIPL Art. 51).
"""


from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from flask import request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.errors import (
    to_graphql_error,
)
from api.identity import require_viewer, viewer_model
from api.lookup import get_institution, int_id
from api.onboarding_types import (
    PAGE_MAX,
    SHANGHAI,
    AdvantageItemInput,
    ApplicationResult,
    ApplicationStateEnum,
    ApplicationSuccess,
    ApplicationType,
    CommitmentLetterType,
    CommitmentSignatureType,
    CreateInstitutionResult,
    EligibilityReportResult,
    EligibilityReportType,
    ExitRequestType,
    InstitutionProfileInput,
    InstitutionResult,
    InstitutionSuccess,
    InstitutionType,
    InviteAgentResult,
    InviteAgentSuccess,
    IssueRemovalNoticeResult,
    IssueRemovalNoticeSuccess,
    OpenMatterType,
    RemovalNoticeType,
    RemovalReasonEnum,
    RequestExitResult,
    RequestExitSuccess,
    ReviewDecision,
    ReviewQueue,
    ReviewQueueResult,
    ScreeningAction,
    SignCommitmentResult,
    SignCommitmentSuccess,
    _actor_names,
    _application_of,
    _deny_read,
    _error,
    _invitation,
    _own_institutions,
    _profile_data,
    _visible_private,
)
from core import errors as core_errors
from core.audit.service import client_ip
from core.db import db
from core.errors import DomainError, InvalidInput, NotFound, PermissionDenied, Problem
from core.ids import parse_id
from core.institutions.access import (
    is_platform_staff,
)
from core.institutions.models import Institution
from core.institutions.service import start_institution
from core.onboarding import agents, commitment, eligibility, profile, workflow
from core.onboarding import exit as leaving
from core.onboarding import models as onb

# ---------------------------------------------------------------- queries


def _prefetched(applications: list[onb.Application]) -> list[ApplicationType]:
    """Load the page's histories, institutions, their categories and the actors' names in a
    few queries, not a few per application (the sync view has no DataLoader)."""
    if not applications:
        return []
    db.session.scalars(select(onb.Application)
                       .where(onb.Application.id.in_([a.id for a in applications]))
                       .options(selectinload(onb.Application.events))).all()
    institution_ids = {a.institution_id for a in applications}
    institutions = {i.id: i for i in db.session.scalars(
        select(Institution).where(Institution.id.in_(institution_ids)))}
    categories: dict[int, list[str]] = {i: [] for i in institution_ids}
    for institution_id, code in db.session.execute(
            select(onb.InstitutionCategory.institution_id, onb.InstitutionCategory.category_code)
            .where(onb.InstitutionCategory.institution_id.in_(institution_ids))
            .order_by(onb.InstitutionCategory.id)):
        categories[institution_id].append(code)
    names = _actor_names(e.actor_id for a in applications for e in a.events)
    return [ApplicationType.from_model(
        a, names, InstitutionType.from_model(institutions[a.institution_id],
                                             categories[a.institution_id]))
        for a in applications]


@strawberry.type
class OnboardingQuery:
    @strawberry.field(description="The institution the viewer administers or answers for; null "
                                  "for anybody else. `institutionId` picks one when the viewer "
                                  "works for several.")
    def my_institution(self, institution_id: strawberry.ID | None = None) -> InstitutionType | None:
        viewer = viewer_model()
        if viewer is None:
            return None
        own = _own_institutions(viewer)
        if institution_id is None:
            return InstitutionType.from_model(own[0][0]) if own else None
        for institution, _role in own:
            if str(institution.id) == str(institution_id):
                return InstitutionType.from_model(institution)
        _deny_read("institution.read", parse_id(institution_id), viewer)
        return None

    @strawberry.field(description="Every eligibility condition checked for the institution on "
                                  "`date` (default today, Asia/Shanghai): its own staff and "
                                  "platform staff only (R-ELIG-10).")
    def eligibility_report(self, institution_id: strawberry.ID | None = None,
                           date: date | None = None) -> EligibilityReportResult:
        try:
            institution = _visible_private(institution_id, "eligibility.read")
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        report = eligibility.evaluate(institution, date or workflow.local_today())
        return EligibilityReportType.from_report(report)

    @strawberry.field(description="An institution's application: its own staff and platform staff "
                                  "only; null otherwise or before the first submission.")
    def application(self, institution_id: strawberry.ID) -> ApplicationType | None:
        try:
            institution = _visible_private(institution_id, "application.read")
        except DomainError:
            return None
        application = _application_of(institution)
        return ApplicationType.from_model(application) if application else None

    @strawberry.field(description="Operators and regulators: applications waiting for a reviewer, "
                                  "longest waiting first (at most 100 a page).")
    def review_queue(self, state: list[ApplicationStateEnum] | None = None,  # type: ignore[valid-type]
                     category: str | None = None, first: int = 50,
                     offset: int = 0) -> ReviewQueueResult:
        viewer = viewer_model()
        if viewer is None:
            return to_graphql_error(  # type: ignore[return-value]
                core_errors.NotAuthenticated(_("Please log in.")))
        if not is_platform_staff(viewer):
            _deny_read("application.queue", None, viewer)
            return to_graphql_error(PermissionDenied(  # type: ignore[return-value]
                _("Only the operator and the regulator see the review queue.")))
        first = max(0, min(first, PAGE_MAX))
        offset = max(0, offset)
        states = [onb.ApplicationState(s) for s in state or []] or None
        page = workflow.review_queue(states=states, category=category or None, limit=first,
                                     offset=offset)
        total = workflow.review_queue_count(states=states, category=category or None)
        return ReviewQueue(applications=_prefetched(page), total_count=total,
                           has_more=offset + first < total)

    @strawberry.field(description="The current commitment letter (Annex 1), public (R-COM-01).")
    def commitment_letter(self) -> CommitmentLetterType:
        return CommitmentLetterType.from_model(commitment.current_version())


# ---------------------------------------------------------------- mutations


def _transition(institution_id: strawberry.ID, action: str, **kwargs: Any) -> ApplicationResult:
    try:
        user = require_viewer()
        institution = get_institution(institution_id)
        application = workflow.transition(institution.id, action, actor=user, **kwargs)
    except DomainError as exc:
        return _error(exc, parse_id(institution_id))  # type: ignore[return-value]
    return ApplicationSuccess(application=ApplicationType.from_model(application))


def _aware(value: datetime | None) -> datetime | None:
    """A time without an offset is read as Beijing time, as the forms show it."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=SHANGHAI)


@strawberry.type
class OnboardingMutation:
    @strawberry.mutation(description="An institution admin without an institution creates one "
                                     "(in draft) and becomes its administrator (R-ONB-01).")
    def create_institution(self, legal_name: str, uscc: str) -> CreateInstitutionResult:
        try:
            institution = start_institution(legal_name=legal_name, uscc=uscc,
                                            admin=require_viewer())
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return InstitutionSuccess(institution=InstitutionType.from_model(institution))

    @strawberry.mutation(description="The admin changes the profile; every problem is listed.")
    def update_institution_profile(self, institution_id: strawberry.ID,
                                   input: InstitutionProfileInput) -> InstitutionResult:
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            profile.update_profile(institution, _profile_data(input), actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return InstitutionSuccess(institution=InstitutionType.from_model(institution))

    @strawberry.mutation(description="The admin replaces the service categories and the 2-3 "
                                     "advantage service items (R-ELIG-06).")
    def set_institution_categories(self, institution_id: strawberry.ID, categories: list[str],
                                   advantage_items: list[AdvantageItemInput],
                                   main_category: str | None = None) -> InstitutionResult:
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            items = [{"categoryCode": i.category_code, "title": i.title,
                      "description": i.description} for i in advantage_items]
            profile.set_categories(institution, categories=categories, advantage_items=items,
                                   main_category=main_category, actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return InstitutionSuccess(institution=InstitutionType.from_model(institution))

    @strawberry.mutation(description="The admin invites a customer-service agent (R-ELIG-05); the "
                                     "token is returned this once.")
    def invite_agent(self, institution_id: strawberry.ID, display_name: str,
                     phone: str | None = None, email: str | None = None) -> InviteAgentResult:
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            invitation, token = agents.invite_agent(institution, display_name=display_name,
                                                    phone=phone, email=email, actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return InviteAgentSuccess(token=token, invitation=_invitation(invitation))

    @strawberry.mutation(description="The admin removes an agent from the institution.")
    def remove_agent(self, institution_id: strawberry.ID,
                     user_id: strawberry.ID) -> InstitutionResult:
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            agents.remove_agent(institution, int_id(user_id, "userId", _("No such agent.")),
                                actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return InstitutionSuccess(institution=InstitutionType.from_model(institution))

    @strawberry.mutation(description="The admin signs the current commitment letter (R-COM-01); "
                                     "`version` is the version read, refused if no longer "
                                     "current.")
    def sign_commitment(self, institution_id: strawberry.ID, signer_name: str, signer_title: str,
                        version: int) -> SignCommitmentResult:
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            row = db.session.scalar(select(onb.CommitmentVersion).where(
                onb.CommitmentVersion.version == version))
            if row is None and version == commitment.current_version().version:
                row = commitment.current_version()
            if row is None:
                raise NotFound(_("This version of the commitment letter does not exist."),
                               field="version")
            signature = commitment.sign(
                institution, signer_name=signer_name, signer_title=signer_title,
                version_id=row.id, actor=user, ip=client_ip(),
                user_agent=request.headers.get("User-Agent"))
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return SignCommitmentSuccess(signature=CommitmentSignatureType.from_model(signature),
                                     institution=InstitutionType.from_model(institution))

    @strawberry.mutation(description="The admin submits the application; refused with every "
                                     "failed condition while any is unmet (R-ELIG-10).")
    def submit_application(self, institution_id: strawberry.ID) -> ApplicationResult:
        return _transition(institution_id, "submit")

    @strawberry.mutation(description="The operator starts or passes the screening (R-ONB-03).")
    def screen_application(self, institution_id: strawberry.ID, action: ScreeningAction,
                           reason: str | None = None) -> ApplicationResult:
        return _transition(institution_id, action.value, reason=reason)

    @strawberry.mutation(description="A reviewer decides: approve (the institution goes live, "
                                     "R-ONB-05), reject, request materials (deadline in working "
                                     "days), schedule or record an on-site visit (R-ONB-04).")
    def review_application(self, institution_id: strawberry.ID, decision: ReviewDecision,
                           reason: str | None = None, working_days: int | None = None,
                           onsite_at: datetime | None = None,
                           onsite_place: str | None = None) -> ApplicationResult:
        if working_days is not None and not 1 <= working_days <= 60:
            return to_graphql_error(InvalidInput([Problem(  # type: ignore[return-value]
                core_errors.ErrorCode.INVALID_INPUT,
                _("Give 1 to %(n)d working days.", n=60), "workingDays")]))
        data: dict[str, Any] = {}
        if decision is ReviewDecision.REQUEST_MATERIALS and working_days is not None:
            data["working_days"] = working_days
        if decision is ReviewDecision.SCHEDULE_ONSITE:
            data.update(onsite_at=_aware(onsite_at), onsite_place=onsite_place)
        return _transition(institution_id, decision.value, reason=reason, **data)

    @strawberry.mutation(description="The admin reopens a rejected or lapsed application as a "
                                     "new round.")
    def reopen_application(self, institution_id: strawberry.ID) -> ApplicationResult:
        return _transition(institution_id, "reopen")

    @strawberry.mutation(description="The admin asks in writing to leave (R-ONB-06); exit "
                                     "completes once no matter is open.")
    def request_exit(self, institution_id: strawberry.ID, letter: str) -> RequestExitResult:
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            row = leaving.request_exit(institution, letter=letter, actor=user)
            remaining = leaving.open_matters(institution) if row.completed_at is None else []
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return RequestExitSuccess(
            exit_request=ExitRequestType(id=strawberry.ID(str(row.id)),
                                         requested_at=row.requested_at,
                                         completed_at=row.completed_at),
            open_matters=[OpenMatterType(kind=m.kind, object_id=strawberry.ID(str(m.object_id)),
                                         description=m.description) for m in remaining],
            institution=InstitutionType.from_model(institution))

    @strawberry.mutation(description="The regulator issues a removal notice (R-ONB-07); legacy "
                                     "matters are handled until the deadline.")
    def issue_removal_notice(self, institution_id: strawberry.ID,
                             reason: RemovalReasonEnum,  # type: ignore[valid-type]
                             details: str, legacy_days: int | None = None) -> IssueRemovalNoticeResult:
        if legacy_days is not None and not 0 <= legacy_days <= 365:
            return to_graphql_error(InvalidInput([Problem(  # type: ignore[return-value]
                core_errors.ErrorCode.INVALID_INPUT, _("Give 0 to %(n)d days.", n=365),
                "legacyDays")]))
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            notice = leaving.issue_removal_notice(institution, reason=onb.RemovalReason(reason),
                                               details=details, actor=user,
                                               legacy_days=legacy_days)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return IssueRemovalNoticeSuccess(notice=RemovalNoticeType(
            id=strawberry.ID(str(notice.id)), institution_id=strawberry.ID(str(institution.id)),
            reason=notice.reason, details=notice.details, issued_at=notice.issued_at,
            legacy_deadline=notice.legacy_deadline))
