"""Demands in GraphQL (R-G-02, R-G-03, R-G-05, R-G-08; SECURITY.md 9-10).

Who may see or change what is decided (and refusals audited) in `core.demands`; what of a
demand a viewer sees (the enterprise masked for institutions until their response is picked) in
`core.demands.present`. Lists read a fixed number of statements whatever their size.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
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
from api.lookup import get_institution, int_id, optional_id
from api.orders import OrderType
from api.orders import _build_all as build_orders
from core.db import db
from core.demands import access, models, present, service
from core.errors import DomainError
from core.identity.models import User

DemandStatusEnum = strawberry.enum(models.DemandStatus, name="DemandStatus")


@strawberry.type(name="DemandMatch", description="An institution the platform proposed, and why.")
class DemandMatchType:
    institution_id: strawberry.ID
    institution_name: str
    service_item_id: strawberry.ID | None
    service_item_title: str | None
    rank: int = strawberry.field(description="1 is the best match.")
    score: float
    reasons: list[str] = strawberry.field(description="Why it was proposed, in Chinese.")


@strawberry.type(name="DemandResponse", description="An institution's answer to a demand.")
class DemandResponseType:
    id: strawberry.ID
    institution_id: strawberry.ID
    institution_name: str
    service_item_id: strawberry.ID | None
    service_item_title: str | None
    message: str
    quote: Decimal | None = strawberry.field(description="Yuan.")
    responded_by: str
    at: datetime
    withdrawn_at: datetime | None
    picked: bool


@strawberry.type(name="DemandEvent", description="One step of a demand's timeline (R-G-03).")
class DemandEventType:
    id: strawberry.ID
    action: str = strawberry.field(description="posted, matched, responded, withdrawn, picked, closed.")
    actor: str
    note: str
    at: datetime


@strawberry.type(name="Demand", description="An enterprise's need. Institutions see it without the "
                                            "enterprise's identity until their response is picked "
                                            "(R-G-05).")
class DemandType:
    id: strawberry.ID
    category_code: str
    category_name: str
    title: str
    description: str
    province_code: str | None
    city_code: str | None
    district_code: str | None
    budget: Decimal | None = strawberry.field(description="Yuan; null: to be quoted.")
    deadline: date | None = strawberry.field(description="The last day responses are taken.")
    status: DemandStatusEnum  # type: ignore[valid-type]
    channel: str = strawberry.field(description="online, window, phone, visit or event.")
    on_behalf: bool = strawberry.field(description="Filed by an operator for the enterprise (R-G-08).")
    created_at: datetime
    picked_at: datetime | None
    closed_at: datetime | None
    identity_visible: bool = strawberry.field(description="Whether the enterprise is shown unmasked.")
    enterprise_name: str = strawberry.field(
        description="Masked (佛山市顺德区美达****公司) unless identityVisible.")
    contact_name: str | None = strawberry.field(description="Null unless identityVisible.")
    contact_phone: str | None = strawberry.field(
        description="Null unless identityVisible; masked (138****5678) for the picked institution's "
                    "agents, in full for its admin (R-G-05).")
    picked_response_id: strawberry.ID | None
    matches: list[DemandMatchType] = strawberry.field(
        description="All for the enterprise side and operators; an institution sees its own.")
    responses: list[DemandResponseType] = strawberry.field(
        description="All for the enterprise side and operators; an institution sees its own.")
    timeline: list[DemandEventType]


def _id(value: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


def _build(view: present.DemandView) -> DemandType:
    d = view.demand
    return DemandType(
        id=strawberry.ID(str(d.id)), category_code=d.category_code, category_name=view.category_name,
        title=d.title, description=d.description, province_code=d.province_code,
        city_code=d.city_code, district_code=d.district_code, budget=d.budget_yuan,
        deadline=d.deadline, status=d.status, channel=d.channel, on_behalf=d.on_behalf,
        created_at=d.created_at, picked_at=d.picked_at, closed_at=d.closed_at,
        identity_visible=view.identity_visible, enterprise_name=view.enterprise_name,
        contact_name=view.contact_name, contact_phone=view.contact_phone,
        picked_response_id=_id(d.picked_response_id),
        matches=[DemandMatchType(
            institution_id=strawberry.ID(str(m.institution_id)), institution_name=m.institution_name,
            service_item_id=_id(m.service_item_id), service_item_title=m.service_item_title,
            rank=m.rank, score=m.score, reasons=m.reasons) for m in view.matches],
        responses=[DemandResponseType(
            id=strawberry.ID(str(r.id)), institution_id=strawberry.ID(str(r.institution_id)),
            institution_name=r.institution_name, service_item_id=_id(r.service_item_id),
            service_item_title=r.service_item_title, message=r.message, quote=r.quote,
            responded_by=r.responded_by, at=r.at, withdrawn_at=r.withdrawn_at, picked=r.picked)
            for r in view.responses],
        timeline=[DemandEventType(id=strawberry.ID(str(e.id)), action=e.action, actor=e.actor,
                                  note=e.note, at=e.at) for e in view.events])


def _build_all(rows: list[models.Demand], viewer: User) -> list[DemandType]:
    return [_build(v) for v in present.present(rows, viewer)]


def _one(demand: models.Demand, viewer: User) -> DemandType:
    db.session.expire_all()  # read what was committed, relationships included
    fresh = db.session.get(models.Demand, demand.id)
    assert fresh is not None
    return _build_all([fresh], viewer)[0]


@strawberry.type
class DemandList:
    total: int
    first: int
    offset: int
    demands: list[DemandType] = strawberry.field(description="Newest first.")


@strawberry.type
class DemandSuccess:
    demand: DemandType


@strawberry.type(description="The picked demand and the order placed for it.")
class DemandPicked:
    demand: DemandType
    order: OrderType


@strawberry.input
class PostDemandInput:
    category_code: str
    title: str
    description: str
    deadline: date = strawberry.field(description="The last day responses are taken; not before "
                                                  "today (Asia/Shanghai), within a year.")
    budget: Decimal | None = strawberry.field(default=None, description="Yuan, ≥ 0, two decimals.")
    province_code: str | None = strawberry.field(
        default=None, description="GB/T 2260; all three default to the enterprise's region.")
    city_code: str | None = None
    district_code: str | None = None
    channel: str | None = strawberry.field(
        default=None, description="online (an enterprise's own post); operators: window, phone, "
                                  "visit, event or online (R-G-08).")
    enterprise_user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Operators only: the enterprise user the demand is for (R-G-08).")


@strawberry.input
class RespondToDemandInput:
    demand_id: strawberry.ID
    institution_id: strawberry.ID
    message: str
    service_item_id: strawberry.ID | None = None
    quote: Decimal | None = strawberry.field(default=None, description="Yuan, ≥ 0, two decimals.")


DemandListResult = Annotated[
    DemandList | InvalidInputError | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("DemandListResult")]
DemandResult = Annotated[
    DemandSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("DemandResult")]
PickDemandResult = Annotated[
    DemandPicked | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("PickDemandResult")]


def _list(total: int, first: int, offset: int, rows: list[models.Demand], viewer: User) -> DemandList:
    return DemandList(total=total, first=first, offset=offset, demands=_build_all(rows, viewer))


@strawberry.type
class DemandQuery:
    @strawberry.field(description="The demands posted for the viewer, and those an operator filed.")
    def my_demands(self, first: int = 20, offset: int = 0) -> DemandListResult:
        try:
            viewer = require_viewer()
            total, rows = service.my_demands(viewer, first=first, offset=offset)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _list(total, first, offset, rows, viewer)

    @strawberry.field(description="One demand: the enterprise side, operators, and the staff of "
                                  "institutions that may respond or were matched or responded.")
    def demand(self, id: strawberry.ID) -> DemandResult:
        try:
            viewer = require_viewer()
            found = access.get_demand(id, viewer)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return DemandSuccess(demand=_build_all([found], viewer)[0])

    @strawberry.field(description="The demand hall of an institution: open demands of the categories "
                                  "it serves and those it was matched to or responded to; its staff "
                                  "and operators only. first ≤ 100.")
    def demand_hall(self, institution_id: strawberry.ID, first: int = 20,
                    offset: int = 0) -> DemandListResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id)
            total, rows = service.hall(institution.id, viewer, first=first, offset=offset)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _list(total, first, offset, rows, viewer)


@strawberry.type
class DemandMutation:
    @strawberry.mutation(description="An enterprise posts a need; an operator may post it for an "
                                     "enterprise user (R-G-08). The platform proposes institutions "
                                     "at once (R-G-02).")
    def post_demand(self, input: PostDemandInput) -> DemandResult:
        try:
            viewer = require_viewer()
            enterprise_user = service.customer_by_id(input.enterprise_user_id, viewer)
            demand = service.post(
                actor=viewer, category=input.category_code, title=input.title,
                description=input.description, province_code=input.province_code,
                city_code=input.city_code, district_code=input.district_code,
                budget=input.budget, deadline=input.deadline, channel=input.channel,
                enterprise_user=enterprise_user)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return DemandSuccess(demand=_one(demand, viewer))

    @strawberry.mutation(description="An institution's admin or agent responds to a demand, once, "
                                     "optionally with one of its published items and a quote.")
    def respond_to_demand(self, input: RespondToDemandInput) -> DemandResult:
        try:
            viewer = require_viewer()
            demand = access.get_demand(input.demand_id, viewer)
            institution = get_institution(input.institution_id)
            service.respond(demand, institution, actor=viewer, message=input.message,
                            service_item_id=optional_id(input.service_item_id, "serviceItemId",
                                                        _("No such service item.")),
                            quote=input.quote)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return DemandSuccess(demand=_one(demand, viewer))

    @strawberry.mutation(description="The institution takes its response back while the demand is "
                                     "open.")
    def withdraw_demand_response(self, response_id: strawberry.ID) -> DemandResult:
        try:
            viewer = require_viewer()
            response = service.get_response(response_id, viewer)
            service.withdraw_response(response, actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return DemandSuccess(demand=_one(response.demand, viewer))

    @strawberry.mutation(description="The enterprise (or the operator who filed the demand for it) "
                                     "picks a response: the demand is PICKED and an order placed, "
                                     "together or not at all.")
    def pick_demand_response(self, demand_id: strawberry.ID,
                             response_id: strawberry.ID) -> PickDemandResult:
        try:
            viewer = require_viewer()
            demand = access.get_demand(demand_id, viewer)
            demand, order = service.pick(
                demand, int_id(response_id, "responseId", _("No such response.")), actor=viewer)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        built = _one(demand, viewer)
        return DemandPicked(demand=built, order=build_orders([order])[0])

    @strawberry.mutation(description="The enterprise side closes an open demand, giving the reason.")
    def close_demand(self, demand_id: strawberry.ID, reason: str) -> DemandResult:
        try:
            viewer = require_viewer()
            demand = access.get_demand(demand_id, viewer)
            service.close(demand, actor=viewer, reason=reason)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return DemandSuccess(demand=_one(demand, viewer))
