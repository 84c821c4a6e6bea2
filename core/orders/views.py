"""Order pages: the list of each role, placing an order, the order with its timeline, its steps
and its attachments (R-G-03, R-G-05, R-G-08; SECURITY.md 9).

Every page checks the object first through the service (`get_order`): an order the user may not
see is "not found" (404) and the attempt is audited. The service decides and audits each step;
a refused step is rolled back, so the order stays as it was, and the page shows why.
"""

from __future__ import annotations

from typing import NoReturn

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from core import ids
from core.audit import record_audit
from core.catalogue.models import ItemStatus, ServiceItem
from core.consultations import service as consultations
from core.consultations.models import Consultation
from core.db import db
from core.documents.kinds import get_kind
from core.documents.models import Document
from core.documents.multipart import read_upload_request
from core.documents.service import StorageUnavailableError
from core.errors import DomainError, ErrorCode, NotFound, PermissionDenied
from core.extensions import csrf
from core.identity.models import Role, User
from core.identity.service import normalize_phone
from core.institutions import intake
from core.institutions.access import can_manage_institution
from core.institutions.models import Institution
from core.orders import listing, service
from core.orders.forms import AdvanceForm, AttachmentForm, PlaceOrderForm
from core.orders.models import Order, OrderStatus
from core.web.forms import attach_problems

bp = Blueprint("orders", __name__, template_folder="templates")

PAGE_SIZE = 20
# Service field names → form field names.
FIELDS = {"title": "title", "amount": "amount", "enterpriseUserId": "enterprise_phone",
          "reason": "reason", "action": "action", "kind": "kind", "file": "file"}
STATUS_LABELS = {
    OrderStatus.PLACED: _l("Waiting for the institution"), OrderStatus.ACCEPTED: _l("Accepted"),
    OrderStatus.IN_PROGRESS: _l("In progress"), OrderStatus.DELIVERED: _l("Delivered"),
    OrderStatus.COMPLETED: _l("Completed"), OrderStatus.CANCELLED: _l("Cancelled")}
# The button of each step of `service.TRANSITIONS`, and its line on the timeline.
ACTION_LABELS = {"accept": _l("Accept the order"), "start": _l("Start the service"),
                 "deliver": _l("Mark as delivered"), "complete": _l("Confirm completion"),
                 "cancel": _l("Cancel the order")}
EVENT_LABELS = {"place": _l("Order placed"), "accept": _l("Accepted by the institution"),
                "start": _l("Service started"), "deliver": _l("Delivered by the institution"),
                "complete": _l("Completion confirmed"), "cancel": _l("Order cancelled")}


def _deny(object_type: str, object_id: int, status: int) -> NoReturn:
    record_audit("order.access_denied", object_type=object_type, object_id=object_id,
                 result="denied", actor=current_user)
    db.session.commit()
    abort(status)


def _order(order_id: int) -> Order:
    try:
        return service.get_order(order_id, current_user)
    except (NotFound, PermissionDenied):
        abort(404)  # a refusal is audited by the service; 404 hides that the order exists


# ---------------------------------------------------------------- the list


@bp.route("/orders")
@login_required
def list_orders():  # type: ignore[no-untyped-def]
    """The enterprise's own orders, the orders of every institution one staffs, or (operators)
    all orders; filtered by status, paginated."""
    raw_status = request.args.get("status", "")
    status = OrderStatus(raw_status) if raw_status in OrderStatus._value2member_map_ else None
    page_number = ids.page_number(request.args.get("page"))
    size = ids.clamp_number(request.args.get("per_page"), low=1, high=service.PAGE_MAX,
                            default=PAGE_SIZE)
    page = listing.orders_page(current_user, status=status, limit=size,
                               offset=(page_number - 1) * size)
    return render_template(
        "orders/list.html", page=page, status=status, page_number=page_number, size=size,
        pages=max(1, -(-page.total // size)), status_labels=STATUS_LABELS)


# ---------------------------------------------------------------- placing


def _source(institution: Institution, item_id: int | None,
            consultation_id: int | None) -> tuple[ServiceItem | None, Consultation | None]:
    """The published item or the consultation the order comes from; 404 for one of another
    institution, unpublished, or a consultation the user may not see (audited)."""
    item = consultation = None
    if item_id is not None:
        item = db.session.get(ServiceItem, item_id)
        if (item is None or item.institution_id != institution.id
                or item.status is not ItemStatus.PUBLISHED):
            abort(404)
    if consultation_id is not None:
        try:
            consultation = consultations.get_consultation(consultation_id, current_user)
        except (NotFound, PermissionDenied):
            abort(404)
        if consultation.institution_id != institution.id:
            abort(404)
    return item, consultation


@bp.route("/institutions/<int:institution_id>/order", methods=["GET", "POST"])
@login_required
def place(institution_id: int):  # type: ignore[no-untyped-def]
    institution = db.session.get(Institution, institution_id)
    refused = intake.refusal_page(institution)  # 404, or 409: hidden, no new order
    if refused is not None:
        return refused
    operator = service.is_operator(current_user)
    if not operator and not current_user.has_role(Role.ENTERPRISE):
        _deny("institution", institution_id, 403)
    form = PlaceOrderForm()
    if request.method == "GET":
        form.service_item_id.data = request.args.get("item", "")
        form.consultation_id.data = request.args.get("consultation", "")
    item, consultation = _source(institution, ids.parse_id(form.service_item_id.data),
                                 ids.parse_id(form.consultation_id.data))
    if request.method == "GET":
        form.title.data = (item.title if item else consultation.subject if consultation else "")
        if operator and consultation is not None:
            asker = db.session.get(User, consultation.enterprise_user_id)
            form.enterprise_phone.data = asker.phone if asker else ""
    elif form.validate_on_submit():
        enterprise_user = None
        if operator:  # R-G-08: the order is for the enterprise user with this mobile number
            phone = normalize_phone(form.enterprise_phone.data or "")
            enterprise_user = (db.session.scalar(select(User).where(User.phone == phone))
                               if phone else None)
            if enterprise_user is None:
                form.enterprise_phone.errors = [_("No enterprise user has this mobile number.")]
        if not operator or enterprise_user is not None:
            try:
                order = service.place(
                    institution, title=form.title.data or "", actor=current_user,
                    enterprise_user=enterprise_user, amount=form.amount.data or None,
                    service_item_id=item.id if item else None,
                    consultation_id=consultation.id if consultation else None)
            except PermissionDenied:
                abort(403)
            except DomainError as exc:
                db.session.rollback()
                attach_problems(form, exc, FIELDS)
            else:
                flash(_("Your order has been sent to the institution."), "success")
                return redirect(url_for("orders.detail", order_id=order.id))
    return render_template("orders/place.html", institution=institution, form=form,
                           operator=operator, item=item, consultation=consultation)


# ---------------------------------------------------------------- one order


def _render_detail(order: Order, *, advance_form: AdvanceForm | None = None,
                   upload_form: AttachmentForm | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    sides = service.sides_of(current_user, order)
    users = consultations.user_names([order.enterprise_user_id, order.placed_by_id]
                                     + [e.actor_id for e in order.events])
    customer = users.get(order.enterprise_user_id)
    phone = service.customer_phone(current_user, order, customer)  # agents: 138****5678 (R-G-05)
    document_ids = [a.document_id for a in order.attachments]
    documents = ({d.id: d for d in db.session.scalars(
        select(Document).where(Document.id.in_(document_ids)))} if document_ids else {})
    can_upload = (service.Side.INSTITUTION in sides
                  and can_manage_institution(current_user, order.institution_id))
    return render_template(
        "orders/detail.html", order=order, users=users, customer=customer, customer_phone=phone,
        institution=db.session.get(Institution, order.institution_id),
        item=db.session.get(ServiceItem, order.service_item_id) if order.service_item_id else None,
        actions=[t for t in service.TRANSITIONS.values()
                 if order.status in t.sources and sides & t.sides],
        advance_form=advance_form or AdvanceForm(), documents=documents, kind_of=get_kind,
        upload_form=(upload_form or AttachmentForm()) if can_upload else None,
        status_labels=STATUS_LABELS, action_labels=ACTION_LABELS, event_labels=EVENT_LABELS,
    ), status


@bp.route("/orders/<int:order_id>")
@login_required
def detail(order_id: int):  # type: ignore[no-untyped-def]
    return _render_detail(_order(order_id))


@bp.route("/orders/<int:order_id>/advance", methods=["POST"])
@login_required
def advance(order_id: int):  # type: ignore[no-untyped-def]
    order = _order(order_id)
    form = AdvanceForm()
    if not form.validate_on_submit():
        return _render_detail(order, advance_form=form, status=400)
    action = form.action.data or ""
    try:
        service.advance(order, action, actor=current_user, reason=form.reason.data)
    except PermissionDenied:
        abort(403)  # audited by the service
    except DomainError as exc:
        db.session.rollback()  # nothing of the step is kept
        attach_problems(form, exc, FIELDS)
        return _render_detail(_order(order_id), advance_form=form, status=400)
    flash(_("Done: %(step)s.", step=ACTION_LABELS.get(action, action)), "success")
    return redirect(url_for("orders.detail", order_id=order_id))


@bp.route("/orders/<int:order_id>/attachments", methods=["POST"])
@csrf.exempt  # the token is checked from the stream, before the file is read
@login_required
def upload(order_id: int):  # type: ignore[no-untyped-def]
    """A contract or test report, streamed to storage by the documents' upload path, then linked
    to the order (the institution's administrator only; the services check and audit)."""
    order = _order(order_id)
    body, file_part = read_upload_request()
    form = AttachmentForm(formdata=body.fields, meta={"csrf": False})
    if not form.validate():
        return _render_detail(order, upload_form=form, status=400)
    if file_part is None or not file_part.filename:
        form.file.errors = [_("Choose a file to upload.")]
        return _render_detail(order, upload_form=form, status=400)
    try:
        service.upload_attachment(order, form.kind.data or "", body.file_stream(),
                                  filename=file_part.filename, actor=current_user,
                                  idempotency_key=form.idempotency_key.data or None)
    except PermissionDenied:
        abort(403)
    except StorageUnavailableError as exc:
        flash(exc.message, "error")
        return _render_detail(_order(order_id), upload_form=form, status=503)
    except DomainError as exc:
        if exc.code is ErrorCode.FILE_TOO_LARGE:
            abort(413)  # the rest of the body is never read
        db.session.rollback()
        attach_problems(form, exc, FIELDS)
        return _render_detail(_order(order_id), upload_form=form, status=400)
    flash(_("The attachment has been added to the order."), "success")
    return redirect(url_for("orders.detail", order_id=order_id))
