"""The directory: public institutions and their published items, searched by keyword, category,
region, certificate status, minimum rating and the plugins' filters (standard number,
instrument), paginated, sorted by relevance, name or rating (R-G-01).

A page is read with a fixed number of SQL statements whatever its size: the page of
institutions with the total (a window count), then their categories, published items, current
public certificates (with their status records) and ratings, each in one `IN (…)` statement;
a plugin's filter and the rating are subqueries inside the first. `listed_clause` /
`institution_is_listed` are the one place that says which institutions the public sees: live
and not hidden under R-OPS-05. Figures for 10,000 institutions: benchmarks/README.md.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import aliased

from core.catalogue.filters import TERM_MAX, directory_filters
from core.catalogue.models import ItemStatus, PricingKind, ServiceItem
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
from core.reviews.queries import NO_RATING, Rating, rating_columns, ratings

PAGE_MAX = 100
PAGE_DEFAULT = 20
KEYWORD_MAX = 50
SORTS = ("relevance", "name", "rating")
FILTERS_MAX = 5
# What a certificate on a directory entry shows and its status needs (`CertificateRow`, in this
# order): a document row has many more columns (storage, checksums, uploader).
_CERTIFICATE_COLUMNS = (Document.id, Document.institution_id, Document.kind, Document.certificate_number,
                        Document.issuer, Document.scope, Document.valid_from, Document.valid_to,
                        Document.long_term, Document.uploaded_at)
_SPACES = re.compile(r"\s+")


def listed_clause() -> Any:
    """The SQL twin of `institution_is_listed`."""
    return and_(Institution.status == InstitutionStatus.LIVE, Institution.homepage_hidden_at.is_(None))


def institution_is_listed(institution: Institution) -> bool:
    """Whether the public sees the institution: live (removed, exited and applying ones are
    not) and its homepage not hidden under R-OPS-05."""
    return institution.is_public


@dataclass(frozen=True)
class DirectoryQuery:
    keyword: str = ""
    category: str | None = None
    city_code: str | None = None
    district_code: str | None = None
    certificate_kind: str | None = None  # has a currently valid public certificate of this kind
    filters: tuple[tuple[str, str], ...] = ()  # (plugin filter name, term), e.g. ("standard", "GB 4706.1")
    min_rating: float | None = None  # average stars at least this (1-5); unrated ones drop out
    sort: str = "relevance"
    first: int = PAGE_DEFAULT
    offset: int = 0


@dataclass(frozen=True, slots=True)
class CertificateRow:
    """The columns of a certificate a directory entry shows, with its status records (rows of
    id, effective_on, status, source): all that `status_of` reads of a Document."""

    id: int
    institution_id: int
    kind: str
    certificate_number: str | None
    issuer: str | None
    scope: str | None
    valid_from: date | None
    valid_to: date | None
    long_term: bool
    uploaded_at: datetime
    status_records: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Certificate:
    document: CertificateRow
    verdict: StatusVerdict


@dataclass(frozen=True, slots=True)
class DirectoryItem:
    """What a directory listing shows of a published item: its title, category and price — not
    its description, scope and plugin fields (the item's own page has those)."""

    id: int
    institution_id: int
    category_code: str
    title: str
    pricing_kind: PricingKind
    price_yuan: Decimal | None
    turnaround_days: int | None


_ITEM_COLUMNS = (ServiceItem.id, ServiceItem.institution_id, ServiceItem.category_code, ServiceItem.title,
                 ServiceItem.pricing_kind, ServiceItem.price_yuan, ServiceItem.turnaround_days)


@dataclass
class DirectoryEntry:
    institution: Institution
    categories: list[str] = field(default_factory=list)
    # DirectoryItem in a directory page; whole ServiceItem rows on an institution's page.
    items: list[DirectoryItem] | list[ServiceItem] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    rating: Rating = NO_RATING


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
    # IN (uncorrelated) rather than EXISTS: PostgreSQL scans the items once into a hash, and
    # its estimate stays low enough not to JIT-compile a query that runs in milliseconds.
    item_hit = Institution.id.in_(select(ServiceItem.institution_id).where(
        ServiceItem.status == ItemStatus.PUBLISHED,
        or_(ServiceItem.title.like(pattern, escape="\\"),
            ServiceItem.description.like(pattern, escape="\\"),
            ServiceItem.scope.like(pattern, escape="\\"))))
    clauses = [Institution.legal_name.like(pattern, escape="\\"),
               Institution.introduction.like(pattern, escape="\\"), item_hit]
    codes = _category_codes_named(term)
    if codes:
        clauses.append(Institution.id.in_(select(InstitutionCategory.institution_id).where(
            InstitutionCategory.category_code.in_(codes))))
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
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Ask for 1 to %(n)d institutions a page.", n=PAGE_MAX), "first"))
    if query.offset < 0:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("The offset cannot be negative."),
                                "offset"))
    if query.sort not in SORTS:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Sort by one of: %(sorts)s.", sorts=", ".join(SORTS)), "sort"))
    kind = get_kind(query.certificate_kind) if query.certificate_kind else None
    if query.certificate_kind and (kind is None or not kind.public):
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("No such certificate kind."),
                                "certificateKind"))
    if query.min_rating is not None and not 1 <= query.min_rating <= 5:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("The minimum rating is from 1 to 5 stars."), "minRating"))
    known = directory_filters()
    if len(query.filters) > FILTERS_MAX:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("At most %(n)d filters.", n=FILTERS_MAX), "filters"))
    for i, (name, term) in enumerate(query.filters[:FILTERS_MAX]):
        if name not in known:
            problems.append(Problem(ErrorCode.INVALID_INPUT, _(
                "No such directory filter: %(name)s (known: %(known)s).", name=name,
                known=", ".join(known) or "-"), f"filters[{i}].name"))
        if len(term.strip()) > TERM_MAX:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("At most %(n)d characters.", n=TERM_MAX), f"filters[{i}].term"))
    return problems


def _conditions(query: DirectoryQuery, terms: list[str], on: date) -> list[Any]:
    conditions = [listed_clause()]
    if query.category:
        conditions.append(exists().where(InstitutionCategory.institution_id == Institution.id,
                                         InstitutionCategory.category_code == query.category))
    if query.city_code:
        conditions.append(Institution.city_code == query.city_code)
    if query.district_code:
        conditions.append(Institution.district_code == query.district_code)
    if query.certificate_kind:
        conditions.append(_valid_certificate_clause(query.certificate_kind, on))
    if query.min_rating is not None:
        rated = rating_columns().subquery()
        conditions.append(Institution.id.in_(
            select(rated.c.institution_id).where(rated.c.average >= query.min_rating)))
    known = directory_filters()
    for name, term in query.filters:
        if term.strip():
            conditions.append(Institution.id.in_(known[name].institution_ids(term.strip())))
    conditions += [_term_clause(t) for t in terms]
    return conditions


def _order(query: DirectoryQuery, terms: list[str]) -> tuple[list[Any], Any]:
    """The ORDER BY, and the rating subquery to outer-join when sorting by rating."""
    order: list[Any] = []
    rated = None
    if query.sort == "rating":
        # Best average first, then the better-established (more reviews); unrated ones last.
        rated = rating_columns().subquery()
        order += [case((rated.c.average.is_(None), 1), else_=0), rated.c.average.desc(),
                  rated.c.count.desc()]
    if query.sort in ("relevance", "rating") and terms:
        # Keyword hits in the name first, then in the introduction, then elsewhere.
        name_hits = sum((case((Institution.legal_name.like(_like(t), escape="\\"), 1), else_=0)
                         for t in terms), start=0)
        intro_hits = sum((case((Institution.introduction.like(_like(t), escape="\\"), 1), else_=0)
                          for t in terms), start=0)
        order += [name_hits.desc(), intro_hits.desc()]
    order += [Institution.legal_name, Institution.id]
    return order, rated


def search(query: DirectoryQuery, on: date | None = None) -> DirectoryPage:
    """One page of the directory for `query`; anybody may search, only listed institutions and
    published items appear. Wrong input raises InvalidInput naming every field at fault."""
    problems = _check(query)
    if problems:
        raise InvalidInput(problems)
    on = on or local_today()
    terms = keyword_terms(query.keyword)
    conditions = _conditions(query, terms, on)
    order, rated = _order(query, terms)
    # The total comes with the page (a window count): the search runs once, not twice.
    statement = select(Institution, func.count().over().label("total"))
    if rated is not None:
        statement = statement.outerjoin(rated, rated.c.institution_id == Institution.id)
    rows = db.session.execute(
        statement.where(*conditions).order_by(*order).limit(query.first).offset(query.offset)).all()
    if rows:
        total = rows[0].total
    elif query.offset:  # past the end: count on its own
        total = db.session.scalar(select(func.count(Institution.id)).where(*conditions)) or 0
    else:
        total = 0
    return DirectoryPage(total=total, first=query.first, offset=query.offset,
                         entries=load_entries([row[0] for row in rows], on))


def load_entries(institutions: list[Institution], on: date | None = None, *,
                 full_items: bool = False) -> list[DirectoryEntry]:
    """Each institution with its categories, published items (`DirectoryItem`s, or whole
    `ServiceItem`s with `full_items`), public valid certificates and rating, in four statements
    (plus one for the certificates' status records) for any number."""
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
    published = (ServiceItem.institution_id.in_(ids), ServiceItem.status == ItemStatus.PUBLISHED)
    order = (ServiceItem.category_code, ServiceItem.id)
    if full_items:
        for item in db.session.scalars(select(ServiceItem).where(*published).order_by(*order)):
            by_id[item.institution_id].items.append(item)  # type: ignore[arg-type]
    else:  # plain rows: no ORM identity or state for 500 items of a page
        for row in db.session.execute(select(*_ITEM_COLUMNS).where(*published).order_by(*order)):
            by_id[row.institution_id].items.append(DirectoryItem(*row))  # type: ignore[arg-type]
    public_kinds = [code for code, kind in KINDS.items() if kind.public and kind.has_validity]
    rows = db.session.execute(
        select(*_CERTIFICATE_COLUMNS)
        .where(Document.institution_id.in_(ids), Document.kind.in_(public_kinds),
               Document.superseded_by_id.is_(None), Document.deleted_at.is_(None),
               Document.verification != Verification.REJECTED)
        .order_by(Document.kind, Document.uploaded_at.desc())).all()
    records: dict[int, list[Any]] = defaultdict(list)
    if rows:  # as a selectin load would: no second statement without certificates
        for record in db.session.execute(
                select(CertificateStatusRecord.document_id, CertificateStatusRecord.id,
                       CertificateStatusRecord.effective_on, CertificateStatusRecord.status,
                       CertificateStatusRecord.source)
                .where(CertificateStatusRecord.document_id.in_([row.id for row in rows]))):
            records[record.document_id].append(record)
    grouped: dict[int, list[Certificate]] = defaultdict(list)
    for row in rows:
        document = CertificateRow(*row, status_records=tuple(records.get(row.id, ())))
        verdict = status_of(document, on)  # type: ignore[arg-type]  # reads what a row has
        if verdict.status.usable:  # an expired, suspended or withdrawn one is not advertised
            grouped[document.institution_id].append(Certificate(document, verdict))
    for institution_id, certificates in grouped.items():
        by_id[institution_id].certificates = certificates
    for institution_id, rating in ratings(ids).items():
        by_id[institution_id].rating = rating
    return entries
