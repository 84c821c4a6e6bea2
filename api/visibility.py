"""Spot checks, the profile deadline and homepage visibility in GraphQL (R-OPS-04, R-OPS-01,
R-OPS-05; SECURITY.md 9).

Who may see or do what is decided (and refusals audited) in `core.visibility`: operators do
everything, regulators read, an institution's staff read their own deadline, visibility and
spot-check history (without a referral's findings). The list is read in a fixed number of
statements whatever `first` is.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated

import strawberry
from flask_babel import gettext as _

from api.errors import (
    ErrorCode,
    FieldProblem,
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer
from api.lookup import get_institution
from core.audit import record_audit
from core.db import db
from core.errors import DomainError, PermissionDenied
from core.identity.models import User
from core.institutions.access import can_view_institution_private
from core.institutions.models import Institution
from core.visibility import spot_checks
from core.visibility.deadline import DeadlineStatus, profile_deadline_status
from core.visibility.models import SpotCheck, SpotCheckResult
from core.visibility.service import grace_ends_on

SpotCheckResultEnum = strawberry.enum(SpotCheckResult, name="SpotCheckResult")


@strawberry.enum(name="SpotCheckSort")
class SpotCheckSort(enum.Enum):
    RISK = "risk"  # highest risk score first
    LAST_CHECK = "last_check"  # never checked first, then the longest since the last check
    WENT_LIVE = "went_live"  # newest live first
    NAME = "name"


@strawberry.type(name="ProfileDeadline", description="R-OPS-01: the profile and at least one "
                                                     "published item written to specification, "
                                                     "due within 5 working days of going live.")
class ProfileDeadlineType:
    institution_id: strawberry.ID
    went_live_on: date | None
    deadline: date | None = strawberry.field(description="Null before the institution went live.")
    reminder_on: date | None = strawberry.field(description="Working day 3: the first reminder.")
    complete: bool
    overdue: bool = strawberry.field(description="Past the deadline and still incomplete.")
    problems: list[FieldProblem] = strawberry.field(description="What is still missing.")

    @classmethod
    def build(cls, s: DeadlineStatus) -> ProfileDeadlineType:
        return cls(institution_id=strawberry.ID(str(s.institution_id)), went_live_on=s.went_live_on,
                   deadline=s.deadline, reminder_on=s.reminder_on, complete=s.complete,
                   overdue=s.overdue,
                   problems=[FieldProblem(code=ErrorCode(p.code), message=str(p.message),
                                          field=p.field) for p in s.problems])


@strawberry.type(name="HomepageVisibility", description="R-OPS-05, for the institution's staff "
                                                        "and platform staff only.")
class HomepageVisibilityType:
    institution_id: strawberry.ID
    homepage_hidden: bool
    homepage_hidden_at: datetime | None
    homepage_hidden_reason: str | None = strawberry.field(
        description="no_item, no_agent or no_item_no_agent; null while shown.")
    grace_ends_on: date | None = strawberry.field(
        description="From this day a homepage without a published item or an agent is hidden.")


@strawberry.type(name="SpotCheckListRow", description="A live institution and its signals.")
class SpotCheckListRowType:
    institution_id: strawberry.ID
    institution_name: str
    went_live_on: date | None
    homepage_hidden: bool
    homepage_hidden_reason: str | None
    profile_deadline: date | None
    profile_overdue: bool
    open_follow_ups: int = strawberry.field(description="Bad-review follow-ups open or responded.")
    complaints_filed: int = strawberry.field(description="Filed this year, not withdrawn.")
    complaints_verified: int = strawberry.field(description="Filed this year and verified.")
    bad_reviews: int = strawberry.field(description="1-2 star reviews this year.")
    sla_average_seconds: float | None = strawberry.field(
        description="This month's average first-response seconds in the working window.")
    sla_met: bool = strawberry.field(description="This month's response SLA met so far (R-OPS-03).")
    last_checked_at: datetime | None
    days_since_check: int | None
    risk_score: int

    @classmethod
    def build(cls, r: spot_checks.SpotCheckRow) -> SpotCheckListRowType:
        return cls(
            institution_id=strawberry.ID(str(r.institution_id)), institution_name=r.name,
            went_live_on=r.went_live_on, homepage_hidden=r.hidden_reason is not None,
            homepage_hidden_reason=r.hidden_reason, profile_deadline=r.deadline.deadline,
            profile_overdue=r.profile_overdue, open_follow_ups=r.open_follow_ups,
            complaints_filed=r.complaints_filed, complaints_verified=r.complaints_verified,
            bad_reviews=r.bad_reviews, sla_average_seconds=r.sla.average_seconds,
            sla_met=r.sla.met, last_checked_at=r.last_checked_at,
            days_since_check=r.days_since_check, risk_score=r.risk)


@strawberry.type
class SpotCheckListPage:
    rows: list[SpotCheckListRowType]
    total: int
    has_more: bool


@strawberry.type(name="SpotCheck")
class SpotCheckType:
    id: strawberry.ID
    institution_id: strawberry.ID
    result: SpotCheckResultEnum  # type: ignore[valid-type]
    findings: str | None = strawberry.field(
        description="Null for the institution's own staff when the check was referred.")
    checked_at: datetime
    operator_name: str


def _checks(rows: list[SpotCheck], viewer: User) -> list[SpotCheckType]:
    names = spot_checks.operator_names(rows)
    return [SpotCheckType(
        id=strawberry.ID(str(c.id)), institution_id=strawberry.ID(str(c.institution_id)),
        result=c.result, findings=c.findings if spot_checks.findings_visible(viewer, c) else None,
        checked_at=c.checked_at, operator_name=names.get(c.operator_id, "")) for c in rows]


@strawberry.type
class SpotCheckHistory:
    checks: list[SpotCheckType] = strawberry.field(description="Newest first.")


@strawberry.type
class SpotCheckSample:
    seed: int = strawberry.field(description="Recorded in the audit log; the same seed and the "
                                             "same live institutions give the same draw.")
    size: int
    population_size: int
    institution_ids: list[strawberry.ID]


@strawberry.input
class RecordSpotCheckInput:
    institution_id: strawberry.ID
    result: SpotCheckResultEnum  # type: ignore[valid-type]
    findings: str


@strawberry.type
class RecordSpotCheckSuccess:
    spot_check: SpotCheckType


Errors = PermissionDeniedError | NotFoundError | NotAuthenticatedError
SpotCheckListResult = Annotated[SpotCheckListPage | InvalidInputError | PermissionDeniedError
                                | NotAuthenticatedError, strawberry.union("SpotCheckListResult")]
SpotCheckHistoryResult = Annotated[SpotCheckHistory | Errors, strawberry.union("SpotCheckHistoryResult")]
ProfileDeadlineResult = Annotated[ProfileDeadlineType | Errors, strawberry.union("ProfileDeadlineResult")]
HomepageVisibilityResult = Annotated[HomepageVisibilityType | Errors,
                                     strawberry.union("HomepageVisibilityResult")]
SpotCheckSampleResult = Annotated[SpotCheckSample | InvalidInputError | PermissionDeniedError
                                  | NotAuthenticatedError, strawberry.union("SpotCheckSampleResult")]
RecordSpotCheckResult = Annotated[RecordSpotCheckSuccess | InvalidInputError | Errors,
                                  strawberry.union("RecordSpotCheckResult")]


def _private_institution(institution_id: strawberry.ID, viewer: User, action: str) -> Institution:
    """The institution, for its own staff and platform staff; refusals audited."""
    institution = get_institution(institution_id)
    if not can_view_institution_private(viewer, institution.id):
        record_audit(action, object_type="institution", object_id=institution.id,
                     result="denied", actor=viewer)
        db.session.commit()
        raise PermissionDenied(_("Only the institution's staff and platform staff may see this."))
    return institution


@strawberry.type
class VisibilityQuery:
    @strawberry.field(description="Live institutions with their spot-check signals (R-OPS-04), "
                                  "sorted (default RISK); operators and regulators; first ≤ 100.")
    def spot_check_list(self, first: int = 20, offset: int = 0,
                        sort: SpotCheckSort | None = None) -> SpotCheckListResult:
        try:
            viewer = require_viewer()
            page = spot_checks.spot_check_list(viewer, first=first, offset=offset,
                                               sort=(sort or SpotCheckSort.RISK).value)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return SpotCheckListPage(rows=[SpotCheckListRowType.build(r) for r in page.rows],
                                 total=page.total, has_more=offset + len(page.rows) < page.total)

    @strawberry.field(description="An institution's spot checks, newest first: operators, "
                                  "regulators and the institution's own staff.")
    def spot_checks(self, institution_id: strawberry.ID, first: int = 50,
                    offset: int = 0) -> SpotCheckHistoryResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id)
            rows = spot_checks.spot_checks_of(institution, viewer, first=first, offset=offset)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return SpotCheckHistory(checks=_checks(rows, viewer))

    @strawberry.field(description="R-OPS-01: the institution's profile deadline, whether it is "
                                  "complete and what is missing (its staff and platform staff).")
    def profile_deadline(self, institution_id: strawberry.ID) -> ProfileDeadlineResult:
        try:
            viewer = require_viewer()
            institution = _private_institution(institution_id, viewer, "profile_deadline.read")
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ProfileDeadlineType.build(profile_deadline_status(institution))

    @strawberry.field(description="R-OPS-05: whether the institution's homepage is hidden and "
                                  "why (its staff and platform staff).")
    def homepage_visibility(self, institution_id: strawberry.ID) -> HomepageVisibilityResult:
        try:
            viewer = require_viewer()
            institution = _private_institution(institution_id, viewer, "homepage_visibility.read")
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        hidden = institution.homepage_hidden_at is not None
        return HomepageVisibilityType(
            institution_id=strawberry.ID(str(institution.id)), homepage_hidden=hidden,
            homepage_hidden_at=institution.homepage_hidden_at,
            homepage_hidden_reason=institution.homepage_hidden_reason if hidden else None,
            grace_ends_on=grace_ends_on(institution))


@strawberry.type
class VisibilityMutation:
    @strawberry.mutation(description="An operator records a spot check (R-OPS-04): ok, rectify "
                                     "(the institution's admins get the findings) or referred "
                                     "(the regulators get them: suspected illegal conduct).")
    def record_spot_check(self, input: RecordSpotCheckInput) -> RecordSpotCheckResult:
        try:
            viewer = require_viewer()
            institution = get_institution(input.institution_id)
            check = spot_checks.record_spot_check(institution, result=input.result.value,
                                                  findings=input.findings, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return RecordSpotCheckSuccess(spot_check=_checks([check], viewer)[0])

    @strawberry.mutation(description="An operator draws a random sample of live institutions "
                                     "(SPOT_CHECK_SAMPLE_SIZE by default); the seed is recorded "
                                     "in the audit log, and giving it again repeats the draw.")
    def draw_spot_check_sample(self, size: int | None = None,
                               seed: int | None = None) -> SpotCheckSampleResult:
        try:
            viewer = require_viewer()
            sample = spot_checks.draw_sample(viewer, size=size, seed=seed)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return SpotCheckSample(seed=sample.seed, size=sample.size,
                               population_size=sample.population_size,
                               institution_ids=[strawberry.ID(str(i)) for i in sample.institution_ids])
