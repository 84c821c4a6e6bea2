"""Service items: create, edit, publish, withdraw, and the "written to specification" check
(R-OPS-01, Annex 2 item 5 — read by assessment as R-ASM-02 item 5).

`specification_problems` is the one place that says what an item lacks: the common fields here,
the category's own fields through `core.service_fields.clean_item_values`. A draft may be
incomplete; publishing needs none, and a published item stays complete when edited. Only the
institution's administrator changes items (agents read them); every change is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from core.audit import record_audit
from core.catalogue.models import ItemStatus, PricingKind, ServiceItem
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, Problem
from core.identity.models import User
from core.institutions.access import can_view_institution_private
from core.institutions.models import Institution
from core.onboarding.profile import (
    clean_line,
    clean_paragraphs,
    institution_categories,
    require_institution_admin,
)
from core.service_fields import clean_item_values

TITLE_MAX = 200
TEXT_MAX = 5000
DESCRIPTION_MIN = 20  # a description shorter than a sentence does not describe a service
TURNAROUND_MAX_DAYS = 365
PRICE_MAX = Decimal("9999999999.99")

# The service's input names (camelCase, as in the API) — the web form maps them to its fields.
ITEM_INPUTS = ("categoryCode", "title", "description", "scope", "pricingKind", "price",
               "turnaroundDays", "fields")


def _price(raw: Any) -> tuple[Decimal | None, Problem | None]:
    if raw is None or str(raw).strip() == "":
        return None, None
    try:
        value = Decimal(str(raw).strip().replace(",", "")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None, Problem(ErrorCode.INVALID_INPUT, _("Enter the price in yuan, e.g. 350.00."),
                             "price")
    if value < 0 or value > PRICE_MAX:
        return None, Problem(ErrorCode.INVALID_INPUT, _("Enter the price in yuan, e.g. 350.00."),
                             "price")
    return value, None


def _turnaround(raw: Any) -> tuple[int | None, Problem | None]:
    if raw is None or str(raw).strip() == "":
        return None, None
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = -1
    if not 1 <= value <= TURNAROUND_MAX_DAYS:
        return None, Problem(ErrorCode.INVALID_INPUT, _(
            "The turnaround is a whole number of days from 1 to %(n)d.", n=TURNAROUND_MAX_DAYS),
            "turnaroundDays")
    return value, None


def _clean(institution: Institution, data: Mapping[str, Any],
           current: ServiceItem | None) -> dict[str, Any]:
    """The item's new values; wrong values are refused, missing ones are left for
    `specification_problems` (a draft may be incomplete)."""
    def merged(name: str) -> Any:
        if name in data:
            return data[name]
        if current is None:
            return None
        return {"categoryCode": current.category_code, "title": current.title,
                "description": current.description, "scope": current.scope,
                "pricingKind": current.pricing_kind.value, "price": current.price_yuan,
                "turnaroundDays": current.turnaround_days, "fields": current.fields}[name]

    problems: list[Problem] = []
    category = clean_line(merged("categoryCode"))
    if category not in institution_categories(institution):
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Choose one of the institution's service categories."),
                                "categoryCode"))
    title = clean_line(merged("title"))
    if not title:
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the item's title."), "title"))
    elif len(title) > TITLE_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Enter at most %(n)d characters.", n=TITLE_MAX), "title"))
    texts = {}
    for name in ("description", "scope"):
        texts[name] = clean_paragraphs(merged(name)) or None
        if texts[name] and len(texts[name]) > TEXT_MAX:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("Enter at most %(n)d characters.", n=TEXT_MAX), name))
    try:
        pricing = PricingKind(str(merged("pricingKind") or PricingKind.QUOTATION.value))
    except ValueError:
        pricing = PricingKind.QUOTATION
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("Choose how the item is priced."),
                                "pricingKind"))
    price, problem = _price(merged("price"))
    if problem:
        problems.append(problem)
    if pricing is PricingKind.QUOTATION:
        price = None
    turnaround, problem = _turnaround(merged("turnaroundDays"))
    if problem:
        problems.append(problem)
    raw_fields = merged("fields") or {}
    if not isinstance(raw_fields, Mapping):
        raw_fields = {}
    fields, field_problems = clean_item_values(category, raw_fields) if category else ({}, [])
    problems += [p for p in field_problems if p.code is not ErrorCode.REQUIRED]
    if problems:
        raise InvalidInput(problems)
    return {"category_code": category, "title": title, "description": texts["description"],
            "scope": texts["scope"], "pricing_kind": pricing, "price_yuan": price,
            "turnaround_days": turnaround, "fields": fields}


def specification_problems(item: ServiceItem) -> list[Problem]:
    """Everything the item lacks to be "written to the specification" (R-OPS-01, Annex 2
    item 5): the common fields, then the required fields of its category. Empty: to spec."""
    problems: list[Problem] = []
    if not item.title:
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the item's title."), "title"))
    if len(item.description or "") < DESCRIPTION_MIN:
        problems.append(Problem(ErrorCode.REQUIRED, _(
            "Describe the service in at least %(n)d characters.", n=DESCRIPTION_MIN), "description"))
    if not item.scope:
        problems.append(Problem(ErrorCode.REQUIRED,
                                _("State the scope (what is covered and for whom)."), "scope"))
    if item.pricing_kind is not PricingKind.QUOTATION and item.price_yuan is None:
        problems.append(Problem(ErrorCode.REQUIRED,
                                _("Enter the price, or choose price on quotation."), "price"))
    if item.turnaround_days is None:
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the turnaround in days."),
                                "turnaroundDays"))
    _fields, field_problems = clean_item_values(item.category_code, item.fields or {})
    problems += field_problems
    return problems


def _snapshot(item: ServiceItem) -> dict[str, Any]:
    return {"category_code": item.category_code, "title": item.title,
            "pricing_kind": item.pricing_kind.value,
            "price_yuan": str(item.price_yuan) if item.price_yuan is not None else None,
            "turnaround_days": item.turnaround_days, "status": item.status.value}


def create_item(institution: Institution, data: Mapping[str, Any], *, actor: User | None) -> ServiceItem:
    """A new draft item of one of the institution's categories."""
    require_institution_admin(institution, actor, "service_item.create")
    values = _clean(institution, data, None)
    item = ServiceItem(institution_id=institution.id, created_by_id=actor.id if actor else None,
                       status=ItemStatus.DRAFT, **values)
    db.session.add(item)
    db.session.flush()
    record_audit("service_item.create", object_type="service_item", object_id=item.id,
                 after=_snapshot(item), actor=actor)
    db.session.commit()
    return item


def update_item(item: ServiceItem, data: Mapping[str, Any], *, actor: User | None) -> ServiceItem:
    """Change an item; a published one must stay written to the specification."""
    require_institution_admin(item.institution, actor, "service_item.update")
    values = _clean(item.institution, data, item)
    before = _snapshot(item)
    for name, value in values.items():
        setattr(item, name, value)
    if item.status is ItemStatus.PUBLISHED:
        problems = specification_problems(item)
        if problems:
            db.session.rollback()
            raise InvalidInput(problems)
    item.updated_at = utcnow()
    record_audit("service_item.update", object_type="service_item", object_id=item.id,
                 before=before, after=_snapshot(item), actor=actor)
    db.session.commit()
    return item


def publish_item(item: ServiceItem, *, actor: User | None) -> ServiceItem:
    """Publish a draft or withdrawn item; refused with every missing field while it is not
    written to the specification."""
    require_institution_admin(item.institution, actor, "service_item.publish")
    if item.status is ItemStatus.PUBLISHED:
        raise DomainError(_("The item is already published."), code=ErrorCode.ILLEGAL_TRANSITION)
    if item.category_code not in institution_categories(item.institution):
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT,
                                    _("Choose one of the institution's service categories."),
                                    "categoryCode")])
    problems = specification_problems(item)
    if problems:
        raise InvalidInput(problems)
    before = item.status.value
    item.status, item.published_at, item.updated_at = ItemStatus.PUBLISHED, utcnow(), utcnow()
    record_audit("service_item.publish", object_type="service_item", object_id=item.id,
                 before={"status": before}, after={"status": item.status.value}, actor=actor)
    db.session.commit()
    _refresh_visibility(item)
    return item


def withdraw_item(item: ServiceItem, *, actor: User | None) -> ServiceItem:
    """Take a published item off the directory (kept, and can be published again)."""
    require_institution_admin(item.institution, actor, "service_item.withdraw")
    if item.status is not ItemStatus.PUBLISHED:
        raise DomainError(_("Only a published item can be withdrawn."),
                          code=ErrorCode.ILLEGAL_TRANSITION)
    item.status, item.withdrawn_at, item.updated_at = ItemStatus.WITHDRAWN, utcnow(), utcnow()
    record_audit("service_item.withdraw", object_type="service_item", object_id=item.id,
                 before={"status": "published"}, after={"status": item.status.value}, actor=actor)
    db.session.commit()
    _refresh_visibility(item)
    return item


def _refresh_visibility(item: ServiceItem) -> None:
    """R-OPS-05: a first published item restores a hidden homepage at once; withdrawing the
    last one hides it (after the grace month)."""
    from core.visibility.service import refresh

    refresh(item.institution_id)


def is_public(item: ServiceItem) -> bool:
    """Shown to anybody: a published item of a live institution (R-OPS-01)."""
    from core.catalogue.directory import institution_is_listed

    return item.status is ItemStatus.PUBLISHED and institution_is_listed(item.institution)


def get_item(item_id: int, viewer: User | None) -> ServiceItem:
    """The item if `viewer` may see it (its institution's staff, platform staff, or anybody
    when public); otherwise "not found", and a refused look at a private item is audited."""
    item = db.session.get(ServiceItem, item_id)
    if item is None:
        raise NotFound(_("No such service item."))
    if is_public(item) or can_view_institution_private(viewer, item.institution_id):
        return item
    record_audit("service_item.access_denied", object_type="service_item", object_id=item_id,
                 result="denied", actor=viewer)
    db.session.commit()
    raise NotFound(_("No such service item."))


def institution_items(institution: Institution, viewer: User | None) -> list[ServiceItem]:
    """Every item (drafts too) for the institution's staff and platform staff; only the public
    ones for anybody else."""
    query = select(ServiceItem).where(ServiceItem.institution_id == institution.id)
    if not can_view_institution_private(viewer, institution.id):
        from core.catalogue.directory import institution_is_listed

        if not institution_is_listed(institution):
            return []
        query = query.where(ServiceItem.status == ItemStatus.PUBLISHED)
    return list(db.session.scalars(query.order_by(ServiceItem.category_code, ServiceItem.id)))
