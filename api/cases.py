"""The client case list in GraphQL (R-ELIG-07): an institution's successful trademark / patent
filings and consulting services, each with its evidence photo.

Client names are the institution's business information (R-G-05): only its own staff and
platform staff read the list; a refused read is audited (SECURITY.md 9). Only the institution's
administrator records a case (checked, and audited, by `core.cases.service`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from flask_babel import gettext as _

from api.errors import (
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer
from api.lookup import get_institution, int_id
from core.audit import record_audit
from core.cases import models, service
from core.db import db
from core.errors import DomainError, PermissionDenied
from core.institutions.access import can_view_institution_private

CaseKindEnum = strawberry.enum(models.CaseKind, name="QualificationCaseKind",
                               description="商标注册, 专利授权, 质量管理, 品牌打造, 质量提升 (M Art. 8).")


@strawberry.type(name="QualificationCase",
                 description="A successful client case with its evidence photo (R-ELIG-07).")
class QualificationCaseType:
    id: strawberry.ID
    institution_id: strawberry.ID
    category_code: str
    kind: CaseKindEnum  # type: ignore[valid-type]
    client_name: str
    completed_on: date = strawberry.field(
        description="The day the trademark was registered, the patent granted or the service "
                    "accepted.")
    reference_number: str | None = strawberry.field(
        description="注册号 or 专利号 (ZL202310123456.7); optional for services.")
    description: str | None
    evidence_document_id: strawberry.ID = strawberry.field(
        description="The institution's `case_evidence` document proving the case.")
    recorded_at: datetime

    @classmethod
    def from_model(cls, c: models.QualificationCase) -> QualificationCaseType:
        return cls(id=strawberry.ID(str(c.id)), institution_id=strawberry.ID(str(c.institution_id)),
                   category_code=c.category_code, kind=c.kind, client_name=c.client_name,
                   completed_on=c.completed_on, reference_number=c.reference_number,
                   description=c.description,
                   evidence_document_id=strawberry.ID(str(c.evidence_document_id)),
                   recorded_at=c.recorded_at)


@strawberry.type
class QualificationCaseList:
    cases: list[QualificationCaseType] = strawberry.field(description="Most recent first.")


@strawberry.input
class RecordQualificationCaseInput:
    institution_id: strawberry.ID
    category_code: str
    kind: CaseKindEnum  # type: ignore[valid-type]
    client_name: str
    completed_on: date
    evidence_document_id: strawberry.ID = strawberry.field(
        description="A `case_evidence` document the institution uploaded.")
    reference_number: str | None = None
    description: str | None = None


@strawberry.type
class RecordQualificationCaseSuccess:
    case: QualificationCaseType


QualificationCasesResult = Annotated[
    QualificationCaseList | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("QualificationCasesResult")]
RecordQualificationCaseResult = Annotated[
    RecordQualificationCaseSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("RecordQualificationCaseResult")]



@strawberry.type
class CaseQuery:
    @strawberry.field(description="An institution's client case list, of one category if "
                                  "given: its own staff and platform staff only (R-ELIG-07).")
    def qualification_cases(self, institution_id: strawberry.ID,
                            category_code: str | None = None) -> QualificationCasesResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id)
            if not can_view_institution_private(viewer, institution.id):
                record_audit("case.read", object_type="institution", object_id=institution.id,
                             result="denied", actor=viewer)
                db.session.commit()
                raise PermissionDenied(_("You may not see this institution's records."))
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return QualificationCaseList(cases=[QualificationCaseType.from_model(c)
                                            for c in service.cases_of(institution.id, category_code)])


@strawberry.type
class CaseMutation:
    @strawberry.mutation(description="The institution's administrator adds a successful case "
                                     "with its evidence photo to the client list (R-ELIG-07).")
    def record_qualification_case(
            self, input: RecordQualificationCaseInput) -> RecordQualificationCaseResult:
        try:
            viewer = require_viewer()
            institution = get_institution(input.institution_id)
            case = service.record_case(
                institution, category_code=input.category_code, kind=input.kind,
                client_name=input.client_name, completed_on=input.completed_on,
                reference_number=input.reference_number, description=input.description,
                evidence_document_id=int_id(input.evidence_document_id, "evidenceDocumentId",
                                            _("No such document.")), actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return RecordQualificationCaseSuccess(case=QualificationCaseType.from_model(case))
