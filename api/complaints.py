"""Complaints in GraphQL (Annex 2 item 2, R-OPS-06, R-G-05, R-G-08; SECURITY.md 9-10).

Who may see or change what is decided (and refusals audited) in `core.complaints.service`; the
resolvers pick the rows, prefetch names in a fixed number of statements and mask the
complainant's contact for the institution's staff.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from flask_babel import gettext as _
from sqlalchemy import select

from api.errors import (
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer
from api.lookup import get_institution, optional_id
from core.complaints import service
from core.complaints.models import Complaint, ComplaintStatus
from core.db import db
from core.enterprises.service import names_by_user
from core.errors import DomainError
from core.identity.models import User
from core.institutions.models import Institution

ComplaintStatusEnum = strawberry.enum(ComplaintStatus, name="ComplaintStatus")


@strawberry.enum(name="ComplaintOutcome", description="The operator's finding.")
class ComplaintOutcome(enum.Enum):
    VERIFIED = "verified"  # 查实
    UNFOUNDED = "unfounded"  # 不属实


@strawberry.type(name="Complaint", description="A complaint against an institution and its "
                                               "verification (Annex 2 item 2).")
class ComplaintType:
    id: strawberry.ID
    institution_id: strawberry.ID
    institution_name: str
    subject: str
    body: str
    status: ComplaintStatusEnum  # type: ignore[valid-type]
    filed_at: datetime
    on_behalf: bool = strawberry.field(description="Filed by an operator for the enterprise (R-G-08).")
    order_id: strawberry.ID | None
    consultation_id: strawberry.ID | None
    complainant_name: str
    enterprise_name: str | None
    complainant_contact: str | None = strawberry.field(
        description="In full for the complainant, operators and regulators; masked "
                    "(138****5678) for the institution's staff (R-G-05).")
    serious: bool
    verified_at: datetime | None
    verification_notes: str | None
    removal_notice_id: strawberry.ID | None = strawberry.field(
        description="The removal notice the complaint led to (R-OPS-06).")
    withdrawn_at: datetime | None


def _id(value: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


def build_all(rows: list[Complaint], viewer: User | None) -> list[ComplaintType]:
    """Three statements whatever the number of rows: users, institutions, enterprises."""
    user_ids = {c.enterprise_user_id for c in rows}
    users = ({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
             if user_ids else {})
    institution_ids = {c.institution_id for c in rows}
    names = (dict(db.session.execute(select(Institution.id, Institution.legal_name).where(
        Institution.id.in_(institution_ids))).all()) if institution_ids else {})
    enterprises = names_by_user(user_ids)
    return [ComplaintType(
        id=strawberry.ID(str(c.id)), institution_id=strawberry.ID(str(c.institution_id)),
        institution_name=names.get(c.institution_id, ""), subject=c.subject, body=c.body,
        status=c.status, filed_at=c.filed_at, on_behalf=c.on_behalf, order_id=_id(c.order_id),
        consultation_id=_id(c.consultation_id),
        complainant_name=(users[c.enterprise_user_id].display_name
                          if c.enterprise_user_id in users else ""),
        enterprise_name=enterprises.get(c.enterprise_user_id),
        complainant_contact=service.complainant_contact(viewer, c, users.get(c.enterprise_user_id)),
        serious=c.serious, verified_at=c.verified_at, verification_notes=c.verification_notes,
        removal_notice_id=_id(c.removal_notice_id), withdrawn_at=c.withdrawn_at) for c in rows]


@strawberry.type
class ComplaintPage:
    total: int
    first: int
    offset: int
    complaints: list[ComplaintType]


@strawberry.type
class ComplaintSuccess:
    complaint: ComplaintType


@strawberry.input
class FileComplaintInput:
    institution_id: strawberry.ID
    subject: str
    body: str
    order_id: strawberry.ID | None = strawberry.field(
        default=None, description="One of the complainant's orders with this institution.")
    consultation_id: strawberry.ID | None = strawberry.field(
        default=None, description="One of the complainant's consultations with this institution.")
    enterprise_user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Operators only: the enterprise user it is filed for (R-G-08).")


@strawberry.input
class VerifyComplaintInput:
    complaint_id: strawberry.ID
    outcome: ComplaintOutcome
    notes: str
    serious: bool = strawberry.field(default=False, description="Only with VERIFIED (R-OPS-06).")


@strawberry.input
class IssueRemovalForComplaintInput:
    complaint_id: strawberry.ID
    details: str = strawberry.field(description="The grounds, told to the institution.")
    legacy_days: int | None = strawberry.field(
        default=None, description="Days to settle open matters; the configured default if null.")


ComplaintPageResult = Annotated[
    ComplaintPage | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("ComplaintPageResult")]
ComplaintResult = Annotated[
    ComplaintSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("ComplaintResult")]


def _one(complaint: Complaint, viewer: User) -> ComplaintSuccess:
    db.session.refresh(complaint)
    return ComplaintSuccess(complaint=build_all([complaint], viewer)[0])


@strawberry.type
class ComplaintQuery:
    @strawberry.field(description="The complaints the viewer may see, newest first: its own, those "
                                  "against its institution (contact masked), all for operators and "
                                  "regulators; first ≤ 100. status FILED, oldest first, is the "
                                  "operators' queue.")
    def complaints(self, status: ComplaintStatusEnum | None = None,  # type: ignore[valid-type]
                   institution_id: strawberry.ID | None = None, first: int = 20,
                   offset: int = 0) -> ComplaintPageResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id) if institution_id is not None else None
            page = service.complaints(viewer, status=status,
                                      institution_id=institution.id if institution else None,
                                      limit=first, offset=offset,
                                      oldest_first=status is ComplaintStatus.FILED)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ComplaintPage(total=page.total, first=max(1, min(first, service.PAGE_MAX)),
                             offset=max(0, offset), complaints=build_all(page.complaints, viewer))

    @strawberry.field(description="One complaint: the enterprise it is for, the institution's "
                                  "staff, operators and regulators.")
    def complaint(self, id: strawberry.ID) -> ComplaintResult:
        try:
            viewer = require_viewer()
            found = service.get_complaint(id, viewer)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ComplaintSuccess(complaint=build_all([found], viewer)[0])


@strawberry.type
class ComplaintMutation:
    @strawberry.mutation(description="An enterprise complains about a live institution, optionally "
                                     "about one of its orders or consultations with it; an operator "
                                     "may file for an enterprise (R-G-08).")
    def file_complaint(self, input: FileComplaintInput) -> ComplaintResult:
        try:
            viewer = require_viewer()
            institution = get_institution(input.institution_id)
            enterprise_user = service.complainant_by_id(institution, input.enterprise_user_id,
                                                        viewer)
            complaint = service.file(
                institution, subject=input.subject, body=input.body, actor=viewer,
                enterprise_user=enterprise_user,
                order_id=optional_id(input.order_id, "orderId", _("No such order.")),
                consultation_id=optional_id(input.consultation_id, "consultationId",
                                            _("No such consultation.")))
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(complaint, viewer)

    @strawberry.mutation(description="The enterprise (or the operator who filed for it) withdraws "
                                     "a complaint still waiting for verification.")
    def withdraw_complaint(self, id: strawberry.ID) -> ComplaintResult:
        try:
            viewer = require_viewer()
            complaint = service.get_complaint(id, viewer)
            service.withdraw(complaint, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(complaint, viewer)

    @strawberry.mutation(description="An operator verifies a complaint once: VERIFIED (serious or "
                                     "not) or UNFOUNDED, with notes.")
    def verify_complaint(self, input: VerifyComplaintInput) -> ComplaintResult:
        try:
            viewer = require_viewer()
            complaint = service.get_complaint(input.complaint_id, viewer)
            service.verify(complaint, outcome=input.outcome.value, notes=input.notes,
                           serious=input.serious, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(complaint, viewer)

    @strawberry.mutation(description="A regulator issues a removal notice for a verified serious "
                                     "complaint (R-OPS-06); the complaint records it.")
    def issue_removal_for_complaint(self, input: IssueRemovalForComplaintInput) -> ComplaintResult:
        try:
            viewer = require_viewer()
            complaint = service.get_complaint(input.complaint_id, viewer)
            service.issue_removal(complaint, details=input.details, actor=viewer,
                                  legacy_days=input.legacy_days)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(complaint, viewer)
