"""Spot-check pages (R-OPS-04) and the institution's visibility panel (R-OPS-05, R-OPS-01).

* `/operations/spot-checks`: the list with its signals, sortable, with the random sample
  (operators; regulators read it without the forms).
* `/operations/spot-checks/<id>/new`: recording a check (operators only).
* `/institutions/<id>/spot-checks`: an institution's history (operators, regulators, its staff;
  anyone else gets 404 and the attempt is audited).
* `visibility_panel(institution)`, a template global, feeds the panel on the institution's
  status page: homepage shown or hidden and why, the profile deadline and what is missing.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from core.audit import record_audit
from core.db import db
from core.errors import DomainError, PermissionDenied
from core.ids import page_number as page_number_arg
from core.institutions.access import can_view_institution_private
from core.institutions.models import Institution, InstitutionStatus
from core.visibility import spot_checks
from core.visibility.deadline import profile_deadline_status
from core.visibility.forms import SampleForm, SpotCheckForm
from core.visibility.service import grace_ends_on, has_item_and_agent
from core.web.forms import attach_problems

bp = Blueprint("visibility", __name__, template_folder="templates")

PAGE_SIZE = 50
REASON_LABELS = {"no_item": _l("no published service item"),
                 "no_agent": _l("no online customer-service agent"),
                 "no_item_no_agent": _l("no published service item and no online customer-service agent"),
                 "removal_notice": _l("a removal notice is pending")}
RESULT_LABELS = {"ok": _l("OK"), "rectify": _l("To rectify"), "referred": _l("Referred to the regulator")}
SORT_LABELS = {"risk": _l("Risk score"), "last_check": _l("Longest unchecked"),
               "went_live": _l("Newest live"), "name": _l("Name")}
FIELDS = {"result": "result", "findings": "findings", "size": "size", "seed": "seed"}


def _deny(object_id: int | None, status: int) -> NoReturn:
    record_audit("spot_check.access_denied", object_type="institution", object_id=object_id,
                 result="denied", actor=current_user)
    db.session.commit()
    abort(status)


def _labels() -> dict[str, Any]:
    return {"reason_labels": REASON_LABELS, "result_labels": RESULT_LABELS,
            "sort_labels": SORT_LABELS}


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"visibility_panel": visibility_panel}


def visibility_panel(institution: Institution) -> dict[str, Any] | None:
    """What the institution's status page shows about R-OPS-05 and R-OPS-01 (its staff and
    platform staff only: the page checks that already)."""
    if institution.status is not InstitutionStatus.LIVE:
        return None
    has_item, has_agent, _under_removal = has_item_and_agent(institution.id)
    return {"hidden_at": institution.homepage_hidden_at,
            "hidden_reason": REASON_LABELS.get(institution.homepage_hidden_reason or "", ""),
            "lacking": not (has_item and has_agent), "grace_ends_on": grace_ends_on(institution),
            "deadline": profile_deadline_status(institution)}


# ---------------------------------------------------------------- the list and the sample


@bp.route("/operations/spot-checks")
@login_required
def spot_check_list():  # type: ignore[no-untyped-def]
    page_number = page_number_arg(request.args.get("page"), first=0)
    sort = request.args.get("sort", "risk")
    if sort not in spot_checks.SORTS:
        sort = "risk"
    try:
        page = spot_checks.spot_check_list(current_user, first=PAGE_SIZE,
                                           offset=page_number * PAGE_SIZE, sort=sort)
    except PermissionDenied:
        abort(403)  # audited by the service
    return render_template("visibility/list.html", page=page, sort=sort, page_number=page_number,
                           page_size=PAGE_SIZE, operator=spot_checks.is_operator(current_user),
                           sample_form=SampleForm(), weights=spot_checks.RISK_WEIGHTS, **_labels())


@bp.route("/operations/spot-checks/sample", methods=["POST"])
@login_required
def draw_sample():  # type: ignore[no-untyped-def]
    form = SampleForm()
    if not form.validate_on_submit():
        if not spot_checks.is_operator(current_user):
            _deny(None, 403)
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("visibility.spot_check_list"))
    try:
        sample = spot_checks.draw_sample(current_user, size=form.size.data, seed=form.seed.data)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("visibility.spot_check_list"))
    names = dict(db.session.execute(select(Institution.id, Institution.legal_name).where(
        Institution.id.in_(sample.institution_ids))).all()) if sample.institution_ids else {}
    return render_template("visibility/sample.html", sample=sample, names=names)


# ---------------------------------------------------------------- recording and history


@bp.route("/operations/spot-checks/<int:institution_id>/new", methods=["GET", "POST"])
@login_required
def record(institution_id: int):  # type: ignore[no-untyped-def]
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    if not spot_checks.is_operator(current_user):
        _deny(institution_id, 403 if can_view_institution_private(current_user, institution_id)
              or institution.is_public else 404)
    if institution.status is not InstitutionStatus.LIVE:
        abort(404)
    form = SpotCheckForm()
    if form.validate_on_submit():
        try:
            spot_checks.record_spot_check(institution, result=form.result.data,
                                          findings=form.findings.data, actor=current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            db.session.rollback()
            attach_problems(form, exc, FIELDS)
        else:
            flash(_("The spot check is recorded."), "success")
            return redirect(url_for("visibility.history", institution_id=institution_id))
    recent = spot_checks.spot_checks_of(institution, current_user, first=5)
    return render_template("visibility/record.html", institution=institution, form=form,
                           recent=recent, operators=spot_checks.operator_names(recent),
                           deadline=profile_deadline_status(institution), **_labels())


@bp.route("/institutions/<int:institution_id>/spot-checks")
@login_required
def history(institution_id: int):  # type: ignore[no-untyped-def]
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    page_number = page_number_arg(request.args.get("page"), first=0)
    try:
        checks = spot_checks.spot_checks_of(institution, current_user, first=PAGE_SIZE,
                                            offset=page_number * PAGE_SIZE)
    except PermissionDenied:
        abort(404)  # audited by the service; 404 hides what exists
    return render_template(
        "visibility/history.html", institution=institution, checks=checks,
        operators=spot_checks.operator_names(checks), page_number=page_number,
        page_size=PAGE_SIZE, operator=spot_checks.is_operator(current_user),
        show_findings={c.id: spot_checks.findings_visible(current_user, c) for c in checks},
        **_labels())

