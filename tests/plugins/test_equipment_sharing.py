"""The equipment-sharing (设备共享/实验室共享) plugin: R-ELIG-08 (a valid CNAS laboratory
accreditation and an instrument register with an instrument in service), the register as the
platform's searchable instrument database (R-G-01), bookings without double booking, open
bookings blocking exit (R-ONB-06), quota group B (R-ASM-03), and its own migrations."""

from __future__ import annotations

import io
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from core import migrate
from core.audit.models import AuditEvent
from core.db import db, make_engine, utcnow
from core.demo import sample_pdf
from core.documents import service as documents
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.models import load_all_models
from core.onboarding import exit as exits
from core.onboarding import profile
from core.onboarding.eligibility import evaluate
from core.plugins import plugins
from core.service_fields import clean_item_values, item_fields
from core.testing import TEST_PASSWORD, GraphQLClient
from plugins.equipment_sharing import bookings, instruments
from plugins.equipment_sharing.models import Booking, BookingStatus, InstrumentStatus

ON = date(2029, 6, 30)  # the day eligibility is evaluated for
PLUGIN = "equipment_sharing"

SPECTROMETER = {
    "name": "原子吸收光谱仪", "model": "AA-7000", "manufacturer": "岛津企业管理（中国）有限公司",
    "indicators": "波长范围 185-900 nm；火焰法检出限 Cu ≤ 0.004 mg/L", "location": "顺德区大良实验楼 3 楼",
    "lastCalibratedOn": date(2026, 3, 18), "lastMaintainedOn": date(2026, 9, 2),
    "pricePerHour": "280", "pricePerSample": "60.5", "availability": "工作日 9:00-17:00",
}


# ---------------------------------------------------------------- helpers


def _institution(make_user: Any, name: str = "佛山市南海区仪器共享检测中心", *,
                 status: InstitutionStatus = InstitutionStatus.LIVE) -> tuple[Institution, User]:
    """An institution in the equipment-sharing category with its administrator."""
    admin = make_user(Role.INSTITUTION_ADMIN, name="何振华")
    institution = create_institution(legal_name=name, uscc=None, admin=admin, status=status)
    items = [{"categoryCode": PLUGIN, "title": title, "description": None}
             for title in ("大型仪器开放共享", "实验室共享")]
    profile.set_categories(institution, categories=[PLUGIN], advantage_items=items,
                           main_category=PLUGIN, actor=admin)
    return institution, admin


def _agent(institution: Institution, admin: User, make_user: Any) -> User:
    agent = make_user(Role.INSTITUTION_AGENT, name="客服 李敏")
    add_staff(institution, agent, StaffRole.AGENT, actor=admin)
    return agent


def _upload_cnas(institution: Institution, admin: User, valid_to: date) -> None:
    meta = documents.validate_meta({
        "kind": "cnas_laboratory", "categoryCode": PLUGIN, "certificateNumber": "CNAS L1234",
        "issuer": "中国合格评定国家认可委员会", "validFrom": date(2023, 5, 1), "validTo": valid_to,
    }, institution)
    documents.store_upload(institution, meta, io.BytesIO(sample_pdf("cnas")), filename="cnas.pdf",
                           actor=admin)


def _result(institution: Institution, code: str) -> Any:
    matches = [r for r in evaluate(institution, ON).results if r.code == code and r.subject == PLUGIN]
    assert len(matches) == 1, f"expected one {code} result about {PLUGIN}"
    return matches[0]


def _slot(days: int, hours: int = 2, start_hour: int = 1) -> tuple[datetime, datetime]:
    """A time range `days` from now (whole hours, UTC)."""
    start = (utcnow() + timedelta(days=days)).replace(hour=start_hour, minute=0, second=0,
                                                      microsecond=0)
    return start, start + timedelta(hours=hours)


def _book(instrument_id: int, enterprise: User, slot: tuple[datetime, datetime]) -> Booking:
    return bookings.request_booking(instrument_id, starts_at=slot[0], ends_at=slot[1],
                                    purpose="铜含量测定（家电配件电镀层）", actor=enterprise)


def _logged_in(app: Any, user: User) -> GraphQLClient:
    gql = GraphQLClient(app.test_client())
    body = gql("mutation($i: LoginInput!) { login(input: $i) { __typename } }",
               {"i": {"identifier": user.email, "password": TEST_PASSWORD}})
    assert body["data"]["login"]["__typename"] == "LoginSuccess", body
    return gql


# ---------------------------------------------------------------- R-ELIG-08


def test_a_missing_cnas_laboratory_accreditation_fails_R_ELIG_08_R_ELIG_09(app, make_user):
    """Core checks the required document (reported under R-ELIG-02 with the category)."""
    institution, admin = _institution(make_user)
    missing = _result(institution, "R-ELIG-02")
    assert not missing.passed and "CNAS" in missing.message
    _upload_cnas(institution, admin, ON - timedelta(days=1))
    assert not _result(institution, "R-ELIG-02").passed  # expired yesterday
    _upload_cnas(institution, admin, ON)
    assert _result(institution, "R-ELIG-02").passed  # valid until today


def test_an_empty_instrument_register_fails_a_filled_one_passes_R_ELIG_08(app, make_user):
    institution, admin = _institution(make_user)
    empty = _result(institution, "R-ELIG-08")
    assert not empty.passed and empty.evidence == {"instrument_ids": []}
    assert "仪器" in empty.message
    retired = instruments.register_instrument(institution, {**SPECTROMETER, "status": "retired"},
                                              actor=admin)
    instruments.register_instrument(institution, {"name": "恒温恒湿箱", "status": "under_maintenance"},
                                    actor=admin)
    assert not _result(institution, "R-ELIG-08").passed  # nothing in service
    ready = instruments.register_instrument(institution, SPECTROMETER, actor=admin)
    filled = _result(institution, "R-ELIG-08")
    assert filled.passed and filled.evidence == {"instrument_ids": [ready.id]}
    assert retired.id not in filled.evidence["instrument_ids"]


def test_institutions_of_other_categories_get_no_register_check(app, make_user):
    admin = make_user(Role.INSTITUTION_ADMIN)
    institution = create_institution(legal_name="佛山市计量检定所", uscc=None, admin=admin)
    items = [{"categoryCode": "testing", "title": t, "description": None} for t in ("甲", "乙")]
    profile.set_categories(institution, categories=["testing"], advantage_items=items,
                           main_category="testing", actor=admin)
    assert [r for r in evaluate(institution, ON).results if r.code == "R-ELIG-08"] == []


# ---------------------------------------------------------------- quota and item fields


def test_equipment_sharing_is_quota_group_b_five_a_year_R_ASM_03(app):
    assert [plugins.quota(PLUGIN, year) for year in (1, 2, 3, 4)] == [5, 5, 5, 5]


def test_service_items_name_the_instrument_the_charging_unit_and_the_lead_time(app):
    fields = {f.name: f for f in item_fields(PLUGIN)}
    assert list(fields) == ["instrument_name", "charging_unit", "booking_lead_days"]
    assert fields["instrument_name"].required
    assert [c.value for c in fields["charging_unit"].choices] == ["per_hour", "per_sample"]
    cleaned, problems = clean_item_values(PLUGIN, {"instrument_name": "原子吸收光谱仪",
                                                   "charging_unit": "per_sample",
                                                   "booking_lead_days": "3"})
    assert problems == [] and cleaned["booking_lead_days"] == 3.0
    _cleaned, problems = clean_item_values(PLUGIN, {"charging_unit": "per_day"})
    assert {p.field for p in problems} == {"fields.instrument_name", "fields.charging_unit"}


# ---------------------------------------------------------------- the register (R-G-01)


def test_only_the_administrator_keeps_the_register_and_every_change_is_audited(app, make_user):
    institution, admin = _institution(make_user)
    agent = _agent(institution, admin, make_user)
    with pytest.raises(PermissionDenied):
        instruments.register_instrument(institution, SPECTROMETER, actor=agent)
    instrument = instruments.register_instrument(institution, SPECTROMETER, actor=admin)
    assert instrument.price_per_hour == Decimal("280.00")
    assert instrument.price_per_sample == Decimal("60.50")
    assert instrument.status is InstrumentStatus.IN_SERVICE
    with pytest.raises(PermissionDenied):
        instruments.update_instrument(instrument, {"status": "retired"}, actor=make_user())
    instruments.update_instrument(instrument, {"status": "under_maintenance",
                                               "lastMaintainedOn": date(2026, 11, 20)}, actor=admin)
    assert instrument.status is InstrumentStatus.UNDER_MAINTENANCE
    assert instrument.name == "原子吸收光谱仪"  # fields not given are kept
    actions = [(a.action, a.result) for a in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.like("equipment_sharing.%")).order_by(AuditEvent.id))]
    assert actions == [("equipment_sharing.instrument_register", "denied"),
                       ("equipment_sharing.instrument_register", "success"),
                       ("equipment_sharing.instrument_update", "denied"),
                       ("equipment_sharing.instrument_update", "success")]


def test_every_problem_of_an_instrument_is_reported_at_once(app, make_user):
    institution, admin = _institution(make_user)
    with pytest.raises(InvalidInput) as refused:
        instruments.register_instrument(institution, {
            "name": " ", "model": "M" * 101, "pricePerHour": "-1", "pricePerSample": "免费",
            "status": "broken", "lastCalibratedOn": "去年"}, actor=admin)
    assert {p.field for p in refused.value.problems} == {
        "name", "model", "pricePerHour", "pricePerSample", "status", "lastCalibratedOn"}


def test_a_two_character_chinese_keyword_finds_the_instrument_never_a_retired_one_R_G_01(
        app, make_user):
    live, admin = _institution(make_user)
    spectrometer = instruments.register_instrument(live, SPECTROMETER, actor=admin)
    retired = instruments.register_instrument(live, {"name": "红外光谱仪", "status": "retired"},
                                              actor=admin)
    maintained = instruments.register_instrument(
        live, {"name": "X 射线荧光光谱仪", "status": "under_maintenance"}, actor=admin)
    instruments.register_instrument(live, {"name": "万能材料试验机", "indicators": "最大试验力 100 kN"},
                                    actor=admin)
    applying, other_admin = _institution(make_user, "佛山市高明区检测中心",
                                         status=InstitutionStatus.DRAFT)
    draft_one = instruments.register_instrument(applying, {"name": "拉曼光谱仪"}, actor=other_admin)

    def names(keyword: str | None, **kwargs: Any) -> list[str]:
        return [i.name for i in instruments.search_instruments(keyword, **kwargs)]

    assert sorted(names("光谱")) == ["X 射线荧光光谱仪", "原子吸收光谱仪"]  # not retired, nor a draft's
    assert names("aa-7000") == ["原子吸收光谱仪"]  # model, any case
    assert names("岛津") == ["原子吸收光谱仪"]  # manufacturer
    assert names("波长") == ["原子吸收光谱仪"]  # technical indicators
    assert names("光谱 原子") == ["原子吸收光谱仪"]  # every word must match
    assert names("100%") == [] and names("光_仪") == []  # LIKE wildcards are literal
    assert len(names(None)) == 3 and len(names("光谱", limit=1)) == 1
    # Its own staff see the institution's whole register, retired instruments too.
    assert set(names("光谱", institution_id=live.id, viewer=admin)) == {
        spectrometer.name, retired.name, maintained.name}
    assert sorted(names("光谱", institution_id=live.id, viewer=other_admin)) == [
        "X 射线荧光光谱仪", "原子吸收光谱仪"]
    assert "拉曼光谱仪" in names("光谱", viewer=make_user(Role.OPERATOR))
    with pytest.raises(NotFound):
        instruments.get_instrument(draft_one.id, None)
    with pytest.raises(NotFound):
        instruments.get_instrument(retired.id, make_user())


# ---------------------------------------------------------------- bookings


@pytest.fixture
def lab(app: Any, make_user: Any) -> dict[str, Any]:
    """A live institution with its admin, an agent, an instrument in service and two enterprises."""
    institution, admin = _institution(make_user)
    return {
        "institution": institution, "admin": admin, "agent": _agent(institution, admin, make_user),
        "instrument": instruments.register_instrument(institution, SPECTROMETER, actor=admin),
        "enterprise": make_user(Role.ENTERPRISE, name="佛山市顺德区美的电器配件有限公司 采购部"),
        "other_enterprise": make_user(Role.ENTERPRISE, name="佛山市南海区铝材有限公司 技术部"),
    }


def test_only_an_enterprise_books_and_only_an_instrument_in_service(app, make_user, lab):
    slot = _slot(10)
    for outsider in (lab["admin"], make_user(Role.OPERATOR)):
        with pytest.raises(PermissionDenied):
            _book(lab["instrument"].id, outsider, slot)
    booking = _book(lab["instrument"].id, lab["enterprise"], slot)
    assert booking.status is BookingStatus.REQUESTED
    assert booking.starts_at.tzinfo is not None and booking.starts_at == slot[0]
    instruments.update_instrument(lab["instrument"], {"status": "under_maintenance"}, actor=lab["admin"])
    with pytest.raises(DomainError, match="不可预约") as refused:
        _book(lab["instrument"].id, lab["enterprise"], _slot(11))
    assert refused.value.field == "instrumentId"


def test_a_hidden_institution_takes_no_new_booking_but_decides_the_ones_it_has_R_OPS_05(
        app, make_user, lab):
    """`core.institutions.intake`, as for consultations and orders: hidden (R-OPS-05/06), no
    new booking — even by someone who still sees the instrument (platform staff with an
    enterprise account) — while a request made before is still accepted (R-ONB-07)."""
    from core.catalogue.testing import hide_homepage

    waiting = _book(lab["instrument"].id, lab["enterprise"], _slot(10))
    hide_homepage(lab["institution"], "no_item")
    with pytest.raises(NotFound):  # the public no longer sees it at all
        _book(lab["instrument"].id, lab["other_enterprise"], _slot(12))
    insider = make_user(Role.ENTERPRISE, Role.OPERATOR, name="运维中心 企业账号")
    with pytest.raises(InvalidInput) as refused:
        _book(lab["instrument"].id, insider, _slot(12))
    assert (refused.value.code, refused.value.field) == (ErrorCode.NOT_TAKING_REQUESTS, "instrumentId")
    assert bookings.accept_booking(waiting.id, actor=lab["agent"]).status is BookingStatus.ACCEPTED
    assert db.session.scalar(select(func.count(Booking.id))) == 1


def test_a_booking_needs_a_future_range_and_a_purpose(app, lab):
    past = (utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=1))
    with pytest.raises(InvalidInput) as refused:
        bookings.request_booking(lab["instrument"].id, starts_at=past[0], ends_at=past[0],
                                 purpose=" ", actor=lab["enterprise"])
    assert [p.field for p in refused.value.problems] == ["startsAt", "endsAt", "purpose"]
    start = _slot(5)[0]
    with pytest.raises(InvalidInput, match="31"):
        bookings.request_booking(lab["instrument"].id, starts_at=start,
                                 ends_at=start + timedelta(days=32), purpose="长期占用",
                                 actor=lab["enterprise"])


def test_a_time_without_a_zone_is_beijing_time(app, lab):
    local_start = (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None, microsecond=0)
    booking = bookings.request_booking(lab["instrument"].id, starts_at=local_start,
                                       ends_at=local_start + timedelta(hours=1), purpose="检测",
                                       actor=lab["enterprise"])
    assert booking.starts_at == local_start.replace(tzinfo=UTC) - timedelta(hours=8)


def test_accepting_an_overlapping_booking_is_refused_adjacent_ones_are_fine(app, lab):
    first = _book(lab["instrument"].id, lab["enterprise"], _slot(10, hours=3))
    overlapping = _book(lab["instrument"].id, lab["other_enterprise"], _slot(10, hours=2,
                                                                           start_hour=3))
    start, end = first.starts_at, first.ends_at
    adjacent = bookings.request_booking(lab["instrument"].id, starts_at=end,
                                        ends_at=end + timedelta(hours=1), purpose="紧接着的一小时",
                                        actor=lab["other_enterprise"])
    assert bookings.accept_booking(first.id, actor=lab["agent"]).status is BookingStatus.ACCEPTED
    with pytest.raises(bookings.BookingConflict) as refused:
        bookings.accept_booking(overlapping.id, actor=lab["admin"])
    assert refused.value.conflicting_id == first.id
    assert refused.value.code is ErrorCode.DUPLICATE
    assert db.session.get(Booking, overlapping.id).status is BookingStatus.REQUESTED
    assert bookings.accept_booking(adjacent.id, actor=lab["admin"]).status is BookingStatus.ACCEPTED
    # A new request for an accepted time is refused at once.
    with pytest.raises(bookings.BookingConflict):
        bookings.request_booking(lab["instrument"].id, starts_at=start + timedelta(minutes=30),
                                 ends_at=end, purpose="重复", actor=lab["other_enterprise"])
    # Another instrument is free at that time.
    other = instruments.register_instrument(lab["institution"], {"name": "电感耦合等离子体发射光谱仪"},
                                            actor=lab["admin"])
    parallel = bookings.request_booking(other.id, starts_at=start, ends_at=end, purpose="并行",
                                        actor=lab["other_enterprise"])
    assert bookings.accept_booking(parallel.id, actor=lab["agent"]).status is BookingStatus.ACCEPTED


def test_decisions_belong_to_the_institutions_admin_or_agents_and_are_audited(app, make_user, lab):
    booking = _book(lab["instrument"].id, lab["enterprise"], _slot(7))
    stranger_admin = _institution(make_user, "佛山市三水区检测站")[1]
    for outsider in (lab["enterprise"], stranger_admin, make_user(Role.REGULATOR)):
        with pytest.raises(PermissionDenied):
            bookings.accept_booking(booking.id, actor=outsider)
    declined = bookings.decline_booking(booking.id, reason="当日仪器校准", actor=lab["agent"])
    assert declined.status is BookingStatus.DECLINED and declined.decision_note == "当日仪器校准"
    assert declined.decided_by_id == lab["agent"].id and declined.decided_at is not None
    with pytest.raises(bookings.IllegalBookingTransition):
        bookings.accept_booking(booking.id, actor=lab["admin"])
    rows = [(a.action, a.result) for a in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.like("equipment_sharing.booking_%")).order_by(AuditEvent.id))]
    assert rows == [("equipment_sharing.booking_request", "success")] + [
        ("equipment_sharing.booking_accept", "denied")] * 3 + [
        ("equipment_sharing.booking_decline", "success")]


def test_the_enterprise_cancels_its_own_booking_before_it_starts(app, lab):
    booking = _book(lab["instrument"].id, lab["enterprise"], _slot(4))
    bookings.accept_booking(booking.id, actor=lab["admin"])
    with pytest.raises(PermissionDenied):
        bookings.cancel_booking(booking.id, actor=lab["other_enterprise"])
    assert bookings.cancel_booking(booking.id, actor=lab["enterprise"]).status is BookingStatus.CANCELLED
    with pytest.raises(bookings.IllegalBookingTransition):
        bookings.cancel_booking(booking.id, actor=lab["enterprise"])
    # The slot is free again.
    again = _book(lab["instrument"].id, lab["other_enterprise"], _slot(4))
    assert bookings.accept_booking(again.id, actor=lab["agent"]).status is BookingStatus.ACCEPTED


def test_requested_and_accepted_future_bookings_block_exit_R_ONB_06(app, lab):
    requested = _book(lab["instrument"].id, lab["enterprise"], _slot(3))
    accepted = _book(lab["instrument"].id, lab["other_enterprise"], _slot(6))
    bookings.accept_booking(accepted.id, actor=lab["admin"])
    declined = _book(lab["instrument"].id, lab["other_enterprise"], _slot(9))
    bookings.decline_booking(declined.id, reason=None, actor=lab["admin"])
    matters = exits.open_matters(lab["institution"])
    assert [(m.kind, m.object_id) for m in matters] == [("booking", requested.id),
                                                        ("booking", accepted.id)]
    assert "原子吸收光谱仪" in matters[0].description
    # A booking that is over no longer blocks anything.
    db.session.execute(update(Booking).where(Booking.id == requested.id).values(
        starts_at=utcnow() - timedelta(days=2), ends_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert [m.object_id for m in exits.open_matters(lab["institution"])] == [accepted.id]


@pytest.mark.postgres
def test_two_overlapping_accepts_at_once_exactly_one_succeeds_on_postgresql(app, lab, postgres_url):
    first = _book(lab["instrument"].id, lab["enterprise"], _slot(12, hours=4))
    second = _book(lab["instrument"].id, lab["other_enterprise"], _slot(12, hours=4, start_hour=3))
    results: list[str] = []
    barrier = threading.Barrier(2)

    def accept(booking_id: int, user_id: int) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait()
            try:
                bookings.accept_booking(booking_id, actor=user)
                results.append("ok")
            except bookings.BookingConflict:
                results.append("refused")

    threads = [threading.Thread(target=accept, args=(first.id, lab["admin"].id)),
               threading.Thread(target=accept, args=(second.id, lab["agent"].id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["ok", "refused"]
    db.session.expire_all()
    accepted = db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.status == BookingStatus.ACCEPTED))
    assert accepted == 1


@pytest.mark.postgres
def test_postgresql_itself_refuses_overlapping_accepted_bookings(app, lab, postgres_url):
    """Even a writer that skips the service cannot double-book (the exclusion constraint)."""
    first = _book(lab["instrument"].id, lab["enterprise"], _slot(12, hours=4))
    second = _book(lab["instrument"].id, lab["other_enterprise"], _slot(12, hours=4, start_hour=3))
    db.session.execute(update(Booking).where(Booking.id == first.id).values(status="accepted"))
    db.session.commit()
    with pytest.raises(IntegrityError, match="equipment_sharing_booking_no_overlap"):
        db.session.execute(update(Booking).where(Booking.id == second.id).values(status="accepted"))
        db.session.commit()
    db.session.rollback()


@pytest.mark.postgres
def test_without_the_service_check_postgresql_still_refuses_and_it_reads_as_a_conflict(
        app, lab, postgres_url, monkeypatch):
    first = _book(lab["instrument"].id, lab["enterprise"], _slot(12, hours=4))
    second = _book(lab["instrument"].id, lab["other_enterprise"], _slot(12, hours=4, start_hour=3))
    bookings.accept_booking(first.id, actor=lab["admin"])
    monkeypatch.setattr(bookings, "overlapping_accepted", lambda *args, **kwargs: None)
    with pytest.raises(bookings.BookingConflict):
        bookings.accept_booking(second.id, actor=lab["agent"])
    db.session.expire_all()
    assert db.session.get(Booking, second.id).status is BookingStatus.REQUESTED


# ---------------------------------------------------------------- GraphQL


REGISTER = """mutation($id: ID!, $i: EquipmentSharingInstrumentInput!) {
  equipmentSharingRegisterInstrument(institutionId: $id, input: $i) {
    __typename ... on UserError { code field }
    ... on EquipmentSharingInstrumentSuccess { instrument { id status pricePerHour } } } }"""
UPDATE = """mutation($id: ID!, $c: EquipmentSharingInstrumentChanges!) {
  equipmentSharingUpdateInstrument(instrumentId: $id, changes: $c) {
    __typename ... on EquipmentSharingInstrumentSuccess { instrument { name status model } } } }"""
SEARCH = """query($k: String, $n: Int) { equipmentSharingInstruments(keyword: $k, first: $n) {
  id name model manufacturer indicators institutionName status pricePerHour pricePerSample
  lastCalibratedOn } }"""
BOOKING_RESULT = """__typename ... on UserError { code message field }
  ... on EquipmentSharingBookingConflictError { conflictingBookingId }
  ... on EquipmentSharingBookingSuccess { booking { id status instrument { name } } }"""
REQUEST = """mutation($i: EquipmentSharingBookingInput!) {
  equipmentSharingRequestBooking(input: $i) { %s } }""" % BOOKING_RESULT
ACCEPT = """mutation($id: ID!) { equipmentSharingAcceptBooking(bookingId: $id) { %s } }""" % BOOKING_RESULT
DECLINE = """mutation($id: ID!, $r: String) {
  equipmentSharingDeclineBooking(bookingId: $id, reason: $r) { %s } }""" % BOOKING_RESULT


def test_the_register_search_and_bookings_over_graphql_R_G_01(app, make_user, gql):
    institution, admin = _institution(make_user)
    agent = _agent(institution, admin, make_user)
    as_admin = _logged_in(app, admin)
    spectrometer = {"name": "原子吸收光谱仪", "model": "AA-7000", "indicators": "波长范围 185-900 nm",
                    "pricePerHour": "280", "lastCalibratedOn": "2026-03-18"}
    registered = as_admin(REGISTER, {"id": str(institution.id), "i": spectrometer})
    body = registered["data"]["equipmentSharingRegisterInstrument"]
    assert body["__typename"] == "EquipmentSharingInstrumentSuccess", registered
    instrument_id = body["instrument"]["id"]
    assert body["instrument"]["status"] == "IN_SERVICE"
    assert Decimal(body["instrument"]["pricePerHour"]) == Decimal("280")
    refused = _logged_in(app, agent)(REGISTER, {"id": str(institution.id), "i": spectrometer})
    assert refused["data"]["equipmentSharingRegisterInstrument"]["code"] == "PERMISSION_DENIED"
    changed = as_admin(UPDATE, {"id": instrument_id, "c": {"model": "AA-7000F"}})
    assert changed["data"]["equipmentSharingUpdateInstrument"]["instrument"] == {
        "name": "原子吸收光谱仪", "status": "IN_SERVICE", "model": "AA-7000F"}

    found = gql(SEARCH, {"k": "光谱"}, csrf=False)["data"]["equipmentSharingInstruments"]
    assert [(i["name"], i["institutionName"], i["lastCalibratedOn"]) for i in found] == [
        ("原子吸收光谱仪", "佛山市南海区仪器共享检测中心", "2026-03-18")]
    assert gql(SEARCH, {"k": "光谱", "n": 0}, csrf=False)["data"]["equipmentSharingInstruments"] == []

    enterprise = _logged_in(app, make_user(Role.ENTERPRISE))
    start, end = _slot(8, hours=3)
    first = enterprise(REQUEST, {"i": {"instrumentId": instrument_id, "startsAt": start.isoformat(),
                                       "endsAt": end.isoformat(), "purpose": "镀层铜含量测定"}})
    first = first["data"]["equipmentSharingRequestBooking"]
    assert first["__typename"] == "EquipmentSharingBookingSuccess"
    assert first["booking"]["status"] == "REQUESTED"
    second = enterprise(REQUEST, {"i": {"instrumentId": instrument_id,
                                        "startsAt": (start + timedelta(hours=1)).isoformat(),
                                        "endsAt": (end + timedelta(hours=1)).isoformat(),
                                        "purpose": "复测"}})["data"]["equipmentSharingRequestBooking"]
    as_agent = _logged_in(app, agent)
    accepted = as_agent(ACCEPT, {"id": first["booking"]["id"]})["data"]["equipmentSharingAcceptBooking"]
    assert accepted["booking"]["status"] == "ACCEPTED"
    conflict = as_agent(ACCEPT, {"id": second["booking"]["id"]})["data"]["equipmentSharingAcceptBooking"]
    assert conflict["__typename"] == "EquipmentSharingBookingConflictError"
    assert conflict["code"] == "DUPLICATE" and conflict["conflictingBookingId"] == first["booking"]["id"]
    assert "已被预约" in conflict["message"]
    declined = as_agent(DECLINE, {"id": second["booking"]["id"], "r": "时段冲突"})
    assert declined["data"]["equipmentSharingDeclineBooking"]["booking"]["status"] == "DECLINED"
    again = as_agent(ACCEPT, {"id": second["booking"]["id"]})["data"]["equipmentSharingAcceptBooking"]
    assert again["code"] == "ILLEGAL_TRANSITION"
    mine = enterprise("{ equipmentSharingBookings { status } }", csrf=False)
    assert [b["status"] for b in mine["data"]["equipmentSharingBookings"]] == ["DECLINED", "ACCEPTED"]
    assert gql("{ equipmentSharingBookings { id } }", csrf=False)["data"][
        "equipmentSharingBookings"] == []
    anonymous = gql(REQUEST, {"i": {"instrumentId": instrument_id, "startsAt": start.isoformat(),
                                    "endsAt": end.isoformat(), "purpose": "x"}})
    assert anonymous["data"]["equipmentSharingRequestBooking"]["code"] == "NOT_AUTHENTICATED"


# ---------------------------------------------------------------- migrations


TABLES = {"equipment_sharing_instrument", "equipment_sharing_booking"}


def _plugin_tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {t for t in inspect(engine).get_table_names() if t.startswith("equipment_sharing_")}
    finally:
        engine.dispose()


def _scalars(url: str, sql: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).scalars())
    finally:
        engine.dispose()


def _roundtrip(url: str) -> None:
    """Upgrade everything, take this plugin down to base and up again; core stays."""
    (mine,) = [m for m in migrate.plugin_migrations() if m.name == PLUGIN]
    migrate.upgrade(url)
    assert _plugin_tables(url) == TABLES
    assert _scalars(url, "SELECT version_num FROM alembic_version_equipment_sharing") == ["e0001"]
    command.downgrade(migrate.alembic_config(url, mine), "base")
    assert _plugin_tables(url) == set()
    assert migrate.current_revision(url) is not None  # core untouched
    if url.startswith("postgresql"):
        assert _scalars(url, "SELECT typname FROM pg_type WHERE typname LIKE 'equipment_sharing%%'") == []
    command.upgrade(migrate.alembic_config(url, mine), "head")
    assert _plugin_tables(url) == TABLES
    if url.startswith("postgresql"):
        assert _scalars(url, "SELECT conname FROM pg_constraint WHERE contype = 'x'") == [
            "equipment_sharing_booking_no_overlap"]
    migrate.downgrade(url, "base")
    assert _plugin_tables(url) == set()


def test_the_plugin_migrates_up_and_down_on_its_own_on_sqlite(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'equipment.sqlite'}")


@pytest.mark.postgres
def test_the_plugin_migrates_up_and_down_on_its_own_on_postgresql(scratch_postgres):
    _roundtrip(scratch_postgres)


def test_the_migrated_tables_are_exactly_the_plugins_models(database_url):
    metadata = load_all_models()
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": migrate.include_for(PLUGIN)})
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == [], f"equipment_sharing's models and migrations differ; add a migration: {diff}"
    assert {migrate.owner(metadata.tables[t]) for t in TABLES} == {PLUGIN}
