"""Placing and advancing orders; who may see them; what counts as an effective order
(R-G-03, R-G-08, R-ASM-03, R-ONB-06; SECURITY.md 9).

* An enterprise user places an order with a live institution — from one of its consultations,
  from one of its published service items, or directly; an operator may place it for an
  enterprise user (R-G-08), recorded as such (`placed_by_id`, `on_behalf`, the audit row). One
  whose homepage is hidden takes no new order, its existing ones go on
  (`core.institutions.intake`, R-OPS-05/06, R-ONB-07).
* Every step is one row of `TRANSITIONS`: the institution's staff accept, start and deliver;
  the enterprise (or the operator who placed it for it) confirms completion; either side cancels
  before delivery, giving a reason. Each step is timestamped on the order, written to its
  timeline (seen by both sides, R-G-03) and audited.
* Contract and report are documents of the institution (kinds `order_contract`, `test_report`)
  linked to the order.
* Who sees an order: the enterprise user it is for, its institution's staff and operators;
  nobody else. Every refusal is audited. The customer's phone follows the one rule for clients'
  contacts (`customer_phone`: masked for the institution's agents, R-G-05).
* "Effective order" (R-ASM-03) is defined once, in `_effective_clause`: completed (hence not
  cancelled) and not placed by the institution's own staff. `effective_orders` and
  `is_effective` both use it.
* An order neither completed nor cancelled is an open matter blocking exit (R-ONB-06).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, exists, func, not_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from core.audit import record_audit, sanitize_text
from core.catalogue.models import ItemStatus, ServiceItem
from core.clock import ChinaWindows
from core.consultations.models import Consultation
from core.db import db, utcnow
from core.documents.models import Document
from core.errors import ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.ids import get_by_id
from core.institutions.access import sees_client_contact, staff_role
from core.institutions.intake import require_taking_requests
from core.institutions.models import Institution, InstitutionStaff
from core.masking import mask_phone
from core.on_behalf import enterprise_user_by_id
from core.onboarding.eligibility import OpenMatter
from core.orders.models import Order, OrderAttachment, OrderEvent, OrderSource, OrderStatus

S = OrderStatus
TITLE_MAX = 200
REASON_MAX = 2000
PAGE_MAX = 100
AMOUNT_MAX = Decimal("9999999999.99")
ATTACHMENT_KINDS = frozenset({"order_contract", "test_report"})
OPEN_STATUSES = frozenset({S.PLACED, S.ACCEPTED, S.IN_PROGRESS, S.DELIVERED})


class Side(enum.StrEnum):
    INSTITUTION = "institution"  # the institution's admin or agents
    ENTERPRISE = "enterprise"  # the enterprise user, or the operator who placed it for it (R-G-08)


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[OrderStatus]
    target: OrderStatus
    sides: frozenset[Side]
    stamp: str  # the order's timestamp column set by this step
    reason_required: bool = False


INSTITUTION = frozenset({Side.INSTITUTION})
ENTERPRISE = frozenset({Side.ENTERPRISE})
EITHER = frozenset({Side.INSTITUTION, Side.ENTERPRISE})

# The one state table of an order.
TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("accept", frozenset({S.PLACED}), S.ACCEPTED, INSTITUTION, "accepted_at"),
    Transition("start", frozenset({S.ACCEPTED}), S.IN_PROGRESS, INSTITUTION, "started_at"),
    Transition("deliver", frozenset({S.IN_PROGRESS}), S.DELIVERED, INSTITUTION, "delivered_at"),
    Transition("complete", frozenset({S.DELIVERED}), S.COMPLETED, ENTERPRISE, "completed_at"),
    Transition("cancel", frozenset({S.PLACED, S.ACCEPTED, S.IN_PROGRESS}), S.CANCELLED, EITHER,
               "cancelled_at", reason_required=True),
)}


# ---------------------------------------------------------------- who may do what


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None) -> None:
    """Audit a refusal (SECURITY.md 9) and raise."""
    db.session.rollback()
    record_audit(action, object_type=object_type, object_id=object_id, result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(_("You may not see or change this order."))


def is_operator(user: User | None) -> bool:
    return user is not None and user.is_active and user.has_role(Role.OPERATOR)


def can_view(user: User | None, order: Order) -> bool:
    """The enterprise user it is for, its institution's staff and operators."""
    if user is None or not user.is_active:
        return False
    return (order.enterprise_user_id == user.id or is_operator(user)
            or staff_role(user, order.institution_id) is not None)


def sides_of(user: User | None, order: Order) -> frozenset[Side]:
    """The sides `user` acts for on `order` (both, for staff ordering from their own institution)."""
    if user is None or not user.is_active:
        return frozenset()
    sides: set[Side] = set()
    if staff_role(user, order.institution_id) is not None:
        sides.add(Side.INSTITUTION)
    if user.id == order.enterprise_user_id:
        sides.add(Side.ENTERPRISE)
    elif order.on_behalf and user.id == order.placed_by_id and is_operator(user):
        sides.add(Side.ENTERPRISE)  # the operator keeps acting for the enterprise (R-G-08)
    return frozenset(sides)


def customer_phone(viewer: User | None, order: Order, customer: User | None) -> str | None:
    """The customer's mobile number: in full for the customer, platform staff and the
    institution's admin, `138****5678` for its agents (R-G-05; the one rule for an institution's
    clients' contacts, `sees_client_contact`)."""
    phone = customer.phone if customer is not None else None
    if phone is None or sees_client_contact(viewer, order.institution_id, order.enterprise_user_id):
        return phone
    return mask_phone(phone)


def get_order(order_id: int | str, viewer: User | None) -> Order:
    """The order if `viewer` may see it; NotFound, or PermissionDenied (audited)."""
    order = get_by_id(Order, order_id)
    if order is None:
        raise NotFound(_("No such order."), field="orderId")
    if not can_view(viewer, order):
        _denied("order.read", "order", order.id, viewer)
    return order


# ---------------------------------------------------------------- effective orders (R-ASM-03)


def _effective_clause() -> ColumnElement[bool]:
    """THE definition of an effective order (R-ASM-03): completed (so not cancelled), and neither
    the enterprise user it is for nor whoever placed it is — or was, when placing — staff of the
    institution that served it."""
    def staff_of_institution(user_column: Any) -> Any:
        return exists().where(InstitutionStaff.institution_id == Order.institution_id,
                              InstitutionStaff.user_id == user_column)

    return and_(Order.status == S.COMPLETED, Order.completed_at.is_not(None),
                Order.placed_by_staff.is_(False),
                not_(staff_of_institution(Order.enterprise_user_id)),
                not_(staff_of_institution(Order.placed_by_id)))


def effective_orders(institution_id: int, start: date, end: date) -> int:
    """How many effective orders `institution_id` completed from `start` to `end` inclusive
    (calendar days in Asia/Shanghai): what the assessment quota counts (R-ASM-03)."""
    return effective_order_counts({institution_id: (start, end)})[institution_id]


def effective_order_counts(spans: Mapping[int, tuple[date, date]]) -> dict[int, int]:
    """`effective_orders` of many institutions, each over its own span, in one statement."""
    windows = ChinaWindows(spans)
    counts = dict.fromkeys(spans, 0)
    if spans:
        for institution_id, completed_at in db.session.execute(
                select(Order.institution_id, Order.completed_at).where(
                    Order.institution_id.in_(list(spans)), Order.completed_at >= windows.lo,
                    Order.completed_at < windows.hi, _effective_clause())):
            if windows.contains(institution_id, completed_at):
                counts[institution_id] += 1
    return counts


def is_effective(order: Order) -> bool:
    """Whether `order` is effective (R-ASM-03), by the same definition as `effective_orders`."""
    db.session.flush()
    return db.session.scalar(select(func.count(Order.id)).where(
        Order.id == order.id, _effective_clause())) == 1


# ---------------------------------------------------------------- input


def _problem(name: str, message: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> Problem:
    return Problem(code, message, name)


def _amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise InvalidInput([_problem("amount", _("Enter an amount in yuan."))]) from None
    if not amount.is_finite() or amount < 0 or amount > AMOUNT_MAX:
        raise InvalidInput([_problem("amount", _("Enter an amount in yuan."))])
    return amount


def _snapshot(o: Order) -> dict[str, Any]:
    return {"status": str(o.status), "institution_id": o.institution_id,
            "enterprise_user_id": o.enterprise_user_id, "placed_by_id": o.placed_by_id,
            "on_behalf": o.on_behalf, "source": str(o.source),
            "consultation_id": o.consultation_id, "service_item_id": o.service_item_id,
            "demand_id": o.demand_id, "title": o.title,
            "amount_yuan": str(o.amount_yuan) if o.amount_yuan is not None else None,
            "cancel_reason": o.cancel_reason}


def _picked_from(demand_id: int, customer: User, institution: Institution) -> bool:
    """Whether `demand_id` is the customer's demand and the response it picked is the
    institution's."""
    from core.demands.models import Demand, DemandResponse

    demand = get_by_id(Demand, demand_id)
    if demand is None or demand.enterprise_user_id != customer.id or demand.picked_response_id is None:
        return False
    response = db.session.get(DemandResponse, demand.picked_response_id)
    return response is not None and response.institution_id == institution.id


def _is_staff_of(user_id: int, institution_id: int) -> bool:
    return db.session.scalar(select(InstitutionStaff.id).where(
        InstitutionStaff.institution_id == institution_id,
        InstitutionStaff.user_id == user_id).limit(1)) is not None


# ---------------------------------------------------------------- placing and advancing


def customer_by_id(institution: Institution, user_id: Any, actor: User | None) -> User | None:
    """The enterprise user an operator places an order for, named by id; anyone else naming
    another user is refused (audited) before the id is looked up."""
    return enterprise_user_by_id(actor, user_id, refuse=lambda: _denied(
        "order.place", "institution", institution.id, actor))


def place(institution: Institution, *, title: str, actor: User | None,
          enterprise_user: User | None = None, amount: Any = None,
          consultation_id: int | None = None, service_item_id: int | None = None,
          demand_id: int | None = None, now: datetime | None = None) -> Order:
    """An enterprise user places an order with `institution`, or an operator places it for
    `enterprise_user` (R-G-08). With `demand_id`, the order follows the response of `institution`
    the customer picked for its demand (`core.demands.service.pick`). Committed and audited."""
    if actor is None or not actor.is_active:
        _denied("order.place", "institution", institution.id, actor)
    assert actor is not None
    if is_operator(actor) and enterprise_user is not None and enterprise_user.id != actor.id:
        if not enterprise_user.is_active or not enterprise_user.has_role(Role.ENTERPRISE):
            raise InvalidInput([_problem("enterpriseUserId", _(
                "An operator places an order for an enterprise user."))])
        on_behalf, customer = True, enterprise_user
    elif actor.has_role(Role.ENTERPRISE) and enterprise_user in (None, actor):
        on_behalf, customer = False, actor
    else:
        _denied("order.place", "institution", institution.id, actor)
    # A hidden institution takes no new order, not even from an existing consultation (R-OPS-05/06).
    require_taking_requests(institution)
    problems: list[Problem] = []
    text = sanitize_text(str(title or "").strip(), TITLE_MAX) if str(title or "").strip() else ""
    if not text:
        problems.append(_problem("title", _("This text is required."), ErrorCode.REQUIRED))
    try:
        amount_yuan = _amount(amount)
    except InvalidInput as exc:
        problems += exc.problems
        amount_yuan = None
    source = OrderSource.NONE
    if consultation_id is not None and service_item_id is not None:
        problems.append(_problem("serviceItemId", _(
            "An order comes from a consultation or from a service item, not both.")))
    elif consultation_id is not None:
        consultation = get_by_id(Consultation, consultation_id)
        if (consultation is None or consultation.institution_id != institution.id
                or consultation.enterprise_user_id != customer.id):
            problems.append(_problem("consultationId", _("No such consultation.")))
        source = OrderSource.CONSULTATION
    elif service_item_id is not None:
        item = get_by_id(ServiceItem, service_item_id)
        if (item is None or item.institution_id != institution.id
                or item.status is not ItemStatus.PUBLISHED):
            problems.append(_problem("serviceItemId", _("No such service item.")))
        source = OrderSource.SERVICE_ITEM
    if demand_id is not None:  # the response picked for a demand; its item is checked above
        if consultation_id is not None or not _picked_from(demand_id, customer, institution):
            problems.append(_problem("demandId", _("No such demand.")))
        source = OrderSource.DEMAND
    if problems:
        raise InvalidInput(problems)
    at = now or utcnow()
    order = Order(
        institution_id=institution.id, enterprise_user_id=customer.id, placed_by_id=actor.id,
        on_behalf=on_behalf, source=source, consultation_id=consultation_id,
        service_item_id=service_item_id, demand_id=demand_id, title=text, amount_yuan=amount_yuan,
        status=S.PLACED,
        placed_at=at, placed_by_staff=(_is_staff_of(customer.id, institution.id)
                                       or _is_staff_of(actor.id, institution.id)))
    order.events.append(OrderEvent(action="place", from_status=None, to_status=S.PLACED,
                                   actor_id=actor.id, at=at))
    db.session.add(order)
    db.session.flush()
    record_audit("order.place", object_type="order", object_id=order.id, after=_snapshot(order),
                 actor=actor)
    db.session.commit()
    return order


def advance(order: Order, action: str, *, actor: User | None, reason: str | None = None,
            now: datetime | None = None) -> Order:
    """Take one step of `TRANSITIONS`. Committed, written to the timeline and audited."""
    spec = TRANSITIONS.get(str(action or ""))
    if spec is None:
        raise InvalidInput([_problem("action", _("Unknown action."))])
    sides = sides_of(actor, order) & spec.sides
    if not sides:
        _denied(f"order.{spec.action}", "order", order.id, actor)
    assert actor is not None
    # Re-read the row under a lock (PostgreSQL): two steps at once (an accept and a cancel, a
    # double click) are taken one after the other, the second against the first's status.
    order = db.session.scalar(select(Order).where(Order.id == order.id).with_for_update()
                              .execution_options(populate_existing=True)) or order
    if order.status not in spec.sources:
        raise InvalidInput([_problem("action", _("This order cannot take this step now."),
                                     ErrorCode.ILLEGAL_TRANSITION)])
    text = sanitize_text(reason.strip(), REASON_MAX) if reason and reason.strip() else None
    if spec.reason_required and not text:
        raise InvalidInput([_problem("reason", _("Give the reason."), ErrorCode.REQUIRED)])
    at = now or utcnow()
    before = _snapshot(order)
    previous = order.status
    order.status = spec.target
    setattr(order, spec.stamp, at)
    if spec.target is S.CANCELLED:
        order.cancel_reason = text
    event = OrderEvent(action=spec.action, from_status=previous, to_status=spec.target,
                       actor_id=actor.id, reason=text, at=at)
    order.events.append(event)
    db.session.flush()
    record_audit(f"order.{spec.action}", object_type="order", object_id=order.id, before=before,
                 after={**_snapshot(order), "event_id": event.id,
                        "side": ",".join(sorted(sides))}, actor=actor)
    db.session.commit()
    return order


# ---------------------------------------------------------------- attachments


def attach(order: Order, document: Document, *, actor: User | None) -> OrderAttachment:
    """Link a contract or report (a document of the order's institution) to the order: the
    institution's staff only. Committed and audited."""
    if Side.INSTITUTION not in sides_of(actor, order):
        _denied("order.attach", "order", order.id, actor)
    assert actor is not None
    if document.institution_id != order.institution_id or document.kind not in ATTACHMENT_KINDS:
        raise InvalidInput([_problem("documentId", _("Attach a contract or a test report of "
                                                     "this institution."))])
    existing = next((a for a in order.attachments if a.document_id == document.id), None)
    if existing is not None:
        return existing
    attachment = OrderAttachment(document_id=document.id, attached_by_id=actor.id)
    order.attachments.append(attachment)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent retry of the same upload linked it first
        db.session.rollback()
        linked = db.session.scalar(select(OrderAttachment).where(
            OrderAttachment.order_id == order.id, OrderAttachment.document_id == document.id))
        if linked is None:
            raise
        return linked
    record_audit("order.attach", object_type="order", object_id=order.id,
                 after={"document_id": document.id, "kind": document.kind}, actor=actor)
    db.session.commit()
    return attachment


def upload_attachment(order: Order, kind: str, stream: BinaryIO, *, filename: str,
                      actor: User | None, idempotency_key: str | None = None) -> OrderAttachment:
    """Store a contract or report with `store_upload` (the institution's admin) and link it; a
    retried post with the same `idempotency_key` links the one document stored the first time."""
    from core.documents import service as documents

    if Side.INSTITUTION not in sides_of(actor, order):
        _denied("order.attach", "order", order.id, actor)
    assert actor is not None
    if kind not in ATTACHMENT_KINDS:
        raise InvalidInput([_problem("kind", _("Attach a contract or a test report of "
                                               "this institution."))])
    institution = db.session.get(Institution, order.institution_id)
    assert institution is not None
    meta = documents.validate_meta({"kind": kind}, institution)
    document = documents.store_upload(institution, meta, stream, filename=filename, actor=actor,
                                      idempotency_key=idempotency_key)
    return attach(order, document, actor=actor)


def may_read_attachment(user: User | None, document: Document) -> bool:
    """Whether `user` reads `document` as one who sees an order it is attached to (`can_view`:
    the enterprise user, the institution's staff, operators), though the contract or report
    belongs to the institution. The documents' permission check asks this (one place); other
    platform roles (regulators) do not read a client's contract or report (R-G-05)."""
    if user is None or not user.is_active or document.kind not in ATTACHMENT_KINDS:
        return False
    orders = db.session.scalars(select(Order).join(OrderAttachment).where(
        OrderAttachment.document_id == document.id))
    return any(can_view(user, order) for order in orders)


# ---------------------------------------------------------------- lists


def _page(query: Any, limit: int, offset: int) -> list[Order]:
    limit = max(1, min(int(limit), PAGE_MAX))
    return list(db.session.scalars(
        query.options(selectinload(Order.events), selectinload(Order.attachments))
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit).offset(max(0, int(offset)))))


def orders_of_enterprise(user: User, *, limit: int = 50, offset: int = 0) -> list[Order]:
    """The orders placed by (or for) `user`, newest first."""
    return _page(select(Order).where(Order.enterprise_user_id == user.id), limit, offset)


def orders_of_institution(institution_id: int, viewer: User | None, *, limit: int = 50,
                          offset: int = 0, status: OrderStatus | None = None) -> list[Order]:
    """An institution's orders: for its staff and operators (refusals audited)."""
    if viewer is None or not viewer.is_active or not (
            is_operator(viewer) or staff_role(viewer, institution_id) is not None):
        _denied("order.list", "institution", institution_id, viewer)
    query = select(Order).where(Order.institution_id == institution_id)
    if status is not None:
        query = query.where(Order.status == status)
    return _page(query, limit, offset)


# ---------------------------------------------------------------- exit


def open_matters_of(institution: Institution) -> list[OpenMatter]:
    """Orders neither completed nor cancelled block the institution's exit (R-ONB-06)."""
    rows = db.session.execute(
        select(Order.id, Order.title).where(
            Order.institution_id == institution.id, Order.status.in_(OPEN_STATUSES))
        .order_by(Order.id))
    return [OpenMatter("order", oid, _("Order #%(id)d: %(title)s", id=oid, title=title))
            for oid, title in rows]
