"""Equipment sharing in GraphQL: search the instrument database, keep the register, book."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from flask_babel import gettext as _

from api.errors import (
    ErrorCode,
    InvalidInputError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    UserError,
    to_graphql_error,
)
from api.identity import require_viewer, viewer_model
from api.lookup import int_id
from core.db import db
from core.errors import DomainError, NotFound
from core.ids import parse_id
from core.institutions.models import Institution
from plugins.equipment_sharing import bookings, instruments
from plugins.equipment_sharing.models import Booking, BookingStatus, Instrument, InstrumentStatus

InstrumentStatusEnum = strawberry.enum(InstrumentStatus, name="EquipmentSharingInstrumentStatus")
BookingStatusEnum = strawberry.enum(BookingStatus, name="EquipmentSharingBookingStatus")


def _id(value: Any, field: str) -> int:
    message = {"institutionId": _("No such institution."), "instrumentId": _(
        "No such instrument."), "bookingId": _("No such booking.")}[field]
    return int_id(value, field, message)


@strawberry.type(name="EquipmentSharingInstrument",
                 description="An instrument of an institution's register (the instrument database).")
class InstrumentType:
    id: strawberry.ID
    institution_id: strawberry.ID
    institution_name: str
    name: str
    model: str | None
    manufacturer: str | None
    indicators: str | None = strawberry.field(description="Key technical indicators.")
    location: str | None
    last_calibrated_on: date | None
    last_maintained_on: date | None
    status: InstrumentStatusEnum  # type: ignore[valid-type]
    price_per_hour: Decimal | None = strawberry.field(description="Yuan per hour.")
    price_per_sample: Decimal | None = strawberry.field(description="Yuan per sample.")
    availability: str | None
    updated_at: datetime

    @classmethod
    def from_model(cls, i: Instrument) -> InstrumentType:
        return cls(id=strawberry.ID(str(i.id)), institution_id=strawberry.ID(str(i.institution_id)),
                   institution_name=i.institution.legal_name, name=i.name, model=i.model,
                   manufacturer=i.manufacturer, indicators=i.indicators, location=i.location,
                   last_calibrated_on=i.last_calibrated_on, last_maintained_on=i.last_maintained_on,
                   status=i.status, price_per_hour=i.price_per_hour,
                   price_per_sample=i.price_per_sample, availability=i.availability,
                   updated_at=i.updated_at)


@strawberry.type(name="EquipmentSharingBooking")
class BookingType:
    id: strawberry.ID
    instrument: InstrumentType
    enterprise_user_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    purpose: str
    status: BookingStatusEnum  # type: ignore[valid-type]
    decided_at: datetime | None
    decision_note: str | None

    @classmethod
    def from_model(cls, b: Booking) -> BookingType:
        return cls(id=strawberry.ID(str(b.id)), instrument=InstrumentType.from_model(b.instrument),
                   enterprise_user_id=strawberry.ID(str(b.enterprise_user_id)),
                   starts_at=b.starts_at, ends_at=b.ends_at, purpose=b.purpose, status=b.status,
                   decided_at=b.decided_at, decision_note=b.decision_note)


@strawberry.input(name="EquipmentSharingInstrumentInput")
class InstrumentInput:
    name: str
    model: str | None = None
    manufacturer: str | None = None
    indicators: str | None = None
    location: str | None = None
    last_calibrated_on: date | None = None
    last_maintained_on: date | None = None
    status: InstrumentStatusEnum = InstrumentStatus.IN_SERVICE  # type: ignore[valid-type]
    price_per_hour: Decimal | None = None
    price_per_sample: Decimal | None = None
    availability: str | None = None


@strawberry.input(name="EquipmentSharingInstrumentChanges",
                  description="Only the fields given change; null clears an optional one.")
class InstrumentChanges:
    name: str | None = strawberry.UNSET
    model: str | None = strawberry.UNSET
    manufacturer: str | None = strawberry.UNSET
    indicators: str | None = strawberry.UNSET
    location: str | None = strawberry.UNSET
    last_calibrated_on: date | None = strawberry.UNSET
    last_maintained_on: date | None = strawberry.UNSET
    status: InstrumentStatusEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    price_per_hour: Decimal | None = strawberry.UNSET
    price_per_sample: Decimal | None = strawberry.UNSET
    availability: str | None = strawberry.UNSET


@strawberry.input(name="EquipmentSharingBookingInput")
class BookingInput:
    instrument_id: strawberry.ID
    starts_at: datetime = strawberry.field(description="A time without a zone is Beijing time.")
    ends_at: datetime
    purpose: str


_CAMEL = {"last_calibrated_on": "lastCalibratedOn", "last_maintained_on": "lastMaintainedOn",
          "price_per_hour": "pricePerHour", "price_per_sample": "pricePerSample"}


def _values(data: InstrumentInput | InstrumentChanges) -> dict[str, Any]:
    """The input as the service takes it (camelCase keys), leaving out fields not given."""
    values = {_CAMEL.get(k, k): v for k, v in vars(data).items() if v is not strawberry.UNSET}
    if values.get("status") is None:
        values.pop("status", None)  # "no status" leaves it as it is (in service when new)
    else:
        values["status"] = InstrumentStatus(values["status"]).value
    return values


@strawberry.type
class EquipmentSharingInstrumentSuccess:
    instrument: InstrumentType


@strawberry.type
class EquipmentSharingBookingSuccess:
    booking: BookingType


@strawberry.type(description="The time overlaps a booking already accepted for the instrument.")
class EquipmentSharingBookingConflictError(UserError):
    conflicting_booking_id: strawberry.ID | None


InstrumentResult = Annotated[
    EquipmentSharingInstrumentSuccess | InvalidInputError | PermissionDeniedError | NotFoundError
    | NotAuthenticatedError,
    strawberry.union("EquipmentSharingInstrumentResult"),
]
BookingResult = Annotated[
    EquipmentSharingBookingSuccess | EquipmentSharingBookingConflictError | InvalidInputError
    | PermissionDeniedError | NotFoundError | NotAuthenticatedError,
    strawberry.union("EquipmentSharingBookingResult"),
]


def _error(exc: DomainError) -> UserError:
    if isinstance(exc, bookings.BookingConflict):
        conflicting = strawberry.ID(str(exc.conflicting_id)) if exc.conflicting_id else None
        return EquipmentSharingBookingConflictError(code=ErrorCode(exc.code), message=exc.message,
                                                    field=exc.field,
                                                    conflicting_booking_id=conflicting)
    return to_graphql_error(exc)


@strawberry.type
class EquipmentSharingQuery:
    @strawberry.field(description="Search the instrument database by name, model, manufacturer or "
                                  "technical indicator (every word must match); instruments of "
                                  "live institutions, retired ones left out. At most 100.")
    def equipment_sharing_instruments(self, keyword: str | None = None,
                                      institution_id: strawberry.ID | None = None,
                                      first: int = 20) -> list[InstrumentType]:
        institution = None
        if institution_id is not None:
            institution = parse_id(institution_id)
            if institution is None:
                return []
        found = instruments.search_instruments(keyword, institution_id=institution,
                                               viewer=viewer_model(),
                                               limit=max(0, min(first, instruments.MAX_RESULTS)))
        return [InstrumentType.from_model(i) for i in found]

    @strawberry.field(description="The viewer's bookings: an enterprise's own, an institution's "
                                  "for its staff. Newest first, at most 100.")
    def equipment_sharing_bookings(self, instrument_id: strawberry.ID | None = None,
                                   first: int = 50) -> list[BookingType]:
        viewer = viewer_model()
        number = parse_id(instrument_id) if instrument_id is not None else None
        if viewer is None or (instrument_id is not None and number is None):
            return []
        found = bookings.visible_bookings(viewer, instrument_id=number, limit=first)
        return [BookingType.from_model(b) for b in found]


@strawberry.type
class EquipmentSharingMutation:
    @strawberry.mutation(description="The institution's administrator adds an instrument to its "
                                     "register.")
    def equipment_sharing_register_instrument(self, institution_id: strawberry.ID,
                                              input: InstrumentInput) -> InstrumentResult:
        try:
            user = require_viewer()
            institution = db.session.get(Institution, _id(institution_id, "institutionId"))
            if institution is None:
                raise NotFound(_("No such institution."), field="institutionId")
            instrument = instruments.register_instrument(institution, _values(input), actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return EquipmentSharingInstrumentSuccess(instrument=InstrumentType.from_model(instrument))

    @strawberry.mutation(description="The institution's administrator changes an instrument "
                                     "(retire it with status RETIRED).")
    def equipment_sharing_update_instrument(self, instrument_id: strawberry.ID,
                                            changes: InstrumentChanges) -> InstrumentResult:
        try:
            user = require_viewer()
            instrument = instruments.get_instrument(_id(instrument_id, "instrumentId"), user)
            instruments.update_instrument(instrument, _values(changes), actor=user)
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return EquipmentSharingInstrumentSuccess(instrument=InstrumentType.from_model(instrument))

    @strawberry.mutation(description="An enterprise asks to use an instrument for a time range.")
    def equipment_sharing_request_booking(self, input: BookingInput) -> BookingResult:
        try:
            booking = bookings.request_booking(
                _id(input.instrument_id, "instrumentId"), starts_at=input.starts_at,
                ends_at=input.ends_at, purpose=input.purpose, actor=require_viewer())
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return EquipmentSharingBookingSuccess(booking=BookingType.from_model(booking))

    @strawberry.mutation(description="The institution's administrator or agent accepts a request; "
                                     "refused when it overlaps an accepted booking.")
    def equipment_sharing_accept_booking(self, booking_id: strawberry.ID) -> BookingResult:
        try:
            booking = bookings.accept_booking(_id(booking_id, "bookingId"), actor=require_viewer())
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return EquipmentSharingBookingSuccess(booking=BookingType.from_model(booking))

    @strawberry.mutation(description="The institution's administrator or agent declines a request.")
    def equipment_sharing_decline_booking(self, booking_id: strawberry.ID,
                                          reason: str | None = None) -> BookingResult:
        try:
            booking = bookings.decline_booking(_id(booking_id, "bookingId"), reason=reason,
                                               actor=require_viewer())
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return EquipmentSharingBookingSuccess(booking=BookingType.from_model(booking))

    @strawberry.mutation(description="The enterprise cancels its request, or its accepted booking "
                                     "before it starts.")
    def equipment_sharing_cancel_booking(self, booking_id: strawberry.ID) -> BookingResult:
        try:
            booking = bookings.cancel_booking(_id(booking_id, "bookingId"), actor=require_viewer())
        except DomainError as exc:
            return _error(exc)  # type: ignore[return-value]
        return EquipmentSharingBookingSuccess(booking=BookingType.from_model(booking))
