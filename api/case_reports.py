"""Case reports in GraphQL (R-OPS-02, R-G-05; SECURITY.md 9-10).

Who may read or change what is decided (and refusals audited) in `core.case_reports.service`;
the resolvers pick the rows, prefetch reporters and institutions in a fixed number of statements
and mask the client's contact for viewers not entitled to it (the institution's agents:
`core.institutions.access.sees_client_contact`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
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
from api.lookup import get_institution, int_id, optional_id
from core.case_reports import service
from core.case_reports.models import CaseReport
from core.db import db
from core.errors import DomainError
from core.identity.models import User
from core.institutions.models import Institution


@strawberry.type(name="CaseReport", description="A success case the institution reported "
                                                "with the fields of M Art. 13 (R-OPS-02).")
class CaseReportType:
    id: strawberry.ID
    institution_id: strawberry.ID
    institution_name: str
    consultation_id: strawberry.ID | None
    order_id: strawberry.ID | None
    service_item_id: strawberry.ID | None
    consulted_at: datetime
    client_name: str
    client_contact: str = strawberry.field(
        description="In full for the institution's admin, operators and regulators; masked "
                    "(138****5678) for its agents, as a consultation's asker is (R-G-05).")
    item: str
    content: str
    reply: str
    business_followed: bool
    amount_saved: Decimal | None = strawberry.field(description="Yuan saved for the client.")
    reporter_name: str
    reported_at: datetime
    withdrawn_at: datetime | None
    withdrawn_reason: str | None
    counted: bool = strawberry.field(description="Not withdrawn: assessment item 6 counts it.")


def _id(value: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


def build_all(rows: list[CaseReport], viewer: User | None) -> list[CaseReportType]:
    """Three statements whatever the number of rows: reporters, institutions, the institutions
    whose clients' contacts the viewer reads."""
    user_ids = {r.reported_by_id for r in rows}
    users = ({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
             if user_ids else {})
    institution_ids = {r.institution_id for r in rows}
    names = (dict(db.session.execute(select(Institution.id, Institution.legal_name).where(
        Institution.id.in_(institution_ids))).all()) if institution_ids else {})
    entitled = service.contact_institutions(viewer, rows)
    return [CaseReportType(
        id=strawberry.ID(str(r.id)), institution_id=strawberry.ID(str(r.institution_id)),
        institution_name=names.get(r.institution_id, ""), consultation_id=_id(r.consultation_id),
        order_id=_id(r.order_id), service_item_id=_id(r.service_item_id),
        consulted_at=r.consulted_at, client_name=r.client_name,
        client_contact=service.client_contact(viewer, r, r.institution_id in entitled),
        item=r.item, content=r.content, reply=r.reply, business_followed=r.business_followed,
        amount_saved=r.amount_saved_yuan,
        reporter_name=users[r.reported_by_id].display_name if r.reported_by_id in users else "",
        reported_at=r.reported_at, withdrawn_at=r.withdrawn_at, withdrawn_reason=r.withdrawn_reason,
        counted=r.withdrawn_at is None) for r in rows]


@strawberry.type
class CaseReportPage:
    total: int
    first: int
    offset: int
    counted_in_year: int | None = strawberry.field(
        description="With institutionId and year: the reports assessment item 6 counts that year.")
    reports: list[CaseReportType] = strawberry.field(description="Newest first.")


@strawberry.type
class CaseReportSuccess:
    case_report: CaseReportType


@strawberry.type(description="Field values prefilled from a consultation or an order; the client's "
                             "contact only for staff entitled to read it (the admin, not agents).")
class CaseReportDraft:
    consulted_at: datetime | None
    client_name: str
    client_contact: str
    item: str
    content: str
    reply: str
    business_followed: bool
    consultation_id: strawberry.ID | None
    order_id: strawberry.ID | None
    service_item_id: strawberry.ID | None


@strawberry.input
class ReportCaseInput:
    institution_id: strawberry.ID
    consulted_at: datetime = strawberry.field(description="Without an offset: Beijing time.")
    client_name: str
    client_contact: str = strawberry.field(description="A mobile number, a landline or an email.")
    item: str
    content: str
    reply: str
    business_followed: bool = False
    amount_saved: Decimal | None = strawberry.field(default=None, description="Yuan, ≥ 0.")
    consultation_id: strawberry.ID | None = None
    order_id: strawberry.ID | None = None
    service_item_id: strawberry.ID | None = None


CaseReportPageResult = Annotated[
    CaseReportPage | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("CaseReportPageResult")]
CaseReportResult = Annotated[
    CaseReportSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("CaseReportResult")]
CaseReportDraftResult = Annotated[
    CaseReportDraft | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("CaseReportDraftResult")]


@strawberry.type
class CaseReportQuery:
    @strawberry.field(description="Case reports, newest first (withdrawn ones marked): of one "
                                  "institution, or of every institution the viewer reads; by "
                                  "China calendar year. Its staff, operators and regulators only; "
                                  "first ≤ 100.")
    def case_reports(self, institution_id: strawberry.ID | None = None, year: int | None = None,
                     first: int = 20, offset: int = 0) -> CaseReportPageResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id) if institution_id is not None else None
            page = service.reports(viewer, institution_id=institution.id if institution else None,
                                   year=year, limit=first, offset=offset)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        counted = (service.counted_in_year(institution.id, year)
                   if institution is not None and year is not None else None)
        return CaseReportPage(total=page.total, first=max(1, min(first, service.PAGE_MAX)),
                              offset=max(0, offset), counted_in_year=counted,
                              reports=build_all(page.reports, viewer))

    @strawberry.field(description="One case report: the institution's staff, operators and "
                                  "regulators.")
    def case_report(self, id: strawberry.ID) -> CaseReportResult:
        try:
            viewer = require_viewer()
            report = service.get_report(id, viewer)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return CaseReportSuccess(case_report=build_all([report], viewer)[0])

    @strawberry.field(description="The institution's staff: a case report prefilled from one of "
                                  "its consultations or orders.")
    def case_report_draft(self, institution_id: strawberry.ID,
                          consultation_id: strawberry.ID | None = None,
                          order_id: strawberry.ID | None = None) -> CaseReportDraftResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id)
            draft = service.draft_from(
                institution, viewer,
                consultation_id=int_id(consultation_id, "consultationId") if consultation_id else None,
                order_id=int_id(order_id, "orderId") if order_id else None)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return CaseReportDraft(
            consulted_at=draft.get("consultedAt"), client_name=draft.get("clientName") or "",
            client_contact=draft.get("clientContact") or "", item=draft.get("item") or "",
            content=draft.get("content") or "", reply=draft.get("reply") or "",
            business_followed=bool(draft.get("businessFollowed")),
            consultation_id=_id(draft.get("consultationId")), order_id=_id(draft.get("orderId")),
            service_item_id=_id(draft.get("serviceItemId")))


@strawberry.type
class CaseReportMutation:
    @strawberry.mutation(description="The institution's admin or agent reports a success case "
                                     "(R-OPS-02); a consultation or order is reported once.")
    def report_case(self, input: ReportCaseInput) -> CaseReportResult:
        try:
            viewer = require_viewer()
            institution = get_institution(input.institution_id)
            report = service.report_case(institution, {
                "consultedAt": input.consulted_at, "clientName": input.client_name,
                "clientContact": input.client_contact, "item": input.item,
                "content": input.content, "reply": input.reply,
                "businessFollowed": input.business_followed, "amountSaved": input.amount_saved,
                "consultationId": optional_id(input.consultation_id, "consultationId",
                                              _("No such consultation.")),
                "orderId": optional_id(input.order_id, "orderId", _("No such order.")),
                "serviceItemId": optional_id(input.service_item_id, "serviceItemId",
                                             _("No such service item."))}, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return CaseReportSuccess(case_report=build_all([report], viewer)[0])

    @strawberry.mutation(description="Withdraw a case report with the reason: kept, no longer "
                                     "counted. The institution's admin or the agent who reported it.")
    def withdraw_case_report(self, id: strawberry.ID, reason: str) -> CaseReportResult:
        try:
            viewer = require_viewer()
            report = service.get_report(id, viewer)
            service.withdraw(report, reason=reason, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return CaseReportSuccess(case_report=build_all([report], viewer)[0])
