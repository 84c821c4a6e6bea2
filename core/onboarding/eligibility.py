"""The eligibility engine (R-ELIG-10): every condition checked, every result reported with its
code, a message a person understands and the evidence looked at — never only the first failure.

Core checks R-ELIG-01…06 and the profile (R-ONB-01); category plugins add their documents
through `required_documents` (checked here, R-ELIG-02/09) and their own checks through
`eligibility_checks` (R-ELIG-07/08 …). Everything is evaluated for a given day, so a reviewer can
ask "is it eligible today" and a test can freeze time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.db import db
from core.documents.kinds import LICENCE_KINDS, get_kind
from core.documents.models import Document, Verification
from core.documents.service import status_of
from core.institutions.models import Institution
from core.plugins import plugins


@dataclass(frozen=True)
class DocumentRequirement:
    """A category needs one current, valid document of any of `kinds` (R-ELIG-02, R-ELIG-09)."""

    category: str
    kinds: tuple[str, ...]
    rule: str = "R-ELIG-09"


@dataclass(frozen=True)
class CheckResult:
    code: str  # the rule id, e.g. "R-ELIG-02"
    passed: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None  # the category or document kind the result is about


@dataclass(frozen=True)
class OpenMatter:
    """Something that must be closed before an institution may leave (R-ONB-06)."""

    kind: str  # consultation / order / complaint / follow_up / …
    object_id: int
    description: str


@dataclass(frozen=True)
class EligibilityReport:
    institution_id: int
    on: date
    results: list[CheckResult]

    @property
    def eligible(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]


def _current_documents(institution_id: int) -> list[Document]:
    return current_documents_many([institution_id])[institution_id]


def _kind_names(kinds: tuple[str, ...] | frozenset[str]) -> str:
    return " / ".join(str(get_kind(k).name) if get_kind(k) else k for k in sorted(kinds))


def _document_check(code: str, kinds: tuple[str, ...] | frozenset[str], documents: list[Document],
                    on: date, subject: str | None) -> CheckResult:
    """Pass when one current, not rejected document of `kinds` is usable on `on`."""
    candidates = [d for d in documents if d.kind in kinds]
    looked_at = []
    for document in candidates:
        verdict = status_of(document, on)
        looked_at.append({"document_id": document.id, "kind": document.kind,
                          "number": document.certificate_number, "status": verdict.status.value,
                          "valid_to": document.valid_to.isoformat() if document.valid_to else None,
                          "verification": document.verification.value})
        if verdict.status.usable and document.verification is not Verification.REJECTED:
            return CheckResult(code, True, _("%(doc)s is valid.", doc=_kind_names(kinds)),
                               {"documents": looked_at}, subject)
    if not candidates:
        message = _("%(doc)s has not been uploaded.", doc=_kind_names(kinds))
    else:
        message = _("%(doc)s is not valid on %(day)s (expired, suspended, withdrawn or rejected).",
                    doc=_kind_names(kinds), day=on.isoformat())
    return CheckResult(code, False, message, {"documents": looked_at}, subject)


def current_documents_many(institution_ids: list[int]) -> dict[int, list[Document]]:
    """The current documents of many institutions in one statement (the yearly assessment)."""
    found: dict[int, list[Document]] = {i: [] for i in institution_ids}
    if institution_ids:
        for document in db.session.scalars(select(Document).where(
                Document.institution_id.in_(institution_ids), Document.superseded_by_id.is_(None),
                Document.deleted_at.is_(None)).order_by(Document.uploaded_at.desc())
                .options(selectinload(Document.status_records))):  # status_of reads them
            found[document.institution_id].append(document)
    return found


def qualification_checks(institution: Institution, on: date, *,
                         documents: list[Document] | None = None,
                         categories: list[str] | None = None) -> list[CheckResult]:
    """The qualification documents on day `on`: the business licence (R-ELIG-01) and every
    document the institution's categories require (R-ELIG-02/08/09). Eligibility and
    assessment item 4 both read it; a caller checking many institutions passes `documents` and
    `categories` read for all of them at once."""
    from core.onboarding import profile

    if documents is None:
        documents = _current_documents(institution.id)
    if categories is None:
        categories = profile.institution_categories(institution)
    results = [_document_check("R-ELIG-01", LICENCE_KINDS, documents, on, "licence")]
    for code in categories:
        batches = plugins.pm.hook.required_documents(category=code)
        for requirement in (r for batch in batches for r in batch):
            result = _document_check("R-ELIG-02", requirement.kinds, documents, on, code)
            # R-ELIG-02 is the general rule; the category's own rule (R-ELIG-08/09) goes along.
            results.append(replace(result, evidence={**result.evidence, "rule": requirement.rule}))
    return results


def core_checks(institution: Institution, on: date) -> list[CheckResult]:
    from stdnum.cn import uscc

    from core.onboarding import agents, commitment, compliance, profile

    documents = _current_documents(institution.id)
    results: list[CheckResult] = []

    problems = profile.profile_problems(institution)
    results.append(CheckResult(
        "R-ONB-01", not problems,
        _("The profile is complete.") if not problems else
        _("The profile is incomplete: %(fields)s", fields=" ".join(p.message for p in problems)),
        {"missing": [p.field for p in problems]}))

    uscc_ok = bool(institution.uscc) and uscc.is_valid(institution.uscc or "")
    results.append(CheckResult(
        "R-ELIG-01", uscc_ok,
        _("The unified social credit code is valid.") if uscc_ok else
        _("The unified social credit code is missing or its check digit is wrong."),
        {"uscc": institution.uscc}, "uscc"))
    results += qualification_checks(institution, on, documents=documents,
                                    categories=profile.institution_categories(institution))

    blocking = compliance.blocking_records(institution.id, on)
    results.append(CheckResult(
        "R-ELIG-03", not blocking,
        _("No violation in the last 3 years and not on any blacklist.") if not blocking else
        _("%(n)d compliance record(s) block approval.", n=len(blocking)),
        {"records": [{"record_id": r.id, "kind": r.kind.value, "occurred_on": r.occurred_on.isoformat(),
                      "ended_on": r.ended_on.isoformat() if r.ended_on else None, "source": r.source}
                     for r in blocking]}))

    current = commitment.current_version()
    signature = commitment.current_signature(institution, current)
    results.append(CheckResult(
        "R-ELIG-04", signature is not None,
        _("The commitment letter (version %(v)d) is signed.", v=current.version) if signature else
        _("The commitment letter must be signed in its current version (%(v)d).", v=current.version),
        {"version": current.version,
         "signature_id": signature.id if signature else None}))

    agent_count = agents.agent_counts([institution.id])[institution.id]
    results.append(CheckResult(
        "R-ELIG-05", 1 <= agent_count <= 2,
        _("%(n)d customer-service agent(s).", n=agent_count) if 1 <= agent_count <= 2 else
        _("1 or 2 online customer-service agents are required; there are %(n)d.", n=agent_count),
        {"agents": agent_count}))

    items = len(profile.advantage_items(institution))
    exception = profile.exception_for(institution, "R-ELIG-06")
    items_ok = 2 <= items <= 3 or (exception is not None and items >= 1)
    results.append(CheckResult(
        "R-ELIG-06", items_ok,
        _("%(n)d advantage service item(s).", n=items) if items_ok else
        _("Choose 2 or 3 advantage service items; there are %(n)d.", n=items),
        {"items": items, "exception_id": exception.id if exception else None}))
    return results


def evaluate(institution: Institution, on: date) -> EligibilityReport:
    """Run the core checks and every plugin's checks for `institution` on day `on`."""
    from core.onboarding.profile import categories_remembered

    with categories_remembered():  # the core checks and each plugin ask for them
        results = core_checks(institution, on)
        for batch in plugins.pm.hook.eligibility_checks(institution=institution, on=on):
            results.extend(batch)
    return EligibilityReport(institution.id, on, results)
