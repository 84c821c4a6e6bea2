"""The scope annex (资质认定证书附表) of a testing institution: which standards it may test to,
searchable by standard number.

Standard numbers are stored normalised so that `gb/t2828.1—2012`, `ＧＢ／Ｔ 2828.1-2012` and
`GB/T 2828.1-2012` are one number. A search without the year (`GB/T 2828.1`) finds every edition;
a search without the part (`GB/T 2828`) finds every part; `GB/T 2828.1` never finds
`GB/T 2828.11`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import contains_eager

from core.audit import record_audit
from core.catalogue.directory import listed_clause
from core.db import db
from core.documents.models import Document
from core.errors import ErrorCode, InvalidInput, PermissionDenied, Problem
from core.identity.models import User
from core.ids import get_by_id
from core.institutions.access import can_manage_institution, is_platform_staff
from core.institutions.models import Institution, InstitutionStaff
from plugins.testing.models import TestingScopeEntry

MAX_ENTRIES_PER_CALL = 200  # an annex is added in batches; a bigger list is refused
MAX_RESULTS = 100
_LIMITS = {"standard_number": 100, "standard_title": 300, "parameters": 5000, "limits": 5000}
# Every dash a Chinese document may use between number and year: ‐ ‑ ‒ – — ― − and the
# full-width one (NFKC has already turned that into "-").
_DASHES = re.compile("[\u2010-\u2015\u2212]")
_SPACED_PUNCTUATION = re.compile(r"\s*([/:-])\s*")
_PREFIX_THEN_DIGIT = re.compile(r"^([A-Z]+(?:/[A-Z]+)?)(?=\d)")
# What may follow a searched number in a longer one: the year (- or :), a part (.), an
# equivalent standard (/) or an amendment (space).
_CONTINUATIONS = ("-", ":", ".", "/", " ")


def normalise_standard(raw: str | None) -> str:
    """`gb/t2828.1 — 2012` → `GB/T 2828.1-2012`: NFKC (full-width to ASCII), one kind of dash,
    no spaces around `/ - :`, single spaces, upper case, a space between the prefix and the
    number."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = _DASHES.sub("-", text)
    text = re.sub(r"\s+", " ", text).strip().upper()
    text = _SPACED_PUNCTUATION.sub(r"\1", text)
    return _PREFIX_THEN_DIGIT.sub(r"\1 ", text)


def _visible_to(viewer: User | None) -> Any:
    """Listed institutions for everybody; platform staff see all; staff see their own too."""
    if is_platform_staff(viewer):
        return None
    live = listed_clause()  # live and its homepage not hidden (R-OPS-05)
    if viewer is None:
        return live
    own = select(InstitutionStaff.institution_id).where(InstitutionStaff.user_id == viewer.id)
    return or_(live, Institution.id.in_(own))


def _matching(number: str) -> Any:
    """The entries of `number` (normalised): that exact number, or a longer one continuing it
    (its editions, parts, equivalents), never `GB/T 2828.11` for `GB/T 2828.1`."""
    column = TestingScopeEntry.standard_number
    return or_(column == number,
               *(column.startswith(number + c, autoescape=True) for c in _CONTINUATIONS))


def institutions_for_standard(term: str) -> Select[Any]:
    """The directory's `standard` filter: ids of the institutions whose annex covers `term`
    (visibility is the directory's business)."""
    number = normalise_standard(term)
    return (select(TestingScopeEntry.institution_id)
            .where(_matching(number) if number else false()))


def search_scope(standard: str, *, viewer: User | None = None,
                 limit: int = 20) -> list[tuple[int, TestingScopeEntry]]:
    """Institutions qualified for `standard` with the annex entry that says so, as
    (institution id, entry). Only live institutions, unless `viewer` may see more."""
    number = normalise_standard(standard)
    if not number or limit <= 0:
        return []
    column = TestingScopeEntry.standard_number
    query = (select(TestingScopeEntry).join(Institution)
             .options(contains_eager(TestingScopeEntry.institution))
             .where(_matching(number))
             .order_by(column, TestingScopeEntry.institution_id, TestingScopeEntry.id)
             .limit(min(limit, MAX_RESULTS)))
    visible = _visible_to(viewer)
    if visible is not None:
        query = query.where(visible)
    return [(e.institution_id, e) for e in db.session.scalars(query)]


def institution_scope(institution: Institution) -> list[TestingScopeEntry]:
    return list(db.session.scalars(select(TestingScopeEntry).where(
        TestingScopeEntry.institution_id == institution.id).order_by(
        TestingScopeEntry.standard_number, TestingScopeEntry.id)))


def _text(raw: Any, field: str, where: str, problems: list[Problem]) -> str | None:
    value = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", str(raw or "")).strip()
    if len(value) > _LIMITS[field]:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _(
            "At most %(n)d characters.", n=_LIMITS[field]), where))
    return value or None


def _annex_document(raw: Any, institution: Institution, where: str,
                    problems: list[Problem]) -> int | None:
    if raw in (None, ""):
        return None
    document = get_by_id(Document, raw)
    if (document is None or document.institution_id != institution.id or document.kind != "cma"
            or not document.is_current):
        problems.append(Problem(ErrorCode.INVALID_INPUT, _(
            "Choose one of the institution's current CMA certificates."), where))
        return None
    return document.id


def add_scope_entries(institution: Institution, entries: Sequence[Mapping[str, Any]], *,
                      actor: User | None) -> list[TestingScopeEntry]:
    """Add standards to the institution's scope annex (keys `standardNumber`, `standardTitle`,
    `parameters`, `limits`, `documentId`). The institution's administrator only; every problem
    of every entry is reported at once; audited."""
    if not can_manage_institution(actor, institution.id):
        record_audit("testing.scope_add", object_type="institution", object_id=institution.id,
                     result="denied", actor=actor)
        db.session.commit()
        raise PermissionDenied(_("Only the institution's administrator can do this."))
    problems: list[Problem] = []
    if not entries:
        problems.append(Problem(ErrorCode.REQUIRED, _("Add at least one standard."), "entries"))
    if len(entries) > MAX_ENTRIES_PER_CALL:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _(
            "At most %(n)d standards at a time.", n=MAX_ENTRIES_PER_CALL), "entries"))
        raise InvalidInput(problems)
    rows: list[TestingScopeEntry] = []
    for i, raw in enumerate(entries):
        where = f"entries[{i}]"
        number = normalise_standard(str(raw.get("standardNumber") or ""))
        if not number or not re.search(r"\d", number):
            problems.append(Problem(ErrorCode.REQUIRED, _(
                "Enter the standard number, e.g. GB/T 2828.1-2012."), f"{where}.standardNumber"))
        elif len(number) > _LIMITS["standard_number"]:
            problems.append(Problem(ErrorCode.INVALID_INPUT, _(
                "At most %(n)d characters.", n=_LIMITS["standard_number"]), f"{where}.standardNumber"))
        rows.append(TestingScopeEntry(
            institution_id=institution.id, standard_number=number,
            standard_title=_text(raw.get("standardTitle"), "standard_title",
                                 f"{where}.standardTitle", problems),
            parameters=_text(raw.get("parameters"), "parameters", f"{where}.parameters", problems),
            limits=_text(raw.get("limits"), "limits", f"{where}.limits", problems),
            document_id=_annex_document(raw.get("documentId"), institution, f"{where}.documentId",
                                        problems),
            created_by_id=actor.id if actor is not None else None))
    if problems:
        raise InvalidInput(problems)
    db.session.add_all(rows)
    db.session.flush()
    record_audit("testing.scope_add", object_type="institution", object_id=institution.id,
                 after={"entries": [{"id": r.id, "standard_number": r.standard_number}
                                    for r in rows]}, actor=actor)
    db.session.commit()
    return rows
