"""The yearly assessment in GraphQL (R-ASM-01…06): cycles, score sheets with their evidence,
and the workflow mutations. Permissions (and audited refusals) are `core.assessment.service`'s;
lists load sheets with their items and institutions in a fixed number of statements."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from api.errors import (
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer
from api.lookup import get_institution, int_id
from core.assessment import service, summaries
from core.assessment import sheet as sheet_mod
from core.assessment.models import AssessmentSheet, OpeningSource, SheetStatus
from core.db import db
from core.errors import DomainError
from core.institutions.models import Institution

SheetStatusEnum = strawberry.enum(SheetStatus, name="AssessmentStatus")
OpeningSourceEnum = strawberry.enum(OpeningSource, name="AssessmentOpeningSource",
                                    description="What the cycles count from (R-ASM-01).")


@strawberry.type(name="AssessmentItem", description="One Annex 2 row: the computed answer with its "
                                                    "evidence, and the operator's override beside it.")
class ItemType:
    number: int
    title: str
    points: int = strawberry.field(description="Deducted when the answer is yes.")
    computed_deducted: bool
    evidence: JSON  # type: ignore[valid-type]
    override_deducted: bool | None
    override_reason: str | None
    overridden_at: datetime | None
    deducted: bool = strawberry.field(description="The answer in force (override first).")
    deduction: int


@strawberry.type(name="AssessmentSheet", description="An institution's 100-point score sheet for "
                                                     "one cycle (R-ASM-02).")
class SheetType:
    id: strawberry.ID
    institution_id: strawberry.ID
    institution_name: str
    cycle_number: int
    service_year: int
    opening_date: date
    opening_source: OpeningSourceEnum  # type: ignore[valid-type]
    period_start: date
    period_end: date
    assessed_from: date = strawberry.field(description="After the adaptation period in cycle 1.")
    quota_category: str | None
    status: SheetStatusEnum  # type: ignore[valid-type]
    score: int
    passed: bool
    computed_at: datetime
    finalised_at: datetime | None
    removal_notice_id: strawberry.ID | None
    items: list[ItemType]


@strawberry.type(name="AssessmentCycle")
class CycleType:
    number: int
    service_year: int
    start: date
    end: date
    assessed_from: date
    opening_source: OpeningSourceEnum  # type: ignore[valid-type]
    ended: bool
    in_adaptation: bool
    summary_submitted: bool = strawberry.field(description="R-ASM-06.")
    sheet: SheetType | None = strawberry.field(description="Null until computed, and for the "
                                                           "institution until final.")


def _build(rows: list[AssessmentSheet]) -> list[SheetType]:
    ids = {s.institution_id for s in rows}
    names = dict(db.session.execute(select(Institution.id, Institution.legal_name).where(
        Institution.id.in_(ids))).all()) if ids else {}
    return [SheetType(
        id=strawberry.ID(str(s.id)), institution_id=strawberry.ID(str(s.institution_id)),
        institution_name=names.get(s.institution_id, ""), cycle_number=s.cycle_number,
        service_year=s.service_year, opening_date=s.opening_date, opening_source=s.opening_source,
        period_start=s.period_start, period_end=s.period_end, assessed_from=s.assessed_from,
        quota_category=s.quota_category, status=s.status, score=s.score, passed=s.passed,
        computed_at=s.computed_at, finalised_at=s.finalised_at,
        removal_notice_id=strawberry.ID(str(s.removal_notice_id)) if s.removal_notice_id else None,
        items=[ItemType(
            number=i.number, title=str(sheet_mod.ITEMS[i.number][1]), points=i.points,
            computed_deducted=i.computed_deducted, evidence=i.evidence,
            override_deducted=i.override_deducted, override_reason=i.override_reason,
            overridden_at=i.overridden_at, deducted=i.deducted, deduction=i.deduction)
            for i in s.items]) for s in rows]


@strawberry.type
class AssessmentSheetList:
    sheets: list[SheetType] = strawberry.field(description="Latest cycle end first.")
    total: int


@strawberry.type
class AssessmentCycleList:
    cycles: list[CycleType] = strawberry.field(description="Newest first.")


@strawberry.type
class AssessmentSheetSuccess:
    sheet: SheetType


@strawberry.type
class ServiceSummarySuccess:
    cycle_number: int
    submitted_at: datetime
    updated_at: datetime


Errors = InvalidInputError | PermissionDeniedError | NotFoundError | NotAuthenticatedError
SheetResult = Annotated[AssessmentSheetSuccess | Errors, strawberry.union("AssessmentSheetResult")]
SheetListResult = Annotated[AssessmentSheetList | Errors, strawberry.union("AssessmentSheetListResult")]
CycleListResult = Annotated[AssessmentCycleList | Errors, strawberry.union("AssessmentCycleListResult")]
SummaryResult = Annotated[ServiceSummarySuccess | Errors, strawberry.union("ServiceSummaryResult")]


def _sheet(sheet_id: strawberry.ID, viewer) -> AssessmentSheet:  # type: ignore[no-untyped-def]
    return service.get_sheet(int_id(sheet_id, "sheetId"), viewer)


def _fresh(sheet: AssessmentSheet) -> AssessmentSheetSuccess:
    db.session.expire(sheet)
    return AssessmentSheetSuccess(sheet=_build([sheet])[0])


@strawberry.type
class AssessmentQuery:
    @strawberry.field(description="An institution's assessment cycles with their sheet and "
                                  "summary state: its own staff, operators and regulators.")
    def assessment_cycles(self, institution_id: strawberry.ID) -> CycleListResult:
        try:
            viewer = require_viewer()
            views = service.cycles_of(get_institution(institution_id), viewer)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        built = dict(zip([id(v) for v in views if v.sheet],
                         _build([v.sheet for v in views if v.sheet]), strict=True))
        return AssessmentCycleList(cycles=[CycleType(
            number=v.cycle.number, service_year=v.cycle.service_year, start=v.cycle.start,
            end=v.cycle.end, assessed_from=v.cycle.assessed_from,
            opening_source=v.cycle.opening_source, ended=v.ended, in_adaptation=v.in_adaptation,
            summary_submitted=v.summary_submitted, sheet=built.get(id(v))) for v in views])

    @strawberry.field(description="One score sheet with its evidence (an institution: its own, "
                                  "once final).")
    def assessment_sheet(self, id: strawberry.ID) -> SheetResult:
        try:
            found = _sheet(id, require_viewer())
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return AssessmentSheetSuccess(sheet=_build([found])[0])

    @strawberry.field(description="Score sheets: operators and regulators see all, an institution "
                                  "its own final ones. `period`: the year the cycle ended.")
    def assessment_sheets(self, period: int | None = None,
                          status: SheetStatusEnum | None = None,  # type: ignore[valid-type]
                          first: int = 20, offset: int = 0) -> SheetListResult:
        try:
            rows, total = service.list_sheets(require_viewer(), year=period, status=status,
                                              first=first, offset=offset)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return AssessmentSheetList(sheets=_build(rows), total=total)


@strawberry.type
class AssessmentMutation:
    @strawberry.mutation(description="Compute (or recompute) an institution's draft sheet for its "
                                     "latest ended cycle or `cycleNumber`: operators, regulators.")
    def compute_assessment(self, institution_id: strawberry.ID,
                           cycle_number: int | None = None) -> SheetResult:
        try:
            viewer = require_viewer()
            sheet = service.compute_assessment(get_institution(institution_id), actor=viewer,
                                               cycle_number=cycle_number)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _fresh(sheet)

    @strawberry.mutation(description="The operator overrides item `number` (true/false; null "
                                     "returns to the computed answer) with a reason (R-ASM-04).")
    def override_assessment_item(self, sheet_id: strawberry.ID, number: int, reason: str,
                                 deducted: bool | None = None) -> SheetResult:
        try:
            viewer = require_viewer()
            sheet = _sheet(sheet_id, viewer)
            service.override_item(sheet, number, deducted=deducted, reason=reason, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _fresh(sheet)

    @strawberry.mutation(description="The regulator finalises a sheet: it never changes again; the "
                                     "institution is notified; a fail starts removal (R-ASM-05).")
    def finalise_assessment(self, sheet_id: strawberry.ID) -> SheetResult:
        try:
            viewer = require_viewer()
            sheet = _sheet(sheet_id, viewer)
            service.finalise(sheet, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _fresh(sheet)

    @strawberry.mutation(description="The institution's admin submits its yearly service summary "
                                     "for a cycle (R-ASM-06).")
    def submit_service_summary(self, institution_id: strawberry.ID, cycle_number: int, body: str,
                               document_id: strawberry.ID | None = None) -> SummaryResult:
        try:
            viewer = require_viewer()
            summary = summaries.submit_summary(
                get_institution(institution_id), cycle_number, body=body, actor=viewer,
                document_id=int_id(document_id, "documentId") if document_id else None)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ServiceSummarySuccess(cycle_number=summary.cycle_number,
                                     submitted_at=summary.submitted_at, updated_at=summary.updated_at)
