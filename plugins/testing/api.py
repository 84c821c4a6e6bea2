"""The testing plugin in GraphQL: search the scope annexes by standard number, add entries."""

from __future__ import annotations

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
from api.identity import require_viewer, viewer_model
from api.lookup import get_institution, optional_id
from core.errors import DomainError
from plugins.testing import scope
from plugins.testing.models import TestingScopeEntry


@strawberry.type(name="TestingScopeEntry",
                 description="One standard of an institution's CMA scope annex (检验检测能力附表).")
class TestingScopeEntryType:
    id: strawberry.ID
    institution_id: strawberry.ID
    institution_name: str
    standard_number: str = strawberry.field(description="Normalised, e.g. GB/T 2828.1-2012.")
    standard_title: str | None
    parameters: str | None
    limits: str | None
    document_id: strawberry.ID | None = strawberry.field(
        description="The CMA certificate whose annex lists it, when given.")

    @classmethod
    def from_model(cls, e: TestingScopeEntry) -> TestingScopeEntryType:
        return cls(id=strawberry.ID(str(e.id)), institution_id=strawberry.ID(str(e.institution_id)),
                   institution_name=e.institution.legal_name, standard_number=e.standard_number,
                   standard_title=e.standard_title, parameters=e.parameters, limits=e.limits,
                   document_id=strawberry.ID(str(e.document_id)) if e.document_id else None)


@strawberry.input(name="TestingScopeEntryInput")
class TestingScopeEntryInput:
    standard_number: str = strawberry.field(description="e.g. GB/T 2828.1-2012")
    standard_title: str | None = None
    parameters: str | None = None
    limits: str | None = None
    document_id: strawberry.ID | None = None


@strawberry.type
class TestingScopeEntriesSuccess:
    entries: list[TestingScopeEntryType]


AddTestingScopeEntriesResult = Annotated[
    TestingScopeEntriesSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError,
    strawberry.union("AddTestingScopeEntriesResult"),
]


@strawberry.type
class TestingQuery:
    @strawberry.field(description="Live institutions qualified for a standard: `GB/T 2828.1` finds "
                                  "every edition, `GB/T 2828.1-2012` that one. At most 100.")
    def testing_scope_search(self, standard: str, first: int = 20) -> list[TestingScopeEntryType]:
        hits = scope.search_scope(standard, viewer=viewer_model(),
                                  limit=max(0, min(first, scope.MAX_RESULTS)))
        return [TestingScopeEntryType.from_model(entry) for _id, entry in hits]


@strawberry.type
class TestingMutation:
    @strawberry.mutation(description="The institution's administrator adds standards to its scope "
                                     "annex (at most 200 at a time).")
    def add_testing_scope_entries(self, institution_id: strawberry.ID,
                                  entries: list[TestingScopeEntryInput]) -> AddTestingScopeEntriesResult:
        try:
            user = require_viewer()
            institution = get_institution(institution_id)
            rows = scope.add_scope_entries(institution, [{
                "standardNumber": e.standard_number, "standardTitle": e.standard_title,
                "parameters": e.parameters, "limits": e.limits, "documentId": optional_id(
                    e.document_id, f"entries[{n}].documentId", _("No such document.")),
            } for n, e in enumerate(entries)], actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return TestingScopeEntriesSuccess(entries=[TestingScopeEntryType.from_model(r) for r in rows])
