"""Orders in GraphQL (R-G-03, R-G-08, R-ASM-03; SECURITY.md 9).

Who may see or change what is decided (and refusals audited) in `core.orders.service`; the
resolvers pick the rows and prefetch the timeline, attachments and names in a fixed number of
statements.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from flask import url_for
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
from api.reviews import ReviewType, reviews_of_orders
from core.db import db
from core.documents.models import Document
from core.errors import DomainError
from core.identity.models import User
from core.orders import models, service

OrderStatusEnum = strawberry.enum(models.OrderStatus, name="OrderStatus")
OrderSourceEnum = strawberry.enum(models.OrderSource, name="OrderSource")


@strawberry.type(name="OrderEvent", description="One step of an order's timeline (R-G-03).")
class OrderEventType:
    id: strawberry.ID
    action: str
    from_status: OrderStatusEnum | None  # type: ignore[valid-type]
    to_status: OrderStatusEnum  # type: ignore[valid-type]
    actor_name: str
    reason: str | None
    at: datetime


@strawberry.type(name="OrderAttachment", description="A contract or test report of the order.")
class OrderAttachmentType:
    document_id: strawberry.ID
    kind: str
    filename: str
    size: int
    sha256: str
    at: datetime
    download_url: str = strawberry.field(description="App-served download: the order's client, the "
                                                     "institution's staff and operators; audited.")


@strawberry.type(name="Order", description="An order and its timeline, seen by both sides.")
class OrderType:
    id: strawberry.ID
    institution_id: strawberry.ID
    title: str
    amount: Decimal | None = strawberry.field(description="Yuan; null when not agreed on the platform.")
    status: OrderStatusEnum  # type: ignore[valid-type]
    source: OrderSourceEnum  # type: ignore[valid-type]
    consultation_id: strawberry.ID | None
    service_item_id: strawberry.ID | None
    demand_id: strawberry.ID | None = strawberry.field(
        description="The demand whose picked response the order follows (source DEMAND).")
    customer_name: str
    on_behalf: bool = strawberry.field(description="Placed by an operator for the enterprise (R-G-08).")
    placed_at: datetime
    accepted_at: datetime | None
    started_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    timeline: list[OrderEventType]
    attachments: list[OrderAttachmentType]
    review: ReviewType | None = strawberry.field(
        default=None, description="The client's rating once given (with its follow-up).")


def _id(value: int | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


def _build_all(rows: list[models.Order]) -> list[OrderType]:
    user_ids = {o.enterprise_user_id for o in rows} | {e.actor_id for o in rows for e in o.events}
    users = ({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
             if user_ids else {})
    doc_ids = {a.document_id for o in rows for a in o.attachments}
    docs = ({d.id: d for d in db.session.scalars(select(Document).where(Document.id.in_(doc_ids)))}
            if doc_ids else {})
    reviews = reviews_of_orders(rows)

    def name(user_id: int) -> str:
        return users[user_id].display_name if user_id in users else ""

    return [OrderType(
        id=strawberry.ID(str(o.id)), institution_id=strawberry.ID(str(o.institution_id)),
        title=o.title, amount=o.amount_yuan, status=o.status, source=o.source,
        consultation_id=_id(o.consultation_id), service_item_id=_id(o.service_item_id),
        demand_id=_id(o.demand_id),
        customer_name=name(o.enterprise_user_id), on_behalf=o.on_behalf, placed_at=o.placed_at,
        accepted_at=o.accepted_at, started_at=o.started_at, delivered_at=o.delivered_at,
        completed_at=o.completed_at, cancelled_at=o.cancelled_at, cancel_reason=o.cancel_reason,
        timeline=[OrderEventType(
            id=strawberry.ID(str(e.id)), action=e.action, from_status=e.from_status,
            to_status=e.to_status, actor_name=name(e.actor_id), reason=e.reason, at=e.at)
            for e in o.events],
        attachments=[OrderAttachmentType(
            document_id=strawberry.ID(str(a.document_id)), kind=docs[a.document_id].kind,
            filename=docs[a.document_id].original_filename, size=docs[a.document_id].size,
            sha256=docs[a.document_id].sha256, at=a.at,
            download_url=url_for("documents.download", document_id=a.document_id, _external=True))
            for a in o.attachments if a.document_id in docs],
        review=reviews.get(o.id),
    ) for o in rows]


@strawberry.type
class OrderList:
    orders: list[OrderType] = strawberry.field(description="Newest first.")


@strawberry.input
class PlaceOrderInput:
    institution_id: strawberry.ID
    title: str
    amount: Decimal | None = None
    consultation_id: strawberry.ID | None = None
    service_item_id: strawberry.ID | None = None
    enterprise_user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Operators only: the enterprise user the order is for (R-G-08).")


@strawberry.type
class OrderSuccess:
    order: OrderType


OrderListResult = Annotated[
    OrderList | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("OrderListResult")]
OrderResult = Annotated[
    OrderSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError, strawberry.union("OrderResult")]



def _one(order: models.Order) -> OrderSuccess:
    db.session.expire(order)
    return OrderSuccess(order=_build_all([order])[0])


@strawberry.type
class OrderQuery:
    @strawberry.field(description="The viewer's own orders (placed by it or for it).")
    def my_orders(self, limit: int = 50, offset: int = 0) -> OrderListResult:
        try:
            viewer = require_viewer()
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return OrderList(orders=_build_all(service.orders_of_enterprise(viewer, limit=limit,
                                                                        offset=offset)))

    @strawberry.field(description="An institution's orders: its admin and agents and operators "
                                  "only (SECURITY.md 9).")
    def institution_orders(
            self, institution_id: strawberry.ID, limit: int = 50, offset: int = 0,
            status: OrderStatusEnum | None = None,  # type: ignore[valid-type]
    ) -> OrderListResult:
        try:
            viewer = require_viewer()
            institution = get_institution(institution_id)
            rows = service.orders_of_institution(institution.id, viewer, limit=limit,
                                                 offset=offset, status=status)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return OrderList(orders=_build_all(rows))

    @strawberry.field(description="One order with its timeline: the enterprise it is for, the "
                                  "institution's staff and operators.")
    def order(self, id: strawberry.ID) -> OrderResult:
        try:
            viewer = require_viewer()
            found = service.get_order(id, viewer)
        except DomainError as exc:
            return to_graphql_error(exc)  # type: ignore[return-value]
        return OrderSuccess(order=_build_all([found])[0])


@strawberry.type
class OrderMutation:
    @strawberry.mutation(description="An enterprise places an order with a live institution, from "
                                     "a consultation, a service item or directly; an operator may "
                                     "place it for an enterprise (R-G-08). One whose homepage is "
                                     "hidden takes no new order: NOT_TAKING_REQUESTS (R-OPS-05, "
                                     "R-OPS-06).")
    def place_order(self, input: PlaceOrderInput) -> OrderResult:
        try:
            viewer = require_viewer()
            institution = get_institution(input.institution_id)
            enterprise_user = service.customer_by_id(institution, input.enterprise_user_id, viewer)
            order = service.place(
                institution, title=input.title, actor=viewer, enterprise_user=enterprise_user,
                amount=input.amount,
                consultation_id=optional_id(input.consultation_id, "consultationId",
                                            _("No such consultation.")),
                service_item_id=optional_id(input.service_item_id, "serviceItemId",
                                            _("No such service item.")))
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(order)

    @strawberry.mutation(description="One step of the order: accept, start, deliver (the "
                                     "institution), complete (the enterprise), cancel (either side "
                                     "before delivery, with a reason).")
    def advance_order(self, order_id: strawberry.ID, action: str,
                      reason: str | None = None) -> OrderResult:
        try:
            viewer = require_viewer()
            order = service.get_order(order_id, viewer)
            service.advance(order, action, actor=viewer, reason=reason)
        except DomainError as exc:
            db.session.rollback()
            return to_graphql_error(exc)  # type: ignore[return-value]
        return _one(order)
