"""The `/orders` list: every order a user may see, in a fixed number of statements."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, true

from core.db import db
from core.identity.models import User
from core.institutions.models import Institution, InstitutionStaff
from core.orders.models import Order, OrderStatus
from core.orders.service import PAGE_MAX, is_operator


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    total: int
    institutions: dict[int, str]  # id → legal name
    customers: dict[int, str]  # user id → display name


def visible_to(user: User) -> ColumnElement[bool]:
    """`service.can_view` as SQL: operators see every order; others their own (as the enterprise
    user) and those of every institution they staff."""
    if is_operator(user):
        return true()
    staffed = select(InstitutionStaff.institution_id).where(InstitutionStaff.user_id == user.id)
    return or_(Order.enterprise_user_id == user.id, Order.institution_id.in_(staffed))


def orders_page(user: User, *, status: OrderStatus | None, limit: int, offset: int) -> OrderPage:
    """One page, newest first, with the total and the names the page shows: four statements
    whatever the page size."""
    where = [visible_to(user)]
    if status is not None:
        where.append(Order.status == status)
    rows = list(db.session.scalars(
        select(Order).where(*where).order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(max(1, min(limit, PAGE_MAX))).offset(max(0, offset))))
    total = db.session.scalar(select(func.count(Order.id)).where(*where)) or 0
    institution_ids = {o.institution_id for o in rows}
    user_ids = {o.enterprise_user_id for o in rows}
    institutions = dict(db.session.execute(select(Institution.id, Institution.legal_name).where(
        Institution.id.in_(institution_ids))).all()) if institution_ids else {}
    customers = dict(db.session.execute(select(User.id, User.display_name).where(
        User.id.in_(user_ids))).all()) if user_ids else {}
    return OrderPage(rows, total, institutions, customers)
