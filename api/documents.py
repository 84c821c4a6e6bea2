"""Documents in GraphQL: lists with certificate status, presigned upload, staff actions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from flask import url_for

from api.errors import (
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    UserError,
    to_graphql_error,
)
from api.identity import require_viewer, viewer_model
from api.lookup import get_institution, int_id
from core.documents import models, service
from core.documents.kinds import get_kind
from core.documents.status import CertificateStatus
from core.errors import DomainError, NotFound
from core.ids import get_by_id
from core.institutions.models import Institution

VerificationEnum = strawberry.enum(models.Verification, name="DocumentVerification")
RecordedStatusEnum = strawberry.enum(models.RecordedStatus, name="CertificateRecordedStatus")
CertificateStatusEnum = strawberry.enum(CertificateStatus, name="CertificateStatus")


@strawberry.type(description="A file was refused (size, type, emptiness, checksum, expiry); "
                             "nothing was stored.")
class UploadRefusedError(UserError):
    pass


@strawberry.type
class StorageUnavailableError(UserError):
    pass


@strawberry.type
class CertificateStatusRecordType:
    id: strawberry.ID
    status: RecordedStatusEnum  # type: ignore[valid-type]
    effective_on: date
    source: str
    note: str | None


@strawberry.type(name="CertificateStatusVerdict")
class StatusVerdictType:
    status: CertificateStatusEnum  # type: ignore[valid-type]
    since: date | None
    source: str | None


@strawberry.type(name="Document")
class DocumentType:
    id: strawberry.ID
    institution_id: strawberry.ID
    kind: str
    category_code: str | None
    certificate_number: str | None
    issuer: str | None
    valid_from: date | None
    valid_to: date | None
    long_term: bool
    scope: str | None
    original_filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    verification: VerificationEnum  # type: ignore[valid-type]
    verification_reason: str | None
    is_current: bool
    _model: strawberry.Private[models.Document]

    @strawberry.field(description="The document type's name in the request's language.")
    def kind_name(self) -> str:
        kind = get_kind(self.kind)
        return str(kind.name) if kind else self.kind

    @strawberry.field(description="Status today: valid, expiring, expired, suspended …")
    def status(self, on: date | None = None) -> StatusVerdictType:
        verdict = service.status_of(self._model, on)
        return StatusVerdictType(status=verdict.status, since=verdict.since, source=verdict.source)

    @strawberry.field
    def status_records(self) -> list[CertificateStatusRecordType]:
        return [CertificateStatusRecordType(id=strawberry.ID(str(r.id)), status=r.status,
                                            effective_on=r.effective_on, source=r.source, note=r.note)
                for r in self._model.status_records]

    @strawberry.field(description="Every version of this certificate, newest first.")
    def history(self) -> list[DocumentType]:
        return [DocumentType.from_model(d) for d in service.history(self._model)]

    @strawberry.field(description="Where to download it (through the application, permission-checked).")
    def download_url(self) -> str:
        return url_for("documents.download", document_id=self._model.id, _external=True)

    @classmethod
    def from_model(cls, d: models.Document) -> DocumentType:
        return cls(
            id=strawberry.ID(str(d.id)), institution_id=strawberry.ID(str(d.institution_id)),
            kind=d.kind, category_code=d.category_code, certificate_number=d.certificate_number,
            issuer=d.issuer, valid_from=d.valid_from, valid_to=d.valid_to, long_term=d.long_term,
            scope=d.scope, original_filename=d.original_filename, content_type=d.content_type,
            size=d.size, sha256=d.sha256, uploaded_at=d.uploaded_at, verification=d.verification,
            verification_reason=d.verification_reason, is_current=d.is_current, _model=d,
        )



@strawberry.input
class DocumentUploadInput:
    institution_id: strawberry.ID
    kind: str = strawberry.field(description="business_licence, cma, cnas_laboratory, …")
    filename: str
    category_code: str | None = None
    certificate_number: str | None = None
    issuer: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    long_term: bool = False
    scope: str | None = None


@strawberry.type
class RequestDocumentUploadSuccess:
    upload_id: str = strawberry.field(description="Pass to confirmDocumentUpload after the PUT.")
    upload_url: str = strawberry.field(description="PUT the file's bytes here before expiresAt.")
    expires_at: datetime


@strawberry.type
class DocumentSuccess:
    document: DocumentType


RequestUploadResult = Annotated[
    RequestDocumentUploadSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError | StorageUnavailableError,
    strawberry.union("RequestDocumentUploadResult"),
]
DocumentResult = Annotated[
    DocumentSuccess | InvalidInputError | UploadRefusedError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError | StorageUnavailableError,
    strawberry.union("DocumentResult"),
]


def _error(exc: DomainError) -> UserError:
    code = to_graphql_error(exc).code
    if isinstance(exc, service.UploadRefused):
        return UploadRefusedError(code=code, message=exc.message, field=exc.field)
    if isinstance(exc, service.StorageUnavailableError):
        return StorageUnavailableError(code=code, message=exc.message, field=None)
    return to_graphql_error(exc)


@strawberry.type
class DocumentQuery:
    @strawberry.field(description="An institution's documents: all for its staff, operators and "
                                  "regulators; only public certificates of live institutions "
                                  "for anybody else.")
    def institution_documents(self, institution_id: strawberry.ID,
                              include_history: bool = False) -> list[DocumentType]:
        institution = get_by_id(Institution, institution_id)
        if institution is None:
            return []
        return [DocumentType.from_model(d) for d in service.institution_documents(
            institution.id, viewer_model(), include_history=include_history)]

    @strawberry.field
    def document(self, id: strawberry.ID) -> DocumentType | None:
        try:
            return DocumentType.from_model(service.get_for_viewer(int_id(id, "id"), viewer_model()))
        except NotFound:
            return None


@strawberry.type
class DocumentMutation:
    @strawberry.mutation(description="Reserve an upload: returns a short-lived URL to PUT the "
                                     "file to, then call confirmDocumentUpload.")
    def request_document_upload(self, input: DocumentUploadInput) -> RequestUploadResult:
        try:
            user = require_viewer()
            institution = get_institution(input.institution_id)
            service.require_manager(user, institution)
            meta = service.validate_meta({
                "kind": input.kind, "categoryCode": input.category_code,
                "certificateNumber": input.certificate_number, "issuer": input.issuer,
                "validFrom": input.valid_from, "validTo": input.valid_to,
                "longTerm": input.long_term, "scope": input.scope}, institution)
            pending, url = service.request_upload(
                institution, meta, filename=input.filename, actor=user,
                upload_url_for=lambda p: url_for("documents.direct_upload", token=p.token,
                                                 _external=True))
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return RequestDocumentUploadSuccess(upload_id=pending.token, upload_url=url,
                                            expires_at=pending.expires_at)

    @strawberry.mutation(description="Check the uploaded object (size, type by content, "
                                     "checksum) and record the document; a refused object is "
                                     "deleted.")
    def confirm_document_upload(self, upload_id: str, sha256: str | None = None) -> DocumentResult:
        try:
            document = service.confirm_upload(upload_id, actor=require_viewer(), sha256=sha256)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return DocumentSuccess(document=DocumentType.from_model(document))

    @strawberry.mutation(description="Operator: mark a document verified, rejected (reason "
                                     "required) or unverified.")
    def set_document_verification(self, document_id: strawberry.ID,
                                  status: VerificationEnum,  # type: ignore[valid-type]
                                  reason: str | None = None) -> DocumentResult:
        try:
            user = require_viewer()
            document = service.get_for_viewer(int_id(document_id, "documentId"), user)
            service.set_verification(document, models.Verification(status), reason=reason,
                                     actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return DocumentSuccess(document=DocumentType.from_model(document))

    @strawberry.mutation(description="Operator: record a suspension, withdrawal or restoration "
                                     "as the accreditation body published it.")
    def record_certificate_status(self, document_id: strawberry.ID,
                                  status: RecordedStatusEnum,  # type: ignore[valid-type]
                                  effective_on: date, source: str,
                                  note: str | None = None) -> DocumentResult:
        try:
            user = require_viewer()
            document = service.get_for_viewer(int_id(document_id, "documentId"), user)
            service.record_status(document, models.RecordedStatus(status),
                                  effective_on=effective_on, source=source, note=note, actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return DocumentSuccess(document=DocumentType.from_model(document))
