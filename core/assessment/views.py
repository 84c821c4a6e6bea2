"""Assessment pages (R-ASM-02, R-ASM-04, R-ASM-06): the institution's cycles and final sheets
with their evidence and its service summaries; the operators' list, review (overrides with a
reason, recompute) and missing summaries; the regulator's finalisation; the PDF and Excel
exports.

The service decides who may see or change a sheet and audits refusals; a sheet the user may not
see is "not found" (404). A refused or failed step is rolled back, so the sheet stays as it was.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from core.assessment import evidence, exports, service, summaries
from core.assessment.forms import DECISIONS, FinaliseForm, OverrideForm, SummaryForm
from core.assessment.models import AssessmentSheet, ServiceSummary, SheetStatus
from core.assessment.sheet import ITEMS, PASS_MARK
from core.audit import record_audit
from core.db import db
from core.documents.models import Document
from core.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from core.identity.forms import EmptyForm
from core.identity.models import Role, User
from core.ids import page_number, parse_id
from core.institutions.access import can_manage_institution, is_platform_staff, visible_institutions
from core.institutions.models import Institution
from core.onboarding.models import RemovalNotice
from core.web.forms import attach_problems, run_action

bp = Blueprint("assessment", __name__, template_folder="templates")

PAGE_SIZES = (10, 20, 50, 100)
FIELDS = {"reason": "reason", "number": "decision", "body": "body", "documentId": "document_id",
          "cycleNumber": "body"}


def _deny(action: str, object_type: str, object_id: int | None, status: int) -> NoReturn:
    record_audit(action, object_type=object_type, object_id=object_id, result="denied",
                 actor=current_user)
    db.session.commit()
    abort(status)


def _platform_staff_only(action: str) -> None:
    if not is_platform_staff(current_user):
        _deny(action, "assessment_sheet", None, 403)


def _sheet(sheet_id: int) -> AssessmentSheet:
    try:
        return service.get_sheet(sheet_id, current_user)
    except (NotFound, PermissionDenied):
        abort(404)  # a refusal is audited by the service; 404 hides that the sheet exists


def _names(ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
                .all())


def _rows(sheet: AssessmentSheet, forms: dict[int, OverrideForm] | None = None) -> list[dict[str, Any]]:
    """The ten rows with their evidence in words and (for operators on a draft) a form each."""
    return [{"item": item, "title": ITEMS[item.number][1],
             "lines": evidence.describe(item.number, item.evidence),
             "links": evidence.links(item.number, item.evidence, sheet.institution_id),
             "form": forms.get(item.number) if forms is not None else None}
            for item in sheet.items]


# ---------------------------------------------------------------- the institution's page


def _summary_form(institution: Institution, number: int, saved: ServiceSummary | None,
                  documents: list[Document]) -> SummaryForm:
    form = SummaryForm(prefix=f"c{institution.id}-{number}")
    form.document_id.choices = [("", _("No document"))] + [
        (str(d.id), d.original_filename) for d in documents]
    if saved is not None and not form.is_submitted():
        form.body.data = saved.body
        form.document_id.data = str(saved.document_id or "")
    return form


def _institution_blocks(failed: tuple[int, int, SummaryForm] | None = None) -> list[dict[str, Any]]:
    blocks = []
    for institution in visible_institutions(current_user):
        views = service.cycles_of(institution, current_user)
        manage = can_manage_institution(current_user, institution.id)
        saved = {s.cycle_number: s for s in db.session.scalars(select(ServiceSummary).where(
            ServiceSummary.institution_id == institution.id))}
        documents = list(db.session.scalars(select(Document).where(
            Document.institution_id == institution.id, Document.deleted_at.is_(None))
            .order_by(Document.uploaded_at.desc()))) if manage else []
        cycles = []
        for view in views:
            form = None
            if manage and not (view.sheet is not None and view.sheet.is_final):
                if failed and failed[:2] == (institution.id, view.cycle.number):
                    form = failed[2]
                else:
                    form = _summary_form(institution, view.cycle.number,
                                         saved.get(view.cycle.number), documents)
            cycles.append({"view": view, "summary": saved.get(view.cycle.number), "form": form,
                           "rows": _rows(view.sheet) if view.sheet is not None else []})
        blocks.append({"institution": institution, "cycles": cycles, "manage": manage})
    return blocks


@bp.route("/assessment")
@login_required
def home():  # type: ignore[no-untyped-def]
    """An institution's cycles, its final sheets with their evidence and its summaries."""
    if is_platform_staff(current_user):
        return redirect(url_for("assessment.sheets"))
    if not current_user.has_role(Role.INSTITUTION_ADMIN, Role.INSTITUTION_AGENT):
        _deny("assessment.cycles", "institution", None, 403)
    return render_template("assessment/home.html", blocks=_institution_blocks(),
                           pass_mark=PASS_MARK)


@bp.route("/assessment/institutions/<int:institution_id>/cycles/<int:number>/summary",
          methods=["POST"])
@login_required
def submit_summary(institution_id: int, number: int):  # type: ignore[no-untyped-def]
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    if not can_manage_institution(current_user, institution_id):
        _deny("assessment.summary", "institution", institution_id, 404)
    documents = list(db.session.scalars(select(Document).where(
        Document.institution_id == institution_id, Document.deleted_at.is_(None))))
    form = _summary_form(institution, number, None, documents)
    if form.validate_on_submit():
        try:
            summaries.submit_summary(institution, number, body=form.body.data or "",
                                     document_id=parse_id(form.document_id.data),
                                     actor=current_user)
        except PermissionDenied:
            abort(403)
        except DomainError as exc:
            db.session.rollback()
            attach_problems(form, exc, FIELDS)
        else:
            flash(_("The service summary of cycle %(n)d is saved.", n=number), "success")
            return redirect(url_for("assessment.home") + f"#cycle-{institution_id}-{number}")
    elif form.csrf_token.errors:
        flash(_("The form has expired: please try again."), "error")
    return render_template("assessment/home.html", pass_mark=PASS_MARK,
                           blocks=_institution_blocks((institution_id, number, form))), 400


# ---------------------------------------------------------------- the operators' lists


def _page_args() -> tuple[int, int]:
    size = request.args.get("per_page", 20, type=int)
    return page_number(request.args.get("page")), size if size in PAGE_SIZES else 20


def _institutions_of(rows: list[AssessmentSheet]) -> dict[int, Any]:
    ids = {s.institution_id for s in rows}
    if not ids:
        return {}
    return {i.id: i for i in db.session.scalars(select(Institution).where(Institution.id.in_(ids)))}


@bp.route("/assessment/sheets")
@login_required
def sheets():  # type: ignore[no-untyped-def]
    """Every sheet, by year, status and result, newest cycle end first (operators, regulators)."""
    if not is_platform_staff(current_user):
        if current_user.has_role(Role.INSTITUTION_ADMIN, Role.INSTITUTION_AGENT):
            return redirect(url_for("assessment.home"))
        _platform_staff_only("assessment.list")
    number, size = _page_args()
    year = request.args.get("year", type=int)
    raw_status = request.args.get("status", "")
    status = SheetStatus(raw_status) if raw_status in SheetStatus._value2member_map_ else None
    result = request.args.get("result", "")
    passed = {"pass": True, "fail": False}.get(result)
    try:
        rows, total = service.list_sheets(current_user, year=year, status=status, passed=passed,
                                          first=size, offset=(number - 1) * size)
    except InvalidInput as exc:  # a year out of range: say so and list every year
        flash(exc.problems[0].message, "error")
        year = None
        rows, total = service.list_sheets(current_user, status=status, passed=passed,
                                          first=size, offset=(number - 1) * size)
    return render_template(
        "assessment/list.html", sheets=rows, total=total, page_number=number, per_page=size,
        pages=max(1, -(-total // size)), institutions=_institutions_of(rows), year=year,
        status=status, result=result if passed is not None else "",
        status_labels={SheetStatus.DRAFT: _("Draft (under review)"), SheetStatus.FINAL: _("Final")})


@bp.route("/assessment/summaries/missing")
@login_required
def missing_summaries():  # type: ignore[no-untyped-def]
    """Computed cycles whose institution sent no service summary (R-ASM-06)."""
    number, size = _page_args()
    try:
        rows, total = summaries.sheets_missing_summary(current_user, first=size,
                                                       offset=(number - 1) * size)
    except PermissionDenied:
        abort(403)  # audited by the service
    return render_template("assessment/missing.html", sheets=rows, total=total,
                           page_number=number, per_page=size, pages=max(1, -(-total // size)),
                           institutions=_institutions_of(rows))


# ---------------------------------------------------------------- one sheet


def _render_sheet(sheet: AssessmentSheet, *, override: tuple[int, OverrideForm] | None = None,
                  finalise_form: FinaliseForm | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    draft = not sheet.is_final
    forms = None
    if draft and current_user.has_role(Role.OPERATOR):
        forms = {item.number: OverrideForm(prefix=f"item{item.number}",
                                           formdata=None) for item in sheet.items}
        for form, item in zip(forms.values(), sheet.items, strict=True):
            form.decision.data = {True: "deduct", False: "keep", None: "computed"}[
                item.override_deducted]
        if override is not None:
            forms[override[0]] = override[1]
    names = _names({sheet.computed_by_id, sheet.finalised_by_id,
                    *(i.overridden_by_id for i in sheet.items)})
    return render_template(
        "assessment/sheet.html", sheet=sheet, rows=_rows(sheet, forms), names=names,
        institution=db.session.get(Institution, sheet.institution_id),
        summary=summaries.summary_for(sheet.institution_id, sheet.cycle_number),
        notice=(db.session.get(RemovalNotice, sheet.removal_notice_id)
                if sheet.removal_notice_id else None),
        may_recompute=draft and service.can_compute(current_user), recompute_form=EmptyForm(),
        finalise_form=(finalise_form or FinaliseForm())
        if draft and current_user.has_role(Role.REGULATOR) else None,
        status_label=exports.status_label(sheet), result_label=exports.result_label(sheet),
        pass_mark=PASS_MARK), status


@bp.route("/assessment/sheets/<int:sheet_id>")
@login_required
def sheet(sheet_id: int):  # type: ignore[no-untyped-def]
    return _render_sheet(_sheet(sheet_id))


@bp.route("/assessment/sheets/<int:sheet_id>/items/<int:number>/override", methods=["POST"])
@login_required
def override(sheet_id: int, number: int):  # type: ignore[no-untyped-def]
    """The operator's override of one item, always with a reason (R-ASM-04)."""
    found = _sheet(sheet_id)
    form = OverrideForm(prefix=f"item{number}")
    if form.validate_on_submit():
        if form.decision.data not in DECISIONS:
            form.decision.errors = [_("Choose the answer in force.")]
        else:
            try:
                service.override_item(found, number, deducted=DECISIONS[form.decision.data],
                                      reason=form.reason.data or "", actor=current_user)
            except PermissionDenied:
                abort(403)
            except DomainError as exc:
                db.session.rollback()
                attach_problems(form, exc, FIELDS)
            else:
                flash(_("Item %(n)d is overridden; the score is now %(score)d.", n=number,
                        score=found.score), "success")
                return redirect(url_for("assessment.sheet", sheet_id=sheet_id) + f"#item-{number}")
    elif form.csrf_token.errors:
        flash(_("The form has expired: please try again."), "error")
    if not current_user.has_role(Role.OPERATOR):
        _deny("assessment.override", "assessment_sheet", sheet_id, 403)
    return _render_sheet(_sheet(sheet_id), override=(number, form), status=400)


@bp.route("/assessment/sheets/<int:sheet_id>/recompute", methods=["POST"])
@login_required
def recompute(sheet_id: int):  # type: ignore[no-untyped-def]
    """Recompute the draft from the records (same rows, overrides kept)."""
    found = _sheet(sheet_id)
    if EmptyForm().validate_on_submit():
        institution = db.session.get(Institution, found.institution_id)
        assert institution is not None
        run_action(lambda: service.compute_assessment(institution, actor=current_user,
                                                      cycle_number=found.cycle_number),
                   success=lambda again: _("The draft is recomputed: %(score)d points.",
                                           score=again.score))
    else:
        flash(_("The form has expired: please try again."), "error")
    return redirect(url_for("assessment.sheet", sheet_id=sheet_id))


@bp.route("/assessment/sheets/<int:sheet_id>/finalise", methods=["POST"])
@login_required
def finalise(sheet_id: int):  # type: ignore[no-untyped-def]
    """The regulator's decision: the sheet becomes final; a failed one raises removal."""
    found = _sheet(sheet_id)
    form = FinaliseForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            flash(_("The form has expired: please try again."), "error")
        return redirect(url_for("assessment.sheet", sheet_id=sheet_id))
    if not form.confirm.data:
        if not current_user.has_role(Role.REGULATOR):
            _deny("assessment.finalise", "assessment_sheet", sheet_id, 403)
        form.confirm.errors = [_("Tick the box to confirm that the sheet becomes final.")]
        return _render_sheet(found, finalise_form=form, status=400)
    if (run_action(lambda: service.finalise(found, actor=current_user),
                   success=_("The score sheet is final; the institution has been told."))
            and found.removal_notice_id):
        flash(_("The sheet failed: a removal notice has been issued."), "warning")
    return redirect(url_for("assessment.sheet", sheet_id=sheet_id))


# ---------------------------------------------------------------- exports


@bp.route("/assessment/sheets/<int:sheet_id>.pdf")
@login_required
def sheet_pdf(sheet_id: int):  # type: ignore[no-untyped-def]
    """The Annex 2 sheet as a printable PDF; whoever may read the sheet; audited."""
    found = _sheet(sheet_id)
    institution = db.session.get(Institution, found.institution_id)
    assert institution is not None
    finaliser = db.session.get(User, found.finalised_by_id) if found.finalised_by_id else None
    data = exports.sheet_pdf(found, institution,
                             finalised_by=finaliser.display_name if finaliser else None)
    record_audit("assessment.export_pdf", object_type="assessment_sheet", object_id=sheet_id,
                 actor=current_user)
    db.session.commit()
    filename = f"assessment-{institution.uscc or institution.id}-cycle{found.cycle_number}.pdf"
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"})


@bp.route("/assessment/export.xlsx")
@login_required
def export_xlsx():  # type: ignore[no-untyped-def]
    """A year's results of every institution for the regulator and the operator; audited."""
    _platform_staff_only("assessment.export_xlsx")
    year = request.args.get("year", type=int)
    if year is None or not 2000 <= year <= 2200:
        flash(_("Choose the year of the cycles to export."), "error")
        return redirect(url_for("assessment.sheets"))
    counted = 0

    def counting() -> Any:
        nonlocal counted
        for row in exports.rows_of_year(year):
            counted += 1
            yield row

    data = exports.results_workbook(counting())
    record_audit("assessment.export_xlsx", object_type="assessment_sheet", object_id=None,
                 after={"year": year, "rows": counted}, actor=current_user)
    db.session.commit()
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument"
                                   ".spreadsheetml.sheet", headers={
        "Content-Disposition": f'attachment; filename="assessment-{year}.xlsx"',
        "Cache-Control": "no-store"})
