"""Document pages: list and upload (streamed), detail with history, download, staff actions."""

from __future__ import annotations

from typing import NoReturn

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from core.audit import record_audit
from core.db import db
from core.documents import service
from core.documents.forms import (
    DocumentUploadForm,
    StatusRecordForm,
    VerificationForm,
    upload_meta,
)
from core.documents.kinds import get_kind
from core.documents.models import RecordedStatus, Verification
from core.documents.multipart import read_upload_request
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied
from core.extensions import csrf
from core.identity.forms import EmptyForm
from core.identity.models import Role
from core.institutions.access import can_manage_institution, can_view_institution_private
from core.institutions.models import Institution
from core.plugins import plugins
from core.storage import content_disposition
from core.web.forms import attach_problems

bp = Blueprint("documents", __name__, template_folder="templates")

# Service field names → upload form field names.
_FIELDS = {"categoryCode": "category_code", "certificateNumber": "certificate_number",
           "validFrom": "valid_from", "validTo": "valid_to", "longTerm": "long_term"}


def _deny(object_type: str, object_id: int) -> NoReturn:
    """Refuse as "not found", auditing the attempt (SECURITY.md 9)."""
    record_audit("document.access_denied", object_type=object_type, object_id=object_id,
                 result="denied")
    db.session.commit()
    abort(404)


def _institution_for_staff(institution_id: int) -> Institution:
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        abort(404)
    if not can_view_institution_private(current_user, institution_id):
        _deny("institution", institution_id)
    return institution


def _render_list(institution: Institution, form: DocumentUploadForm, status: int = 200):  # type: ignore[no-untyped-def]
    documents = service.institution_documents(institution.id, current_user)
    return render_template(
        "documents/list.html", institution=institution, form=form, documents=documents,
        status_of=service.status_of, kind_of=get_kind,
        can_manage=can_manage_institution(current_user, institution.id),
    ), status


@bp.route("/institutions/<int:institution_id>/documents")
@login_required
def list_documents(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution_for_staff(institution_id)
    form = DocumentUploadForm(categories=plugins.categories().values())
    return _render_list(institution, form)


@bp.route("/institutions/<int:institution_id>/documents", methods=["POST"])
@csrf.exempt  # the token is checked below, from the stream, before the file is read
@login_required
def upload(institution_id: int):  # type: ignore[no-untyped-def]
    institution = _institution_for_staff(institution_id)
    body, file_part = read_upload_request()
    form = DocumentUploadForm(formdata=body.fields, meta={"csrf": False},
                              categories=plugins.categories().values())
    if not form.validate():
        return _render_list(institution, form, 400)
    if file_part is None or not file_part.filename:
        form.file.errors = [_("Choose a file to upload.")]
        return _render_list(institution, form, 400)
    try:
        meta = service.validate_meta(upload_meta(form), institution)
        service.store_upload(institution, meta, body.file_stream(), filename=file_part.filename,
                             actor=current_user, idempotency_key=form.idempotency_key.data or None)
    except PermissionDenied:
        abort(403)
    except service.StorageUnavailableError as exc:
        flash(exc.message, "error")
        return _render_list(institution, form, 503)
    except DomainError as exc:
        if exc.code is ErrorCode.FILE_TOO_LARGE:
            abort(413)  # the rest of the body is never read
        attach_problems(form, exc, _FIELDS)
        return _render_list(institution, form, 400)
    flash(_("The document has been uploaded and waits for the operator's verification."), "success")
    return redirect(url_for("documents.list_documents", institution_id=institution.id))


def _visible_document(document_id: int):  # type: ignore[no-untyped-def]
    try:
        return service.get_for_viewer(document_id,
                                      current_user if current_user.is_authenticated else None)
    except NotFound:
        abort(404)


@bp.route("/documents/<int:document_id>")
@login_required
def detail(document_id: int):  # type: ignore[no-untyped-def]
    document = _visible_document(document_id)
    if not can_view_institution_private(current_user, document.institution_id):
        _deny("document", document.id)  # the public sees public certificates on the directory
    return render_template(
        "documents/detail.html", document=document, kind=get_kind(document.kind),
        history=service.history(document), status=service.status_of(document),
        verification_form=VerificationForm(status=document.verification.value),
        status_form=StatusRecordForm(),
        is_operator=current_user.has_role(Role.OPERATOR),
        can_manage=can_manage_institution(current_user, document.institution_id),
    )


@bp.route("/documents/<int:document_id>/download")
def download(document_id: int):  # type: ignore[no-untyped-def]
    user = current_user if current_user.is_authenticated else None
    try:
        document, body = service.open_for_download(document_id, user)
    except NotFound:
        abort(404)
    except service.StorageUnavailableError:
        abort(503)
    response = Response(stream_with_context(body), mimetype=document.content_type)
    response.headers["Content-Disposition"] = content_disposition(document.original_filename)
    response.headers["Content-Length"] = str(document.size)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/documents/<int:document_id>/verification", methods=["POST"])
@login_required
def set_verification(document_id: int):  # type: ignore[no-untyped-def]
    document = _visible_document(document_id)
    form = VerificationForm()
    if form.validate_on_submit():
        try:
            service.set_verification(document, Verification(form.status.data),
                                     reason=form.reason.data, actor=current_user)
        except PermissionDenied:
            abort(403)
        except InvalidInput as exc:
            flash(exc.message, "error")
        else:
            flash(_("Verification saved."), "success")
    return redirect(url_for("documents.detail", document_id=document.id))


@bp.route("/documents/<int:document_id>/status", methods=["POST"])
@login_required
def record_status(document_id: int):  # type: ignore[no-untyped-def]
    document = _visible_document(document_id)
    form = StatusRecordForm()
    if form.validate_on_submit():
        try:
            service.record_status(document, RecordedStatus(form.status.data),
                                  effective_on=form.effective_on.data, source=form.source.data or "",
                                  note=form.note.data, actor=current_user)
        except PermissionDenied:
            abort(403)
        except InvalidInput as exc:
            flash(exc.message, "error")
        else:
            flash(_("Certificate status recorded."), "success")
    else:
        flash(_("Enter the date and the source of the status."), "error")
    return redirect(url_for("documents.detail", document_id=document.id))


@bp.route("/documents/<int:document_id>/delete", methods=["POST"])
@login_required
def delete(document_id: int):  # type: ignore[no-untyped-def]
    document = _visible_document(document_id)
    if EmptyForm().validate_on_submit():
        try:
            service.soft_delete(document, actor=current_user)
        except PermissionDenied:
            abort(403)
        flash(_("The document was removed from current use; its history is kept."), "success")
    return redirect(url_for("documents.list_documents", institution_id=document.institution_id))


@bp.route("/documents/uploads/<token>", methods=["PUT"])
@csrf.exempt  # a presigned-URL stand-in: the unguessable, expiring token is the credential
def direct_upload(token: str):  # type: ignore[no-untyped-def]
    try:
        service.receive_direct_upload(token, request.stream)
    except NotFound:
        abort(404)
    except DomainError as exc:
        if exc.code is ErrorCode.FILE_TOO_LARGE:
            abort(413)
        abort(400)
    return "", 200
