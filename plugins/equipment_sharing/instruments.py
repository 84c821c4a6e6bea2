"""The instrument register: an institution's administrator keeps it; enterprises search it
(the platform's instrument database, R-G-01); eligibility counts what is in service (R-ELIG-08)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import contains_eager

from core.audit import record_audit
from core.catalogue.directory import institution_is_listed, listed_clause
from core.db import db
from core.errors import ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import User
from core.institutions.access import can_manage_institution, is_platform_staff, staff_role
from core.institutions.models import Institution
from plugins.equipment_sharing.models import Instrument, InstrumentStatus

MAX_RESULTS = 100
MAX_WORDS = 8
MAX_PRICE = Decimal("9999999999.99")  # Numeric(12, 2)
# Field (camelCase, as the API sends it) → (column, longest text, required).
TEXT_FIELDS: dict[str, tuple[str, int, bool]] = {
    "name": ("name", 200, True),
    "model": ("model", 100, False),
    "manufacturer": ("manufacturer", 200, False),
    "indicators": ("indicators", 5000, False),
    "location": ("location", 300, False),
    "availability": ("availability", 1000, False),
}
DATE_FIELDS = {"lastCalibratedOn": "last_calibrated_on", "lastMaintainedOn": "last_maintained_on"}
PRICE_FIELDS = {"pricePerHour": "price_per_hour", "pricePerSample": "price_per_sample"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# What an instrument row says in the audit trail.
_AUDITED = ("name", "model", "manufacturer", "location", "status", "last_calibrated_on",
            "last_maintained_on", "price_per_hour", "price_per_sample")


def _snapshot(instrument: Instrument) -> dict[str, Any]:
    values = {f: getattr(instrument, f) for f in _AUDITED}
    return {k: (str(v) if isinstance(v, Decimal | date) else v) for k, v in values.items()}


def _clean(values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Check the fields given (all of them unless `partial`); every problem at once."""
    problems: list[Problem] = []
    cleaned: dict[str, Any] = {}
    for field, (column, limit, required) in TEXT_FIELDS.items():
        if partial and field not in values:
            continue
        value = _CONTROL.sub("", str(values.get(field) or "")).strip()
        if field != "indicators":
            value = re.sub(r"\s+", " ", value)
        if required and not value:
            problems.append(Problem(ErrorCode.REQUIRED, _("Enter the instrument's name."), field))
        elif len(value) > limit:
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("At most %(n)d characters.", n=limit), field))
        cleaned[column] = value or None
    for field, column in DATE_FIELDS.items():
        if partial and field not in values:
            continue
        value = values.get(field)
        if value is not None and not isinstance(value, date):
            problems.append(Problem(ErrorCode.INVALID_INPUT, _("Enter a date."), field))
        cleaned[column] = value
    for field, column in PRICE_FIELDS.items():
        if partial and field not in values:
            continue
        raw = values.get(field)
        try:
            price = None if raw in (None, "") else Decimal(str(raw)).quantize(Decimal("0.01"))
        except InvalidOperation:
            price = Decimal(-1)
        if price is not None and not (Decimal(0) <= price <= MAX_PRICE):
            problems.append(Problem(ErrorCode.INVALID_INPUT,
                                    _("Enter a price of 0 or more in yuan."), field))
        cleaned[column] = price
    if "status" in values or not partial:
        try:
            cleaned["status"] = InstrumentStatus(values.get("status") or InstrumentStatus.IN_SERVICE)
        except ValueError:
            problems.append(Problem(ErrorCode.INVALID_INPUT, _("Choose a status from the list."),
                                    "status"))
    if problems:
        raise InvalidInput(problems)
    return cleaned


def _require_admin(institution_id: int, actor: User | None, action: str, object_id: Any) -> None:
    if can_manage_institution(actor, institution_id):
        return
    record_audit(action, object_type="equipment_sharing_instrument", object_id=object_id,
                 result="denied", actor=actor)
    db.session.commit()
    raise PermissionDenied(_("Only the institution's administrator can do this."))


def register_instrument(institution: Institution, values: Mapping[str, Any], *,
                        actor: User | None) -> Instrument:
    """Add an instrument to the institution's register (its administrator only; audited)."""
    _require_admin(institution.id, actor, "equipment_sharing.instrument_register", None)
    instrument = Instrument(institution_id=institution.id, **_clean(values, partial=False))
    db.session.add(instrument)
    db.session.flush()
    record_audit("equipment_sharing.instrument_register", object_type="equipment_sharing_instrument",
                 object_id=instrument.id, after={"institution_id": institution.id,
                                                 **_snapshot(instrument)}, actor=actor)
    db.session.commit()
    return instrument


def update_instrument(instrument: Instrument, values: Mapping[str, Any], *,
                      actor: User | None) -> Instrument:
    """Change the fields given (status included: in service, under maintenance, retired)."""
    _require_admin(instrument.institution_id, actor, "equipment_sharing.instrument_update",
                   instrument.id)
    changes = _clean(values, partial=True)
    before = _snapshot(instrument)
    for column, value in changes.items():
        setattr(instrument, column, value)
    db.session.flush()
    record_audit("equipment_sharing.instrument_update", object_type="equipment_sharing_instrument",
                 object_id=instrument.id, before=before, after=_snapshot(instrument), actor=actor)
    db.session.commit()
    return instrument


def get_instrument(instrument_id: int, viewer: User | None) -> Instrument:
    """The instrument if `viewer` may see it: listed ones of listed institutions for anybody,
    every one for its institution's staff and platform staff; otherwise "not found"."""
    instrument = db.session.get(Instrument, instrument_id)
    if instrument is None or not (_sees_all_of(viewer, instrument.institution_id) or (
            institution_is_listed(instrument.institution)
            and instrument.status is not InstrumentStatus.RETIRED)):
        raise NotFound(_("No such instrument."), field="instrumentId")
    return instrument


def _sees_all_of(viewer: User | None, institution_id: int) -> bool:
    return is_platform_staff(viewer) or staff_role(viewer, institution_id) is not None


def in_service(institution_id: int) -> list[Instrument]:
    return list(db.session.scalars(select(Instrument).where(
        Instrument.institution_id == institution_id,
        Instrument.status == InstrumentStatus.IN_SERVICE).order_by(Instrument.id)))


def _keyword_clauses(keyword: str | None) -> list[Any]:
    """Every word of `keyword` in the name, model, manufacturer or technical indicators."""
    return [or_(*(column.icontains(word[:100], autoescape=True) for column in (
        Instrument.name, Instrument.model, Instrument.manufacturer, Instrument.indicators)))
        for word in (keyword or "").split()[:MAX_WORDS]]  # a guardrail on the query's size


def institutions_with_instrument(term: str) -> Select[Any]:
    """The directory's `instrument` filter: ids of the institutions whose register lists an
    instrument (not retired) matching `term` (visibility is the directory's business)."""
    return select(Instrument.institution_id).where(
        Instrument.status != InstrumentStatus.RETIRED, *_keyword_clauses(term))


def search_instruments(keyword: str | None = None, *, institution_id: int | None = None,
                       viewer: User | None = None, limit: int = 20) -> list[Instrument]:
    """Instruments whose name, model, manufacturer or technical indicators contain every word of
    `keyword` (substring match, so a two-character Chinese word such as 光谱 finds 光谱仪).
    The public sees the instruments of listed institutions that are not retired; platform staff
    those of every institution; with `institution_id`, its own staff see its whole register."""
    if limit <= 0:
        return []
    query = (select(Instrument).join(Institution).options(contains_eager(Instrument.institution))
             .where(*_keyword_clauses(keyword)))
    if institution_id is not None:
        query = query.where(Instrument.institution_id == institution_id)
    # An institution's own staff see its whole register, retired instruments too; a search of
    # the database never lists retired ones, nor (but for platform staff) unlisted institutions.
    if institution_id is None or not _sees_all_of(viewer, institution_id):
        query = query.where(Instrument.status != InstrumentStatus.RETIRED)
        if not is_platform_staff(viewer):
            query = query.where(listed_clause())  # live, homepage not hidden (R-OPS-05)
    query = query.order_by(Instrument.institution_id, Instrument.name, Instrument.id)
    return list(db.session.scalars(query.limit(min(limit, MAX_RESULTS))))
