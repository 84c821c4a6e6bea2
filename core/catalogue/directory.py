"""The directory: live, visible institutions and their published items, searched by category,
region, keyword and certificate status, paginated, sorted by relevance or name (R-G-01).

A page is read with a fixed number of SQL statements whatever its size: the count, the page of
institutions, then their categories, published items and current public certificates (with
their status records) each in one `IN (…)` statement. `institution_is_listed` /
`_listed_clause` are the one place that says which institutions the public sees (R-OPS-05's
hiding will join here).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import aliased, selectinload

from core.catalogue.models import ItemStatus, ServiceItem
from core.clock import local_today
from core.db import db
from core.documents.kinds import KINDS, get_kind
from core.documents.models import CertificateStatusRecord, Document, RecordedStatus, Verification
from core.documents.service import status_of
from core.documents.status import StatusVerdict
from core.errors import ErrorCode, InvalidInput, Problem
from core.institutions.models import Institution, InstitutionStatus
from core.onboarding.models import InstitutionCategory
from core.plugins import plugins

PAGE_MAX = 100
PAGE_DEFAULT = 20
KEYWORD_MAX = 50
SORTS = ("relevance", "name")
_SPACES = re.compile(r"\s+")


def _listed_clause() -> Any:
    return Institution.status == InstitutionStatus.LIVE


def institution_is_listed(institution: Institution) -> bool:
    """Whether the public sees the institution: live (removed, exited and applying ones are
    not)."""
    return institution.status is InstitutionStatus.LIVE


@dataclass(frozen=True)
class DirectoryQuery:
    keyword: str = ""
    category: str | None = None
    city_code: str | None = None
    district_code: str | None = None
    certificate_kind: str | None = None  # has a currently valid public certificate of this kind
    sort: str = "relevance"
    first: int = PAGE_DEFAULT
    offset: int = 0


@dataclass(frozen=True)
class Certificate:
    document: Document
    verdict: StatusVerdict


@dataclass
class DirectoryEntry:
    institution: Institution
    categories: list[str] = field(default_factory=list)
    items: list[ServiceItem] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)


@dataclass(frozen=True)
class DirectoryPage:
    total: int
    first: int
    offset: int
    entries: list[DirectoryEntry]


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def keyword_terms(keyword: str | None) -> list[str]:
    """The keyword's terms: split on spaces, at most 5 (each must match)."""
    return [t for t in _SPACES.split((keyword or "").strip()[:KEYWORD_MAX]) if t][:5]


def _category_codes_named(term: str) -> list[str]:
    low = term.lower()
    return [c.code for c in plugins.categories().values()
            if low in c.name_zh or low in c.name_en.lower() or low == c.code]


def _term_clause(term: str) -> Any:
    """An institution matches a term in its name or introduction, in a published item's title,
    description or scope, or in the name of one of its categories. LIKE on purpose: a
    two-character Chinese word such as 计量 must match, which word-based full-text search
    without a Chinese tokenizer does not do."""
    pattern = _like(term)
    item_hit = exists().where(
        ServiceItem.institution_id == Institution.id, ServiceItem.status == ItemStatus.PUBLISHED,
        or_(ServiceItem.title.like(pattern, escape="\\"),
            ServiceItem.description.like(pattern, escape="\\"),
            ServiceItem.scope.like(pattern, escape="\\")))
    clauses = [Institution.legal_name.like(pattern, escape="\\"),
               Institution.introduction.like(pattern, escape="\\"), item_hit]
    codes = _category_codes_named(term)
    if codes:
        clauses.append(exists().where(InstitutionCategory.institution_id == Institution.id,
                                      InstitutionCategory.category_code.in_(codes)))
    return or_(*clauses)


def _valid_certificate_clause(kind: str, on: date) -> Any:
    """A current, not rejected document of `kind` valid on `on` whose latest status record
    (if any) is not a suspension or withdrawal — the SQL twin of `certificate_status`."""
    later = aliased(CertificateStatusRecord)
    blocking_record = exists().where(
        CertificateStatusRecord.document_id == Document.id,
        CertificateStatusRecord.effective_on <= on,
        CertificateStatusRecord.status.in_([RecordedStatus.SUSPENDED, RecordedStatus.WITHDRAWN]),
        not_(exists().where(
            later.document_id == CertificateStatusRecord.document_id, later.effective_on <= on,
            or_(later.effective_on > CertificateStatusRecord.effective_on,
                and_(later.effective_on == CertificateStatusRecord.effective_on,
                     later.id > CertificateStatusRecord.id)))))
    conditions = [Document.institution_id == Institution.id, Document.kind == kind,
                  Document.superseded_by_id.is_(None), Document.deleted_at.is_(None),
                  Document.verification != Verification.REJECTED, not_(blocking_record)]
    spec = get_kind(kind)
    if spec is None or spec.has_validity:
        conditions += [or_(Document.valid_from.is_(None), Document.valid_from <= on),
                       or_(Document.long_term.is_(True), Document.valid_to.is_(None),
                           Document.valid_to >= on)]
    return exists().where(*conditions)


def _check(query: DirectoryQuery) -> list[Problem]:
    problems = []
    if not 1 <= query.first <= PAGE_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT, "first: 1-100", "first"))
    if query.offset < 0:
        problems.append(Problem(ErrorCode.INVALID_INPUT, "offset >= 0", "offset"))
    if query.sort not in SORTS:
        problems.append(Problem(ErrorCode.INVALID_INPUT, "sort: relevance | name", "sort"))
    kind = get_kind(query.certificate_kind) if query.certificate_kind else None
    if query.certificate_kind and (kind is None or not kind.public):
        problems.append(Problem(ErrorCode.INVALID_INPUT, "unknown certificate kind",
                                "certificateKind"))
    return problems


def search(query: DirectoryQuery, on: date | None = None) -> DirectoryPage:
    """One page of the directory for `query`; anybody may search, only listed institutions and
    published items appear."""
    problems = _check(query)
    if problems:
        raise InvalidInput(problems)
    on = on or local_today()
    conditions = [_listed_clause()]
    if query.category:
        conditions.append(exists().where(InstitutionCategory.institution_id == Institution.id,
                                         InstitutionCategory.category_code == query.category))
    if query.city_code:
        conditions.append(Institution.city_code == query.city_code)
    if query.district_code:
        conditions.append(Institution.district_code == query.district_code)
    if query.certificate_kind:
        conditions.append(_valid_certificate_clause(query.certificate_kind, on))
    terms = keyword_terms(query.keyword)
    conditions += [_term_clause(t) for t in terms]

    total = db.session.scalar(select(func.count(Institution.id)).where(*conditions)) or 0
    order: list[Any] = []
    if query.sort == "relevance" and terms:
        # Keyword hits in the name first, then in the introduction, then elsewhere.
        name_hits = sum((case((Institution.legal_name.like(_like(t), escape="\\"), 1), else_=0)
                         for t in terms), start=0)
        intro_hits = sum((case((Institution.introduction.like(_like(t), escape="\\"), 1), else_=0)
                          for t in terms), start=0)
        order += [name_hits.desc(), intro_hits.desc()]
    order += [Institution.legal_name, Institution.id]
    institutions = list(db.session.scalars(
        select(Institution).where(*conditions).order_by(*order)
        .limit(query.first).offset(query.offset)))
    return DirectoryPage(total=total, first=query.first, offset=query.offset,
                         entries=load_entries(institutions, on))


def load_entries(institutions: list[Institution], on: date | None = None) -> list[DirectoryEntry]:
    """Each institution with its categories, published items and public valid certificates,
    in three statements (plus one for the certificates' status records) for any number."""
    on = on or local_today()
    entries = [DirectoryEntry(i) for i in institutions]
    if not entries:
        return entries
    ids = [i.id for i in institutions]
    by_id = {e.institution.id: e for e in entries}
    for row in db.session.execute(
            select(InstitutionCategory.institution_id, InstitutionCategory.category_code)
            .where(InstitutionCategory.institution_id.in_(ids)).order_by(InstitutionCategory.id)):
        by_id[row.institution_id].categories.append(row.category_code)
    for item in db.session.scalars(
            select(ServiceItem).where(ServiceItem.institution_id.in_(ids),
                                      ServiceItem.status == ItemStatus.PUBLISHED)
            .order_by(ServiceItem.category_code, ServiceItem.id)):
        by_id[item.institution_id].items.append(item)
    public_kinds = [code for code, kind in KINDS.items() if kind.public and kind.has_validity]
    documents = db.session.scalars(
        select(Document).options(selectinload(Document.status_records))
        .where(Document.institution_id.in_(ids), Document.kind.in_(public_kinds),
               Document.superseded_by_id.is_(None), Document.deleted_at.is_(None),
               Document.verification != Verification.REJECTED)
        .order_by(Document.kind, Document.uploaded_at.desc()))
    grouped: dict[int, list[Certificate]] = defaultdict(list)
    for document in documents:
        verdict = status_of(document, on)
        if verdict.status.usable:  # an expired, suspended or withdrawn one is not advertised
            grouped[document.institution_id].append(Certificate(document, verdict))
    for institution_id, certificates in grouped.items():
        by_id[institution_id].certificates = certificates
    return entries


def institution_page(institution_id: int, on: date | None = None) -> DirectoryEntry | None:
    """The public page of a listed institution; None for any other."""
    institution = db.session.scalar(
        select(Institution).where(Institution.id == institution_id, _listed_clause()))
    if institution is None:
        return None
    return load_entries([institution], on)[0]
