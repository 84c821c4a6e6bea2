"""The commitment letter (Annex 1): its versions as data, signing, and re-signing (R-COM-01/02).

The letter is data, not code: version 1 is the official text of Annex 1 in `commitment_v1.json`,
and the regulator publishes later versions with `publish_version`. `canonical_text` is the one
way a version becomes the text that is shown and signed; its SHA-256 is stored on the version
and, recomputed at the moment of signing, on every signature, so anyone can prove which exact
text an institution agreed to.

A new version flags every live institution until its admin signs it (R-COM-02); the flag is not
stored but computed (`institutions_needing_signature`), so it clears the moment the signature is
committed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from flask_babel import gettext as _
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.audit import record_audit, sanitize_text
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.ids import get_by_id
from core.institutions.access import can_manage_institution
from core.institutions.models import Institution, InstitutionStaff, InstitutionStatus, StaffRole
from core.onboarding.models import CommitmentSignature, CommitmentVersion

LETTER_V1 = Path(__file__).with_name("commitment_v1.json")
MAX_ITEMS = 20
TITLE_MAX = 200  # CommitmentVersion.title
SIGNER_MAX = 100  # CommitmentSignature.signer_name / signer_title
PUBLISHERS = (Role.REGULATOR, Role.SYSADMIN)
REMINDER_TEMPLATE = "commitment_resign"
REMINDER_CHANNELS = ("sms", "inbox")


class CommitmentOutdated(DomainError):
    """The version being signed is no longer the current one."""

    code = ErrorCode.COMMITMENT_OUTDATED


class AlreadySigned(DomainError):
    code = ErrorCode.ALREADY_SIGNED


class LetterText(Protocol):
    title: str
    preamble: str
    items: Sequence[str]
    closing: str


# ---------------------------------------------------------------- the text


@cache
def letter_v1() -> dict[str, Any]:
    """The official text of Annex 1 as shipped with the platform."""
    with LETTER_V1.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def canonical_text(version: LetterText) -> str:
    """The exact text shown and signed: title, preamble, "1. …" to "n. …", closing, one per line."""
    lines = [version.title, version.preamble]
    lines += [f"{n}. {item}" for n, item in enumerate(version.items, start=1)]
    lines.append(version.closing)
    return "\n".join(lines)


def text_sha256(version: LetterText) -> str:
    return hashlib.sha256(canonical_text(version).encode("utf-8")).hexdigest()


def _seed_version_1() -> None:
    """Create version 1 from the JSON in a transaction of its own, committed at once, so a page
    that only reads the letter and a later request that signs it see the same row. A concurrent
    first use may win the race (the version number is unique); then its row is kept."""
    data = letter_v1()
    row = CommitmentVersion(version=1, title=data["title"], preamble=data["preamble"],
                            items=list(data["items"]), closing=data["closing"])
    row.text_sha256 = text_sha256(row)
    if db.engine.dialect.name == "sqlite":
        # SQLite allows one writer: a second connection would wait on the caller's own writes.
        # Its row ids are reused after a rollback, so the caller's transaction is enough here.
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            pass
        return
    with Session(db.engine) as own:
        own.add(row)
        try:
            own.commit()
        except IntegrityError:
            own.rollback()


def current_version() -> CommitmentVersion:
    """The highest version; on an empty table version 1 is first created from
    `commitment_v1.json` (committed on its own, see `_seed_version_1`)."""
    query = select(CommitmentVersion).order_by(CommitmentVersion.version.desc()).limit(1)
    row = db.session.scalar(query)
    if row is None:
        _seed_version_1()
        row = db.session.scalar(query)
    assert row is not None
    return row


def versions() -> list[CommitmentVersion]:
    """Every version, newest first."""
    current_version()
    return list(db.session.scalars(
        select(CommitmentVersion).order_by(CommitmentVersion.version.desc())))


# ---------------------------------------------------------------- signing


def _has_control(value: str) -> bool:
    return sanitize_text(value, len(value) * 6 + 1) != value


def _line(value: Any, field: str, required: str, limit: int | None, problems: list[Problem],
          *, unsafe: str | None = None) -> str:
    """A required one-line text: stripped, no line breaks or control characters (they would
    change the canonical text's lines), within `limit`."""
    text = str(value).strip() if value is not None else ""
    if not text:
        problems.append(Problem(ErrorCode.REQUIRED, required, field))
    elif limit is not None and len(text) > limit:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("At most %(n)d characters.", n=limit),
                                field))
    elif _has_control(text):
        problems.append(Problem(
            ErrorCode.INVALID_INPUT,
            unsafe or _("Line breaks and control characters are not allowed."), field))
    return text


def _deny(action: str, institution_id: int | None, actor: User, message: str) -> PermissionDenied:
    """Refusals are audited (SECURITY.md 9) and committed before the error is raised."""
    record_audit(action, object_type="institution" if institution_id else "commitment_version",
                 object_id=institution_id, result="denied", actor=actor)
    db.session.commit()
    return PermissionDenied(message)


def sign(institution: Institution, *, signer_name: str, signer_title: str, version_id: int,
         actor: User, ip: str | None, user_agent: str | None) -> CommitmentSignature:
    """The institution's admin signs the current version online (R-COM-01, R-ELIG-04).

    Records who signed, their title, when, from which address and browser, the version and the
    SHA-256 of the exact canonical text signed.
    """
    if not can_manage_institution(actor, institution.id):
        raise _deny("commitment.denied", institution.id, actor,
                    _("Only the institution's administrator can sign the commitment letter."))
    problems: list[Problem] = []
    name = _line(signer_name, "signerName", _("Enter the signer's name."), SIGNER_MAX, problems)
    title = _line(signer_title, "signerTitle", _("Enter the signer's title (position)."),
                  SIGNER_MAX, problems)
    if problems:
        raise InvalidInput(problems)

    # One signing at a time per institution: PostgreSQL locks the row (SQLite ignores FOR UPDATE;
    # a unique (institution_id, version_id) on the signature table would close it everywhere).
    db.session.execute(select(Institution.id).where(Institution.id == institution.id)
                       .with_for_update())
    current = current_version()
    if version_id != current.id:
        signed = get_by_id(CommitmentVersion, version_id)
        if signed is None:
            raise NotFound(_("This version of the commitment letter does not exist."),
                           field="versionId")
        raise CommitmentOutdated(
            _("A newer version of the commitment letter (version %(v)d) has been published; "
              "read it and sign that one.", v=current.version), field="versionId")
    if current_signature(institution) is not None:
        raise AlreadySigned(_("The institution has already signed version %(v)d of the commitment "
                              "letter.", v=current.version), field="versionId")

    digest = text_sha256(current)
    if digest != current.text_sha256:  # the row was altered after publication: never sign it
        raise RuntimeError(f"commitment version {current.version}: text does not match its hash")
    signature = CommitmentSignature(
        institution_id=institution.id, version_id=current.id, signer_name=name,
        signer_title=title, signed_by_id=actor.id, signed_at=utcnow(),
        ip=sanitize_text(ip, 64) if ip else None,
        user_agent=sanitize_text(user_agent, 300) if user_agent else None,
        text_sha256=digest,
    )
    db.session.add(signature)
    db.session.flush()
    record_audit("commitment.sign", object_type="institution", object_id=institution.id,
                 after={"signature_id": signature.id, "version": current.version,
                        "signer_name": name, "signer_title": title, "ip": signature.ip,
                        "text_sha256": digest}, actor=actor)
    db.session.commit()
    return signature


def current_signature(institution: Institution,
                      current: CommitmentVersion | None = None) -> CommitmentSignature | None:
    """The institution's signature of the current version (`current`, when the caller has read
    it already), if it has signed it."""
    current = current or current_version()
    return db.session.scalar(
        select(CommitmentSignature)
        .where(CommitmentSignature.institution_id == institution.id,
               CommitmentSignature.version_id == current.id)
        .order_by(CommitmentSignature.id.desc()).limit(1))


def signatures(institution: Institution) -> list[CommitmentSignature]:
    """Every signature of the institution, newest first (its history across versions)."""
    return list(db.session.scalars(
        select(CommitmentSignature).where(CommitmentSignature.institution_id == institution.id)
        .order_by(CommitmentSignature.signed_at.desc(), CommitmentSignature.id.desc())))


# ---------------------------------------------------------------- new versions (R-COM-02)


def institutions_needing_signature() -> list[Institution]:
    """Live institutions without a signature of the current version: the R-COM-02 flag."""
    current = current_version()
    signed = exists().where(CommitmentSignature.institution_id == Institution.id,
                            CommitmentSignature.version_id == current.id)
    return list(db.session.scalars(
        select(Institution).where(Institution.status == InstitutionStatus.LIVE, ~signed)
        .order_by(Institution.id)))


def _admins(institution: Institution) -> list[User]:
    return list(db.session.scalars(
        select(User).join(InstitutionStaff, InstitutionStaff.user_id == User.id)
        .where(InstitutionStaff.institution_id == institution.id,
               InstitutionStaff.role == StaffRole.ADMIN, User.is_active.is_(True))
        .order_by(User.id)))


def _queue_reminders(version: CommitmentVersion) -> int:
    """Queue an SMS and an inbox reminder to each admin of each flagged institution, in the
    caller's transaction. The dedupe key makes a repeated call queue nothing new."""
    from core.notifications.service import notify

    queued = 0
    for institution in institutions_needing_signature():
        for admin in _admins(institution):
            # `institution_name` is what the template reads; `institution` as agreed for callers.
            context = {"institution": institution.legal_name,
                       "institution_name": institution.legal_name, "version": version.version}
            notify(admin, REMINDER_TEMPLATE, context, channels=REMINDER_CHANNELS,
                   dedupe_key=f"commitment-resign:{institution.id}:{version.version}")
            queued += 1
    return queued


def publish_version(*, title: str, preamble: str, items: list[str], closing: str,
                    actor: User) -> CommitmentVersion:
    """The regulator (or a system admin) publishes a new version of the letter (R-COM-02).

    Every live institution is then flagged until it signs the new version, and each of their
    admins is sent a reminder in the same transaction.
    """
    if not actor.has_role(*PUBLISHERS):
        raise _deny("commitment.denied", None, actor,
                    _("Only the platform management unit can publish the commitment letter."))
    problems: list[Problem] = []
    clean_title = _line(title, "title", _("Enter the title of the letter."), TITLE_MAX, problems)
    clean_preamble = _line(preamble, "preamble", _("Enter the preamble."), None, problems)
    clean_items: list[str] = []
    if not isinstance(items, list | tuple) or not 1 <= len(items) <= MAX_ITEMS:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The letter has 1 to %(n)d commitments.", n=MAX_ITEMS), "items"))
    else:
        for n, item in enumerate(items, start=1):
            clean_items.append(_line(
                item, "items", _("Commitment %(n)d is empty.", n=n), None, problems,
                unsafe=_("Commitment %(n)d contains a line break or a control character.", n=n)))
    clean_closing = _line(closing, "closing", _("Enter the closing sentence."), None, problems)
    if problems:
        raise InvalidInput(problems)

    previous = current_version()
    row = CommitmentVersion(version=previous.version + 1, title=clean_title,
                            preamble=clean_preamble, items=clean_items, closing=clean_closing,
                            published_at=utcnow(), published_by_id=actor.id)
    row.text_sha256 = text_sha256(row)
    if row.text_sha256 == previous.text_sha256:
        raise DomainError(_("The text is the same as the current version (%(v)d).",
                            v=previous.version), code=ErrorCode.DUPLICATE, field="items")
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # another version was published at the same moment
        db.session.rollback()
        raise DomainError(_("Another version was published at the same time; reload and check "
                            "it before publishing."), code=ErrorCode.DUPLICATE) from None
    flagged = [i.id for i in institutions_needing_signature()]
    reminders = _queue_reminders(row)
    record_audit("commitment.publish", object_type="commitment_version", object_id=row.id,
                 before={"version": previous.version, "text_sha256": previous.text_sha256},
                 after={"version": row.version, "text_sha256": row.text_sha256,
                        "items": len(clean_items), "flagged_institutions": flagged,
                        "reminders": reminders}, actor=actor)
    db.session.commit()
    return row

