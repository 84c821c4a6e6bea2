"""Demand pages: the list each role sees (my demands, my institution's hall, every demand for
operators), posting a need, and one demand with its matches, responses and timeline.

Every page checks the object first (SECURITY.md 9); the services decide and audit. A demand a
user may not see is "not found" (404) and the attempt is audited; what of a demand a user sees
comes from `core.demands.present` (R-G-05).
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from core.audit import record_audit
from core.catalogue.models import ItemStatus, ServiceItem
from core.db import db
from core.demands import access, present, service
from core.demands.forms import CloseForm, DemandForm, RespondForm
from core.demands.models import Demand
from core.errors import DomainError, NotFound, PermissionDenied
from core.identity.forms import EmptyForm
from core.identity.models import Role, User
from core.identity.service import normalize_phone
from core.ids import get_by_id, page_number, parse_id
from core.institutions.models import Institution
from core.plugins import plugins
from core.web.forms import attach_problems, run_action

bp = Blueprint("demands", __name__, template_folder="templates")

PAGE_SIZE = 20
POST_FIELDS = {"category": "category", "title": "title", "description": "description",
               "provinceCode": "province_code", "cityCode": "city_code",
               "districtCode": "district_code", "budget": "budget", "deadline": "deadline",
               "channel": "channel", "enterpriseUserId": "enterprise_phone"}
RESPOND_FIELDS = {"institutionId": "institution_id", "message": "message",
                  "serviceItemId": "service_item_id", "quote": "quote"}


def _deny(object_type: str, object_id: int | None, status: int) -> NoReturn:
    record_audit("demand.access_denied", object_type=object_type, object_id=object_id,
                 result="denied", actor=current_user)
    db.session.commit()
    abort(status)


def _demand(demand_id: int) -> Demand:
    try:
        return access.get_demand(demand_id, current_user)
    except (NotFound, PermissionDenied):
        abort(404)  # a refusal is audited by the service; 404 hides that it exists


@bp.route("/demands")
@login_required
def index():  # type: ignore[no-untyped-def]
    number = page_number(request.args.get("page"))
    offset = (number - 1) * PAGE_SIZE
    own = access.staff_institution_ids(current_user)
    institution = None
    if access.is_operator(current_user):
        mode = "all"
        total, rows = service.all_demands(current_user, first=PAGE_SIZE, offset=offset)
    elif current_user.has_role(Role.ENTERPRISE) or not own:
        mode = "mine"
        total, rows = service.my_demands(current_user, first=PAGE_SIZE, offset=offset)
    else:
        mode = "hall"
        raw = request.args.get("institution")
        wanted = own[0] if not raw else parse_id(raw)
        if wanted not in own:
            _deny("institution", wanted, 404)
        institution = db.session.get(Institution, wanted)
        total, rows = service.hall(wanted, current_user, first=PAGE_SIZE, offset=offset)
    institutions = ({i.id: i for i in db.session.scalars(
        select(Institution).where(Institution.id.in_(own)))} if mode == "hall" else {})
    return render_template(
        "demands/list.html", mode=mode, views=present.present(rows, current_user), total=total,
        page=number, pages=max(1, -(-total // PAGE_SIZE)), institution=institution,
        institutions=institutions, status_labels=present.status_labels(),
        may_post=access.is_operator(current_user) or current_user.has_role(Role.ENTERPRISE))


@bp.route("/demands/new", methods=["GET", "POST"])
@login_required
def new():  # type: ignore[no-untyped-def]
    operator = access.is_operator(current_user)
    if not operator and not current_user.has_role(Role.ENTERPRISE):
        _deny("demand", None, 403)
    form = DemandForm()
    form.category.choices = [("", _("Choose a category"))] + [
        (c.code, c.name) for c in sorted(plugins.categories().values(), key=lambda c: c.sort_order)]
    labels = present.channel_labels()
    form.channel.choices = [(code, labels[code]) for code in service.CHANNELS if code != "online"] + [
        ("online", labels["online"])]
    if form.validate_on_submit():
        enterprise_user = None
        if operator:
            phone = normalize_phone(form.enterprise_phone.data or "")  # as orders read it (R-G-08)
            enterprise_user = db.session.scalar(select(User).where(User.phone == phone)) if phone else None
            if enterprise_user is None:
                form.enterprise_phone.errors = [_("No enterprise user has this mobile number.")]
        if not operator or enterprise_user is not None:
            try:
                demand = service.post(
                    actor=current_user, category=form.category.data or "",
                    title=form.title.data or "", description=form.description.data or "",
                    province_code=form.province_code.data, city_code=form.city_code.data,
                    district_code=form.district_code.data, budget=form.budget.data,
                    deadline=form.deadline.data, enterprise_user=enterprise_user,
                    channel=form.channel.data if operator else None)
            except PermissionDenied:
                abort(403)
            except DomainError as exc:
                db.session.rollback()
                attach_problems(form, exc, POST_FIELDS)
            else:
                flash(_("Your demand is posted; the platform has proposed matching institutions."),
                      "success")
                return redirect(url_for("demands.detail", demand_id=demand.id))
    return render_template("demands/new.html", form=form, operator=operator)


def _respondable(demand: Demand, view: present.DemandView) -> list[Institution]:
    """The viewer's institutions that may still respond to `demand`."""
    if not view.own_institution_ids or not access.open_for_responses(demand):
        return []
    answered = {r.institution_id for r in demand.responses}
    ids = [i for i in view.own_institution_ids
           if i not in answered and access.serves(i, demand.category_code)]
    if not ids:
        return []
    return list(db.session.scalars(select(Institution).where(Institution.id.in_(ids))
                                   .order_by(Institution.id)))


def _render_detail(demand: Demand, respond_form: RespondForm | None = None,
                   close_form: CloseForm | None = None) -> Any:
    view = present.present([demand], current_user)[0]
    respondable = _respondable(demand, view)
    form = respond_form or RespondForm(formdata=None)
    form.institution_id.choices = [(str(i.id), i.legal_name) for i in respondable]
    items = list(db.session.scalars(select(ServiceItem).where(
        ServiceItem.institution_id.in_([i.id for i in respondable]),
        ServiceItem.status == ItemStatus.PUBLISHED).order_by(ServiceItem.institution_id,
                                                             ServiceItem.id))) if respondable else []
    form.service_item_id.choices = [("", _("No particular item"))] + [
        (str(item.id), item.title) for item in items]
    may_act = view.acts_for_enterprise and access.open_for_responses(demand)
    return render_template(
        "demands/detail.html", view=view, demand=demand, respond_form=form,
        respondable=respondable, close_form=close_form or CloseForm(formdata=None),
        pick_form=EmptyForm(), withdraw_form=EmptyForm(), may_act=may_act,
        status_labels=present.status_labels(), channel_labels=present.channel_labels())


@bp.route("/demands/<int:demand_id>")
@login_required
def detail(demand_id: int):  # type: ignore[no-untyped-def]
    return _render_detail(_demand(demand_id))


@bp.route("/demands/<int:demand_id>/respond", methods=["POST"])
@login_required
def respond(demand_id: int):  # type: ignore[no-untyped-def]
    demand = _demand(demand_id)
    form = RespondForm()
    if not form.validate_on_submit():
        return _render_detail(demand, respond_form=form)
    institution = get_by_id(Institution, form.institution_id.data)
    if institution is None:
        _deny("demand", demand.id, 403)
    try:
        service.respond(demand, institution, actor=current_user, message=form.message.data or "",
                        service_item_id=parse_id(form.service_item_id.data),
                        quote=form.quote.data)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        attach_problems(form, exc, RESPOND_FIELDS)
        return _render_detail(_demand(demand_id), respond_form=form)
    flash(_("Your response has been sent to the enterprise."), "success")
    return redirect(url_for("demands.detail", demand_id=demand_id))


@bp.route("/demands/<int:demand_id>/responses/<int:response_id>/withdraw", methods=["POST"])
@login_required
def withdraw(demand_id: int, response_id: int):  # type: ignore[no-untyped-def]
    _demand(demand_id)
    if EmptyForm().validate_on_submit():
        try:
            response = service.get_response(response_id, current_user)
            if response.demand_id != demand_id:
                abort(404)
            service.withdraw_response(response, actor=current_user)
        except (NotFound, PermissionDenied):
            abort(404)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(_("Your response has been withdrawn."), "success")
    return redirect(url_for("demands.detail", demand_id=demand_id))


@bp.route("/demands/<int:demand_id>/pick/<int:response_id>", methods=["POST"])
@login_required
def pick(demand_id: int, response_id: int):  # type: ignore[no-untyped-def]
    demand = _demand(demand_id)
    if EmptyForm().validate_on_submit():
        run_action(lambda: service.pick(demand, response_id, actor=current_user),
                   success=lambda picked: _("You picked this response; order #%(id)d has been placed.",
                                            id=picked[1].id))
    return redirect(url_for("demands.detail", demand_id=demand_id))


@bp.route("/demands/<int:demand_id>/close", methods=["POST"])
@login_required
def close(demand_id: int):  # type: ignore[no-untyped-def]
    demand = _demand(demand_id)
    form = CloseForm()
    if not form.validate_on_submit():
        return _render_detail(demand, close_form=form)
    try:
        service.close(demand, actor=current_user, reason=form.reason.data or "")
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        attach_problems(form, exc, {"reason": "reason"})
        return _render_detail(_demand(demand_id), close_form=form)
    flash(_("The demand is closed."), "success")
    return redirect(url_for("demands.detail", demand_id=demand_id))
