"""Consultation pages: asking from an institution's page, the inbox of each role and the thread.

Every page checks the object's owner first (SECURITY.md 9); the services decide and audit.
A consultation another user may not see is "not found" (404) and the attempt is audited.
"""

from __future__ import annotations

from typing import NoReturn

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from core.audit import record_audit
from core.consultations import service
from core.consultations.forms import AskForm, ReplyForm
from core.consultations.models import Consultation
from core.db import db
from core.errors import DomainError, NotFound, PermissionDenied
from core.identity.forms import EmptyForm
from core.identity.models import Role, User
from core.ids import page_number
from core.institutions import intake
from core.institutions.models import Institution
from core.web.forms import attach_problems, run_action

bp = Blueprint("consultations", __name__, template_folder="templates")

FIELDS = {"subject": "subject", "body": "body", "serviceItemId": "service_item_id",
          "enterpriseUserId": "enterprise_phone"}


def _deny(object_type: str, object_id: int | None, status: int) -> NoReturn:
    record_audit("consultation.access_denied", object_type=object_type, object_id=object_id,
                 result="denied", actor=current_user)
    db.session.commit()
    abort(status)


def _consultation(consultation_id: int) -> Consultation:
    try:
        return service.get_consultation(consultation_id, current_user)
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(404)  # audited by the service; 404 hides that it exists


@bp.route("/institutions/<int:institution_id>/consult", methods=["GET", "POST"])
@login_required
def ask(institution_id: int):  # type: ignore[no-untyped-def]
    institution = db.session.get(Institution, institution_id)
    refused = intake.refusal_page(institution)  # 404, or 409: hidden, no new consultation
    if refused is not None:
        return refused
    operator = service.is_operator(current_user)
    if not operator and not current_user.has_role(Role.ENTERPRISE):
        _deny("institution", institution_id, 403)
    form = AskForm()
    if form.validate_on_submit():
        enterprise_user = None
        if operator:
            enterprise_user = db.session.scalar(
                select(User).where(User.phone == (form.enterprise_phone.data or "").strip()))
            if enterprise_user is None:
                form.enterprise_phone.errors = [_("No enterprise user has this mobile number.")]
        if not operator or enterprise_user is not None:
            try:
                consultation = service.ask(
                    institution, subject=form.subject.data or "", body=form.body.data or "",
                    actor=current_user, enterprise_user=enterprise_user,
                    service_item_id=form.service_item_id.data)
            except PermissionDenied:
                abort(403)
            except DomainError as exc:
                db.session.rollback()
                attach_problems(form, exc, FIELDS)
            else:
                flash(_("Your question has been sent to the institution."), "success")
                return redirect(url_for("consultations.thread", consultation_id=consultation.id))
    return render_template("consultations/ask.html", institution=institution, form=form,
                           operator=operator)


@bp.route("/consultations")
@login_required
def inbox():  # type: ignore[no-untyped-def]
    page = page_number(request.args.get("page"), first=0)  # counted from 0 here
    size = 50
    if service.is_operator(current_user):
        rows = list(db.session.scalars(select(Consultation).order_by(
            Consultation.received_at.desc(), Consultation.id.desc()).limit(size).offset(page * size)))
    else:
        rows = service.consultations_of_enterprise(current_user, limit=size, offset=page * size)
        for institution_id in service.staff_institution_ids(current_user):
            rows += service.consultations_of_institution(institution_id, current_user,
                                                         limit=size, offset=page * size)
    institutions = {i.id: i for i in db.session.scalars(
        select(Institution).where(Institution.id.in_({c.institution_id for c in rows})))}
    status_labels = {"open": _("Waiting for a reply"), "answered": _("Answered by the institution"),
                     "closed": _("Consultation closed")}
    return render_template("consultations/inbox.html", consultations=rows,
                           institutions=institutions, page=page, status_labels=status_labels)


@bp.route("/consultations/<int:consultation_id>", methods=["GET", "POST"])
@login_required
def thread(consultation_id: int):  # type: ignore[no-untyped-def]
    consultation = _consultation(consultation_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            service.reply(consultation, body=form.body.data or "", actor=current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            db.session.rollback()
            attach_problems(form, exc, FIELDS)
        else:
            return redirect(url_for("consultations.thread", consultation_id=consultation_id))
    authors = service.user_names([m.author_id for m in consultation.messages]
                                 + [consultation.enterprise_user_id])
    return render_template(
        "consultations/thread.html", consultation=consultation, form=form, close_form=EmptyForm(),
        institution=db.session.get(Institution, consultation.institution_id), authors=authors,
        asker=authors.get(consultation.enterprise_user_id),
        asker_phone=service.asker_phone(current_user, consultation,
                                        authors.get(consultation.enterprise_user_id)))


@bp.route("/consultations/<int:consultation_id>/close", methods=["POST"])
@login_required
def close(consultation_id: int):  # type: ignore[no-untyped-def]
    consultation = _consultation(consultation_id)
    form = EmptyForm()
    if form.validate_on_submit():
        run_action(lambda: service.close(consultation, actor=current_user),
                   success=_("The consultation is closed."))
    return redirect(url_for("consultations.thread", consultation_id=consultation_id))
