"""Who sees a demand and who acts on it: the one place for those rules (R-G-05, R-G-08;
SECURITY.md 9).

* The enterprise user it is for, the operator who filed it and every operator see all of it.
* The enterprise side acts on it (picks, closes): the enterprise user, or the operator who filed
  it on its behalf (R-G-08).
* An institution's staff (admin, agents) see the open demands, not past their deadline, of a
  category their live, public institution serves — a published service item of that category
  (the "demand hall") — and any demand their institution was matched to or responded to.
  `institution_sees_clause` says it in SQL, so the hall and the single-demand check agree.
* "Serves a category" is `serves_clause`: the institution is live and not hidden (R-OPS-05)
  and has a published item of the category. The same rule admits responses.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any, NoReturn

from flask_babel import gettext as _
from sqlalchemy import and_, exists, or_, select

from core.audit import record_audit
from core.catalogue.models import ItemStatus, ServiceItem
from core.clock import local_today
from core.db import db
from core.demands.models import Demand, DemandMatch, DemandResponse, DemandStatus
from core.errors import NotFound, PermissionDenied
from core.identity.models import Role, User
from core.ids import get_by_id
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus


def denied(action: str, object_type: str, object_id: int | None, actor: User | None) -> NoReturn:
    """Audit a refusal (SECURITY.md 9) in its own commit, dropping anything half done, and raise."""
    db.session.rollback()
    record_audit(action, object_type=object_type, object_id=object_id, result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(_("You may not see or change this demand."))


def is_operator(user: User | None) -> bool:
    return user is not None and user.is_active and user.has_role(Role.OPERATOR)


def acts_for_enterprise(user: User | None, demand: Demand) -> bool:
    """The enterprise user, or the operator who filed the demand for it (R-G-08)."""
    if user is None or not user.is_active:
        return False
    return user.id == demand.enterprise_user_id or (
        demand.on_behalf and user.id == demand.filed_by_id and is_operator(user))


def sees_everything(user: User | None, demand: Demand) -> bool:
    return acts_for_enterprise(user, demand) or is_operator(user)


def staff_institution_ids(user: User | None) -> list[int]:
    """The institutions `user` is an admin or agent of."""
    if user is None or not user.is_active:
        return []
    return list(db.session.scalars(select(InstitutionStaff.institution_id)
                                   .where(InstitutionStaff.user_id == user.id)
                                   .order_by(InstitutionStaff.institution_id)))


def public_conditions() -> list[Any]:
    """SQL twin of `Institution.is_public`: live and not hidden under R-OPS-05."""
    return [Institution.status == InstitutionStatus.LIVE, Institution.homepage_hidden_at.is_(None)]


def serves_clause(institution_id: Any, category_code: Any) -> Any:
    """The institution is public and has a published service item of the category."""
    return exists().where(
        ServiceItem.institution_id == institution_id, ServiceItem.category_code == category_code,
        ServiceItem.status == ItemStatus.PUBLISHED, Institution.id == ServiceItem.institution_id,
        *public_conditions())


def serves(institution_id: int, category_code: str) -> bool:
    return bool(db.session.scalar(select(serves_clause(institution_id, category_code))))


def open_for_responses(demand: Demand, today: date | None = None) -> bool:
    """Open and not past its deadline (the deadline day itself still counts)."""
    today = today or local_today()
    return demand.status is DemandStatus.OPEN and (demand.deadline is None or demand.deadline >= today)


def institution_sees_clause(institution_ids: Collection[int], today: date | None = None) -> Any:
    """The demands staff of `institution_ids` see, as a condition on `Demand`."""
    if not institution_ids:
        return Demand.id.is_(None)  # nothing
    ids = list(institution_ids)
    today = today or local_today()
    hall = and_(Demand.status == DemandStatus.OPEN,
                or_(Demand.deadline.is_(None), Demand.deadline >= today),
                exists().where(ServiceItem.institution_id.in_(ids),
                               ServiceItem.category_code == Demand.category_code,
                               ServiceItem.status == ItemStatus.PUBLISHED,
                               Institution.id == ServiceItem.institution_id, *public_conditions()))
    return or_(hall,
               exists().where(DemandMatch.demand_id == Demand.id, DemandMatch.institution_id.in_(ids)),
               exists().where(DemandResponse.demand_id == Demand.id,
                              DemandResponse.institution_id.in_(ids)))


def institution_sees(institution_ids: Collection[int], demand: Demand) -> bool:
    if not institution_ids:
        return False
    return db.session.scalar(select(Demand.id).where(
        Demand.id == demand.id, institution_sees_clause(institution_ids))) is not None


def can_view(user: User | None, demand: Demand) -> bool:
    if user is None or not user.is_active:
        return False
    return sees_everything(user, demand) or institution_sees(staff_institution_ids(user), demand)


def get_demand(demand_id: int | str, viewer: User | None) -> Demand:
    """The demand if `viewer` may see it; NotFound, or PermissionDenied (audited)."""
    demand = get_by_id(Demand, demand_id)
    if demand is None:
        raise NotFound(_("No such demand."), field="demandId")
    if not can_view(viewer, demand):
        denied("demand.read", "demand", demand.id, viewer)
    return demand
