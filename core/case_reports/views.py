"""Case report pages: an institution's list (by year), reporting a case (prefilled from a
consultation or an order), one report and withdrawing it (R-OPS-02, R-G-05; SECURITY.md 9).

The service decides who may read or change (and audits refusals); a report or institution the
user may not read is "not found" (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from core.case_reports import service
from core.case_reports.forms import CaseReportForm, WithdrawForm
from core.case_reports.models import CaseReport
from core.clock import CHINA, local_today
from core.db import db
from core.errors import DomainError, NotFound, PermissionDenied
from core.identity.models import User
from core.ids import page_number, parse_id
from core.institutions.models import Institution
from core.web.forms import attach_problems, run_action

bp = Blueprint("case_reports", __name__, template_folder="templates")

PAGE_SIZE = 20
# Service field names → form field names.
FIELDS = {"consultedAt": "consulted_at", "clientName": "client_name",
          "clientContact": "client_contact", "item": "item", "content": "content",
          "reply": "reply", "businessFollowed": "business_followed", "amountSaved": "amount_saved",
          "consultationId": "consultation_id", "orderId": "order_id",
          "serviceItemId": "service_item_id", "reason": "reason"}


@bp.app_template_global()
def can_report_case(institution_id: int) -> bool:
    """For other areas' pages (the consultation thread): may the user report a case here?"""
    return bool(current_user.is_authenticated and service.can_report(current_user, institution_id))


def _institution(institution_id: int) -> Institution:
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    return institution


def _page_context(page: service.ReportPage, number: int) -> dict[str, Any]:
    """Names and masked contacts for a page of reports, in a fixed number of statements."""
    rows = page.reports
    institution_ids = {r.institution_id for r in rows}
    entitled = service.contact_institutions(current_user, rows)
    user_ids = {r.reported_by_id for r in rows}
    return {
        "reports": rows, "total": page.total, "page_number": number,
        "pages": max(1, -(-page.total // PAGE_SIZE)),
        "institutions": {i.id: i for i in db.session.scalars(select(Institution).where(
            Institution.id.in_(institution_ids)))} if institution_ids else {},
        "reporters": {u.id: u for u in db.session.scalars(select(User).where(
            User.id.in_(user_ids)))} if user_ids else {},
        "contacts": {r.id: service.client_contact(current_user, r, r.institution_id in entitled)
                     for r in rows},
    }


def _list(institution: Institution | None):  # type: ignore[no-untyped-def]
    year = request.args.get("year", type=int)
    number = page_number(request.args.get("page"))
    try:
        page = service.reports(current_user, institution_id=institution.id if institution else None,
                               year=year, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    except PermissionDenied:
        abort(404 if institution else 403)  # audited by the service
    except DomainError as exc:
        flash(exc.message, "error")
        year, page = None, service.reports(
            current_user, institution_id=institution.id if institution else None,
            limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    counted = (service.counted_in_year(institution.id, year or local_today().year)
               if institution else None)
    return render_template(
        "case_reports/list.html", institution=institution, year=year, counted=counted,
        counted_year=year or local_today().year,
        may_report=institution is not None and service.can_report(current_user, institution.id),
        **_page_context(page, number))


@bp.route("/case-reports")
@login_required
def overview():  # type: ignore[no-untyped-def]
    """Every institution the user reads: all for operators and regulators."""
    return _list(None)


@bp.route("/institutions/<int:institution_id>/case-reports")
@login_required
def institution_list(institution_id: int):  # type: ignore[no-untyped-def]
    return _list(_institution(institution_id))


def _arg_id(name: str) -> int | None:
    """An id from the query string; one that can name no row is "not found" (404)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    number = parse_id(raw)
    if number is None:
        abort(404)
    return number


def _draft_values(institution: Institution) -> dict[str, Any]:
    try:
        return service.draft_from(institution, current_user,
                                  consultation_id=_arg_id("consultation_id"),
                                  order_id=_arg_id("order_id"))
    except PermissionDenied:
        abort(404)
    except NotFound:
        abort(404)


def _fill(form: CaseReportForm, draft: dict[str, Any]) -> None:
    at = draft.get("consultedAt")
    if isinstance(at, datetime):
        form.consulted_at.data = at.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M")
    for name, attr in FIELDS.items():
        if name in draft and name != "consultedAt" and hasattr(form, attr):
            value = draft[name]
            getattr(form, attr).data = value if isinstance(value, bool) else (
                "" if value is None else str(value))


@bp.route("/institutions/<int:institution_id>/case-reports/new", methods=["GET", "POST"])
@login_required
def new(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id)
    form = CaseReportForm()
    if request.method == "GET":
        _fill(form, _draft_values(institution))
        return render_template("case_reports/form.html", institution=institution, form=form)
    try:  # whatever the form holds, an outsider's attempt is refused (and audited) first
        service.require_reporter(institution, current_user, "case_report.report")
    except PermissionDenied:
        abort(404)
    if form.validate_on_submit():
        data = {name: getattr(form, attr).data for name, attr in FIELDS.items() if hasattr(form, attr)}
        try:
            report = service.report_case(institution, data, actor=current_user)
        except PermissionDenied:
            abort(404)
        except DomainError as exc:
            db.session.rollback()
            attach_problems(form, exc, FIELDS)
        else:
            flash(_("The case has been reported."), "success")
            return redirect(url_for("case_reports.detail", report_id=report.id))
    return render_template("case_reports/form.html", institution=institution, form=form)


def _report(report_id: int) -> CaseReport:
    try:
        return service.get_report(report_id, current_user)
    except (NotFound, PermissionDenied):
        abort(404)  # audited by the service; 404 hides that it exists


@bp.route("/case-reports/<int:report_id>")
@login_required
def detail(report_id: int):  # type: ignore[no-untyped-def]
    report = _report(report_id)
    return render_template(
        "case_reports/detail.html", report=report, form=WithdrawForm(),
        institution=db.session.get(Institution, report.institution_id),
        reporter=db.session.get(User, report.reported_by_id),
        contact=service.client_contact(current_user, report),
        may_withdraw=report.withdrawn_at is None and service.can_withdraw(current_user, report))


@bp.route("/case-reports/<int:report_id>/withdraw", methods=["POST"])
@login_required
def withdraw(report_id: int):  # type: ignore[no-untyped-def]
    report = _report(report_id)
    form = WithdrawForm()
    if form.validate_on_submit():
        run_action(lambda: service.withdraw(report, reason=form.reason.data or "", actor=current_user),
                   success=_("The case report is withdrawn; it is no longer counted."))
    else:
        for error in form.reason.errors:
            flash(error, "error")
    return redirect(url_for("case_reports.detail", report_id=report_id))
