"""Web pages: the public directory and institution page, and the admin's service items.

The directory and an institution's page are public (only listed institutions and published
items; a page hidden under R-OPS-05 is a 404 but for the institution's staff and platform staff,
who see why it is hidden); the items pages are for the institution's staff and platform staff,
and only its administrator changes items (the services check and audit that too).
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from core import ids
from core.audit import record_audit
from core.catalogue import directory, service
from core.catalogue.filters import TERM_MAX, directory_filters
from core.catalogue.institution_page import institution_page
from core.catalogue.models import ItemStatus, PricingKind, ServiceItem
from core.db import db
from core.documents.kinds import KINDS
from core.errors import DomainError, InvalidInput
from core.identity.forms import EmptyForm
from core.institutions.access import can_manage_institution, can_view_institution_private
from core.institutions.models import Institution
from core.onboarding.profile import institution_categories
from core.plugins import plugins
from core.service_fields import item_fields

bp = Blueprint("catalogue", __name__, template_folder="templates")

PRICING_LABELS = {PricingKind.FIXED: _l("Fixed price"), PricingKind.FROM: _l("Price from"),
                  PricingKind.QUOTATION: _l("On quotation")}
STATUS_LABELS = {ItemStatus.DRAFT: _l("Draft"), ItemStatus.PUBLISHED: _l("Published"),
                 ItemStatus.WITHDRAWN: _l("Withdrawn")}
SORT_LABELS = {"relevance": _l("Relevance"), "name": _l("Name"), "rating": _l("Rating")}
MIN_RATINGS = (3.0, 3.5, 4.0, 4.5)
PAGE_SIZE = 20


def _labels() -> dict[str, Any]:
    return {"pricing_labels": PRICING_LABELS, "status_labels": STATUS_LABELS,
            "categories": plugins.categories(), "kinds": KINDS}


def _deny(object_type: str, object_id: int, status: int) -> NoReturn:
    record_audit("catalogue.access_denied", object_type=object_type, object_id=object_id,
                 result="denied")
    db.session.commit()
    abort(status)


@bp.route("/directory")
def search() -> str:
    args = request.args
    page_number = ids.page_number(args.get("page"))
    sort = args.get("sort", "relevance")
    kind = args.get("certificate_kind") or None
    filters = directory_filters()
    # The form offers only valid choices; anything else in the URL is dropped, not an error page.
    query = directory.DirectoryQuery(
        keyword=args.get("keyword", ""), category=args.get("category") or None,
        city_code=args.get("city_code") or None, district_code=args.get("district_code") or None,
        certificate_kind=kind if kind in KINDS and KINDS[kind].public else None,
        filters=tuple((name, args.get(name, "").strip()[:TERM_MAX]) for name in filters
                      if args.get(name, "").strip()),
        min_rating=_min_rating(args.get("min_rating")),
        sort=sort if sort in directory.SORTS else "relevance",
        first=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE)
    page = directory.search(query)
    pages = max(1, -(-page.total // PAGE_SIZE))
    return render_template("catalogue/directory.html", page=page, query=query,
                           page_number=page_number, pages=pages, sort_labels=SORT_LABELS,
                           filters=filters, filter_terms=dict(query.filters),
                           min_ratings=MIN_RATINGS,
                           public_kinds=[k for k in KINDS.values() if k.public and k.has_validity],
                           **_labels())


def _min_rating(raw: str | None) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if value in MIN_RATINGS else None


@bp.route("/institutions/<int:institution_id>")
def institution(institution_id: int) -> str:
    viewer = current_user if current_user.is_authenticated else None
    page = institution_page(institution_id, viewer)
    if page is None:
        abort(404)
    from core.visibility.views import REASON_LABELS  # the one wording of R-OPS-05's reasons

    return render_template("catalogue/institution.html", page=page, entry=page.entry,
                           hidden_reasons=REASON_LABELS, **_labels())


def _managed(institution_id: int) -> Institution:
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    if not can_view_institution_private(current_user, institution_id):
        _deny("institution", institution_id, 404)
    return institution


def _item_of(institution: Institution, item_id: int) -> ServiceItem:
    item = db.session.get(ServiceItem, item_id)
    if item is None or item.institution_id != institution.id:
        abort(404)
    return item


def _form_data() -> dict[str, Any]:
    form = request.form
    category = form.get("category_code", "")
    values: dict[str, Any] = {}
    for spec in item_fields(category):
        key = f"field_{spec.name}"
        values[spec.name] = (key in form) if spec.kind == "boolean" else form.get(key, "")
    return {"categoryCode": category, "title": form.get("title", ""),
            "description": form.get("description", ""), "scope": form.get("scope", ""),
            "pricingKind": form.get("pricing_kind", ""), "price": form.get("price", ""),
            "turnaroundDays": form.get("turnaround_days", ""), "fields": values}


def _show_problems(exc: DomainError) -> list[Any]:
    return exc.problems if isinstance(exc, InvalidInput) else [exc]


@bp.route("/institutions/<int:institution_id>/items", methods=["GET", "POST"])
@login_required
def items(institution_id: int) -> Any:
    institution = _managed(institution_id)
    form = EmptyForm()
    problems: list[Any] = []
    if request.method == "POST":
        if not can_manage_institution(current_user, institution_id):
            _deny("institution", institution_id, 403)
        if form.validate_on_submit():
            try:
                item = service.create_item(institution, _form_data(), actor=current_user)
            except DomainError as exc:
                problems = _show_problems(exc)
            else:
                flash(_("The item was saved as a draft."), "success")
                return redirect(url_for("catalogue.edit_item", institution_id=institution_id,
                                        item_id=item.id))
    listed = service.institution_items(institution, current_user)
    return render_template(
        "catalogue/items.html", institution=institution, items=listed, form=form,
        problems=problems, can_manage=can_manage_institution(current_user, institution_id),
        own_categories=institution_categories(institution), item=None, values=request.form,
        item_fields=item_fields, spec_problems={i.id: service.specification_problems(i) for i in listed},
        **_labels())


@bp.route("/institutions/<int:institution_id>/items/<int:item_id>", methods=["GET", "POST"])
@login_required
def edit_item(institution_id: int, item_id: int) -> Any:
    institution = _managed(institution_id)
    item = _item_of(institution, item_id)
    form = EmptyForm()
    problems: list[Any] = []
    if request.method == "POST":
        if not can_manage_institution(current_user, institution_id):
            _deny("service_item", item_id, 403)
        if form.validate_on_submit():
            action = request.form.get("action", "save")
            try:
                if action == "publish":
                    service.publish_item(item, actor=current_user)
                    flash(_("The item is published."), "success")
                elif action == "withdraw":
                    service.withdraw_item(item, actor=current_user)
                    flash(_("The item was withdrawn."), "success")
                else:
                    service.update_item(item, _form_data(), actor=current_user)
                    flash(_("The item was saved."), "success")
            except DomainError as exc:
                problems = _show_problems(exc)
            else:
                return redirect(url_for("catalogue.edit_item", institution_id=institution_id,
                                        item_id=item.id))
    return render_template(
        "catalogue/item.html", institution=institution, item=item, form=form, problems=problems,
        can_manage=can_manage_institution(current_user, institution_id),
        own_categories=institution_categories(institution), item_fields=item_fields,
        spec_problems=service.specification_problems(item), **_labels())
