"""Document metadata, operator-recorded certificate status changes, and pending uploads."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from core.institutions.models import Institution


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


class Verification(enum.StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    REJECTED = "rejected"


class RecordedStatus(enum.StrEnum):
    """What an accreditation body publishes about a certificate, recorded by an operator."""

    SUSPENDED = "suspended"  # 暂停
    WITHDRAWN = "withdrawn"  # 撤销
    RESTORED = "restored"  # 恢复: ends an earlier suspension


class Document(Base):
    __tablename__ = "document"
    # A retried form post carries the same key and yields the same document (SECURITY.md 4).
    __table_args__ = (UniqueConstraint("institution_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    category_code: Mapped[str | None] = mapped_column(String(40))
    certificate_number: Mapped[str | None] = mapped_column(String(64), index=True)
    issuer: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]  # None with long_term: a licence without an end date
    long_term: Mapped[bool] = mapped_column(default=False)
    scope: Mapped[str | None] = mapped_column(Text)

    object_key: Mapped[str] = mapped_column(String(200), unique=True)
    original_filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))

    verification: Mapped[Verification] = mapped_column(
        _enum(Verification, "document_verification"), default=Verification.UNVERIFIED)
    verification_reason: Mapped[str | None] = mapped_column(Text)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    verified_at: Mapped[datetime | None]

    # A new upload of the same certificate supersedes this one; the chain is the history.
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    superseded_at: Mapped[datetime | None]
    # Soft delete: evidence for assessment and history stays readable.
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    # foreign_keys: institution.logo_document_id points back at document (onboarding).
    institution: Mapped[Institution] = relationship(foreign_keys=[institution_id])
    status_records: Mapped[list[CertificateStatusRecord]] = relationship(
        back_populates="document", order_by="CertificateStatusRecord.effective_on")

    @property
    def is_current(self) -> bool:
        return self.superseded_by_id is None and self.deleted_at is None


class CertificateStatusRecord(Base):
    """A suspension, withdrawal or restoration, dated and with its source (R-ELIG-02 evidence)."""

    __tablename__ = "certificate_status_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"), index=True)
    status: Mapped[RecordedStatus] = mapped_column(_enum(RecordedStatus, "certificate_recorded_status"))
    effective_on: Mapped[date]
    source: Mapped[str] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship(back_populates="status_records")


class PendingUpload(Base):
    """A presigned upload handed to a front-end app, waiting for `confirmDocumentUpload`."""

    __tablename__ = "pending_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the public id of the upload
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    object_key: Mapped[str] = mapped_column(String(200), unique=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    original_filename: Mapped[str] = mapped_column(String(255))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    confirmed_document_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"))
    closed_at: Mapped[datetime | None]  # confirmed, refused or expired
