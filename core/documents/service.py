"""Documents: validate, store (object first, then row), supersede, verify, download, sweep.

Consistency rule (SECURITY.md 16): the object is written before its row is committed; when the
commit fails the object is deleted again, and `sweep_orphans` removes whatever a crash between
the two left behind. A refused upload leaves neither a row nor an object.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.audit import record_audit, sanitize_text
from core.clock import local_today
from core.db import db, utcnow
from core.documents.kinds import LICENCE_KINDS, get_kind, normalise_number
from core.documents.models import (
    CertificateStatusRecord,
    Document,
    PendingUpload,
    RecordedStatus,
    Verification,
)
from core.documents.status import CertificateStatus, StatusVerdict, certificate_status
from core.documents.storage import get_storage
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.institutions.access import can_manage_institution, can_view_institution_private, staff_role
from core.institutions.models import Institution
from core.plugins import plugins
from core.storage import (
    EmptyUpload,
    InspectingReader,
    ObjectNotFound,
    ReadableStream,
    Storage,
    StorageError,
    UnsupportedFileType,
    UploadRejected,
    UploadTooLarge,
    require_content_type,
    safe_filename,
)

KEY_PREFIX = "documents"


class UploadRefused(DomainError):
    """The file itself was refused (size, type, emptiness, checksum); nothing was stored."""


class StorageUnavailableError(DomainError):
    code = ErrorCode.STORAGE_UNAVAILABLE


@dataclass(frozen=True)
class DocumentMeta:
    kind: str
    category_code: str | None
    certificate_number: str | None
    issuer: str | None
    valid_from: date | None
    valid_to: date | None
    long_term: bool
    scope: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "category_code": self.category_code,
            "certificate_number": self.certificate_number, "issuer": self.issuer,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "long_term": self.long_term, "scope": self.scope,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DocumentMeta:
        return cls(
            kind=data["kind"], category_code=data["category_code"],
            certificate_number=data["certificate_number"], issuer=data["issuer"],
            valid_from=date.fromisoformat(data["valid_from"]) if data["valid_from"] else None,
            valid_to=date.fromisoformat(data["valid_to"]) if data["valid_to"] else None,
            long_term=bool(data["long_term"]), scope=data["scope"],
        )


def _text(value: Any, limit: int) -> str | None:
    text = str(value).strip() if value is not None else ""
    return sanitize_text(text, limit) if text else None


def validate_meta(raw: Mapping[str, Any], institution: Institution) -> DocumentMeta:
    """Check a document's metadata; every problem is named with its field (camelCase)."""
    problems: list[Problem] = []
    kind = get_kind(str(raw.get("kind") or ""))
    if kind is None:
        raise InvalidInput([Problem(ErrorCode.INVALID_INPUT, _("Choose a document type."), "kind")])

    category = _text(raw.get("categoryCode"), 40)
    if category and category not in plugins.categories():
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("Unknown service category."), "categoryCode"))

    number = _text(raw.get("certificateNumber"), 64)
    if kind.has_number:
        if not number:
            problems.append(Problem(ErrorCode.REQUIRED, _("Enter the certificate number."),
                                    "certificateNumber"))
        else:
            number = normalise_number(number)
            message = kind.check_number(number) if kind.check_number else None
            if message:
                problems.append(Problem(ErrorCode.INVALID_NUMBER, message, "certificateNumber"))
            elif (kind.code in LICENCE_KINDS and institution.uscc
                  and number != institution.uscc):
                problems.append(Problem(
                    ErrorCode.INVALID_NUMBER,
                    _("The licence's credit code differs from the institution's (%(uscc)s).",
                      uscc=institution.uscc),
                    "certificateNumber"))
    else:
        number = None

    issuer = _text(raw.get("issuer"), 200)
    if kind.has_number and not issuer:
        problems.append(Problem(ErrorCode.REQUIRED, _("Enter the issuing authority."), "issuer"))

    valid_from = raw.get("validFrom")
    valid_to = raw.get("validTo")
    long_term = bool(raw.get("longTerm"))
    if kind.has_validity:
        if not isinstance(valid_from, date):
            problems.append(Problem(ErrorCode.REQUIRED, _("Enter the date the document takes effect."),
                                    "validFrom"))
        if long_term and kind.code not in LICENCE_KINDS:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("Only a licence can be valid without an end date."), "longTerm"))
        elif not long_term and not isinstance(valid_to, date):
            problems.append(Problem(ErrorCode.REQUIRED,
                                    _("Enter the end of the validity period, or mark it long-term."),
                                    "validTo"))
        elif (isinstance(valid_from, date) and isinstance(valid_to, date) and not long_term
              and valid_to < valid_from):
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("The validity period ends before it starts."), "validTo"))
    else:
        valid_from = valid_to = None
        long_term = False
    if problems:
        raise InvalidInput(problems)
    return DocumentMeta(
        kind=kind.code, category_code=category, certificate_number=number, issuer=issuer,
        valid_from=valid_from if isinstance(valid_from, date) else None,
        valid_to=None if long_term or not isinstance(valid_to, date) else valid_to,
        long_term=long_term, scope=_text(raw.get("scope"), 20_000),
    )


# ---------------------------------------------------------------- permission helpers


def require_manager(user: User, institution: Institution) -> None:
    if not can_manage_institution(user, institution.id):
        record_audit("document.denied", object_type="institution", object_id=institution.id,
                     result="denied")
        db.session.commit()
        raise PermissionDenied(_("Only the institution's administrator can manage its documents."))


def require_operator(user: User, document: Document) -> None:
    if not user.has_role(Role.OPERATOR):
        record_audit("document.denied", object_type="document", object_id=document.id,
                     result="denied", actor=user)  # refusals are audited (SECURITY.md 9)
        db.session.commit()
        raise PermissionDenied(_("Only the platform operator can do this."))


def _refusal(exc: UploadRejected) -> UploadRefused:
    if isinstance(exc, UploadTooLarge):
        mb = current_app.config["UPLOAD_MAX_BYTES"] // (1024 * 1024)
        return UploadRefused(_("The file is larger than %(mb)d MB.", mb=mb),
                             code=ErrorCode.FILE_TOO_LARGE, field="file")
    if isinstance(exc, EmptyUpload):
        return UploadRefused(_("The file is empty."), code=ErrorCode.FILE_EMPTY, field="file")
    if isinstance(exc, UnsupportedFileType):
        return UploadRefused(_("Only PDF, JPEG and PNG files are accepted (checked by content)."),
                             code=ErrorCode.FILE_TYPE_NOT_ALLOWED, field="file")
    return UploadRefused(exc.message, field="file")


def _storage_down(exc: StorageError) -> StorageUnavailableError:
    current_app.logger.warning("object storage failed: %s", exc)
    return StorageUnavailableError(_("Document storage is unavailable; please try again later."))


def _storage() -> Storage:
    """The app's store; when it cannot be reached (the bucket is ensured on first use), the
    user gets "storage unavailable" rather than a server error."""
    try:
        return get_storage()
    except StorageError as exc:
        raise _storage_down(exc) from exc


# ---------------------------------------------------------------- storing


def _inspect(stream: ReadableStream) -> tuple[InspectingReader, str]:
    reader = InspectingReader(stream, max_bytes=current_app.config["UPLOAD_MAX_BYTES"])
    try:
        return reader, require_content_type(reader)
    except UploadRejected as exc:
        raise _refusal(exc) from exc


def store_upload(
    institution: Institution, meta: DocumentMeta, stream: ReadableStream, *, filename: str,
    actor: User, idempotency_key: str | None = None,
) -> Document:
    """Stream a file into storage and record it; the type is decided by the bytes, the size is
    enforced as they arrive, the SHA-256 is computed on the way."""
    require_manager(actor, institution)
    if idempotency_key:
        existing = db.session.scalar(select(Document).where(
            Document.institution_id == institution.id, Document.idempotency_key == idempotency_key))
        if existing is not None:
            return existing  # a retried post: the first one's document, nothing stored twice
    reader, content_type = _inspect(stream)
    storage = _storage()
    key = storage.new_key(KEY_PREFIX)
    try:
        storage.put_stream(key, reader, content_type=content_type)
    except UploadRejected as exc:
        raise _refusal(exc) from exc
    except StorageError as exc:
        raise _storage_down(exc) from exc
    return _record(institution, meta, key=key, filename=filename, content_type=content_type,
                   size=reader.size, sha256=reader.sha256_hex, actor=actor,
                   idempotency_key=idempotency_key)


def _record(
    institution: Institution, meta: DocumentMeta, *, key: str, filename: str, content_type: str,
    size: int, sha256: str, actor: User, idempotency_key: str | None = None,
    pending: PendingUpload | None = None,
) -> Document:
    """Commit the row for an object already stored; on any failure the object is removed."""
    try:
        document = Document(
            institution_id=institution.id, kind=meta.kind, category_code=meta.category_code,
            certificate_number=meta.certificate_number, issuer=meta.issuer,
            valid_from=meta.valid_from, valid_to=meta.valid_to, long_term=meta.long_term,
            scope=meta.scope, object_key=key, original_filename=safe_filename(filename),
            content_type=content_type, size=size, sha256=sha256, uploaded_by_id=actor.id,
            idempotency_key=idempotency_key,
        )
        db.session.add(document)
        db.session.flush()
        replaced = _supersede_previous(document)
        if pending is not None:
            pending.confirmed_document_id = document.id
            pending.closed_at = utcnow()
        record_audit("document.upload", object_type="document", object_id=document.id,
                     after={"kind": meta.kind, "number": meta.certificate_number, "size": size,
                            "sha256": sha256, "supersedes": replaced}, actor=actor)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _delete_quietly(key)
        if idempotency_key:  # a concurrent retry of the same post won the race
            winner = db.session.scalar(select(Document).where(
                Document.institution_id == institution.id,
                Document.idempotency_key == idempotency_key))
            if winner is not None:
                return winner
        raise
    except BaseException:
        db.session.rollback()
        _delete_quietly(key)
        raise
    return document


def _delete_quietly(key: str) -> None:
    try:
        get_storage().delete(key)
    except StorageError:  # the sweep removes it later
        current_app.logger.warning("could not remove orphan object %s; the sweep will", key)


def _same_certificate(document: Document):  # type: ignore[no-untyped-def]
    """Rows that are the same certificate as `document` (its earlier versions)."""
    query = select(Document).where(
        Document.institution_id == document.institution_id, Document.kind == document.kind,
        Document.id != document.id)
    if document.kind in LICENCE_KINDS:
        return query  # one licence per institution: any new one replaces the old
    return query.where(Document.certificate_number == document.certificate_number)


def _supersede_previous(document: Document) -> list[int]:
    kind = get_kind(document.kind)
    if kind is None or not kind.has_number:
        return []  # photos accumulate; they are not versions of each other
    replaced = []
    now = utcnow()
    for old in db.session.scalars(_same_certificate(document).where(
            Document.superseded_by_id.is_(None), Document.deleted_at.is_(None))):
        old.superseded_by_id = document.id
        old.superseded_at = now
        replaced.append(old.id)
    return replaced


def history(document: Document) -> list[Document]:
    """Every version of the certificate, newest first (superseded and deleted ones included)."""
    kind = get_kind(document.kind)
    if kind is None or not kind.has_number:
        return [document]
    query = select(Document).where(
        Document.institution_id == document.institution_id, Document.kind == document.kind)
    if document.kind not in LICENCE_KINDS:
        query = query.where(Document.certificate_number == document.certificate_number)
    return list(db.session.scalars(query.order_by(Document.uploaded_at.desc(), Document.id.desc())))


# ---------------------------------------------------------------- presigned uploads


def request_upload(
    institution: Institution, meta: DocumentMeta, *, filename: str, actor: User,
    upload_url_for: Any,
) -> tuple[PendingUpload, str]:
    """Reserve a key and hand out a short-lived URL to PUT the file to.

    `upload_url_for(pending)` builds the app's own upload URL for backends that cannot presign.
    """
    require_manager(actor, institution)
    storage = _storage()
    minutes = current_app.config["UPLOAD_URL_MINUTES"]
    pending = PendingUpload(
        token=secrets.token_urlsafe(32), institution_id=institution.id,
        object_key=storage.new_key(KEY_PREFIX), metadata_json=meta.as_json(),
        original_filename=safe_filename(filename), requested_by_id=actor.id,
        expires_at=utcnow() + timedelta(minutes=minutes),
    )
    try:
        url = storage.presigned_put_url(pending.object_key, timedelta(minutes=minutes))
    except StorageError as exc:
        raise _storage_down(exc) from exc
    db.session.add(pending)
    db.session.flush()
    record_audit("document.upload_requested", object_type="pending_upload", object_id=pending.id,
                 after={"kind": meta.kind}, actor=actor)
    db.session.commit()
    return pending, url or upload_url_for(pending)


def _pending_for_update(token: str) -> PendingUpload | None:
    return db.session.scalar(
        select(PendingUpload).where(PendingUpload.token == token).with_for_update())


def receive_direct_upload(token: str, stream: ReadableStream) -> None:
    """The app-served stand-in for a presigned PUT (local-folder storage): the token is the
    credential, as in a presigned URL; the bytes are checked at confirmation."""
    pending = db.session.scalar(select(PendingUpload).where(PendingUpload.token == token))
    db.session.commit()  # do not hold a transaction open while the body streams in
    if pending is None or pending.closed_at is not None or pending.expires_at <= utcnow():
        raise NotFound(_("This upload link is unknown or has expired."))
    reader = InspectingReader(stream, max_bytes=current_app.config["UPLOAD_MAX_BYTES"])
    try:
        get_storage().put_stream(pending.object_key, reader, content_type="application/octet-stream")
    except UploadRejected as exc:
        raise _refusal(exc) from exc
    except StorageError as exc:
        raise _storage_down(exc) from exc


def confirm_upload(token: str, *, actor: User, sha256: str | None = None) -> Document:
    """Check the uploaded object (size, sniffed type, checksum) before the row is created;
    a refused object is deleted and the pending upload closed."""
    pending = _pending_for_update(token)
    if pending is None:
        db.session.rollback()
        raise NotFound(_("No such upload."), field="uploadId")
    institution = db.session.get(Institution, pending.institution_id)
    require_manager(actor, institution)  # type: ignore[arg-type]
    if pending.confirmed_document_id is not None:
        db.session.rollback()
        raise UploadRefused(_("This upload was already confirmed."), code=ErrorCode.ALREADY_CONFIRMED,
                            field="uploadId")
    if pending.closed_at is not None:
        db.session.rollback()
        raise UploadRefused(_("This upload was refused earlier; request a new one."),
                            code=ErrorCode.UPLOAD_EXPIRED, field="uploadId")
    if pending.expires_at <= utcnow():
        _close_refused(pending)
        raise UploadRefused(_("The upload link has expired; request a new one."),
                            code=ErrorCode.UPLOAD_EXPIRED, field="uploadId")
    try:
        storage = _storage()
    except StorageUnavailableError:
        db.session.rollback()
        raise
    try:
        info = storage.stat(pending.object_key)
    except ObjectNotFound as exc:
        db.session.rollback()
        raise UploadRefused(_("Nothing has been uploaded to the link yet."),
                            code=ErrorCode.UPLOAD_MISSING, field="uploadId") from exc
    except StorageError as exc:
        db.session.rollback()
        raise _storage_down(exc) from exc
    try:
        if info.size > current_app.config["UPLOAD_MAX_BYTES"]:
            raise _refusal(UploadTooLarge(current_app.config["UPLOAD_MAX_BYTES"]))
        with storage.open(pending.object_key) as stream:
            reader, content_type = _inspect(stream)
            while reader.read(1024 * 1024):
                pass
        if sha256 and sha256.lower() != reader.sha256_hex:
            raise UploadRefused(_("The file's SHA-256 differs from the one given."),
                                code=ErrorCode.CHECKSUM_MISMATCH, field="sha256")
    except UploadRefused:
        _close_refused(pending)
        raise
    except StorageError as exc:
        db.session.rollback()
        raise _storage_down(exc) from exc
    meta = DocumentMeta.from_json(pending.metadata_json)
    return _record(institution, meta, key=pending.object_key,  # type: ignore[arg-type]
                   filename=pending.original_filename, content_type=content_type,
                   size=reader.size, sha256=reader.sha256_hex, actor=actor, pending=pending)


def _close_refused(pending: PendingUpload) -> None:
    pending.closed_at = utcnow()
    record_audit("document.upload_refused", object_type="pending_upload", object_id=pending.id,
                 result="failed")
    db.session.commit()
    _delete_quietly(pending.object_key)


# ---------------------------------------------------------------- operator actions


def set_verification(document: Document, status: Verification, *, reason: str | None,
                     actor: User) -> None:
    require_operator(actor, document)
    reason = _text(reason, 2000)
    if status is Verification.REJECTED and not reason:
        raise InvalidInput([Problem(ErrorCode.REQUIRED, _("Give the reason for rejecting."), "reason")])
    before = {"verification": document.verification.value}
    document.verification = status
    document.verification_reason = reason
    document.verified_by_id = actor.id
    document.verified_at = utcnow()
    record_audit("document.verification", object_type="document", object_id=document.id,
                 before=before, after={"verification": status.value, "reason": reason}, actor=actor)
    db.session.commit()


def record_status(document: Document, status: RecordedStatus, *, effective_on: date, source: str,
                  note: str | None, actor: User) -> CertificateStatusRecord:
    """Record a suspension, withdrawal or restoration as an accreditation body published it."""
    require_operator(actor, document)
    source_text = _text(source, 500)
    if not source_text:
        raise InvalidInput([Problem(ErrorCode.REQUIRED,
                                    _("Name the source (e.g. the CNAS announcement)."), "source")])
    row = CertificateStatusRecord(document_id=document.id, status=status, effective_on=effective_on,
                                  source=source_text, note=_text(note, 2000),
                                  recorded_by_id=actor.id)
    db.session.add(row)
    db.session.flush()
    record_audit("document.status_recorded", object_type="document", object_id=document.id,
                 after={"status": status.value, "effective_on": effective_on.isoformat(),
                        "source": source_text}, actor=actor)
    db.session.commit()
    db.session.refresh(document)
    return row


def soft_delete(document: Document, *, actor: User) -> None:
    """Hide a document from current use; the row and object stay for history and evidence."""
    institution = db.session.get(Institution, document.institution_id)
    require_manager(actor, institution)  # type: ignore[arg-type]
    if document.deleted_at is None:
        document.deleted_at = utcnow()
        document.deleted_by_id = actor.id
        record_audit("document.delete", object_type="document", object_id=document.id, actor=actor)
        db.session.commit()


# ---------------------------------------------------------------- reading


def status_of(document: Document, on: date | None = None) -> StatusVerdict:
    on = on or local_today()
    return certificate_status(document, on, expiring_days=current_app.config["CERT_EXPIRING_DAYS"])


def is_public(document: Document) -> bool:
    """Public: a current, not rejected, valid certificate of a public kind of a public institution
    — live and not hidden under R-OPS-05 (an expired, suspended or withdrawn certificate is not
    advertised)."""
    kind = get_kind(document.kind)
    return bool(
        kind and kind.public and document.is_current
        and document.verification is not Verification.REJECTED
        and document.institution.is_public
        and status_of(document).status.usable
    )


def _is_order_document(document: Document) -> bool:
    from core.orders.service import ATTACHMENT_KINDS  # orders are built on documents

    return document.kind in ATTACHMENT_KINDS


def _may_read(user: User | None, document: Document) -> bool:
    """Public certificates: anyone. An order's contract and reports are between the institution
    and its client (R-G-05): the institution's staff and whoever sees an order it is attached to
    (orders decide) — not every platform role. Any other document: the institution's staff and
    the platform staff."""
    if is_public(document):
        return True
    if _is_order_document(document):
        from core.orders.service import may_read_attachment

        if user is not None and user.is_active and staff_role(user, document.institution_id) is not None:
            return True
        return may_read_attachment(user, document)
    return can_view_institution_private(user, document.institution_id)


def get_for_viewer(document_id: int, user: User | None) -> Document:
    """The document if `user` may see it; otherwise "not found" (and an audited refusal)."""
    # Beyond a 32-bit key it names no row (and PostgreSQL would refuse it with a server error).
    document = db.session.get(Document, document_id) if 0 < document_id < 2**31 else None
    if document is None:
        raise NotFound(_("No such document."))
    if _may_read(user, document):
        return document
    record_audit("document.access_denied", object_type="document", object_id=document_id,
                 result="denied", actor=user)
    db.session.commit()
    raise NotFound(_("No such document."))


def open_for_download(document_id: int, user: User | None) -> tuple[Document, Iterator[bytes]]:
    """Check permission, audit non-public downloads, and stream the bytes."""
    document = get_for_viewer(document_id, user)
    if not is_public(document):
        record_audit("document.download", object_type="document", object_id=document.id, actor=user)
        db.session.commit()
    storage = _storage()
    try:
        chunks = storage.iter_chunks(document.object_key)
        first = next(chunks, b"")
    except StorageError as exc:
        raise _storage_down(exc) from exc

    def body() -> Iterator[bytes]:
        yield first
        yield from chunks

    return document, body()


def institution_documents(institution_id: int, user: User | None, *,
                          include_history: bool = False) -> list[Document]:
    """What `user` may see of an institution's documents: all of them for its staff, all but
    its orders' contracts and reports for the platform staff, only public ones for anybody else."""
    query = select(Document).where(Document.institution_id == institution_id)
    if not include_history:
        query = query.where(Document.superseded_by_id.is_(None), Document.deleted_at.is_(None))
    documents = list(db.session.scalars(query.order_by(Document.kind, Document.uploaded_at.desc())))
    if can_view_institution_private(user, institution_id):
        if staff_role(user, institution_id) is None:  # a client's contract or report: on its order
            return [d for d in documents if not _is_order_document(d)]
        return documents
    return [d for d in documents if is_public(d)]


@dataclass(frozen=True)
class ExpiryReminder:
    institution_id: int
    document_id: int
    kind: str
    certificate_number: str | None
    status: CertificateStatus
    valid_to: date | None
    admin_user_ids: tuple[int, ...]


def expiry_reminders(on: date) -> list[ExpiryReminder]:
    """Current certificates that are expiring within the window or already expired on `on`,
    with the institution admins to tell (R-ELIG-02 keeps them eligible only while valid)."""
    from core.institutions.models import InstitutionStaff, InstitutionStatus, StaffRole

    # Reminders start a window before the end date and stop a window after it, and only for
    # institutions still applying or live; rejected documents are not reminded of.
    window = timedelta(days=current_app.config["CERT_EXPIRING_DAYS"])
    documents = db.session.scalars(select(Document).join(
        Institution, Institution.id == Document.institution_id).where(
        Document.superseded_by_id.is_(None), Document.deleted_at.is_(None),
        Document.verification != Verification.REJECTED,
        Institution.status.in_([InstitutionStatus.DRAFT, InstitutionStatus.LIVE]),
        Document.valid_to.is_not(None), Document.valid_to <= on + window,
        Document.valid_to >= on - window,
    ).order_by(Document.valid_to))
    admins: dict[int, tuple[int, ...]] = {}
    reminders = []
    for document in documents:
        verdict = status_of(document, on)
        if verdict.status not in (CertificateStatus.EXPIRING, CertificateStatus.EXPIRED):
            continue
        if document.institution_id not in admins:
            admins[document.institution_id] = tuple(db.session.scalars(
                select(InstitutionStaff.user_id).where(
                    InstitutionStaff.institution_id == document.institution_id,
                    InstitutionStaff.role == StaffRole.ADMIN)))
        reminders.append(ExpiryReminder(
            institution_id=document.institution_id, document_id=document.id, kind=document.kind,
            certificate_number=document.certificate_number, status=verdict.status,
            valid_to=document.valid_to, admin_user_ids=admins[document.institution_id]))
    return reminders


def send_expiry_reminders(on: date) -> list[ExpiryReminder]:
    """Hand the day's reminders to every notification plugin (the `certificates_expiring` hook)."""
    reminders = expiry_reminders(on)
    if reminders:
        plugins.pm.hook.certificates_expiring(reminders=reminders)
    return reminders


# ---------------------------------------------------------------- storage maintenance


@dataclass(frozen=True)
class VerifyProblem:
    document_id: int
    object_key: str
    problem: str  # "missing", "size", "checksum"


def sweep_orphans(*, older_than: timedelta, dry_run: bool = False) -> list[str]:
    """Delete stored objects that no document row and no open upload refers to, once they are
    older than the grace period (an upload in flight is never swept)."""
    now = utcnow()
    known = set(db.session.scalars(select(Document.object_key)))
    known |= set(db.session.scalars(select(PendingUpload.object_key).where(
        PendingUpload.closed_at.is_(None), PendingUpload.expires_at > now - older_than)))
    removed = []
    for info in get_storage().iter_objects(KEY_PREFIX + "/"):
        if info.key in known or now - info.last_modified < older_than:
            continue
        if not dry_run:
            get_storage().delete(info.key)
        removed.append(info.key)
    if removed and not dry_run:
        record_audit("storage.sweep", after={"removed": len(removed)})
        db.session.commit()
    return removed


def verify_objects() -> list[VerifyProblem]:
    """Rows whose object is missing, or whose bytes no longer match the recorded size/SHA-256."""
    storage = get_storage()
    problems = []
    for document in db.session.scalars(select(Document).order_by(Document.id)):
        try:
            digest = hashlib.sha256()
            size = 0
            for chunk in storage.iter_chunks(document.object_key):
                digest.update(chunk)
                size += len(chunk)
        except ObjectNotFound:
            problems.append(VerifyProblem(document.id, document.object_key, "missing"))
            continue
        if size != document.size:
            problems.append(VerifyProblem(document.id, document.object_key, "size"))
        elif digest.hexdigest() != document.sha256:
            problems.append(VerifyProblem(document.id, document.object_key, "checksum"))
    return problems

