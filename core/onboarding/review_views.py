"""Reviewer pages (operators and regulators): the queue, the review page with its decisions,
removal notices, compliance records and exceptions; and the public list of removed institutions."""


from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select

from core.db import db
from core.documents.kinds import get_kind
from core.documents.service import institution_documents, status_of
from core.errors import DomainError, InvalidInput, PermissionDenied
from core.identity.models import Role
from core.institutions.models import Institution, InstitutionStatus
from core.onboarding import agents, commitment, compliance, exit, profile, workflow
from core.onboarding.eligibility import evaluate
from core.onboarding.forms import (
    COMPLIANCE_KINDS,
    INSTITUTION_TYPES,
    REMOVAL_REASONS,
    STATE_LABELS,
    ComplianceRecordForm,
    ExceptionForm,
    MaterialsForm,
    OnsiteForm,
    QueueFilterForm,
    RemovalForm,
)
from core.onboarding.models import (
    Application,
    ComplianceKind,
    RemovalReason,
)
from core.onboarding.views import (
    ACTION_LABELS,
    BEIJING,
    DECISIONS,
    WAITING,
    _history,
    _local,
    _removal_notice,
    _require_staff,
    bp,
    describe,
)
from core.plugins import plugins
from core.web.forms import attach_problems

# ---------------------------------------------------------------- reviewers


def _days_waiting(application: Application, today: date) -> int:
    return (today - application.state_changed_at.astimezone(BEIJING).date()).days


@bp.route("/review")
@login_required
def queue():  # type: ignore[no-untyped-def]
    _require_staff()
    categories = plugins.categories()
    form = QueueFilterForm(formdata=request.args, categories=categories.values(), states=WAITING)
    state = next((s for s in WAITING if s.value == form.state.data), None)
    category = form.category.data if form.category.data in categories else None
    applications = workflow.review_queue(states=[state] if state else None, category=category)
    ids = [a.institution_id for a in applications]
    institutions = {i.id: i for i in db.session.scalars(
        select(Institution).where(Institution.id.in_(ids)))} if ids else {}
    today = workflow.local_today()
    rows = [{"application": a, "institution": institutions[a.institution_id],
             "days": _days_waiting(a, today), "state_label": STATE_LABELS[a.state],
             "categories": [categories[c].name if c in categories else c
                            for c in profile.institution_categories(institutions[a.institution_id])]}
            for a in applications]
    return render_template("onboarding/queue.html", form=form, rows=rows, local=_local)


def _allowed_actions(application: Application) -> list[str]:
    """The decisions the viewer's role may take in the application's state (the workflow's
    table decides; the page only offers them)."""
    allowed = []
    for action in DECISIONS:
        spec = workflow.TRANSITIONS[action]
        roles = [Role(a) for a in spec.actors if a not in (workflow.ADMIN, workflow.SYSTEM)]
        if application.state in spec.sources and current_user.has_role(*roles):
            allowed.append(action)
    return allowed


def _decision_form(action: str, formdata: Any = None) -> FlaskForm:
    form_class = DECISIONS[action][0]
    kwargs: dict[str, Any] = {"prefix": action}
    if formdata is not None:
        kwargs["formdata"] = formdata
    if form_class is MaterialsForm:
        kwargs["data"] = {"working_days": current_app.config["MATERIALS_DEADLINE_WORKING_DAYS"]}
    return form_class(**kwargs)


def _review_page(institution: Institution, *, forms: dict[str, FlaskForm] | None = None,
                 status: int = 200):  # type: ignore[no-untyped-def]
    application = workflow.application_for(institution)
    # Committed before anything is read for the page: a commit expires every loaded row, and
    # the documents' status records read by the evaluation would be read again one by one.
    db.session.commit()
    with profile.categories_remembered():  # read-only from here on
        return _render_review_page(institution, application, forms or {}, status)


def _render_review_page(institution: Institution, application: Any, forms: dict[str, FlaskForm],
                        status: int):  # type: ignore[no-untyped-def]
    today = workflow.local_today()
    # Read first and held, so the evaluation's query finds these very rows in the session and
    # loads their status records; released, they would be read again one document at a time.
    documents = institution_documents(institution.id, current_user)
    report = evaluate(institution, today)
    records = compliance.records_of(institution.id)
    allowed = _allowed_actions(application)
    decision_forms = {a: forms.get(a) or _decision_form(a, None) for a in allowed}
    is_regulator = current_user.has_role(Role.REGULATOR)
    categories = plugins.categories()
    return render_template(
        "onboarding/review.html", institution=institution, application=application,
        state_label=STATE_LABELS[application.state], report=report, history=_history(application),
        documents=documents, kind_of=get_kind,
        describe=describe,
        status_of=status_of, records=records, compliance_kinds=COMPLIANCE_KINDS,
        blocking={r.id for r in records if compliance.blocks(r, today)},
        decision_forms=decision_forms, decision_labels={a: DECISIONS[a][1] for a in allowed},
        is_regulator=is_regulator, is_operator=current_user.has_role(Role.OPERATOR),
        removal_form=forms.get("removal") or RemovalForm(prefix="removal"),
        compliance_form=forms.get("compliance") or ComplianceRecordForm(prefix="compliance"),
        exception_form=forms.get("exception") or ExceptionForm(prefix="exception"),
        exception=profile.exception_for(institution, profile.ADVANTAGE_ITEMS_RULE),
        can_remove=is_regulator and institution.status not in (InstitutionStatus.REMOVED,
                                                               InstitutionStatus.EXITED),
        removal=_removal_notice(institution), removal_reasons=REMOVAL_REASONS,
        institution_types=INSTITUTION_TYPES, local=_local, action_labels=ACTION_LABELS,
        categories=[categories[c].name if c in categories else c
                    for c in profile.institution_categories(institution)],
        items=profile.advantage_items(institution),
        agent_count=agents.agent_counts([institution.id])[institution.id],
        signature=commitment.current_signature(institution),
    ), status


def _staff_institution(institution_id: int) -> Institution:
    _require_staff("institution", institution_id)
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    return institution


@bp.route("/review/<int:institution_id>")
@login_required
def review(institution_id: int):  # type: ignore[no-untyped-def]
    return _review_page(_staff_institution(institution_id))


@bp.route("/review/<int:institution_id>/decide/<action>", methods=["POST"])
@login_required
def decide(institution_id: int, action: str):  # type: ignore[no-untyped-def]
    institution = _staff_institution(institution_id)
    if action not in DECISIONS:
        abort(404)
    form = _decision_form(action, request.form)
    if not form.validate_on_submit():
        return _review_page(institution, forms={action: form}, status=400)
    data: dict[str, Any] = {}
    if isinstance(form, MaterialsForm):
        data["working_days"] = form.working_days.data
    if isinstance(form, OnsiteForm):
        when = datetime.combine(form.onsite_date.data, form.onsite_time.data, tzinfo=BEIJING)
        if when <= datetime.now(BEIJING):
            form.onsite_date.errors = [_("Choose a date and time in the future.")]
            return _review_page(institution, forms={action: form}, status=400)
        data.update(onsite_at=when, onsite_place=form.onsite_place.data or "")
    try:
        workflow.transition(institution_id, action, actor=current_user,
                            reason=form.reason.data or None, **data)
    except PermissionDenied:
        abort(403)
    except InvalidInput as exc:
        attach_problems(form, exc, {"onsiteAt": "onsite_date"})
        return _review_page(institution, forms={action: form}, status=400)
    except DomainError as exc:  # not possible in this state, or someone was faster
        flash(exc.message, "error")
    else:
        flash(_("Done: %(action)s.", action=DECISIONS[action][1]), "success")
    return redirect(url_for("onboarding.review", institution_id=institution_id))


@bp.route("/review/<int:institution_id>/removal", methods=["POST"])
@login_required
def issue_removal(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _staff_institution(institution_id)
    form = RemovalForm(prefix="removal")
    if not form.validate_on_submit():
        return _review_page(institution, forms={"removal": form}, status=400)
    try:
        notice = exit.issue_removal_notice(institution, reason=RemovalReason(form.reason.data),
                                           details=form.details.data or "", actor=current_user)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        attach_problems(form, exc, {})
        return _review_page(institution, forms={"removal": form}, status=400)
    flash(_("The removal notice has been issued; open matters are handled until %(day)s.",
            day=notice.legacy_deadline.isoformat()), "success")
    return redirect(url_for("onboarding.review", institution_id=institution_id))


@bp.route("/review/<int:institution_id>/compliance", methods=["POST"])
@login_required
def record_compliance(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _staff_institution(institution_id)
    form = ComplianceRecordForm(prefix="compliance")
    if not form.validate_on_submit():
        return _review_page(institution, forms={"compliance": form}, status=400)
    try:
        compliance.record(institution, kind=ComplianceKind(form.kind.data),
                          occurred_on=form.occurred_on.data, ended_on=form.ended_on.data,
                          source=form.source.data or "", reference=form.reference.data or None,
                          description=form.description.data or None, actor=current_user)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        attach_problems(form, exc, {"occurredOn": "occurred_on", "endedOn": "ended_on"})
        return _review_page(institution, forms={"compliance": form}, status=400)
    flash(_("The compliance record has been saved."), "success")
    return redirect(url_for("onboarding.review", institution_id=institution_id))


@bp.route("/review/<int:institution_id>/exception", methods=["POST"])
@login_required
def grant_exception(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _staff_institution(institution_id)
    form = ExceptionForm(prefix="exception")
    if not form.validate_on_submit():
        return _review_page(institution, forms={"exception": form}, status=400)
    try:
        profile.grant_exception(institution, rule=profile.ADVANTAGE_ITEMS_RULE,
                                reason=form.reason.data or "", actor=current_user)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        attach_problems(form, exc, {})
        return _review_page(institution, forms={"exception": form}, status=400)
    flash(_("The exception has been recorded."), "success")
    return redirect(url_for("onboarding.review", institution_id=institution_id))


# ---------------------------------------------------------------- public


@bp.route("/removed")
def removed():  # type: ignore[no-untyped-def]
    """Institutions removed from the platform, with the date and the reason (no login)."""
    return render_template("onboarding/removed.html", rows=exit.removed_institutions(),
                           removal_reasons=REMOVAL_REASONS, local=_local)
