"""Compose the schema from core types and every plugin's contributions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy
import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.tools import merge_types

from api.assessment import AssessmentMutation, AssessmentQuery
from api.assessment_stats import AssessmentStatisticsQuery
from api.case_reports import CaseReportMutation, CaseReportQuery
from api.cases import CaseMutation, CaseQuery
from api.catalogue import CatalogueMutation, CatalogueQuery
from api.categories import CategoryQuery
from api.complaints import ComplaintMutation, ComplaintQuery
from api.consultations import ConsultationMutation, ConsultationQuery
from api.demands import DemandMutation, DemandQuery
from api.documents import DocumentMutation, DocumentQuery
from api.identity import IdentityMutation, IdentityQuery
from api.onboarding import OnboardingMutation, OnboardingQuery
from api.orders import OrderMutation, OrderQuery
from api.reviews import ReviewMutation, ReviewQuery
from api.security import CsrfForCookieMutations
from api.visibility import VisibilityMutation, VisibilityQuery
from core.observability.metrics import GraphQLMetrics

CORE_QUERIES: tuple[type[Any], ...] = (IdentityQuery, CategoryQuery, DocumentQuery,
                                       OnboardingQuery, CaseQuery, CatalogueQuery,
                                       ConsultationQuery, DemandQuery, OrderQuery, ReviewQuery,
                                       CaseReportQuery, ComplaintQuery, VisibilityQuery,
                                       AssessmentQuery, AssessmentStatisticsQuery)
CORE_MUTATIONS: tuple[type[Any], ...] = (IdentityMutation, DocumentMutation, OnboardingMutation,
                                         CaseMutation, CatalogueMutation, ConsultationMutation,
                                         DemandMutation,
                                         OrderMutation, ReviewMutation,
                                         CaseReportMutation, ComplaintMutation, VisibilityMutation,
                                         AssessmentMutation)


class SchemaCollision(RuntimeError):
    """Two contributors define the same root field; merge_types would silently keep one."""


def _field_names(cls: type[Any]) -> list[str]:
    definition = cls.__strawberry_definition__
    return [f.name for f in definition.fields]


def merge_root(name: str, parts: Iterable[type[Any]]) -> type[Any]:
    seen: dict[str, str] = {}
    parts = tuple(parts)
    for part in parts:
        for field in _field_names(part):
            if field in seen:
                raise SchemaCollision(
                    f"{name}.{field} is defined by both {seen[field]} and {part.__qualname__}"
                )
            seen[field] = part.__qualname__
    return merge_types(name, parts)


def _flatten(batches: list[list[type[Any]]]) -> list[type[Any]]:
    return [item for batch in batches for item in batch]


def _keep_message(error: GraphQLError) -> bool:
    """True when the error must be masked: anything not raised by validation or by us on purpose."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


def build_schema(pm: pluggy.PluginManager, config: dict[str, Any]) -> strawberry.Schema:
    query = merge_root("Query", CORE_QUERIES + tuple(_flatten(pm.hook.graphql_query_types())))
    mutation = merge_root("Mutation", CORE_MUTATIONS + tuple(_flatten(pm.hook.graphql_mutation_types())))
    extensions: list[Any] = [
        lambda: QueryDepthLimiter(max_depth=config["GRAPHQL_MAX_DEPTH"]),
        lambda: MaxAliasesLimiter(max_alias_count=config["GRAPHQL_MAX_ALIASES"]),
        lambda: MaxTokensLimiter(max_token_count=config["GRAPHQL_MAX_TOKENS"]),
        ParserCache,
        ValidationCache,
        CsrfForCookieMutations,
        GraphQLMetrics,
    ]
    if config["QI_ENV"] == "production":
        extensions += [DisableIntrospection, lambda: MaskErrors(should_mask_error=_keep_message)]
    return strawberry.Schema(
        query=query,
        mutation=mutation,
        types=_flatten(pm.hook.graphql_extra_types()),
        extensions=extensions,
        config=strawberry.schema.config.StrawberryConfig(disable_field_suggestions=True),
    )
