"""What a viewer sees of demands it may see (R-G-05; SECURITY.md 10), for the pages and GraphQL.

* The enterprise side and operators see everything: the enterprise, its contact, every match,
  every response and the whole timeline with names.
* An institution's staff see the need itself (category, title, description, region, budget,
  deadline) but not who asks — "某企业" instead of its name (a masked name would still narrow
  it to one district and trade), no contact name or phone, the enterprise's steps shown as "the
  enterprise" — until the response their institution gave is
  picked. Then the enterprise is the institution's client and its contact follows the one rule
  for clients' contacts (`core.institutions.access.sees_client_contact`): the phone in full for
  the institution's admin, masked (`138****5678`) for its agents; other institutions never see
  it. They see only their own institution's match and response, and of the other institutions'
  steps only that a response was picked.

`present` builds the views of any number of demands in a fixed number of statements (users,
enterprises, institutions, items, the viewer's institutions and its admin rights); load the demands with their
matches, responses and events (`core.demands.service._page` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from core.catalogue.models import ServiceItem
from core.db import db
from core.demands import access
from core.demands.models import Demand, DemandResponse
from core.enterprises.models import Enterprise
from core.identity.models import User
from core.institutions.access import client_contact_institutions
from core.institutions.models import Institution
from core.masking import mask_contact


@dataclass(frozen=True)
class MatchView:
    institution_id: int
    institution_name: str
    service_item_id: int | None
    service_item_title: str | None
    rank: int
    score: float
    reasons: list[str]


@dataclass(frozen=True)
class ResponseView:
    id: int
    institution_id: int
    institution_name: str
    service_item_id: int | None
    service_item_title: str | None
    message: str
    quote: Decimal | None
    responded_by: str
    at: datetime
    withdrawn_at: datetime | None
    picked: bool
    own: bool  # the viewer's institution gave it


@dataclass(frozen=True)
class EventView:
    id: int
    action: str
    actor: str
    note: str
    at: datetime


@dataclass
class DemandView:
    demand: Demand
    category_name: str
    identity_visible: bool
    enterprise_name: str
    contact_name: str | None
    contact_phone: str | None
    acts_for_enterprise: bool  # may pick and close
    own_institution_ids: list[int]
    matches: list[MatchView] = field(default_factory=list)
    responses: list[ResponseView] = field(default_factory=list)
    events: list[EventView] = field(default_factory=list)

    # The need itself, shown to everyone who sees the demand.
    @property
    def id(self) -> int:
        return self.demand.id

    @property
    def region(self) -> str:
        return self.demand.district_code or self.demand.city_code or self.demand.province_code or ""

    @property
    def budget(self) -> Decimal | None:
        return self.demand.budget_yuan

    @property
    def deadline(self) -> date | None:
        return self.demand.deadline


def channel_labels() -> dict[str, str]:
    return {"online": _("online"), "window": _("service window"), "phone": _("phone"),
            "visit": _("visit"), "event": _("event")}


def status_labels() -> dict[str, str]:
    return {"open": _("Open for responses"), "picked": _("Response picked"),
            "closed": _("Demand closed")}


def _by_id(model: Any, ids: set[int]) -> dict[int, Any]:
    ids.discard(None)  # type: ignore[arg-type]
    if not ids:
        return {}
    return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(ids)))}


def present(demands: list[Demand], viewer: User) -> list[DemandView]:
    """The views of `demands` (which `viewer` may see) for `viewer`."""
    from core.plugins import plugins

    if not demands:
        return []
    categories = plugins.categories()
    own_ids = access.staff_institution_ids(viewer)
    responses = [r for d in demands for r in d.responses]
    users = _by_id(User, {d.enterprise_user_id for d in demands}
                   | {e.actor_id for d in demands for e in d.events if e.actor_id}
                   | {r.responded_by_id for r in responses})
    enterprises = _by_id(Enterprise, {d.enterprise_id for d in demands if d.enterprise_id})
    institutions = _by_id(Institution, {m.institution_id for d in demands for m in d.matches}
                          | {r.institution_id for r in responses})
    items = _by_id(ServiceItem, {m.service_item_id for d in demands for m in d.matches
                                 if m.service_item_id}
                   | {r.service_item_id for r in responses if r.service_item_id})
    # The picked institutions among the viewer's own whose clients' contacts it reads in full.
    full_contact = client_contact_institutions(viewer, {
        r.institution_id for d in demands for r in d.responses
        if r.id == d.picked_response_id and r.institution_id in own_ids})
    return [_view(d, viewer, own_ids, full_contact, users, enterprises, institutions, items,
                  categories) for d in demands]


def _view(d: Demand, viewer: User, own_ids: list[int], full_contact: set[int],
          users: dict[int, User], enterprises: dict[int, Enterprise],
          institutions: dict[int, Institution], items: dict[int, ServiceItem],
          categories: dict[str, Any]) -> DemandView:
    everything = access.sees_everything(viewer, d)
    picked = next((r for r in d.responses if r.id == d.picked_response_id), None)
    visible = everything or (picked is not None and picked.institution_id in own_ids)
    customer = users.get(d.enterprise_user_id)
    enterprise = enterprises.get(d.enterprise_id) if d.enterprise_id else None
    full_name = enterprise.name if enterprise else (customer.display_name if customer else "")
    if visible:
        name = full_name
        contact_name = customer.display_name if customer else None
        contact_phone = (customer.phone if customer else None) or (
            enterprise.contact_phone if enterprise else None)
        if not everything and picked is not None and picked.institution_id not in full_contact:
            contact_phone = mask_contact(contact_phone)  # the picked institution's agents
    else:
        # Before its response is picked an institution learns the need, not who has it (R-G-05:
        # a need can be a trade secret); even a masked name narrows it to one district and trade.
        name = _("An enterprise")
        contact_name = contact_phone = None
    category = categories.get(d.category_code)

    def institution_name(institution_id: int) -> str:
        found = institutions.get(institution_id)
        return found.legal_name if found else ""

    def item_title(item_id: int | None) -> str | None:
        return items[item_id].title if item_id in items else None

    view = DemandView(
        demand=d, category_name=category.name if category else d.category_code,
        identity_visible=visible, enterprise_name=name, contact_name=contact_name,
        contact_phone=contact_phone, acts_for_enterprise=access.acts_for_enterprise(viewer, d),
        own_institution_ids=own_ids)
    view.matches = [MatchView(m.institution_id, institution_name(m.institution_id),
                              m.service_item_id, item_title(m.service_item_id), m.rank, m.score,
                              list(m.reasons or []))
                    for m in d.matches if everything or m.institution_id in own_ids]
    view.responses = [_response(r, d, users, institution_name(r.institution_id),
                                item_title(r.service_item_id), own_ids)
                      for r in d.responses if everything or r.institution_id in own_ids]
    view.events = [e for e in (_event(ev, d, viewer, everything, visible, own_ids, users,
                                      institution_name) for ev in d.events) if e is not None]
    return view


def _response(r: DemandResponse, d: Demand, users: dict[int, User], institution_name: str,
              item_title: str | None, own_ids: list[int]) -> ResponseView:
    author = users.get(r.responded_by_id)
    return ResponseView(r.id, r.institution_id, institution_name, r.service_item_id, item_title,
                        r.message, r.quote_yuan, author.display_name if author else "", r.at,
                        r.withdrawn_at, r.id == d.picked_response_id, r.institution_id in own_ids)


def _event(e: Any, d: Demand, viewer: User, everything: bool, visible: bool, own_ids: list[int],
           users: dict[int, User], institution_name: Any) -> EventView | None:
    detail = e.detail or {}
    institution_id = detail.get("institution_id")
    own = institution_id in own_ids
    if not everything and institution_id is not None and not own and e.action != "picked":
        return None  # another institution's response: not this viewer's business
    note = _note(e.action, detail, everything or own, visible, institution_name)
    user = users.get(e.actor_id) if e.actor_id else None
    if user is None:
        actor = _("The platform")
    elif everything or own or visible:
        actor = user.display_name
    elif e.actor_id == d.filed_by_id and d.on_behalf:
        actor = _("Platform operator for the enterprise")
    else:
        actor = _("The enterprise")
    return EventView(e.id, e.action, actor, note, e.at)


def _note(action: str, detail: dict[str, Any], names: bool, visible: bool,
          institution_name: Any) -> str:
    """The step in words, in the viewer's language (stored as codes, told at reading time)."""
    name = institution_name(detail["institution_id"]) if names and detail.get("institution_id") else ""
    if action == "posted":
        note = _("Posted (channel: %(channel)s).",
                 channel=channel_labels().get(detail.get("channel", ""), detail.get("channel", "")))
        return note + (" " + _("Filed by an operator for the enterprise.") if detail.get("on_behalf")
                       else "")
    if action == "matched":
        return _("The platform proposed %(n)d institution(s).", n=int(detail.get("count", 0)))
    if action == "responded":
        quote = detail.get("quote_yuan")
        text = _("%(institution)s responded.", institution=name)
        return text + (" " + _("Quote: %(amount)s yuan.", amount=quote) if quote else "")
    if action == "withdrawn":
        return _("%(institution)s withdrew its response.", institution=name)
    if action == "picked":
        if not names:
            return _("The enterprise picked another institution's response.")
        return _("The response of %(institution)s was picked and an order placed.", institution=name)
    if action == "closed":
        if detail.get("by") == "deadline":
            return _("Closed: the deadline passed without a pick.")
        if visible:
            return _("Closed by the enterprise: %(reason)s", reason=detail.get("reason", ""))
        return _("Closed by the enterprise.")
    return action
