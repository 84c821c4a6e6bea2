"""Onboarding pages: the institution admin's wizard and status page, the agent's invitation page,
the reviewers' queue and review page, and the public list of removed institutions.

Every page checks the object's owner before anything else (SECURITY.md 9): an institution's
pages are "not found" to anyone who is not its staff or platform staff, its editing pages are
forbidden to its agents and to platform staff, and the reviewers' pages need an operator or a
regulator. Each refusal is audited. The services decide and audit the changes themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select

from core.audit import record_audit
from core.audit.service import client_ip
from core.db import db
from core.documents.kinds import get_kind
from core.documents.service import institution_documents, status_of
from core.errors import DomainError, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity import auth
from core.identity.forms import EmptyForm
from core.identity.labels import role_label
from core.identity.models import Role, User
from core.ids import parse_id
from core.institutions.access import (
    can_manage_institution,
    can_view_institution_private,
    is_platform_staff,
)
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole
from core.institutions.service import start_institution
from core.onboarding import agents, commitment, exit, profile, workflow
from core.onboarding.eligibility import CheckResult, EligibilityReport, evaluate
from core.onboarding.forms import (
    COMPLIANCE_KINDS,
    DOCUMENT_STATUS,
    FIELD_LABELS,
    PROFILE_FORM_FIELDS,
    REMOVAL_REASONS,
    STATE_LABELS,
    VERIFICATION,
    AcceptInvitationForm,
    CategoriesForm,
    CommitmentForm,
    DecisionForm,
    ExitForm,
    InviteAgentForm,
    MaterialsForm,
    OnsiteForm,
    ProfileForm,
    ReasonDecisionForm,
    StartForm,
)
from core.onboarding.models import (
    Application,
    ApplicationState,
    ComplianceKind,
    RemovalNotice,
)
from core.plugins import plugins
from core.web.forms import attach_problems

bp = Blueprint("onboarding", __name__, template_folder="templates")

S = ApplicationState
BEIJING = ZoneInfo("Asia/Shanghai")
WAITING = (S.SUBMITTED, S.SCREENING, S.REVIEW, S.ONSITE_SCHEDULED, S.MATERIALS_REQUESTED)
# States in which the application is with the reviewers or done: the submit step is behind it.
SUBMITTED_STATES = frozenset({S.SUBMITTED, S.SCREENING, S.REVIEW, S.ONSITE_SCHEDULED, S.APPROVED})
CORE_CODES = frozenset({"R-ONB-01", "R-ELIG-01", "R-ELIG-02", "R-ELIG-03", "R-ELIG-04",
                        "R-ELIG-05", "R-ELIG-06"})

# The reviewers' actions, in the order their forms appear, with the form each one takes.
DECISIONS: dict[str, tuple[type[FlaskForm], Any]] = {
    "start_screening": (DecisionForm, _l("Start screening")),
    "pass_screening": (DecisionForm, _l("Pass screening to the management unit")),
    "approve": (DecisionForm, _l("Approve")),
    "reject": (ReasonDecisionForm, _l("Reject")),
    "request_materials": (MaterialsForm, _l("Request more materials")),
    "schedule_onsite": (OnsiteForm, _l("Schedule an on-site investigation")),
    "record_onsite": (ReasonDecisionForm, _l("Record the on-site result")),
}
ACTION_LABELS = {**{a: label for a, (_f, label) in DECISIONS.items()},
                 "submit": _l("Submitted"), "reopen": _l("Reopened"),
                 "lapse": _l("Lapsed: materials not provided in time")}


# ---------------------------------------------------------------- access


def _deny(object_type: str, object_id: int | None, status: int) -> NoReturn:
    """Refuse, auditing the attempt (SECURITY.md 9): 404 hides that the object exists."""
    record_audit("onboarding.access_denied", object_type=object_type, object_id=object_id,
                 result="denied")
    db.session.commit()
    abort(status)


def _institution(institution_id: int, *, manage: bool = False) -> Institution:
    """The institution if the user is its staff or platform staff (else 404); with `manage`,
    only its administrator (anyone else who may see it gets 403)."""
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    if not can_view_institution_private(current_user, institution_id):
        _deny("institution", institution_id, 404)
    if manage and not can_manage_institution(current_user, institution_id):
        _deny("institution", institution_id, 403)
    return institution


def _require_staff(object_type: str = "review_queue", object_id: int | None = None) -> None:
    if not is_platform_staff(current_user):
        _deny(object_type, object_id, 403)


def _my_institutions(user: User, role: StaffRole) -> list[Institution]:
    return list(db.session.scalars(
        select(Institution).join(InstitutionStaff).where(
            InstitutionStaff.user_id == user.id, InstitutionStaff.role == role)
        .order_by(Institution.id)))


# ---------------------------------------------------------------- the wizard's steps


@dataclass(frozen=True)
class Step:
    code: str
    title: Any
    endpoint: str
    done: bool


def _results(report: EligibilityReport, pick: Callable[[CheckResult], bool]) -> list[CheckResult]:
    return [r for r in report.results if pick(r)]


def describe(key: str | None, value: Any) -> str:
    """One value of a check's evidence in words: document kinds, statuses, profile fields."""
    words: dict[Any, Any] = {"missing": FIELD_LABELS, "status": DOCUMENT_STATUS,
                             "verification": VERIFICATION}.get(key or "", {})
    if key == "kind":
        kind = get_kind(str(value))
        if kind is not None:
            return str(kind.name)
        try:
            return str(COMPLIANCE_KINDS[ComplianceKind(value)])
        except ValueError:
            return str(value)
    return str(words.get(value, value))


def _is_document_result(result: CheckResult) -> bool:
    """The documents step: the licence (R-ELIG-01), each category's qualifications (R-ELIG-02)
    and whatever the category plugins check (R-ELIG-07/08 …)."""
    return ((result.code == "R-ELIG-01" and result.subject == "licence")
            or result.code == "R-ELIG-02" or result.code not in CORE_CODES)


def _passed(report: EligibilityReport, code: str) -> bool:
    found = _results(report, lambda r: r.code == code)
    return bool(found) and all(r.passed for r in found)


def _steps(institution: Institution, report: EligibilityReport, application: Application) -> list[Step]:
    onb = next((r for r in report.results if r.code == "R-ONB-01"), None)
    missing = set(onb.evidence.get("missing", [])) if onb is not None else set()
    has_categories = bool(profile.institution_categories(institution))
    return [
        Step("profile", _l("Profile"), "onboarding.profile_step", not (missing - {"categories"})),
        Step("categories", _l("Categories and advantage items"), "onboarding.categories_step",
             has_categories and _passed(report, "R-ELIG-06")),
        Step("agents", _l("Customer-service agents"), "onboarding.agents_step",
             _passed(report, "R-ELIG-05")),
        Step("documents", _l("Documents"), "onboarding.documents_step",
             all(r.passed for r in _results(report, _is_document_result))),
        Step("commitment", _l("Commitment letter"), "onboarding.commitment_step",
             _passed(report, "R-ELIG-04")),
        Step("check", _l("Self-check"), "onboarding.check_step", report.eligible),
        Step("submit", _l("Submit"), "onboarding.submit_step",
             application.state in SUBMITTED_STATES),
    ]


def _wizard(institution: Institution, template: str, current: str, status: int = 200,
            **context: Any):  # type: ignore[no-untyped-def]
    """Render one wizard step with the step list, the application and today's report."""
    with profile.categories_remembered():  # the report and the step list both read them
        report = evaluate(institution, workflow.local_today())
        application = workflow.application_for(institution)
        steps = _steps(institution, report, application)
    db.session.commit()  # the draft application and the seeded commitment letter, if new
    position = next(i for i, s in enumerate(steps) if s.code == current)
    return render_template(
        template, institution=institution, steps=steps, current=current, report=report,
        describe=describe,
        application=application, state_label=STATE_LABELS[application.state],
        next_step=steps[position + 1] if position + 1 < len(steps) else None,
        done_count=sum(s.done for s in steps), **context), status


def _next(institution: Institution, current: str):  # type: ignore[no-untyped-def]
    order = ["profile", "categories", "agents", "documents", "commitment", "check", "submit"]
    following = order[min(order.index(current) + 1, len(order) - 1)]
    return redirect(url_for(f"onboarding.{following}_step", institution_id=institution.id))


@bp.route("/onboarding", methods=["GET", "POST"])
@login_required
def start():  # type: ignore[no-untyped-def]
    """The wizard's entry: create the institution (step 0), or resume where it was left."""
    if is_platform_staff(current_user):
        return redirect(url_for("onboarding.queue"))
    own = _my_institutions(current_user, StaffRole.ADMIN)
    if not own:
        served = _my_institutions(current_user, StaffRole.AGENT)
        if served:
            return redirect(url_for("onboarding.status", institution_id=served[0].id))
        if not current_user.has_role(Role.INSTITUTION_ADMIN):
            _deny("onboarding", None, 403)
    form = StartForm()
    if not own and form.validate_on_submit():
        try:
            institution = start_institution(legal_name=form.legal_name.data or "",
                                            uscc=form.uscc.data or "", admin=current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            attach_problems(form, exc, {"legalName": "legal_name"})
        else:
            flash(_("The institution has been created. Complete its profile next."), "success")
            return redirect(url_for("onboarding.profile_step", institution_id=institution.id))
    if len(own) == 1 and request.method == "GET":
        return redirect(url_for("onboarding.resume", institution_id=own[0].id))
    return render_template("onboarding/start.html", form=form, institutions=own), (
        400 if request.method == "POST" else 200)


@bp.route("/institutions/<int:institution_id>/onboarding")
@login_required
def resume(institution_id: int):  # type: ignore[no-untyped-def]
    """The first step not done yet; the status page once the application is submitted."""
    institution = _institution(institution_id)
    if not can_manage_institution(current_user, institution_id):
        return redirect(url_for("onboarding.status", institution_id=institution_id))
    application = workflow.application_for(institution)
    if application.state not in (S.DRAFT, S.MATERIALS_REQUESTED):
        db.session.commit()
        return redirect(url_for("onboarding.status", institution_id=institution_id))
    steps = _steps(institution, evaluate(institution, workflow.local_today()), application)
    db.session.commit()
    step = next((s for s in steps if not s.done), steps[-1])
    return redirect(url_for(step.endpoint, institution_id=institution_id))


@bp.route("/institutions/<int:institution_id>/onboarding/profile", methods=["GET", "POST"])
@login_required
def profile_step(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    saved = {name: getattr(institution, name) for name in PROFILE_FORM_FIELDS}
    saved["institution_type"] = institution.institution_type.value if institution.institution_type else ""
    form = ProfileForm(data=saved)
    if form.validate_on_submit():
        try:
            profile.update_profile(institution, form.service_data(), actor=current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            attach_problems(form, exc, {v: k for k, v in PROFILE_FORM_FIELDS.items()})
        else:
            flash(_("The profile has been saved."), "success")
            return _next(institution, "profile")
    return _wizard(institution, "onboarding/profile.html", "profile",
                   400 if request.method == "POST" else 200, form=form)


def _item_problem(form: CategoriesForm, rows: list[int], problem: Problem) -> bool:
    """Put `advantageItems[n].field` under the n-th filled-in row's input; False if not one."""
    name = problem.field or ""
    if not name.startswith("advantageItems["):
        return False
    index, _sep, rest = name.removeprefix("advantageItems[").partition("]")
    attr = {".categoryCode": "category_code", ".title": "title", ".description": "description"}
    if not index.isdigit() or int(index) >= len(rows) or rest not in attr:
        return False
    target = getattr(form.items[rows[int(index)]].form, attr[rest])
    target.errors = [*target.errors, problem.message]
    return True


@bp.route("/institutions/<int:institution_id>/onboarding/categories", methods=["GET", "POST"])
@login_required
def categories_step(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    installed = plugins.categories()
    items = [{"category_code": i.category_code, "title": i.title, "description": i.description}
             for i in profile.advantage_items(institution)]
    form = CategoriesForm(data={"categories": profile.institution_categories(institution),
                                "main_category": institution.main_category_code or "",
                                "items": items}, categories=installed.values())
    items_error: list[str] = []
    if form.validate_on_submit():
        chosen = list(form.categories.data or [])
        rows = [n for n, row in enumerate(form.items) if not row.form.is_blank]
        payload = []
        for n in rows:
            row = form.items[n].form
            category = row.category_code.data or (chosen[0] if len(chosen) == 1 else "")
            payload.append({"categoryCode": category, "title": row.title.data or "",
                            "description": row.description.data or ""})
        try:
            profile.set_categories(institution, categories=chosen, advantage_items=payload,
                                   main_category=form.main_category.data or None,
                                   actor=current_user)
        except PermissionDenied:
            abort(403)
        except InvalidInput as exc:
            rest = [p for p in exc.problems if not _item_problem(form, rows, p)]
            for problem in rest:
                if problem.field == "advantageItems":
                    items_error.append(problem.message)
            others = [p for p in rest if p.field != "advantageItems"]
            if others:
                attach_problems(form, InvalidInput(others), {"mainCategoryCode": "main_category"})
        except DomainError as exc:
            flash(exc.message, "error")
            items_error.append(exc.message)
        else:
            flash(_("The service categories and advantage items have been saved."), "success")
            return _next(institution, "categories")
    failed = request.method == "POST"
    return _wizard(institution, "onboarding/categories.html", "categories",
                   400 if failed else 200, form=form, items_error=items_error,
                   installed=installed)


@bp.route("/institutions/<int:institution_id>/onboarding/agents", methods=["GET", "POST"])
@login_required
def agents_step(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    form = InviteAgentForm()
    link = expires = None
    if form.validate_on_submit():
        try:
            invitation, token = agents.invite_agent(
                institution, display_name=form.display_name.data or "",
                phone=form.phone.data or None, email=form.email.data or None, actor=current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            attach_problems(form, exc, {"displayName": "display_name"})
        else:
            # The token is not stored: this page is the only time the link can be shown.
            link = url_for("onboarding.invitation", token=token, _external=True)
            expires = invitation.expires_at
            flash(_("The invitation for %(name)s has been created.", name=invitation.display_name),
                  "success")
            form = InviteAgentForm(formdata=None)
    response = _wizard(
        institution, "onboarding/agents.html", "agents",
        400 if request.method == "POST" and link is None else 200, form=form, link=link,
        expires=expires,
        agents=agents.agents_of(institution), invitations=agents.open_invitations(institution),
        max_agents=agents.MAX_AGENTS, empty_form=EmptyForm())
    if link:
        body, status = response
        return body, status, {"Cache-Control": "no-store"}
    return response


def _post_action(action, success: str) -> None:  # type: ignore[no-untyped-def]
    """Run a button's service call (CSRF-checked form); refusals become 403/404 or a message."""
    if not EmptyForm().validate_on_submit():
        return
    try:
        action()
    except PermissionDenied:
        abort(403)
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(exc.message, "error")
    else:
        flash(success, "success")


@bp.route("/institutions/<int:institution_id>/onboarding/agents/<int:user_id>/remove",
          methods=["POST"])
@login_required
def remove_agent(institution_id: int, user_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    _post_action(lambda: agents.remove_agent(institution, user_id, actor=current_user),
                 _("The agent has been removed."))
    return redirect(url_for("onboarding.agents_step", institution_id=institution_id))


@bp.route("/institutions/<int:institution_id>/onboarding/invitations/<int:invitation_id>/revoke",
          methods=["POST"])
@login_required
def revoke_invitation(institution_id: int, invitation_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    _post_action(lambda: agents.revoke_invitation(institution, invitation_id, actor=current_user),
                 _("The invitation has been withdrawn."))
    return redirect(url_for("onboarding.agents_step", institution_id=institution_id))


@bp.route("/institutions/<int:institution_id>/onboarding/documents")
@login_required
def documents_step(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    categories = plugins.categories()
    return _wizard(institution, "onboarding/documents.html", "documents",
                   document_results=lambda report: _results(report, _is_document_result),
                   categories=categories,
                   has_categories=bool(profile.institution_categories(institution)),
                   documents=institution_documents(institution.id, current_user),
                   kind_of=get_kind, status_of=status_of)


@bp.route("/institutions/<int:institution_id>/onboarding/commitment", methods=["GET", "POST"])
@login_required
def commitment_step(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    version = commitment.current_version()
    db.session.commit()  # version 1 is seeded on first use: keep its id stable for the POST
    form = CommitmentForm(data={"version_id": str(version.id)})
    if form.validate_on_submit():
        version_id = parse_id(form.version_id.data) or 0
        try:
            commitment.sign(institution, signer_name=form.signer_name.data or "",
                            signer_title=form.signer_title.data or "", version_id=version_id,
                            actor=current_user, ip=client_ip(),
                            user_agent=request.headers.get("User-Agent"))
        except PermissionDenied:
            abort(403)
        except commitment.AlreadySigned as exc:
            flash(exc.message, "error")
            return redirect(url_for("onboarding.commitment_step", institution_id=institution_id))
        except DomainError as exc:  # outdated version, missing name or title
            attach_problems(form, exc, {"signerName": "signer_name", "signerTitle": "signer_title"})
            version = commitment.current_version()
            form.version_id.data = str(version.id)
        else:
            flash(_("The commitment letter has been signed."), "success")
            return _next(institution, "commitment")
    return _wizard(institution, "onboarding/commitment.html", "commitment",
                   400 if request.method == "POST" else 200, form=form,
                   version=version, lines=commitment.canonical_text(version).split("\n"),
                   signature=commitment.current_signature(institution))


@bp.route("/institutions/<int:institution_id>/onboarding/check")
@login_required
def check_step(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    return _wizard(institution, "onboarding/check.html", "check")


@bp.route("/institutions/<int:institution_id>/onboarding/submit", methods=["GET", "POST"])
@login_required
def submit_step(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    form = EmptyForm()
    failures: list[CheckResult] = []
    if form.validate_on_submit():
        try:
            workflow.transition(institution_id, "submit", actor=current_user)
        except PermissionDenied:
            abort(403)
        except workflow.NotEligible as exc:
            failures = exc.report.failures  # every failed condition, not the first (R-ELIG-10)
        except DomainError as exc:
            flash(exc.message, "error")
            return redirect(url_for("onboarding.status", institution_id=institution_id))
        else:
            flash(_("The application has been submitted. The operator will screen it."), "success")
            return redirect(url_for("onboarding.status", institution_id=institution_id))
    return _wizard(institution, "onboarding/submit.html", "submit", 400 if failures else 200,
                   form=form, failures=failures)


# ---------------------------------------------------------------- status, reopen, exit


def _history(application: Application) -> list[dict[str, Any]]:
    """The application's events, each with who acted (by role) and what they said."""
    ids = {e.actor_id for e in application.events if e.actor_id}
    actors = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    rows = []
    for event in application.events:
        actor = actors.get(event.actor_id) if event.actor_id else None
        if actor is None:
            who = _("The platform (automatic)")
        else:
            role = next((r for r in (Role.REGULATOR, Role.OPERATOR, Role.INSTITUTION_ADMIN)
                         if actor.has_role(r)), None)
            who = role_label(role) if role else actor.display_name
        onsite = (event.data or {}).get("onsite_at")
        rows.append({"event": event, "who": who, "actor": actor,
                     "onsite": _local(datetime.fromisoformat(onsite)) if onsite else "",
                     "to_label": _state_label(event.to_state),
                     "from_label": _state_label(event.from_state)})
    return rows


def _state_label(value: str) -> str:
    try:
        return str(STATE_LABELS[ApplicationState(value)])
    except ValueError:
        return value


def _local(moment: datetime | None) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment else ""


def _removal_notice(institution: Institution) -> RemovalNotice | None:
    return db.session.scalar(select(RemovalNotice).where(
        RemovalNotice.institution_id == institution.id, RemovalNotice.cancelled_at.is_(None))
        .order_by(RemovalNotice.id.desc()).limit(1))


def _status_page(institution: Institution, exit_form: ExitForm | None = None,
                 status: int = 200):  # type: ignore[no-untyped-def]
    application = workflow.application_for(institution)
    db.session.commit()
    manage = can_manage_institution(current_user, institution.id)
    live = institution.status is InstitutionStatus.LIVE
    return render_template(
        "onboarding/status.html", institution=institution, application=application,
        state_label=STATE_LABELS[application.state], history=_history(application),
        can_manage=manage, is_staff=is_platform_staff(current_user),
        can_reopen=manage and application.state in (S.REJECTED, S.LAPSED),
        can_resume=manage and application.state in (S.DRAFT, S.MATERIALS_REQUESTED),
        exit_form=exit_form or ExitForm(), empty_form=EmptyForm(),
        show_exit=manage and live, pending_exit=exit.pending_exit(institution),
        open_matters=exit.open_matters(institution) if live else [],
        removal=_removal_notice(institution), removal_reasons=REMOVAL_REASONS, local=_local,
        action_labels=ACTION_LABELS,
    ), status


@bp.route("/institutions/<int:institution_id>/application")
@login_required
def status(institution_id: int):  # type: ignore[no-untyped-def]
    return _status_page(_institution(institution_id))


@bp.route("/institutions/<int:institution_id>/application/reopen", methods=["POST"])
@login_required
def reopen(institution_id: int):  # type: ignore[no-untyped-def]
    _institution(institution_id, manage=True)
    if EmptyForm().validate_on_submit():
        try:
            workflow.transition(institution_id, "reopen", actor=current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            flash(exc.message, "error")
            return redirect(url_for("onboarding.status", institution_id=institution_id))
        flash(_("The application is open again: correct it and submit it once more."), "success")
        return redirect(url_for("onboarding.resume", institution_id=institution_id))
    return redirect(url_for("onboarding.status", institution_id=institution_id))


@bp.route("/institutions/<int:institution_id>/exit", methods=["POST"])
@login_required
def request_exit(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution(institution_id, manage=True)
    form = ExitForm()
    if not form.validate_on_submit():
        return _status_page(institution, form, 400)
    try:
        exit.request_exit(institution, letter=form.letter.data or "", actor=current_user)
    except PermissionDenied:
        abort(403)
    except DomainError as exc:
        attach_problems(form, exc, {})
        return _status_page(institution, form, 400)
    db.session.refresh(institution)
    if institution.status is InstitutionStatus.EXITED:
        flash(_("No matter is open: the institution has left the platform."), "success")
    else:
        flash(_("The exit request has been recorded. The exit completes once every open matter "
                "is closed."), "success")
    return redirect(url_for("onboarding.status", institution_id=institution_id))


# ---------------------------------------------------------------- agent invitations


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str):  # type: ignore[no-untyped-def]
    """An agent accepts: a new account with a password, or the logged-in person it names."""
    headers = {"Cache-Control": "no-store"}
    try:
        invite = agents._usable_invitation(token)
    except NotFound as exc:
        return render_template("onboarding/invitation.html", problem=exc.message), 404, headers
    institution = db.session.get(Institution, invite.institution_id)
    user = current_user if current_user.is_authenticated else None
    matches = user is not None and agents._matches(user, invite)
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        if user is not None and not matches:
            flash(_("This invitation is for someone else. Log out first, then open the link again."),
                  "error")
        else:
            try:
                agent = agents.accept_invitation(token, password=form.password.data or None,
                                                 current_user=user)
            except NotFound as exc:
                return (render_template("onboarding/invitation.html", problem=exc.message), 404,
                        headers)
            except DomainError as exc:
                attach_problems(form, exc, {})
            else:
                if user is None:
                    auth.log_in(agent)
                flash(_("Welcome! You are now a customer-service agent of %(name)s.",
                        name=institution.legal_name if institution else ""), "success")
                return redirect(url_for("onboarding.status", institution_id=invite.institution_id))
    contact = invite.phone or invite.email or ""
    return render_template(
        "onboarding/invitation.html", problem=None, invite=invite, institution=institution,
        form=form, user=user, matches=matches,
        contact=agents.mask_identifier(contact) if contact else "",
    ), 400 if request.method == "POST" else 200, headers
