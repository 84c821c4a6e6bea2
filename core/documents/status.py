"""Certificate status on a given day: the one place that decides valid / expiring / expired."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from core.documents.kinds import get_kind
from core.documents.models import Document, RecordedStatus


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"  # valid, but ends within the warning window
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"

    @property
    def usable(self) -> bool:
        """Whether the certificate counts as valid for eligibility on that day (R-ELIG-02)."""
        return self in (CertificateStatus.VALID, CertificateStatus.EXPIRING)


@dataclass(frozen=True)
class StatusVerdict:
    status: CertificateStatus
    since: date | None  # the date the status took effect, when known
    source: str | None  # the published source of a suspension or withdrawal


def certificate_status(document: Document, on: date, *, expiring_days: int = 30) -> StatusVerdict:
    """The status of `document` on the day `on`.

    A certificate is valid through its `valid_to` day inclusive: valid until today counts, valid
    until yesterday does not. An operator's latest record effective on or before `on` wins over
    the dates (a suspension, a withdrawal, or a restoration that ends a suspension).
    """
    records = [r for r in document.status_records if r.effective_on <= on]
    if records:
        latest = max(records, key=lambda r: (r.effective_on, r.id))
        if latest.status is RecordedStatus.WITHDRAWN:
            return StatusVerdict(CertificateStatus.WITHDRAWN, latest.effective_on, latest.source)
        if latest.status is RecordedStatus.SUSPENDED:
            return StatusVerdict(CertificateStatus.SUSPENDED, latest.effective_on, latest.source)
    kind = get_kind(document.kind)
    if kind is not None and not kind.has_validity:
        return StatusVerdict(CertificateStatus.VALID, None, None)
    if document.valid_from and on < document.valid_from:
        return StatusVerdict(CertificateStatus.NOT_YET_VALID, document.valid_from, None)
    if document.long_term or document.valid_to is None:
        return StatusVerdict(CertificateStatus.VALID, document.valid_from, None)
    if on > document.valid_to:
        return StatusVerdict(CertificateStatus.EXPIRED, document.valid_to, None)
    if (document.valid_to - on).days <= expiring_days:
        return StatusVerdict(CertificateStatus.EXPIRING, document.valid_to, None)
    return StatusVerdict(CertificateStatus.VALID, document.valid_from, None)
