"""Booking an instrument: an enterprise asks for a time range, the institution's administrator
or a customer-service agent accepts or declines, and an instrument is never booked twice.

Two accepted bookings of one instrument may not overlap (half-open ranges: one may end at the
minute the next starts). Accepting checks it inside the transaction, after locking the
instrument row, so two staff accepting overlapping requests at once are serialised and the
second is refused; on PostgreSQL an exclusion constraint makes the overlap impossible even for
a writer that bypasses this module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from core.audit import record_audit
from core.clock import CHINA
from core.db import db, utcnow
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied, Problem
from core.identity.models import Role, User
from core.institutions.access import is_platform_staff, staff_role
from core.institutions.intake import require_taking_requests
from core.institutions.models import InstitutionStaff, StaffRole
from plugins.equipment_sharing.instruments import get_instrument
from plugins.equipment_sharing.models import (
    NO_OVERLAP,
    Booking,
    BookingStatus,
    Instrument,
    InstrumentStatus,
)

MAX_DURATION = timedelta(days=31)
MAX_AHEAD = timedelta(days=366)
PURPOSE_MAX_CHARS = 1000
OPEN_STATUSES = (BookingStatus.REQUESTED, BookingStatus.ACCEPTED)


class BookingConflict(DomainError):
    """The time range overlaps a booking already accepted for the instrument."""

    code = ErrorCode.DUPLICATE  # core's codes have no "conflict"; the slot is already taken

    def __init__(self, message: str, *, conflicting_id: int | None):
        super().__init__(message, field="startsAt")
        self.conflicting_id = conflicting_id


class IllegalBookingTransition(DomainError):
    code = ErrorCode.ILLEGAL_TRANSITION


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a time without a zone is Beijing time (the platform's zone)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=CHINA)
    return value.astimezone(UTC)


def overlapping_accepted(instrument_id: int, starts_at: datetime, ends_at: datetime, *,
                         exclude_id: int | None = None) -> Booking | None:
    """An accepted booking of the instrument overlapping [starts_at, ends_at), if any."""
    query = select(Booking).where(
        Booking.instrument_id == instrument_id, Booking.status == BookingStatus.ACCEPTED,
        Booking.starts_at < ends_at, Booking.ends_at > starts_at)
    if exclude_id is not None:
        query = query.where(Booking.id != exclude_id)
    return db.session.scalars(query.order_by(Booking.starts_at).limit(1)).first()


def _conflict(clash: Booking) -> BookingConflict:
    return BookingConflict(
        _("The instrument is already booked from %(start)s to %(end)s.",
          start=clash.starts_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
          end=clash.ends_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")),
        conflicting_id=clash.id)


def _denied(action: str, object_type: str, object_id: int | None, actor: User | None,
            message: str) -> PermissionDenied:
    """Refusals are audited (SECURITY.md 9)."""
    record_audit(action, object_type=object_type, object_id=object_id, result="denied",
                 actor=actor)
    db.session.commit()
    return PermissionDenied(message)


def request_booking(instrument_id: int, *, starts_at: datetime, ends_at: datetime, purpose: str,
                    actor: User | None) -> Booking:
    """An enterprise user asks to use an in-service instrument of an institution taking new
    requests (`core.institutions.intake`: live, homepage not hidden — R-OPS-05/06)."""
    if actor is None or not actor.has_role(Role.ENTERPRISE):
        raise _denied("equipment_sharing.booking_request", "equipment_sharing_instrument",
                      instrument_id, actor, _("Only an enterprise user can book an instrument."))
    instrument = get_instrument(instrument_id, actor)
    require_taking_requests(instrument.institution, "instrumentId")
    if instrument.status is not InstrumentStatus.IN_SERVICE:
        raise DomainError(_("This instrument cannot be booked at the moment."), field="instrumentId")
    starts_at, ends_at = as_utc(starts_at), as_utc(ends_at)
    text = (purpose or "").strip()
    now = utcnow()
    problems: list[Problem] = []
    if starts_at <= now:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("The booking must start in the future."),
                                "startsAt"))
    elif starts_at > now + MAX_AHEAD:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("Bookings open at most one year ahead."), "startsAt"))
    if ends_at <= starts_at:
        problems.append(Problem(ErrorCode.INVALID_INPUT, _("The end must be after the start."),
                                "endsAt"))
    elif ends_at - starts_at > MAX_DURATION:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("A booking lasts at most %(n)d days.", n=MAX_DURATION.days),
                                "endsAt"))
    if not text:
        problems.append(Problem(ErrorCode.REQUIRED, _("Describe what the instrument is for."),
                                "purpose"))
    elif len(text) > PURPOSE_MAX_CHARS:
        problems.append(Problem(ErrorCode.INVALID_INPUT,
                                _("At most %(n)d characters.", n=PURPOSE_MAX_CHARS), "purpose"))
    if problems:
        raise InvalidInput(problems)
    clash = overlapping_accepted(instrument.id, starts_at, ends_at)
    if clash is not None:
        raise _conflict(clash)
    booking = Booking(instrument_id=instrument.id, enterprise_user_id=actor.id, starts_at=starts_at,
                      ends_at=ends_at, purpose=text, status=BookingStatus.REQUESTED)
    db.session.add(booking)
    db.session.flush()
    record_audit("equipment_sharing.booking_request", object_type="equipment_sharing_booking",
                 object_id=booking.id, after={"instrument_id": instrument.id,
                                              "starts_at": starts_at.isoformat(),
                                              "ends_at": ends_at.isoformat()}, actor=actor)
    db.session.commit()
    return booking


def _booking(booking_id: int) -> Booking:
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(_("No such booking."), field="bookingId")
    return booking


def _require_decider(booking: Booking, actor: User | None, action: str) -> None:
    role = staff_role(actor, booking.instrument.institution_id)
    if role not in (StaffRole.ADMIN, StaffRole.AGENT):
        raise _denied(action, "equipment_sharing_booking", booking.id, actor, _(
            "Only the institution's administrator or customer-service agents decide bookings."))


def _locked_requested(booking_id: int) -> Booking:
    """Lock the instrument (so decisions on it run one at a time), then re-read the booking."""
    booking = _booking(booking_id)
    db.session.execute(select(Instrument.id).where(Instrument.id == booking.instrument_id)
                       .with_for_update())
    booking = db.session.scalars(select(Booking).where(Booking.id == booking_id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
    if booking.status is not BookingStatus.REQUESTED:
        raise IllegalBookingTransition(
            _("Only a requested booking can be accepted or declined."), field="bookingId")
    return booking


def accept_booking(booking_id: int, *, actor: User | None) -> Booking:
    """Accept a request unless it overlaps a booking already accepted for the instrument."""
    _require_decider(_booking(booking_id), actor, "equipment_sharing.booking_accept")
    try:
        booking = _locked_requested(booking_id)
        if booking.starts_at <= utcnow():
            raise IllegalBookingTransition(_("The booking has already started."), field="bookingId")
        clash = overlapping_accepted(booking.instrument_id, booking.starts_at, booking.ends_at,
                                     exclude_id=booking.id)
        if clash is not None:
            raise _conflict(clash)
        booking.status = BookingStatus.ACCEPTED
        booking.decided_by_id = actor.id if actor is not None else None
        booking.decided_at = utcnow()
        db.session.flush()  # PostgreSQL's exclusion constraint speaks here
        record_audit("equipment_sharing.booking_accept", object_type="equipment_sharing_booking",
                     object_id=booking.id, before={"status": "requested"},
                     after={"status": "accepted"}, actor=actor)
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if NO_OVERLAP not in str(exc.orig):
            raise
        raise BookingConflict(_("The instrument is already booked at that time."),
                              conflicting_id=None) from exc
    except BaseException:
        db.session.rollback()
        raise
    return booking


def decline_booking(booking_id: int, *, reason: str | None, actor: User | None) -> Booking:
    """Decline a request, saying why when there is something to say."""
    _require_decider(_booking(booking_id), actor, "equipment_sharing.booking_decline")
    note = (reason or "").strip()[:1000] or None
    try:
        booking = _locked_requested(booking_id)
        booking.status = BookingStatus.DECLINED
        booking.decided_by_id = actor.id if actor is not None else None
        booking.decided_at = utcnow()
        booking.decision_note = note
        record_audit("equipment_sharing.booking_decline", object_type="equipment_sharing_booking",
                     object_id=booking.id, before={"status": "requested"},
                     after={"status": "declined", "reason": note}, actor=actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return booking


def cancel_booking(booking_id: int, *, actor: User | None) -> Booking:
    """The enterprise withdraws its request, or an accepted booking before it starts."""
    booking = _booking(booking_id)
    if actor is None or booking.enterprise_user_id != actor.id:
        raise _denied("equipment_sharing.booking_cancel", "equipment_sharing_booking", booking.id,
                      actor, _("Only the enterprise that asked can cancel its booking."))
    if booking.status not in OPEN_STATUSES or (
            booking.status is BookingStatus.ACCEPTED and booking.starts_at <= utcnow()):
        raise IllegalBookingTransition(_("This booking can no longer be cancelled."),
                                       field="bookingId")
    before = booking.status.value
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = utcnow()
    record_audit("equipment_sharing.booking_cancel", object_type="equipment_sharing_booking",
                 object_id=booking.id, before={"status": before}, after={"status": "cancelled"},
                 actor=actor)
    db.session.commit()
    return booking


def open_bookings(institution_id: int) -> list[Booking]:
    """Requested or accepted bookings of the institution's instruments not yet over (R-ONB-06)."""
    return list(db.session.scalars(
        select(Booking).join(Instrument).where(
            Instrument.institution_id == institution_id, Booking.status.in_(OPEN_STATUSES),
            Booking.ends_at > utcnow()).order_by(Booking.starts_at, Booking.id)))


def visible_bookings(viewer: User, *, instrument_id: int | None = None,
                     limit: int = 50) -> list[Booking]:
    """An enterprise's own bookings; the bookings of an institution's instruments for its staff;
    every booking for platform staff. Newest first."""
    query = select(Booking).join(Instrument).options(
        contains_eager(Booking.instrument).joinedload(Instrument.institution))
    if not is_platform_staff(viewer):
        own_institutions = select(InstitutionStaff.institution_id).where(
            InstitutionStaff.user_id == viewer.id)
        query = query.where((Booking.enterprise_user_id == viewer.id)
                            | Instrument.institution_id.in_(own_institutions))
    if instrument_id is not None:
        query = query.where(Booking.instrument_id == instrument_id)
    return list(db.session.scalars(query.order_by(Booking.starts_at.desc(), Booking.id.desc())
                                   .limit(max(0, min(limit, 100)))))
