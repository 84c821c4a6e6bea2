"""Demands: an enterprise posts a need, the platform proposes institutions, institutions respond,
the enterprise picks one and an order is placed (R-G-02, R-G-03, R-G-05, R-G-08).

* An enterprise user posts for itself (and its `Enterprise`, if it belongs to one); an operator
  posts for an enterprise user, saying through which channel the need reached the platform
  (R-G-08: window, phone, visit, event). Matching (`core.demands.matching`) runs in the same
  transaction.
* Any public institution serving the category may respond once, matched or not, while the demand
  is open and not past its deadline; it may withdraw its response while the demand is open (a
  withdrawn response stays on record and is not replaced).
* The enterprise side picks one response: the demand becomes PICKED and an order is placed
  through `core.orders.service.place` (source DEMAND, the response's item, the quote as the
  amount) in the same transaction — if placing fails, the demand stays open.
* The enterprise side may close an open demand, giving a reason; `close_expired_demands` closes
  the open ones past their deadline (a periodic job).
* Every step is a `DemandEvent` row and an audit row (R-G-03). Who sees what is decided in
  `core.demands.access`, what of it they see in `core.demands.present` (R-G-05).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from core.audit import record_audit
from core.catalogue.models import ItemStatus, ServiceItem
from core.clock import local_today
from core.db import db, utcnow
from core.demands import access
from core.demands.access import acts_for_enterprise, denied, is_operator
from core.demands.matching import propose_matches
from core.demands.models import Demand, DemandEvent, DemandResponse, DemandStatus
from core.enterprises.service import enterprise_of
from core.errors import ErrorCode, InvalidInput, NotFound, Problem
from core.identity.models import Role, User
from core.ids import get_by_id
from core.institutions import intake
from core.institutions.access import staff_role
from core.institutions.models import Institution
from core.on_behalf import enterprise_user_by_id
from core.onboarding.profile import clean_line, clean_paragraphs, region_problems
from core.orders.models import Order

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
MESSAGE_MAX = 2000
REASON_MAX = 1000
MONEY_MAX = Decimal("9999999999.99")
DEADLINE_MAX_DAYS = 366
PAGE_MAX = 100
# How the need reached the platform (R-G-02 many channels; R-G-08 offline ones are the operator's).
CHANNELS = ("online", "window", "phone", "visit", "event")


# ---------------------------------------------------------------- input


def _problem(name: str, message: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> Problem:
    return Problem(code, message, name)


def _text(value: Any, name: str, limit: int, problems: list[Problem], *, paragraphs: bool) -> str:
    text = clean_paragraphs(value) if paragraphs else clean_line(value)
    if not text:
        problems.append(_problem(name, _("This text is required."), ErrorCode.REQUIRED))
    elif len(text) > limit:
        problems.append(_problem(name, _("At most %(n)d characters.", n=limit)))
    return text


def _money(value: Any, name: str, problems: list[Problem]) -> Decimal | None:
    """Yuan, at least 0, at most two decimals; None when not given."""
    if value is None or str(value).strip() == "":
        return None
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        amount = Decimal("NaN")
    if (not amount.is_finite() or amount < 0 or amount > MONEY_MAX
            or amount != amount.quantize(Decimal("0.01"))):
        problems.append(_problem(name, _("Enter an amount in yuan of at least 0 with at most two "
                                         "decimals, e.g. 5000.00.")))
        return None
    return amount.quantize(Decimal("0.01"))


def _deadline(value: Any, problems: list[Problem]) -> date | None:
    if value is None or value == "":
        problems.append(_problem("deadline", _("Give the date by which you need answers."),
                                 ErrorCode.REQUIRED))
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        try:
            value = date.fromisoformat(str(value))
        except ValueError:
            problems.append(_problem("deadline", _("Enter a date such as 2026-12-31.")))
            return None
    today = local_today()
    if value < today:
        problems.append(_problem("deadline", _("The deadline cannot be before today (%(today)s).",
                                               today=today.isoformat())))
    elif value > today + timedelta(days=DEADLINE_MAX_DAYS):
        problems.append(_problem("deadline", _("The deadline must be within a year.")))
    return value


def _snapshot(d: Demand) -> dict[str, Any]:
    return {"status": str(d.status), "enterprise_user_id": d.enterprise_user_id,
            "enterprise_id": d.enterprise_id, "filed_by_id": d.filed_by_id, "on_behalf": d.on_behalf,
            "channel": d.channel, "category_code": d.category_code, "title": d.title,
            "region": [d.province_code, d.city_code, d.district_code],
            "budget_yuan": str(d.budget_yuan) if d.budget_yuan is not None else None,
            "deadline": d.deadline.isoformat() if d.deadline else None,
            "picked_response_id": d.picked_response_id}


def _event(demand: Demand, action: str, actor: User | None, at: datetime, **detail: Any) -> None:
    demand.events.append(DemandEvent(action=action, actor_id=actor.id if actor else None, at=at,
                                     detail=detail))


def _lock(demand: Demand) -> Demand:
    """Re-read the demand under a row lock (PostgreSQL), so two picks, or a pick and the deadline
    job, cannot both act on it; SQLite serialises writers anyway."""
    locked = db.session.scalar(select(Demand).where(Demand.id == demand.id).with_for_update()
                               .execution_options(populate_existing=True))
    assert locked is not None
    return locked


def _still_open(demand: Demand, field: str = "demandId") -> None:
    if not access.open_for_responses(demand):
        raise InvalidInput([_problem(field, _("This demand is no longer open."),
                                     ErrorCode.ILLEGAL_TRANSITION)])


# ---------------------------------------------------------------- posting


def customer_by_id(user_id: Any, actor: User | None) -> User | None:
    """The enterprise user an operator posts a demand for, named by id; anyone else naming
    another user is refused (audited) before the id is looked up."""
    return enterprise_user_by_id(actor, user_id, refuse=lambda: denied(
        "demand.post", "demand", None, actor))


def post(*, actor: User | None, category: str, title: str, description: str,
         province_code: str | None = None, city_code: str | None = None,
         district_code: str | None = None, budget: Any = None, deadline: Any = None,
         channel: str | None = None, enterprise_user: User | None = None,
         now: datetime | None = None) -> Demand:
    """An enterprise user posts a need for itself, or an operator for `enterprise_user`
    (R-G-08). Every problem with the input is reported at once. The region defaults to the
    enterprise's. Matching runs in the same transaction; committed and audited."""
    from core.plugins import plugins

    if actor is None or not actor.is_active:
        denied("demand.post", "demand", None, actor)
    assert actor is not None
    problems: list[Problem] = []
    for_itself = actor.has_role(Role.ENTERPRISE) and enterprise_user in (None, actor)
    if is_operator(actor) and not for_itself:
        if enterprise_user is None or enterprise_user.id == actor.id:
            raise InvalidInput([_problem("enterpriseUserId", _(
                "Give the enterprise user the demand is for."), ErrorCode.REQUIRED)])
        if not enterprise_user.is_active or not enterprise_user.has_role(Role.ENTERPRISE):
            raise InvalidInput([_problem("enterpriseUserId", _(
                "An operator files a demand for an enterprise user."))])
        on_behalf, customer = True, enterprise_user
        channel = channel or "window"
    elif for_itself:
        on_behalf, customer = False, actor
        channel = channel or "online"
        if channel != "online":
            problems.append(_problem("channel", _(
                "Only an operator records a need received offline.")))
    else:
        denied("demand.post", "demand", None, actor)
    if channel not in CHANNELS:
        problems.append(_problem("channel", _("Choose how the need reached the platform.")))
    category = str(category or "").strip()
    if category not in plugins.categories():
        problems.append(_problem("category", _("Choose one of the platform's service categories."),
                                 ErrorCode.REQUIRED if not category else ErrorCode.INVALID_INPUT))
    texts = {"title": _text(title, "title", TITLE_MAX, problems, paragraphs=False),
             "description": _text(description, "description", DESCRIPTION_MAX, problems,
                                  paragraphs=True)}
    enterprise = enterprise_of(customer)
    region = {"provinceCode": clean_line(province_code), "cityCode": clean_line(city_code),
              "districtCode": clean_line(district_code)}
    if enterprise is not None and not any(region.values()):
        region = {"provinceCode": enterprise.province_code, "cityCode": enterprise.city_code,
                  "districtCode": enterprise.district_code}
    region = {k: v or None for k, v in region.items()}
    problems += region_problems(region["provinceCode"], region["cityCode"], region["districtCode"])
    budget_yuan = _money(budget, "budget", problems)
    due = _deadline(deadline, problems)
    if problems:
        raise InvalidInput(problems)
    at = now or utcnow()
    demand = Demand(
        enterprise_user_id=customer.id, enterprise_id=enterprise.id if enterprise else None,
        filed_by_id=actor.id, on_behalf=on_behalf, channel=channel, category_code=category,
        title=texts["title"], description=texts["description"],
        province_code=region["provinceCode"], city_code=region["cityCode"],
        district_code=region["districtCode"], budget_yuan=budget_yuan, deadline=due,
        status=DemandStatus.OPEN, created_at=at)
    _event(demand, "posted", actor, at, channel=channel, on_behalf=on_behalf)
    db.session.add(demand)
    db.session.flush()
    record_audit("demand.post", object_type="demand", object_id=demand.id, after=_snapshot(demand),
                 actor=actor)
    propose_matches(demand, actor=actor)
    db.session.commit()
    return demand


# ---------------------------------------------------------------- responding


def respond(demand: Demand, institution: Institution, *, actor: User | None, message: str,
            service_item_id: int | None = None, quote: Any = None,
            now: datetime | None = None) -> DemandResponse:
    """The institution's admin or agent answers the demand, once. Committed and audited; the
    enterprise user hears of it (in-app and SMS)."""
    from core.notifications.service import notify

    if actor is None or not actor.is_active or staff_role(actor, institution.id) is None:
        denied("demand.respond", "demand", demand.id, actor)
    assert actor is not None
    if not access.institution_sees([institution.id], demand):
        denied("demand.respond", "demand", demand.id, actor)
    demand = _lock(demand)
    _still_open(demand)
    intake.require_taking_requests(institution)  # hidden: no new response (R-OPS-05/06)
    if not access.serves(institution.id, demand.category_code):
        raise InvalidInput([_problem("institutionId", _(
            "Only an institution listed on the platform with a published service item of this "
            "category may respond."))])
    problems: list[Problem] = []
    text = _text(message, "message", MESSAGE_MAX, problems, paragraphs=True)
    amount = _money(quote, "quote", problems)
    if service_item_id is not None:
        item = get_by_id(ServiceItem, service_item_id)
        if item is None or item.institution_id != institution.id or item.status is not ItemStatus.PUBLISHED:
            problems.append(_problem("serviceItemId", _("Choose one of your published service items.")))
    if db.session.scalar(select(DemandResponse.id).where(
            DemandResponse.demand_id == demand.id, DemandResponse.institution_id == institution.id)):
        problems.append(_problem("demandId", _("Your institution has already responded to this "
                                               "demand."), ErrorCode.DUPLICATE))
    if problems:
        raise InvalidInput(problems)
    at = now or utcnow()
    response = DemandResponse(demand_id=demand.id, institution_id=institution.id,
                              service_item_id=service_item_id, message=text, quote_yuan=amount,
                              responded_by_id=actor.id, at=at)
    db.session.add(response)
    try:
        db.session.flush()
    except IntegrityError:  # a colleague's response committed meanwhile
        db.session.rollback()
        raise InvalidInput([_problem("demandId", _("Your institution has already responded to this "
                                                   "demand."), ErrorCode.DUPLICATE)]) from None
    _event(demand, "responded", actor, at, response_id=response.id, institution_id=institution.id,
           quote_yuan=str(amount) if amount is not None else None)
    record_audit("demand.respond", object_type="demand", object_id=demand.id,
                 after={"response_id": response.id, "institution_id": institution.id,
                        "service_item_id": service_item_id,
                        "quote_yuan": str(amount) if amount is not None else None}, actor=actor)
    customer = db.session.get(User, demand.enterprise_user_id)
    if customer is not None and customer.is_active:
        notify(customer, "demand_response_received",
               {"title": demand.title, "institution_name": institution.legal_name},
               link=f"/demands/{demand.id}", dedupe_key=f"demand.response:{response.id}")
    db.session.commit()
    return response


def withdraw_response(response: DemandResponse, *, actor: User | None,
                      now: datetime | None = None) -> DemandResponse:
    """The institution takes its response back while the demand is open. Committed, audited."""
    if actor is None or not actor.is_active or staff_role(actor, response.institution_id) is None:
        denied("demand.withdraw_response", "demand", response.demand_id, actor)
    assert actor is not None
    demand = _lock(response.demand)
    if demand.status is not DemandStatus.OPEN:
        raise InvalidInput([_problem("responseId", _("This demand is no longer open."),
                                     ErrorCode.ILLEGAL_TRANSITION)])
    if response.withdrawn_at is not None:
        return response
    at = now or utcnow()
    response.withdrawn_at = at
    _event(demand, "withdrawn", actor, at, response_id=response.id,
           institution_id=response.institution_id)
    record_audit("demand.withdraw_response", object_type="demand", object_id=demand.id,
                 after={"response_id": response.id, "institution_id": response.institution_id},
                 actor=actor)
    db.session.commit()
    return response


def get_response(response_id: int | str, viewer: User | None) -> DemandResponse:
    """A response for its own institution's staff; anyone else: NotFound or denied (audited)."""
    response = get_by_id(DemandResponse, response_id)
    if response is None:
        raise NotFound(_("No such response."), field="responseId")
    if viewer is None or staff_role(viewer, response.institution_id) is None:
        denied("demand.response_read", "demand", response.demand_id, viewer)
    return response


# ---------------------------------------------------------------- picking and closing


def pick(demand: Demand, response_id: int, *, actor: User | None,
         now: datetime | None = None) -> tuple[Demand, Order]:
    """The enterprise side picks one response: the demand is PICKED and the order placed, in one
    transaction (if placing fails nothing of the pick remains). Audited; the picked institution's
    staff hear of it."""
    from core.notifications.service import notify
    from core.orders import service as orders

    if not acts_for_enterprise(actor, demand):
        denied("demand.pick", "demand", demand.id, actor)
    assert actor is not None
    demand = _lock(demand)
    _still_open(demand)
    response = get_by_id(DemandResponse, response_id)
    if response is None or response.demand_id != demand.id or response.withdrawn_at is not None:
        raise InvalidInput([_problem("responseId", _("Choose one of the responses to this demand."))])
    institution = db.session.get(Institution, response.institution_id)
    intake.require_taking_requests(institution, "responseId")  # hidden: no new order (R-OPS-05/06)
    assert institution is not None
    at = now or utcnow()
    before = _snapshot(demand)
    demand.status = DemandStatus.PICKED
    demand.picked_response_id = response.id
    demand.picked_at = at
    _event(demand, "picked", actor, at, response_id=response.id, institution_id=institution.id)
    record_audit("demand.pick", object_type="demand", object_id=demand.id, before=before,
                 after=_snapshot(demand), actor=actor)
    staff = institution.staff
    context = {"institution_name": institution.legal_name, "title": demand.title}
    for member in staff:
        if member.user.is_active:
            notify(member.user, "demand_picked", context, link=f"/demands/{demand.id}",
                   dedupe_key=f"demand.picked:{demand.id}")
    customer = db.session.get(User, demand.enterprise_user_id)
    try:
        order = orders.place(
            institution, title=demand.title, actor=actor,
            enterprise_user=customer if customer is not None and customer.id != actor.id else None,
            amount=response.quote_yuan,
            service_item_id=response.service_item_id, demand_id=demand.id, now=at)
    except Exception:
        db.session.rollback()  # the pick goes with the failed order: the demand stays open
        raise
    return demand, order


def close(demand: Demand, *, actor: User | None, reason: str, now: datetime | None = None) -> Demand:
    """The enterprise side closes an open demand, giving the reason. Committed and audited."""
    if not acts_for_enterprise(actor, demand):
        denied("demand.close", "demand", demand.id, actor)
    demand = _lock(demand)
    if demand.status is not DemandStatus.OPEN:
        raise InvalidInput([_problem("demandId", _("This demand is no longer open."),
                                     ErrorCode.ILLEGAL_TRANSITION)])
    problems: list[Problem] = []
    text = _text(reason, "reason", REASON_MAX, problems, paragraphs=True)
    if problems:
        raise InvalidInput(problems)
    at = now or utcnow()
    before = _snapshot(demand)
    demand.status = DemandStatus.CLOSED
    demand.closed_at = at
    _event(demand, "closed", actor, at, by="enterprise", reason=text)
    record_audit("demand.close", object_type="demand", object_id=demand.id, before=before,
                 after={**_snapshot(demand), "reason": text}, actor=actor)
    db.session.commit()
    return demand


def close_expired_demands(today: date | None = None, now: datetime | None = None) -> list[int]:
    """Close the open demands whose deadline is before `today` (China's date), each with a
    timeline event and an audit row. Idempotent: a closed demand is not open any more. Rows a
    concurrent pick holds are skipped (the next run sees them if they are still open)."""
    today = today or local_today()
    at = now or utcnow()
    demands = list(db.session.scalars(
        select(Demand).where(Demand.status == DemandStatus.OPEN, Demand.deadline < today)
        .order_by(Demand.id).with_for_update(skip_locked=True)))
    for demand in demands:
        before = _snapshot(demand)
        demand.status = DemandStatus.CLOSED
        demand.closed_at = at
        _event(demand, "closed", None, at, by="deadline",
               deadline=demand.deadline.isoformat() if demand.deadline else None)
        record_audit("demand.expire", object_type="demand", object_id=demand.id, before=before,
                     after=_snapshot(demand), actor=None)
    db.session.commit()
    return [d.id for d in demands]


# ---------------------------------------------------------------- lists


def _page(query: Any, first: int, offset: int) -> tuple[int, list[Demand]]:
    if not 1 <= int(first) <= PAGE_MAX or int(offset) < 0:
        raise InvalidInput([_problem("first", _("Ask for 1 to %(n)d rows from offset 0 or more.",
                                                n=PAGE_MAX))])
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(db.session.scalars(
        query.options(selectinload(Demand.matches), selectinload(Demand.responses),
                      selectinload(Demand.events))
        .order_by(Demand.created_at.desc(), Demand.id.desc()).limit(first).offset(offset)))
    return total, rows


def my_demands(user: User, *, first: int = 20, offset: int = 0) -> tuple[int, list[Demand]]:
    """The demands posted for `user`, and those it filed for enterprises (operators), newest first."""
    return _page(select(Demand).where((Demand.enterprise_user_id == user.id)
                                      | (Demand.filed_by_id == user.id)), first, offset)


def all_demands(viewer: User | None, *, first: int = 20, offset: int = 0,
                status: DemandStatus | None = None) -> tuple[int, list[Demand]]:
    """Every demand: operators only (refusals audited)."""
    if not is_operator(viewer):
        denied("demand.list", "demand", None, viewer)
    query = select(Demand)
    if status is not None:
        query = query.where(Demand.status == status)
    return _page(query, first, offset)


def hall(institution_id: int, viewer: User | None, *, first: int = 20,
         offset: int = 0) -> tuple[int, list[Demand]]:
    """What the institution's staff see (`access.institution_sees_clause`): the open demands of
    the categories it serves and those it was matched to or responded to. For its staff and
    operators (refusals audited)."""
    if viewer is None or not viewer.is_active or not (
            is_operator(viewer) or staff_role(viewer, institution_id) is not None):
        denied("demand.hall", "institution", institution_id, viewer)
    return _page(select(Demand).where(access.institution_sees_clause([institution_id])),
                 first, offset)
