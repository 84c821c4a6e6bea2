"""Review pages: rating a completed order, the follow-up lists of each role and one follow-up with
its respond / judge forms, and an institution's public reviews.

Every page checks the object's owner first (SECURITY.md 9); the services decide and audit. An
order or follow-up another user may not see is "not found" (404) and the attempt is audited.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from core.audit import record_audit
from core.db import db
from core.errors import DomainError, NotFound, PermissionDenied
from core.ids import page_number
from core.institutions.models import Institution
from core.orders import service as orders
from core.orders.models import Order, OrderStatus
from core.reviews import service
from core.reviews.forms import JudgeForm, RespondForm, ReviewForm
from core.reviews.models import FollowUp, FollowUpStatus
from core.reviews.queries import ratings
from core.web.forms import attach_problems

bp = Blueprint("reviews", __name__, template_folder="templates")

PAGE_SIZE = 20
FIELDS = {"stars": "stars", "comment": "comment", "response": "response", "satisfied": "verdict"}
STATUS_LABELS = {FollowUpStatus.OPEN: _l("Waiting for the institution's response"),
                 FollowUpStatus.RESPONDED: _l("Responded, waiting for the client's verdict"),
                 FollowUpStatus.SATISFIED: _l("Closed: client satisfied"),
                 FollowUpStatus.UNSATISFIED: _l("Closed: client not satisfied")}
# The list filter: "unresolved" is what an operator watches (R-OPS-04).
FILTERS: dict[str, tuple[Any, frozenset[FollowUpStatus] | None]] = {
    "unresolved": (_l("Not yet closed"), service.UNRESOLVED),
    **{s.value: (label, frozenset({s})) for s, label in STATUS_LABELS.items()},
    "all": (_l("All"), None),
}


def _deny(object_type: str, object_id: int | None, status: int) -> NoReturn:
    record_audit("review.access_denied", object_type=object_type, object_id=object_id,
                 result="denied", actor=current_user)
    db.session.commit()
    abort(status)


def _page() -> int:
    return page_number(request.args.get("page"))


def _order_url(order_id: int) -> str | None:
    """The order's page, when the orders pages are installed."""
    try:
        return url_for("orders.detail", order_id=order_id)
    except BuildError:
        return None


def _order(order_id: int) -> Order:
    try:
        return orders.get_order(order_id, current_user)
    except (NotFound, PermissionDenied):
        abort(404)  # a refusal is audited by the service; 404 hides that it exists


def _follow_up(follow_up_id: int) -> FollowUp:
    try:
        return service.get_follow_up(follow_up_id, current_user)
    except (NotFound, PermissionDenied):
        abort(404)


@bp.app_context_processor
def _review_link() -> dict[str, Any]:
    def review_link(order: Order) -> str | None:
        """The rating page, for the enterprise side of a completed order not yet rated (the
        order page shows it)."""
        if (order.status is not OrderStatus.COMPLETED or not current_user.is_authenticated
                or not service.may_review(current_user, order) or service.review_of(order.id)):
            return None
        return url_for("reviews.review_order", order_id=order.id)

    return {"review_link": review_link}


@bp.route("/orders/<int:order_id>/review", methods=["GET", "POST"])
@login_required
def review_order(order_id: int) -> Any:
    order = _order(order_id)
    if not service.may_review(current_user, order):
        _deny("order", order.id, 403)  # the institution's staff see the order but never rate it
    existing = service.review_of(order.id)
    form = ReviewForm()
    if existing is None and form.validate_on_submit():
        try:
            review = service.review_order(order, form.stars.data, form.comment.data, current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            db.session.rollback()
            attach_problems(form, exc, FIELDS)
        else:
            if review.follow_up is not None:
                flash(_("Thank you. The institution has been asked to follow up your review."),
                      "success")
                return redirect(url_for("reviews.follow_up", follow_up_id=review.follow_up.id))
            flash(_("Thank you for rating this order."), "success")
            return redirect(url_for("reviews.review_order", order_id=order.id))
    return render_template("reviews/review.html", order=order, review=existing, form=form,
                           completed=order.status is OrderStatus.COMPLETED,
                           institution=db.session.get(Institution, order.institution_id),
                           order_url=_order_url(order.id))


@bp.route("/follow-ups")
@login_required
def follow_ups() -> Any:
    operator = service.is_operator(current_user)
    chosen = request.args.get("status") or ("unresolved" if operator else "all")
    if chosen not in FILTERS:
        chosen = "all"
    page = _page()
    total, rows = service.follow_ups_for(current_user, statuses=FILTERS[chosen][1],
                                         first=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render_template("reviews/follow_ups.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)), chosen=chosen, filters=FILTERS,
                           status_labels=STATUS_LABELS, operator=operator)


def _detail(follow_up: FollowUp, respond_form: RespondForm | None = None,
            judge_form: JudgeForm | None = None) -> str:
    row = service.rows_for([follow_up])[0]
    unresolved = follow_up.status in service.UNRESOLVED
    can_respond = unresolved and service.may_respond(current_user, follow_up)
    can_judge = follow_up.status is FollowUpStatus.RESPONDED and service.may_judge(current_user,
                                                                                   follow_up)
    if can_respond and respond_form is None:
        respond_form = RespondForm(response=follow_up.response)
    return render_template("reviews/follow_up.html", row=row, follow_up=follow_up,
                           review=follow_up.review, status_labels=STATUS_LABELS,
                           respond_form=respond_form if can_respond else None,
                           judge_form=(judge_form or JudgeForm()) if can_judge else None,
                           for_client=can_judge and service.records_for_client(current_user, follow_up),
                           order_url=_order_url(row.order.id))


@bp.route("/follow-ups/<int:follow_up_id>")
@login_required
def follow_up(follow_up_id: int) -> Any:
    return _detail(_follow_up(follow_up_id))


@bp.route("/follow-ups/<int:follow_up_id>/respond", methods=["POST"])
@login_required
def respond(follow_up_id: int) -> Any:
    follow_up = _follow_up(follow_up_id)
    form = RespondForm()
    if form.validate_on_submit():
        try:
            service.respond_to_follow_up(follow_up, form.response.data, current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            db.session.rollback()
            attach_problems(form, exc, FIELDS)
        else:
            flash(_("Your response has been sent to the client."), "success")
            return redirect(url_for("reviews.follow_up", follow_up_id=follow_up_id))
    return _detail(_follow_up(follow_up_id), respond_form=form)


@bp.route("/follow-ups/<int:follow_up_id>/judge", methods=["POST"])
@login_required
def judge(follow_up_id: int) -> Any:
    follow_up = _follow_up(follow_up_id)
    form = JudgeForm()
    if form.validate_on_submit():
        try:
            service.judge_follow_up(follow_up, form.verdict.data == "satisfied", form.comment.data,
                                    current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            db.session.rollback()
            attach_problems(form, exc, FIELDS)
        else:
            flash(_("Thank you. The follow-up is closed."), "success")
            return redirect(url_for("reviews.follow_up", follow_up_id=follow_up_id))
    return _detail(_follow_up(follow_up_id), judge_form=form)


@bp.route("/institutions/<int:institution_id>/reviews")
def institution_reviews(institution_id: int) -> Any:
    page = _page()
    try:
        institution = service.public_institution(institution_id)
        total, reviews = service.public_reviews(institution_id, first=PAGE_SIZE,
                                                offset=(page - 1) * PAGE_SIZE)
    except NotFound:
        abort(404)
    return render_template("reviews/institution_reviews.html", institution=institution,
                           reviews=reviews, total=total, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)),
                           rating=ratings([institution_id])[institution_id])
