"""Consultations in GraphQL (R-OPS-03, R-G-05, R-G-08; SECURITY.md 9-10).

Who may see or change what is decided (and refusals audited) in `core.consultations.service`;
the resolvers pick the rows, prefetch what the page shows in a fixed number of statements and
mask the asker's phone for viewers not entitled to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from flask_babel import gettext as _
from strawberry.scalars import JSON

from api.errors import (
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer
from api.lookup import get_institution, optional_id
from core.audit import record_audit
from core.consultations import models, service, sla
from core.db import db
from core.errors import DomainError, InvalidInput, PermissionDenied, Problem
from core.errors import ErrorCode as CoreErrorCode
from core.identity.models import User
from core.identity.service import mask_identifier
from core.institutions.access import client_contact_institutions, is_platform_staff, staff_role

ConsultationStatusEnum = strawberry.enum(models.ConsultationStatus, name="ConsultationStatus")
MessageSideEnum = strawberry.enum(models.MessageSide, name="ConsultationSide")


@strawberry.type(name="ConsultationMessage")
class ConsultationMessageType:
    id: strawberry.ID
    side: MessageSideEnum  # type: ignore[valid-type]
    author_name: str
    body: str
    at: datetime


@strawberry.type(name="Consultation", description="A question to an institution and its thread.")
class ConsultationType:
    id: strawberry.ID
    institution_id: strawberry.ID
    subject: str
    status: ConsultationStatusEnum  # type: ignore[valid-type]
    received_at: datetime
    service_item_id: strawberry.ID | None
    asker_name: str
    asker_phone: str | None = strawberry.field(
        description="In full for the asker, operators and the institution's admin; masked "
                    "(138****5678) for everyone else (R-G-05).")
    on_behalf: bool = strawberry.field(description="Filed by an operator for the enterprise (R-G-08).")
    first_response_at: datetime | None
    sla_rule: str | None = strawberry.field(description="working_window or non_working_daytime.")
    sla_seconds: int | None = strawberry.field(description="First-response seconds counted (R-OPS-03).")
    sla_limit_seconds: int | None = strawberry.field(
        description="The per-consultation limit (6 h on a non-working day); null: the 2 h "
                    "rule is on the monthly average.")
    messages: list[ConsultationMessageType]

    @classmethod
    def build(cls, c: models.Consultation, viewer: User, users: dict[int, User],
              entitled: bool | None = None) -> ConsultationType:
        asker = users.get(c.enterprise_user_id)
        phone = asker.phone if asker else None
        if entitled is None:
            entitled = service.contact_entitled(viewer, c)
        if phone is not None and not entitled:
            phone = mask_identifier(phone)
        return cls(
            id=strawberry.ID(str(c.id)), institution_id=strawberry.ID(str(c.institution_id)),
            subject=c.subject, status=c.status, received_at=c.received_at,
            service_item_id=strawberry.ID(str(c.service_item_id)) if c.service_item_id else None,
            asker_name=asker.display_name if asker else "", asker_phone=phone,
            on_behalf=c.on_behalf, first_response_at=c.first_response_at, sla_rule=c.sla_rule,
            sla_seconds=c.sla_seconds, sla_limit_seconds=c.sla_limit_seconds,
            messages=[ConsultationMessageType(
                id=strawberry.ID(str(m.id)), side=m.side, body=m.body, at=m.at,
                author_name=users[m.author_id].display_name if m.author_id in users else "")
                for m in c.messages])


def _build_all(rows: list[models.Consultation], viewer: User,
               entitled: bool | None = None) -> list[ConsultationType]:
    users = service.user_names([c.enterprise_user_id for c in rows]
                               + [m.author_id for c in rows for m in c.messages])
    return [ConsultationType.build(c, viewer, users, entitled) for c in rows]


@strawberry.type
class ConsultationList:
    consultations: list[ConsultationType] = strawberry.field(description="Newest first.")


@strawberry.type(name="ConsultationSla", description="An institution's month against R-OPS-03.")
class ConsultationSlaType:
    institution_id: strawberry.ID
    year: int
    month: int
    working_window_count: int
    average_seconds: float | None = strawberry.field(
        description="Average first-response seconds counted in the service window of working days.")
    average_within: bool = strawberry.field(description="The average is at most 2 hours.")
    non_working_daytime_count: int
    non_working_missed: int = strawberry.field(
        description="Questions received in daytime on a non-working day not answered within 6 h.")
    met: bool
    evidence: JSON = strawberry.field(description="Every consultation counted, with its numbers.")


@strawberry.input
class AskConsultationInput:
    institution_id: strawberry.ID
    subject: str
    body: str
    service_item_id: strawberry.ID | None = None
    enterprise_user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Operators only: the enterprise user the question is for (R-G-08).")


@strawberry.input
class ReplyConsultationInput:
    consultation_id: strawberry.ID
    body: str


@strawberry.type
class ConsultationSuccess:
    consultation: ConsultationType


ConsultationListResult = Annotated[
    ConsultationList | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("ConsultationListResult")]
ConsultationSlaResult = Annotated[
    ConsultationSlaType | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("ConsultationSlaResult")]
ConsultationResult = Annotated[
    ConsultationSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("ConsultationResult")]



def _one(consultation: models.Consultation, viewer: User) -> ConsultationSuccess:
    db.session.refresh(consultation)
    return ConsultationSuccess(consultation=_build_all([consultation], viewer)[0])


@strawberry.type
class ConsultationQuery:
    @strawberry.field(description="The viewer's own consultations (asked by it or for it).")
    def my_consultations(self, limit: int = 50, offset: int = 0) -> ConsultationListResult:
        try:
            viewer = require_viewer()
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        rows = service.consultations_of_enterprise(viewer, limit=limit, offset=offset)
        return ConsultationList(consultations=_build_all(rows, viewer, entitled=True))

    @strawberry.field(description="An institution's consultations: its admin and agents and "
                                  "operators only (SECURITY.md 9).")
    def institution_consultations(
            self, institution_id: strawberry.ID, limit: int = 50, offset: int = 0,
            status: ConsultationStatusEnum | None = None,  # type: ignore[valid-type]
    ) -> ConsultationListResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id)
            rows = service.consultations_of_institution(institution.id, viewer, limit=limit,
                                                        offset=offset, status=status)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        entitled = institution.id in client_contact_institutions(viewer, {institution.id})
        return ConsultationList(consultations=_build_all(rows, viewer, entitled=entitled))

    @strawberry.field(description="R-OPS-03 for one institution and month (Asia/Shanghai): the "
                                  "working-window average (≤ 2 h) and the non-working-day answers "
                                  "within 6 h, with the evidence.")
    def consultation_sla(self, institution_id: strawberry.ID, year: int,
                         month: int) -> ConsultationSlaResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id)
            if not (is_platform_staff(viewer) or staff_role(viewer, institution.id) is not None):
                record_audit("consultation.sla_read", object_type="institution",
                                     object_id=institution.id, result="denied", actor=viewer)
                db.session.commit()
                raise PermissionDenied(_("You may not see this institution's records."))
            if not 1 <= month <= 12 or not 2000 <= year <= 2100:
                raise InvalidInput([Problem(CoreErrorCode.INVALID_INPUT,
                                            _("Enter a valid year and month."), "month")])
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        report = sla.monthly_sla(institution.id, year, month)
        return ConsultationSlaType(
            institution_id=strawberry.ID(str(institution.id)), year=year, month=month,
            working_window_count=len(report.working_window), average_seconds=report.average_seconds,
            average_within=report.average_within,
            non_working_daytime_count=len(report.non_working_daytime),
            non_working_missed=len(report.non_working_missed), met=report.met,
            evidence=[e.as_dict() for e in report.working_window + report.non_working_daytime])


@strawberry.type
class ConsultationMutation:
    @strawberry.mutation(description="An enterprise asks a live institution, optionally about a "
                                     "service item; an operator may ask for an enterprise (R-G-08). "
                                     "One whose homepage is hidden takes no new consultation: "
                                     "NOT_TAKING_REQUESTS (R-OPS-05, R-OPS-06).")
    def ask_consultation(self, input: AskConsultationInput) -> ConsultationResult:
        try:
            viewer = require_viewer()
            institution = get_institution(input.institution_id)
            enterprise_user = service.asker_by_id(institution, input.enterprise_user_id, viewer)
            consultation = service.ask(
                institution, subject=input.subject, body=input.body, actor=viewer,
                enterprise_user=enterprise_user,
                service_item_id=optional_id(input.service_item_id, "serviceItemId",
                                            _("No such service item.")))
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(consultation, viewer)

    @strawberry.mutation(description="Reply in a consultation's thread: the institution's admin "
                                     "or agents, or the asker. The institution's first reply is "
                                     "measured against the response SLA (R-OPS-03).")
    def reply_consultation(self, input: ReplyConsultationInput) -> ConsultationResult:
        try:
            viewer = require_viewer()
            consultation = service.get_consultation(input.consultation_id, viewer)
            service.reply(consultation, body=input.body, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(consultation, viewer)

    @strawberry.mutation(description="Close a consultation: the asker at any time, the "
                                     "institution once it has answered.")
    def close_consultation(self, consultation_id: strawberry.ID) -> ConsultationResult:
        try:
            viewer = require_viewer()
            consultation = service.get_consultation(consultation_id, viewer)
            service.close(consultation, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(consultation, viewer)
