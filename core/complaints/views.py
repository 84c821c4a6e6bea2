"""Complaint pages: filing one from an institution's page or an order, the list each role sees,
the operators' queue, and one complaint with its withdraw, verify and removal forms (Annex 2
item 2, R-OPS-06, R-G-05, R-G-08; SECURITY.md 9).

The service decides who may see or change (and audits refusals); a complaint the user may not
see is "not found" (404). A refused step is rolled back, so the complaint stays as it was.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from core.audit import record_audit
from core.complaints import service
from core.complaints.forms import ComplaintForm, RemovalForm, VerifyForm
from core.complaints.models import Complaint, ComplaintStatus
from core.db import db
from core.enterprises.service import names_by_user
from core.errors import DomainError, NotFound, PermissionDenied
from core.identity.forms import EmptyForm
from core.identity.models import Role, User
from core.identity.service import normalize_phone
from core.ids import page_number, parse_id
from core.institutions.models import Institution, InstitutionStatus
from core.onboarding.models import RemovalNotice
from core.web.forms import attach_problems, run_action

bp = Blueprint("complaints", __name__, template_folder="templates")

PAGE_SIZE = 20
# Service field names → form field names.
FIELDS = {"subject": "subject", "body": "body", "orderId": "order_id",
          "consultationId": "consultation_id", "enterpriseUserId": "enterprise_phone",
          "outcome": "outcome", "notes": "notes", "serious": "serious", "details": "details",
          "legacyDays": "legacy_days"}
STATUS_LABELS = {ComplaintStatus.FILED: _l("Waiting for verification"),
                 ComplaintStatus.VERIFIED: _l("Verified as founded"),
                 ComplaintStatus.UNFOUNDED: _l("Unfounded"),
                 ComplaintStatus.WITHDRAWN: _l("Withdrawn")}


def _deny(object_type: str, object_id: int, status: int) -> NoReturn:
    record_audit("complaint.access_denied", object_type=object_type, object_id=object_id,
                 result="denied", actor=current_user)
    db.session.commit()
    abort(status)


def _complaint(complaint_id: int) -> Complaint:
    try:
        return service.get_complaint(complaint_id, current_user)
    except (NotFound, PermissionDenied):
        abort(404)  # a refusal is audited by the service; 404 hides that the complaint exists


def _page_context(rows: list[Complaint], total: int, number: int) -> dict[str, Any]:
    """Names and contacts (masked as the viewer requires) in a fixed number of statements."""
    user_ids = {c.enterprise_user_id for c in rows}
    users = ({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
             if user_ids else {})
    institution_ids = {c.institution_id for c in rows}
    return {
        "complaints": rows, "total": total, "page_number": number,
        "pages": max(1, -(-total // PAGE_SIZE)), "users": users,
        "enterprises": names_by_user(user_ids),
        "institutions": dict(db.session.execute(select(Institution.id, Institution.legal_name)
                                                .where(Institution.id.in_(institution_ids)))
                             .all()) if institution_ids else {},
        "contacts": {c.id: service.complainant_contact(current_user, c,
                                                       users.get(c.enterprise_user_id))
                     for c in rows},
        "status_labels": STATUS_LABELS,
    }


# ---------------------------------------------------------------- lists


@bp.route("/complaints")
@login_required
def list_complaints():  # type: ignore[no-untyped-def]
    """One's own complaints, those against the institutions one staffs, or (operators and
    regulators) all; by status, paginated."""
    raw = request.args.get("status", "")
    status = ComplaintStatus(raw) if raw in ComplaintStatus._value2member_map_ else None
    number = page_number(request.args.get("page"))
    page = service.complaints(current_user, status=status, limit=PAGE_SIZE,
                              offset=(number - 1) * PAGE_SIZE)
    return render_template("complaints/list.html", status=status, queue=False,
                           **_page_context(page.complaints, page.total, number))


@bp.route("/complaints/queue")
@login_required
def queue():  # type: ignore[no-untyped-def]
    """The operators' queue: complaints waiting for verification, oldest first."""
    number = page_number(request.args.get("page"))
    try:
        page = service.queue(current_user, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    except PermissionDenied:
        abort(403)  # audited by the service
    return render_template("complaints/list.html", status=ComplaintStatus.FILED, queue=True,
                           **_page_context(page.complaints, page.total, number))


# ---------------------------------------------------------------- filing


@bp.route("/institutions/<int:institution_id>/complaints/new", methods=["GET", "POST"])
@login_required
def new(institution_id: int):  # type: ignore[no-untyped-def]
    institution = db.session.get(Institution, institution_id)
    if institution is None or institution.status is not InstitutionStatus.LIVE:
        abort(404)
    operator = service.is_operator(current_user)
    if not operator and not current_user.has_role(Role.ENTERPRISE):
        _deny("institution", institution_id, 403)
    form = ComplaintForm()
    if request.method == "GET":
        form.order_id.data = parse_id(request.args.get("order_id"))
        form.consultation_id.data = parse_id(request.args.get("consultation_id"))
    elif form.validate_on_submit():
        enterprise_user = None
        if operator:  # R-G-08: filed for the enterprise user with this mobile number
            phone = normalize_phone(form.enterprise_phone.data or "")
            enterprise_user = (db.session.scalar(select(User).where(User.phone == phone))
                               if phone else None)
            if enterprise_user is None:
                form.enterprise_phone.errors = [_("No enterprise user has this mobile number.")]
        if not operator or enterprise_user is not None:
            try:
                complaint = service.file(
                    institution, subject=form.subject.data, body=form.body.data,
                    actor=current_user, enterprise_user=enterprise_user,
                    order_id=form.order_id.data, consultation_id=form.consultation_id.data)
            except PermissionDenied:
                abort(403)
            except DomainError as exc:
                db.session.rollback()
                attach_problems(form, exc, FIELDS)
            else:
                flash(_("Your complaint has been filed; the platform will verify it."), "success")
                return redirect(url_for("complaints.detail", complaint_id=complaint.id))
    return render_template("complaints/new.html", institution=institution, form=form,
                           operator=operator)


# ---------------------------------------------------------------- one complaint


def _render_detail(complaint: Complaint, *, verify_form: VerifyForm | None = None,
                   removal_form: RemovalForm | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    complainant = db.session.get(User, complaint.enterprise_user_id)
    filed = complaint.status is ComplaintStatus.FILED
    return render_template(
        "complaints/detail.html", complaint=complaint, complainant=complainant,
        enterprise=names_by_user({complaint.enterprise_user_id}).get(complaint.enterprise_user_id),
        contact=service.complainant_contact(current_user, complaint, complainant),
        institution=db.session.get(Institution, complaint.institution_id),
        verifier=db.session.get(User, complaint.verified_by_id) if complaint.verified_by_id else None,
        notice=(db.session.get(RemovalNotice, complaint.removal_notice_id)
                if complaint.removal_notice_id else None),
        status_labels=STATUS_LABELS, withdraw_form=EmptyForm(),
        may_withdraw=filed and service.acts_for_complainant(current_user, complaint),
        verify_form=(verify_form or VerifyForm()) if filed and service.may_verify(current_user, complaint)
        else None,
        filed_by_viewer=filed and service.filed_for_enterprise_by(current_user, complaint),
        removal_form=(removal_form or RemovalForm())
        if service.can_issue_removal(current_user, complaint) else None,
    ), status


@bp.route("/complaints/<int:complaint_id>")
@login_required
def detail(complaint_id: int):  # type: ignore[no-untyped-def]
    return _render_detail(_complaint(complaint_id))


@bp.route("/complaints/<int:complaint_id>/withdraw", methods=["POST"])
@login_required
def withdraw(complaint_id: int):  # type: ignore[no-untyped-def]
    complaint = _complaint(complaint_id)
    if EmptyForm().validate_on_submit():
        run_action(lambda: service.withdraw(complaint, actor=current_user),
                   success=_("The complaint is withdrawn."))
    return redirect(url_for("complaints.detail", complaint_id=complaint_id))


@bp.route("/complaints/<int:complaint_id>/verify", methods=["POST"])
@login_required
def verify(complaint_id: int):  # type: ignore[no-untyped-def]
    complaint = _complaint(complaint_id)
    form = VerifyForm()
    if not form.validate_on_submit():
        return _render_detail(complaint, verify_form=form, status=400)
    try:
        service.verify(complaint, outcome=form.outcome.data, notes=form.notes.data,
                       serious=bool(form.serious.data), actor=current_user)
    except PermissionDenied as exc:
        if not service.is_operator(current_user):
            abort(403)
        flash(exc.message, "error")  # the operator who filed it for the enterprise (audited)
        return _render_detail(_complaint(complaint_id), status=403)
    except DomainError as exc:
        db.session.rollback()
        attach_problems(form, exc, FIELDS)
        return _render_detail(_complaint(complaint_id), verify_form=form, status=400)
    flash(_("The verification is recorded; both sides have been told."), "success")
    return redirect(url_for("complaints.detail", complaint_id=complaint_id))


@bp.route("/complaints/<int:complaint_id>/removal", methods=["POST"])
@login_required
def removal(complaint_id: int):  # type: ignore[no-untyped-def]
    complaint = _complaint(complaint_id)
    form = RemovalForm()
    if not form.validate_on_submit():
        return _render_detail(complaint, removal_form=form, status=400)
    try:
        service.issue_removal(complaint, details=form.details.data, actor=current_user,
                              legacy_days=form.legacy_days.data)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        db.session.rollback()
        attach_problems(form, exc, FIELDS)
        return _render_detail(_complaint(complaint_id), removal_form=form, status=400)
    flash(_("The removal notice is issued; the institution has been told."), "success")
    return redirect(url_for("complaints.detail", complaint_id=complaint_id))
