"""Service items, enterprises and the directory in GraphQL (R-OPS-01, R-G-01, Annex 2 item 5).

The directory and an institution's page are public (a page hidden under R-OPS-05 only for the
institution's staff and platform staff); a directory page — items, certificates and ratings
included — costs a fixed number of SQL statements whatever `first` is
(`core.catalogue.directory.load_entries`). Item changes are
for the institution's admin, enterprise records for the enterprise's own users; the services
check and audit that.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from flask import g
from graphql import GraphQLError
from strawberry.scalars import JSON

from api.documents import CertificateStatusEnum
from api.errors import ErrorCode as ErrorCodeEnum
from api.errors import (
    FieldProblem,
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    to_graphql_error,
)
from api.identity import require_viewer, viewer_model
from api.lookup import int_id
from core.catalogue import directory, service
from core.catalogue.filters import directory_filters
from core.catalogue.institution_page import InstitutionPage, institution_page
from core.catalogue.models import ItemStatus, PricingKind, ServiceItem
from core.db import db
from core.documents.kinds import get_kind
from core.enterprises import service as enterprises
from core.enterprises.models import Enterprise, EnterpriseSize
from core.errors import DomainError, InvalidInput, NotFound
from core.ids import get_by_id, parse_id
from core.institutions.models import Institution
from core.masking import mask_person_name
from core.plugins import plugins

PricingKindEnum = strawberry.enum(PricingKind, name="PricingKind")
ItemStatusEnum = strawberry.enum(ItemStatus, name="ServiceItemStatus")
EnterpriseSizeEnum = strawberry.enum(EnterpriseSize, name="EnterpriseSize")



def _category_name(code: str) -> str:
    # Once per request, not once per entry: asking the plugins is a hook call each time.
    names = g.get("qi_category_names")
    if names is None:
        names = g.qi_category_names = {c: cat.name for c, cat in plugins.categories().items()}
    return names.get(code, code)


@strawberry.type(name="ServiceItem")
class ServiceItemType:
    id: strawberry.ID
    institution_id: strawberry.ID
    category_code: str
    title: str
    description: str | None
    scope: str | None
    pricing_kind: PricingKindEnum  # type: ignore[valid-type]
    price_yuan: Decimal | None
    turnaround_days: int | None
    fields: JSON
    status: ItemStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    _model: strawberry.Private[ServiceItem]

    @strawberry.field
    def category_name(self) -> str:
        return _category_name(self.category_code)

    @strawberry.field(description="What the item lacks to be written to the specification "
                                  "(Annex 2 item 5); empty when complete.")
    def specification_problems(self) -> list[FieldProblem]:
        return [FieldProblem(code=ErrorCodeEnum(p.code), message=p.message, field=p.field)
                for p in service.specification_problems(self._model)]

    @classmethod
    def from_model(cls, i: ServiceItem) -> ServiceItemType:
        return cls(id=strawberry.ID(str(i.id)), institution_id=strawberry.ID(str(i.institution_id)),
                   category_code=i.category_code, title=i.title, description=i.description,
                   scope=i.scope, pricing_kind=i.pricing_kind, price_yuan=i.price_yuan,
                   turnaround_days=i.turnaround_days, fields=dict(i.fields or {}), status=i.status,
                   created_at=i.created_at, updated_at=i.updated_at, published_at=i.published_at,
                   _model=i)


@strawberry.type(description="A published item as a directory listing shows it; the whole item "
                             "(description, scope, fields) is `serviceItem(id)`.")
class DirectoryItem:
    id: strawberry.ID
    category_code: str
    title: str
    pricing_kind: PricingKindEnum  # type: ignore[valid-type]
    price_yuan: Decimal | None
    turnaround_days: int | None


@strawberry.type
class DirectoryCertificate:
    id: strawberry.ID
    kind: str
    kind_name: str
    certificate_number: str | None
    issuer: str | None
    valid_to: date | None
    scope: str | None
    status: CertificateStatusEnum  # type: ignore[valid-type]


@strawberry.type
class DirectoryCategory:
    code: str
    name: str


@strawberry.type(name="Rating", description="Enterprises' stars for completed orders (1-5).")
class RatingType:
    average: float | None = strawberry.field(description="Mean stars; null with no review.")
    count: int


@strawberry.type(name="DirectoryFilter", description="A filter a plugin adds to the directory.")
class DirectoryFilterType:
    name: str
    label: str
    example: str


@strawberry.input
class DirectoryFilterInput:
    name: str = strawberry.field(description="One of `directoryFilters`' names, e.g. standard.")
    term: str = strawberry.field(description="At most 100 characters, e.g. GB/T 2828.1.")


@strawberry.type
class MonthlyResponseTime:
    year: int
    month: int
    consultations: int = strawberry.field(description="Consultations received in the month.")
    average_seconds: float | None = strawberry.field(
        description="Average counted first-response time of those received in the working-day "
                    "service window (R-OPS-03); null when there was none.")
    average_within_limit: bool = strawberry.field(description="That average is at most 2 hours.")


@strawberry.type
class DirectoryInstitution:
    id: strawberry.ID
    name: str
    introduction: str | None
    province_code: str | None
    city_code: str | None
    district_code: str | None
    contact_phone: str | None
    website: str | None
    categories: list[DirectoryCategory]
    items: list[DirectoryItem]
    certificates: list[DirectoryCertificate]
    rating: RatingType

    @classmethod
    def from_entry(cls, e: directory.DirectoryEntry, **extra: Any) -> Any:
        i = e.institution
        if "items" not in extra:
            extra["items"] = [DirectoryItem(
                id=strawberry.ID(str(item.id)), category_code=item.category_code, title=item.title,
                pricing_kind=item.pricing_kind, price_yuan=item.price_yuan,
                turnaround_days=item.turnaround_days) for item in e.items]
        return cls(
            rating=RatingType(average=e.rating.average, count=e.rating.count), **extra,
            id=strawberry.ID(str(i.id)), name=i.legal_name, introduction=i.introduction,
            province_code=i.province_code, city_code=i.city_code, district_code=i.district_code,
            contact_phone=i.contact_phone, website=i.website,
            categories=[DirectoryCategory(code=c, name=_category_name(c)) for c in e.categories],
            certificates=[DirectoryCertificate(
                id=strawberry.ID(str(c.document.id)), kind=c.document.kind,
                kind_name=str(get_kind(c.document.kind).name) if get_kind(c.document.kind)
                else c.document.kind,
                certificate_number=c.document.certificate_number, issuer=c.document.issuer,
                valid_to=c.document.valid_to, scope=c.document.scope, status=c.verdict.status)
                for c in e.certificates])


@strawberry.type(name="InstitutionPage")
class InstitutionPageType(DirectoryInstitution):
    items: list[ServiceItemType]  # type: ignore[assignment]  # whole items on the page
    response_times: list[MonthlyResponseTime] = strawberry.field(
        description="The last three full calendar months, oldest first.")
    hidden: bool = strawberry.field(
        description="Hidden from the public (R-OPS-05); only its staff and platform staff see it.")
    hidden_at: datetime | None
    hidden_reason: str | None = strawberry.field(description="A stable code, e.g. no_item.")

    @classmethod
    def from_page(cls, page: InstitutionPage) -> InstitutionPageType:
        return cls.from_entry(
            page.entry, items=[ServiceItemType.from_model(i) for i in page.entry.items],
            hidden=page.hidden, hidden_at=page.hidden_at,
            hidden_reason=page.hidden_reason,
            response_times=[MonthlyResponseTime(
                year=m.year, month=m.month, consultations=m.consultations,
                average_seconds=m.average_seconds, average_within_limit=m.average_within_limit)
                for m in page.response_times])


@strawberry.type
class DirectoryPage:
    total: int
    first: int
    offset: int
    institutions: list[DirectoryInstitution]


@strawberry.type(name="Enterprise")
class EnterpriseType:
    id: strawberry.ID
    name: str
    uscc: str
    industry: str | None
    province_code: str | None
    city_code: str | None
    district_code: str | None
    size: EnterpriseSizeEnum | None  # type: ignore[valid-type]
    contact_name: str | None
    contact_phone: str | None = strawberry.field(
        description="Masked (138****5678) unless the viewer is the enterprise's user or an operator.")
    created_at: datetime

    @classmethod
    def from_model(cls, e: Enterprise, viewer: Any) -> EnterpriseType:
        full = enterprises.sees_contacts(viewer, e)
        return cls(id=strawberry.ID(str(e.id)), name=e.name, uscc=e.uscc, industry=e.industry,
                   province_code=e.province_code, city_code=e.city_code,
                   district_code=e.district_code, size=e.size,
                   contact_name=e.contact_name if full else mask_person_name(e.contact_name),
                   contact_phone=e.contact_phone if full else enterprises.masked_phone(e.contact_phone),
                   created_at=e.created_at)


@strawberry.type
class EnterprisePage:
    total: int
    enterprises: list[EnterpriseType]


@strawberry.input
class ServiceItemInput:
    category_code: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    scope: str | None = strawberry.UNSET
    pricing_kind: PricingKindEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    price: Decimal | None = strawberry.UNSET
    turnaround_days: int | None = strawberry.UNSET
    fields: JSON | None = strawberry.field(default=strawberry.UNSET,
                                           description="The category's fields by name.")


def _item_data(value: ServiceItemInput) -> dict[str, Any]:
    names = {"category_code": "categoryCode", "title": "title", "description": "description",
             "scope": "scope", "pricing_kind": "pricingKind", "price": "price",
             "turnaround_days": "turnaroundDays", "fields": "fields"}
    data: dict[str, Any] = {}
    for attr, key in names.items():
        raw = getattr(value, attr)
        if raw is strawberry.UNSET:
            continue
        data[key] = raw.value if isinstance(raw, PricingKind) else raw
    return data


@strawberry.input
class EnterpriseInput:
    name: str | None = strawberry.UNSET
    uscc: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    province_code: str | None = strawberry.UNSET
    city_code: str | None = strawberry.UNSET
    district_code: str | None = strawberry.UNSET
    size: EnterpriseSizeEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    contact_name: str | None = strawberry.UNSET
    contact_phone: str | None = strawberry.UNSET


def _enterprise_data(value: EnterpriseInput) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in enterprises.INPUTS:
        attr = "".join("_" + c.lower() if c.isupper() else c for c in key)
        raw = getattr(value, attr)
        if raw is not strawberry.UNSET:
            data[key] = raw.value if isinstance(raw, EnterpriseSize) else raw
    return data


@strawberry.type
class ServiceItemSuccess:
    item: ServiceItemType


@strawberry.type
class EnterpriseSuccess:
    enterprise: EnterpriseType
    join_code: str | None = strawberry.field(
        default=None, description="Given once on creation (or renewal): colleagues join with it.")


ServiceItemResult = Annotated[
    ServiceItemSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError,
    strawberry.union("ServiceItemResult"),
]
EnterpriseResult = Annotated[
    EnterpriseSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError,
    strawberry.union("EnterpriseResult"),
]


def _query_error(exc: DomainError) -> GraphQLError:
    """A query's refusal as a GraphQL error that keeps its stable code and fields (kept, not
    masked, in production)."""
    problems = exc.problems if isinstance(exc, InvalidInput) else []
    return GraphQLError(exc.message, extensions={
        "code": str(exc.code), "field": exc.field,
        "problems": [{"code": str(p.code), "message": p.message, "field": p.field} for p in problems]})


def _item(item_id: strawberry.ID) -> ServiceItem:
    return service.get_item(int_id(item_id, "id"), viewer_model())


@strawberry.type
class CatalogueQuery:
    @strawberry.field(description="Search listed institutions and their published items by keyword "
                                  "(Chinese two-character words match), category, region, "
                                  "certificate kind, minimum rating (1-5) and the plugins' "
                                  "`filters` (see `directoryFilters`); sort 'relevance', 'name' "
                                  "or 'rating'; first ≤ 100. Wrong input is an error whose "
                                  "extensions carry `code`, `field` and every problem.")
    def directory(self, keyword: str | None = None, category: str | None = None,
                  city_code: str | None = None, district_code: str | None = None,
                  certificate_kind: str | None = None, min_rating: float | None = None,
                  filters: list[DirectoryFilterInput] | None = None, sort: str = "relevance",
                  first: int = directory.PAGE_DEFAULT, offset: int = 0) -> DirectoryPage:
        try:
            page = directory.search(directory.DirectoryQuery(
                keyword=keyword or "", category=category, city_code=city_code,
                district_code=district_code, certificate_kind=certificate_kind,
                min_rating=min_rating, filters=tuple((f.name, f.term) for f in filters or ()),
                sort=sort, first=first, offset=offset))
        except DomainError as exc:
            raise _query_error(exc) from exc
        return DirectoryPage(total=page.total, first=page.first, offset=page.offset,
                             institutions=[DirectoryInstitution.from_entry(e) for e in page.entries])

    @strawberry.field(description="The filters the plugins add to `directory` (e.g. standard, "
                                  "instrument).")
    def directory_filters(self) -> list[DirectoryFilterType]:
        return [DirectoryFilterType(name=f.name, label=f.label, example=f.example)
                for f in directory_filters().values()]

    @strawberry.field(description="A live institution's page; null when there is none or the viewer "
                                  "may not see it (a hidden one is for its staff and platform "
                                  "staff only, R-OPS-05).")
    def institution_page(self, id: strawberry.ID) -> InstitutionPageType | None:
        number = parse_id(id)
        page = institution_page(number, viewer_model()) if number is not None else None
        return InstitutionPageType.from_page(page) if page else None

    @strawberry.field(description="An institution's items: all for its staff and platform staff, "
                                  "published ones of a live institution for anybody else.")
    def service_items(self, institution_id: strawberry.ID) -> list[ServiceItemType]:
        institution = get_by_id(Institution, institution_id)
        if institution is None:
            return []
        return [ServiceItemType.from_model(i)
                for i in service.institution_items(institution, viewer_model())]

    @strawberry.field
    def service_item(self, id: strawberry.ID) -> ServiceItemType | None:
        try:
            return ServiceItemType.from_model(_item(id))
        except NotFound:
            return None

    @strawberry.field(description="The enterprise the viewer acts for, if any.")
    def my_enterprise(self) -> EnterpriseType | None:
        viewer = viewer_model()
        enterprise = enterprises.enterprise_of(viewer)
        return EnterpriseType.from_model(enterprise, viewer) if enterprise else None

    @strawberry.field(description="Operators and regulators: the enterprise database (R-G-01).")
    def enterprises(self, keyword: str | None = None, city_code: str | None = None,
                    first: int = 20, offset: int = 0) -> EnterprisePage:
        viewer = viewer_model()
        try:
            total, rows = enterprises.enterprise_database(
                viewer, keyword=keyword or "", city_code=city_code, first=first, offset=offset)
        except DomainError as exc:
            raise _query_error(exc) from exc
        return EnterprisePage(total=total,
                              enterprises=[EnterpriseType.from_model(e, viewer) for e in rows])


@strawberry.type
class CatalogueMutation:
    @strawberry.mutation(description="The institution's admin adds a draft service item.")
    def create_service_item(self, institution_id: strawberry.ID,
                            input: ServiceItemInput) -> ServiceItemResult:
        try:
            user = require_viewer()
            institution = db.session.get(Institution, int_id(institution_id, "institutionId"))
            if institution is None:
                raise NotFound("No such institution.", field="institutionId")
            item = service.create_item(institution, _item_data(input), actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ServiceItemSuccess(item=ServiceItemType.from_model(item))

    @strawberry.mutation
    def update_service_item(self, id: strawberry.ID, input: ServiceItemInput) -> ServiceItemResult:
        try:
            user = require_viewer()
            item = service.update_item(_item(id), _item_data(input), actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ServiceItemSuccess(item=ServiceItemType.from_model(item))

    @strawberry.mutation(description="Publish; refused with every missing field while the item is "
                                     "not written to the specification.")
    def publish_service_item(self, id: strawberry.ID) -> ServiceItemResult:
        try:
            user = require_viewer()
            item = service.publish_item(_item(id), actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ServiceItemSuccess(item=ServiceItemType.from_model(item))

    @strawberry.mutation
    def withdraw_service_item(self, id: strawberry.ID) -> ServiceItemResult:
        try:
            user = require_viewer()
            item = service.withdraw_item(_item(id), actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return ServiceItemSuccess(item=ServiceItemType.from_model(item))

    @strawberry.mutation(description="An enterprise user registers its enterprise and becomes its "
                                     "administrator.")
    def create_enterprise(self, input: EnterpriseInput) -> EnterpriseResult:
        try:
            user = require_viewer()
            created = enterprises.create_enterprise(_enterprise_data(input), actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return EnterpriseSuccess(enterprise=EnterpriseType.from_model(created.enterprise, user),
                                 join_code=created.join_code)

    @strawberry.mutation(description="Join a registered enterprise with its credit code and join code.")
    def join_enterprise(self, uscc: str, join_code: str) -> EnterpriseResult:
        try:
            user = require_viewer()
            enterprise = enterprises.join_enterprise(uscc, join_code, actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return EnterpriseSuccess(enterprise=EnterpriseType.from_model(enterprise, user))

    @strawberry.mutation
    def update_enterprise(self, id: strawberry.ID, input: EnterpriseInput) -> EnterpriseResult:
        try:
            user = require_viewer()
            enterprise = enterprises.get_enterprise(int_id(id, "id"), user)
            enterprises.update_enterprise(enterprise, _enterprise_data(input), actor=user)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return EnterpriseSuccess(enterprise=EnterpriseType.from_model(enterprise, user))
