"""Onboarding in GraphQL: the types, errors, inputs and payloads (queries and mutations are in
`api.onboarding`)."""


from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import strawberry
from flask_babel import gettext as _
from sqlalchemy import select
from strawberry.scalars import JSON

from api.errors import (
    ErrorCode,
    FieldProblem,
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    UserError,
    to_graphql_error,
)
from api.identity import require_viewer, viewer_model
from api.lookup import get_institution
from core.audit import record_audit
from core.db import db
from core.errors import DomainError, NotFound, PermissionDenied
from core.identity.models import User
from core.identity.service import mask_identifier
from core.institutions import models as inst_models
from core.institutions.access import (
    can_manage_institution,
    can_view_institution_private,
    is_platform_staff,
)
from core.institutions.models import Institution, InstitutionStaff
from core.onboarding import agents, commitment, eligibility, profile, workflow
from core.onboarding import models as onb

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGE_MAX = 100

ApplicationStateEnum = strawberry.enum(onb.ApplicationState, name="ApplicationState")
InstitutionStatusEnum = strawberry.enum(inst_models.InstitutionStatus, name="InstitutionStatus")
InstitutionTypeEnum = strawberry.enum(inst_models.InstitutionType, name="InstitutionType",
                                      description="企业法人, 事业单位, 高校, 科研院所, other.")
StaffRoleEnum = strawberry.enum(inst_models.StaffRole, name="InstitutionStaffRole")
RemovalReasonEnum = strawberry.enum(onb.RemovalReason, name="RemovalReason")


@strawberry.enum(description="The operator's screening steps (R-ONB-03).")
class ScreeningAction(enum.Enum):
    START = "start_screening"
    PASS = "pass_screening"


@strawberry.enum(description="A reviewer's decision on an application (R-ONB-03…05).")
class ReviewDecision(enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_MATERIALS = "request_materials"
    SCHEDULE_ONSITE = "schedule_onsite"
    RECORD_ONSITE = "record_onsite"


# ---------------------------------------------------------------- who is looking


def _mask(value: str | None, entitled: bool) -> str | None:
    """Personal contact data in full for those entitled to it, `138****5678` for the others."""
    if value is None or entitled:
        return value
    return mask_identifier(value)


def _may_see_contacts(viewer: User | None, institution_id: int) -> bool:
    """The institution's admin and platform staff see its agents' contacts (PIPL Art. 51)."""
    return is_platform_staff(viewer) or can_manage_institution(viewer, institution_id)


def _deny_read(action: str, institution_id: int | None, viewer: User | None) -> None:
    """A refused read is audited like a refused write (SECURITY.md 9)."""
    record_audit(action, object_type="institution", object_id=institution_id, result="denied",
                 actor=viewer)
    db.session.commit()



def _own_institutions(user: User) -> list[tuple[Institution, inst_models.StaffRole]]:
    """The institutions `user` works for, admin roles first."""
    rows = db.session.execute(
        select(Institution, InstitutionStaff.role).join(
            InstitutionStaff, InstitutionStaff.institution_id == Institution.id)
        .where(InstitutionStaff.user_id == user.id).order_by(InstitutionStaff.id))
    pairs = [(i, r) for i, r in rows]
    return sorted(pairs, key=lambda p: p[1] is not inst_models.StaffRole.ADMIN)


def _visible_private(institution_id: strawberry.ID | None, action: str) -> Institution:
    """The institution whose private records the viewer asks for: its own staff and platform
    staff only; without an id, the viewer's own. Refusals are audited."""
    viewer = require_viewer()
    if institution_id is None:
        own = _own_institutions(viewer)
        if not own:
            raise NotFound(_("You do not work for an institution."), field="institutionId")
        return own[0][0]
    institution = get_institution(institution_id)
    if not can_view_institution_private(viewer, institution.id):
        _deny_read(action, institution.id, viewer)
        raise PermissionDenied(_("You may not see this institution's records."))
    return institution


# ---------------------------------------------------------------- types


@strawberry.type(name="EligibilityCheck", description="One condition checked (R-ELIG-10).")
class EligibilityCheckType:
    code: str = strawberry.field(description="The rule id, e.g. R-ELIG-02.")
    passed: bool
    message: str
    evidence: JSON = strawberry.field(description="What was looked at (documents, records, counts).")
    subject: str | None = strawberry.field(
        description="The category or document the result is about, if any.")

    @classmethod
    def from_result(cls, r: eligibility.CheckResult) -> EligibilityCheckType:
        return cls(code=r.code, passed=r.passed, message=str(r.message), evidence=r.evidence,
                   subject=r.subject)


@strawberry.type(name="EligibilityReport")
class EligibilityReportType:
    institution_id: strawberry.ID
    on: date = strawberry.field(description="The day the conditions were evaluated for.")
    eligible: bool
    results: list[EligibilityCheckType] = strawberry.field(description="Every check, passed or not.")

    @strawberry.field(description="Only the failed checks.")
    def failures(self) -> list[EligibilityCheckType]:
        return [r for r in self.results if not r.passed]

    @classmethod
    def from_report(cls, report: eligibility.EligibilityReport) -> EligibilityReportType:
        return cls(institution_id=strawberry.ID(str(report.institution_id)), on=report.on,
                   eligible=report.eligible,
                   results=[EligibilityCheckType.from_result(r) for r in report.results])


@strawberry.type(name="AdvantageItem", description="An advantage service item (R-ELIG-06).")
class AdvantageItemType:
    id: strawberry.ID
    category_code: str
    title: str
    description: str | None
    position: int


@strawberry.type(name="InstitutionAgent", description="An online customer-service agent "
                                                      "(R-ELIG-05); contacts masked unless the "
                                                      "viewer is the institution's admin, the "
                                                      "agent or platform staff.")
class AgentType:
    user_id: strawberry.ID
    display_name: str
    phone: str | None
    email: str | None


@strawberry.type(name="AgentInvitation")
class AgentInvitationType:
    id: strawberry.ID
    display_name: str
    phone: str | None
    email: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


@strawberry.type(name="CommitmentLetter", description="A version of the commitment letter "
                                                      "(Annex 1), public.")
class CommitmentLetterType:
    id: strawberry.ID
    version: int
    title: str
    preamble: str
    items: list[str]
    closing: str
    text_sha256: str = strawberry.field(description="SHA-256 of `text`, what a signature binds to.")
    published_at: datetime

    @strawberry.field(description="The exact text shown and signed.")
    def text(self) -> str:
        return commitment.canonical_text(self)

    @classmethod
    def from_model(cls, v: onb.CommitmentVersion) -> CommitmentLetterType:
        return cls(id=strawberry.ID(str(v.id)), version=v.version, title=v.title,
                   preamble=v.preamble, items=list(v.items), closing=v.closing,
                   text_sha256=v.text_sha256, published_at=v.published_at)


@strawberry.type(name="CommitmentSignature")
class CommitmentSignatureType:
    id: strawberry.ID
    version: int
    signer_name: str
    signer_title: str
    signed_at: datetime
    text_sha256: str

    @classmethod
    def from_model(cls, s: onb.CommitmentSignature) -> CommitmentSignatureType:
        return cls(id=strawberry.ID(str(s.id)), version=s.version.version,
                   signer_name=s.signer_name, signer_title=s.signer_title, signed_at=s.signed_at,
                   text_sha256=s.text_sha256)


@strawberry.type(name="CommitmentStatus", description="R-ELIG-04 / R-COM-02 for one institution.")
class CommitmentStatusType:
    current_version: CommitmentLetterType
    signed: bool = strawberry.field(description="True when the current version is signed.")
    signature: CommitmentSignatureType | None = strawberry.field(
        description="The signature of the current version, if any.")
    last_signature: CommitmentSignatureType | None = strawberry.field(
        description="The latest signature of any version (an outdated one when `signed` is false).")


@strawberry.type(name="ApplicationEvent", description="One step of the application's history.")
class ApplicationEventType:
    id: strawberry.ID
    round: int
    from_state: ApplicationStateEnum  # type: ignore[valid-type]
    to_state: ApplicationStateEnum  # type: ignore[valid-type]
    actor_name: str | None = strawberry.field(description="Null for the system (a lapse).")
    reason: str | None
    data: JSON | None
    at: datetime


@strawberry.type(name="OpenMatter", description="Something that must be closed before exit.")
class OpenMatterType:
    kind: str
    object_id: strawberry.ID
    description: str


def _state(value: str) -> onb.ApplicationState:
    return onb.ApplicationState(value)


def _actor_names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


@strawberry.type(name="Application", description="An institution's application to join "
                                                 "(R-ONB-01…05).")
class ApplicationType:
    id: strawberry.ID
    institution_id: strawberry.ID
    state: ApplicationStateEnum  # type: ignore[valid-type]
    round: int
    submitted_at: datetime | None
    state_changed_at: datetime
    materials_deadline: date | None = strawberry.field(
        description="Materials requested: the last day to provide them (R-ONB-04).")
    onsite_at: datetime | None
    onsite_place: str | None
    _model: strawberry.Private[onb.Application]
    _names: strawberry.Private[dict[int, str] | None] = None
    _institution: strawberry.Private[InstitutionType | None] = None

    @strawberry.field
    def institution(self) -> InstitutionType:
        if self._institution is not None:
            return self._institution
        return InstitutionType.from_model(db.session.get(Institution, self._model.institution_id))

    @strawberry.field(description="Every transition with its actor and reason, oldest first.")
    def history(self) -> list[ApplicationEventType]:
        events = self._model.events
        names = self._names if self._names is not None else _actor_names(e.actor_id for e in events)
        return [ApplicationEventType(
            id=strawberry.ID(str(e.id)), round=e.round, from_state=_state(e.from_state),
            to_state=_state(e.to_state), actor_name=names.get(e.actor_id) if e.actor_id else None,
            reason=e.reason, data=e.data, at=e.at) for e in events]

    @classmethod
    def from_model(cls, a: onb.Application, names: dict[int, str] | None = None,
                   institution: InstitutionType | None = None) -> ApplicationType:
        return cls(id=strawberry.ID(str(a.id)), institution_id=strawberry.ID(str(a.institution_id)),
                   state=a.state, round=a.round, submitted_at=a.submitted_at,
                   state_changed_at=a.state_changed_at, materials_deadline=a.materials_deadline,
                   onsite_at=a.onsite_at, onsite_place=a.onsite_place, _model=a, _names=names,
                   _institution=institution)


def _application_of(institution: Institution) -> onb.Application | None:
    """The application, or None before the first submission (a read never creates one)."""
    return db.session.scalar(select(onb.Application).where(
        onb.Application.institution_id == institution.id))


@strawberry.type(name="Institution", description="An institution as its own staff and platform "
                                                 "staff see it.")
class InstitutionType:
    id: strawberry.ID
    legal_name: str
    uscc: str | None
    status: InstitutionStatusEnum  # type: ignore[valid-type]
    institution_type: InstitutionTypeEnum | None  # type: ignore[valid-type]
    legal_representative: str | None
    registered_address: str | None
    province_code: str | None
    city_code: str | None
    district_code: str | None
    contact_phone: str | None
    contact_email: str | None
    introduction: str | None
    website: str | None
    main_category_code: str | None
    created_at: datetime
    went_live_at: datetime | None
    service_opening_date: date | None
    _model: strawberry.Private[Institution]
    _categories: strawberry.Private[list[str] | None] = None
    _contacts: strawberry.Private[bool | None] = None  # read once per answer: two fields ask

    def _contacts_visible(self) -> bool:
        if self._contacts is None:
            self._contacts = _may_see_contacts(viewer_model(), self._model.id)
        return self._contacts

    @strawberry.field(description="The viewer's role here; null for platform staff.")
    def viewer_role(self) -> StaffRoleEnum | None:  # type: ignore[valid-type]
        from core.institutions.access import staff_role

        return staff_role(viewer_model(), self._model.id)

    @strawberry.field(description="What the profile still lacks (R-ONB-01); empty when complete.")
    def profile_problems(self) -> list[FieldProblem]:
        return [FieldProblem(code=ErrorCode(p.code), message=str(p.message), field=p.field)
                for p in profile.profile_problems(self._model, categories=self.categories())]

    @strawberry.field(description="The chosen service category codes.")
    def categories(self) -> list[str]:
        if self._categories is None:
            self._categories = profile.institution_categories(self._model)
        return list(self._categories)

    @strawberry.field
    def advantage_items(self) -> list[AdvantageItemType]:
        return [AdvantageItemType(id=strawberry.ID(str(i.id)), category_code=i.category_code,
                                  title=i.title, description=i.description, position=i.position)
                for i in profile.advantage_items(self._model)]

    @strawberry.field
    def agents(self) -> list[AgentType]:
        viewer = viewer_model()
        entitled = self._contacts_visible()
        return [AgentType(user_id=strawberry.ID(str(u.id)), display_name=u.display_name,
                          phone=_mask(u.phone, entitled or (viewer is not None and viewer.id == u.id)),
                          email=_mask(u.email, entitled or (viewer is not None and viewer.id == u.id)))
                for u in agents.agents_of(self._model)]

    @strawberry.field(description="Invitations neither accepted, withdrawn nor expired (the "
                                  "admin and platform staff only; empty for others).")
    def pending_invitations(self) -> list[AgentInvitationType]:
        if not self._contacts_visible():
            return []
        return [_invitation(i) for i in agents.open_invitations(self._model)]

    @strawberry.field
    def commitment(self) -> CommitmentStatusType:
        current = commitment.current_version()
        history = commitment.signatures(self._model)
        # current_signature's rule, on the history already read: the latest of this version.
        signature = max((s for s in history if s.version_id == current.id), key=lambda s: s.id,
                        default=None)
        return CommitmentStatusType(
            current_version=CommitmentLetterType.from_model(current), signed=signature is not None,
            signature=CommitmentSignatureType.from_model(signature) if signature else None,
            last_signature=CommitmentSignatureType.from_model(history[0]) if history else None)

    @strawberry.field(description="The application; null before the first submission.")
    def application(self) -> ApplicationType | None:
        application = _application_of(self._model)
        return ApplicationType.from_model(application) if application else None

    @classmethod
    def from_model(cls, i: Institution, categories: list[str] | None = None) -> InstitutionType:
        return cls(
            id=strawberry.ID(str(i.id)), legal_name=i.legal_name, uscc=i.uscc, status=i.status,
            institution_type=i.institution_type, legal_representative=i.legal_representative,
            registered_address=i.registered_address, province_code=i.province_code,
            city_code=i.city_code, district_code=i.district_code, contact_phone=i.contact_phone,
            contact_email=i.contact_email, introduction=i.introduction, website=i.website,
            main_category_code=i.main_category_code, created_at=i.created_at,
            went_live_at=i.went_live_at, service_opening_date=i.service_opening_date, _model=i,
            _categories=categories)


def _invitation(i: onb.AgentInvitation) -> AgentInvitationType:
    return AgentInvitationType(id=strawberry.ID(str(i.id)), display_name=i.display_name,
                               phone=i.phone, email=i.email, created_at=i.created_at,
                               expires_at=i.expires_at, accepted_at=i.accepted_at,
                               revoked_at=i.revoked_at)


@strawberry.type(description="Applications waiting for a reviewer, longest waiting first.")
class ReviewQueue:
    applications: list[ApplicationType]
    total_count: int
    has_more: bool


# ---------------------------------------------------------------- errors


@strawberry.type(description="The application cannot be submitted: `failures` lists every "
                             "condition not met (R-ELIG-10); nothing was changed.")
class IneligibleError(UserError):
    failures: list[EligibilityCheckType]
    report: EligibilityReportType


@strawberry.type(description="The action is not possible in the application's current state.")
class IllegalTransitionError(UserError):
    state: ApplicationStateEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="The application's state now.")


@strawberry.type(description="A newer version of the commitment letter was published; read and "
                             "sign that one.")
class CommitmentOutdatedError(UserError):
    current_version: int


def _error(exc: DomainError, institution_id: int | None = None) -> UserError:
    """Map a service's refusal to its GraphQL type (after undoing anything half-done)."""
    db.session.rollback()
    if isinstance(exc, workflow.NotEligible):
        report = EligibilityReportType.from_report(exc.report)
        return IneligibleError(code=ErrorCode.NOT_ELIGIBLE, message=exc.message, field=None,
                               failures=report.failures(), report=report)
    if isinstance(exc, workflow.IllegalTransition):
        application = db.session.scalar(select(onb.Application).where(
            onb.Application.institution_id == institution_id)) if institution_id else None
        state = application.state if application else onb.ApplicationState.DRAFT
        return IllegalTransitionError(code=ErrorCode.ILLEGAL_TRANSITION, message=exc.message,
                                      field=exc.field, state=state if institution_id else None)
    if isinstance(exc, commitment.CommitmentOutdated):
        return CommitmentOutdatedError(code=ErrorCode(exc.code), message=exc.message,
                                       field=exc.field,
                                       current_version=commitment.current_version().version)
    return to_graphql_error(exc)


# ---------------------------------------------------------------- inputs and payloads


@strawberry.input(description="Profile fields to change; a field left out keeps its value, "
                              "null clears an optional one.")
class InstitutionProfileInput:
    legal_name: str | None = strawberry.UNSET
    uscc: str | None = strawberry.UNSET
    institution_type: InstitutionTypeEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    legal_representative: str | None = strawberry.UNSET
    registered_address: str | None = strawberry.UNSET
    province_code: str | None = strawberry.UNSET
    city_code: str | None = strawberry.UNSET
    district_code: str | None = strawberry.UNSET
    contact_phone: str | None = strawberry.UNSET
    contact_email: str | None = strawberry.UNSET
    introduction: str | None = strawberry.UNSET
    website: str | None = strawberry.UNSET
    main_category_code: str | None = strawberry.UNSET


def _profile_data(data: InstitutionProfileInput) -> dict[str, Any]:
    """The fields actually sent, camelCase, as `profile.update_profile` takes them."""
    out: dict[str, Any] = {}
    for camel, attr in profile.PROFILE_FIELDS.items():
        value = getattr(data, attr, strawberry.UNSET)
        if value is strawberry.UNSET:
            continue
        out[camel] = value.value if isinstance(value, enum.Enum) else value
    return out


@strawberry.input
class AdvantageItemInput:
    category_code: str
    title: str
    description: str | None = None


@strawberry.type
class InstitutionSuccess:
    institution: InstitutionType


@strawberry.type
class InviteAgentSuccess:
    token: str = strawberry.field(description="The invitation secret, shown this once: send it "
                                              "to the agent, who accepts it to join.")
    invitation: AgentInvitationType


@strawberry.type
class SignCommitmentSuccess:
    signature: CommitmentSignatureType
    institution: InstitutionType


@strawberry.type
class ApplicationSuccess:
    application: ApplicationType


@strawberry.type(name="ExitRequest")
class ExitRequestType:
    id: strawberry.ID
    requested_at: datetime
    completed_at: datetime | None


@strawberry.type
class RequestExitSuccess:
    exit_request: ExitRequestType
    open_matters: list[OpenMatterType] = strawberry.field(
        description="What still blocks the exit; empty when it completed.")
    institution: InstitutionType


@strawberry.type(name="RemovalNotice")
class RemovalNoticeType:
    id: strawberry.ID
    institution_id: strawberry.ID
    reason: RemovalReasonEnum  # type: ignore[valid-type]
    details: str
    issued_at: datetime
    legacy_deadline: date


@strawberry.type
class IssueRemovalNoticeSuccess:
    notice: RemovalNoticeType


_Common = InvalidInputError | PermissionDeniedError | NotFoundError | NotAuthenticatedError

EligibilityReportResult = Annotated[
    EligibilityReportType | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("EligibilityReportResult")]
ReviewQueueResult = Annotated[ReviewQueue | PermissionDeniedError | NotAuthenticatedError,
                              strawberry.union("ReviewQueueResult")]
CreateInstitutionResult = Annotated[
    InstitutionSuccess | InvalidInputError | PermissionDeniedError | NotAuthenticatedError,
    strawberry.union("CreateInstitutionResult")]
InstitutionResult = Annotated[InstitutionSuccess | _Common, strawberry.union("InstitutionResult")]
InviteAgentResult = Annotated[InviteAgentSuccess | _Common, strawberry.union("InviteAgentResult")]
SignCommitmentResult = Annotated[SignCommitmentSuccess | CommitmentOutdatedError | _Common,
                                 strawberry.union("SignCommitmentResult")]
ApplicationResult = Annotated[
    ApplicationSuccess | IneligibleError | IllegalTransitionError | _Common,
    strawberry.union("ApplicationResult")]
RequestExitResult = Annotated[RequestExitSuccess | _Common, strawberry.union("RequestExitResult")]
IssueRemovalNoticeResult = Annotated[IssueRemovalNoticeSuccess | _Common,
                                     strawberry.union("IssueRemovalNoticeResult")]
