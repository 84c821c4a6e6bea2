"""Visibility rules, the profile deadline and spot checks: a homepage hidden a month after going
live without an item or an agent and restored once rectified (R-OPS-05), the 5-working-day
profile deadline and its reminders (R-OPS-01), the operator's spot-check list, sample and
records (R-OPS-04), who may do and see what (SECURITY.md 9) and the statement count."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "onboarding"))
from factory import eligible_institution

from core.audit.models import AuditEvent
from core.catalogue import service as catalogue
from core.catalogue.models import ItemStatus
from core.catalogue.testing import add_item, listed_institution
from core.complaints.models import Complaint, ComplaintStatus
from core.consultations.models import Consultation, ConsultationStatus
from core.db import db, utcnow
from core.demo import DEMO_ITEMS
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStaff, StaffRole
from core.institutions.service import add_staff
from core.notifications.models import OutboxMessage
from core.onboarding import agents, profile, workflow
from core.orders.models import Order, OrderStatus
from core.reviews.models import FollowUp, FollowUpStatus, Review
from core.tasks import get_job
from core.testing import GraphQLClient, audit_events, graphql_login
from core.visibility import deadline, spot_checks
from core.visibility.models import SpotCheck, SpotCheckResult
from core.visibility.service import add_months, apply_rules, grace_end, last_due_live_date
from core.workcalendar.service import set_override

SH = ZoneInfo("Asia/Shanghai")
TESTING_ITEM = next(i for i in DEMO_ITEMS if i["categoryCode"] == "testing")
TESTING_FIELDS = TESTING_ITEM["fields"]
COMPLETE_PROFILE = {
    "institutionType": "enterprise", "legalRepresentative": "梁志强",
    "registeredAddress": "佛山市南海区桂城街道南海大道北68号",
    "introduction": "本机构是佛山市南海区的第三方检验检测机构，为本地家电、五金和陶瓷企业提供产品安全、"
                    "性能与环保检测服务，具备CMA资质，可出具具有法律效力的检测报告。",
}


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def went_live(institution: Institution, at: datetime) -> None:
    institution.went_live_at = at
    db.session.commit()


def inbox(template: str, user: User | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.template == template,
                                        OutboxMessage.channel == "inbox")
    if user is not None:
        query = query.where(OutboxMessage.recipient_user_id == user.id)
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def complete(institution: Institution, admin: User) -> None:
    """A complete profile and a published item written to the specification (R-OPS-01)."""
    profile.update_profile(institution, COMPLETE_PROFILE, actor=admin)
    add_item(institution, "家用电器安全检测（GB 4706系列）", fields=TESTING_FIELDS)


# ---------------------------------------------------------------- R-OPS-05: the month


def test_a_calendar_month_ends_on_the_last_day_of_a_shorter_month_R_OPS_05(app):
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 3, 31), 1) == date(2026, 4, 30)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 1, 15), -1) == date(2025, 12, 15)
    # The job's one date bound agrees with the month arithmetic on every day of three years.
    day = date(2026, 1, 1)
    while day < date(2029, 1, 1):
        bound = last_due_live_date(day)
        assert grace_end(bound) <= day < grace_end(bound + timedelta(days=1)), day
        day += timedelta(days=1)


def test_hidden_from_one_month_after_going_live_not_a_day_before_R_OPS_05(app, make_user):
    jan31, admin = listed_institution(make_user, "佛山市禅城区一月检测站")
    mar15, _a = listed_institution(make_user, "佛山市南海区三月计量站")
    went_live(jan31, sh(2026, 1, 31, 10, 0))
    went_live(mar15, sh(2026, 3, 15, 23, 30))  # 15:30 UTC: still 15 March in China
    assert apply_rules(today=date(2026, 2, 27)) == []
    changes = apply_rules(today=date(2026, 2, 28))  # 31 Jan + 1 month = 28 Feb
    assert [(c.institution_id, c.action, c.reason) for c in changes] == [
        (jan31.id, "hide", "no_item_no_agent")]
    assert apply_rules(today=date(2026, 4, 14)) == []  # the day before for 15 March
    assert [c.institution_id for c in apply_rules(today=date(2026, 4, 15))] == [mar15.id]
    db.session.expire_all()
    assert not jan31.is_public and jan31.homepage_hidden_reason == "no_item_no_agent"
    # Run again (beat and a manual run): nothing changes and nobody is told twice.
    assert apply_rules(today=date(2026, 4, 15)) == []
    [message] = inbox("homepage_hidden", admin)
    assert "暂停向企业展示" in message.body and "尚未发布服务项目，也未配置在线客服人员" in message.body
    assert db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.template == "homepage_hidden", OutboxMessage.channel == "sms",
        OutboxMessage.recipient_user_id == admin.id)) is not None
    [hide, _other] = audit_events("institution.homepage_hide")
    assert hide.actor_id is None and hide.object_id == str(jan31.id)  # the platform did it
    assert hide.after["homepage_hidden_reason"] == "no_item_no_agent"
    assert hide.after["rule"] == "R-OPS-05"


def test_rectifying_restores_at_once_and_the_job_restores_too_R_OPS_05(app, make_user):
    institution, admin = eligible_institution(make_user)
    operator, regulator = make_user(Role.OPERATOR), make_user(Role.REGULATOR)
    for action, actor in (("submit", admin), ("start_screening", operator),
                          ("pass_screening", operator), ("approve", regulator)):
        workflow.transition(institution.id, action, actor=actor)
    assert apply_rules() == []  # just live: a month to publish items
    went_live(institution, utcnow() - timedelta(days=40))
    assert [(c.action, c.reason) for c in apply_rules()] == [("hide", "no_item")]  # it has an agent

    # Publishing an item restores the homepage at once, without waiting for the job.
    item = catalogue.create_item(institution, {k: v for k, v in TESTING_ITEM.items()}, actor=admin)
    catalogue.publish_item(item, actor=admin)
    db.session.expire_all()
    assert institution.is_public and institution.homepage_hidden_reason is None
    assert [m.recipient_user_id for m in inbox("homepage_restored")] == [admin.id]
    assert apply_rules() == []
    # Withdrawing the only item hides it again at once: a new hiding, told again.
    catalogue.withdraw_item(item, actor=admin)
    db.session.expire_all()
    assert not institution.is_public and institution.homepage_hidden_reason == "no_item"
    assert len(inbox("homepage_hidden", admin)) == 2
    # The agent leaving changes the reason; the hiding (and its message) stays one.
    agent = agents.agents_of(institution)[0]
    agents.remove_agent(institution, agent.id, actor=admin)
    db.session.expire_all()
    assert institution.homepage_hidden_reason == "no_item_no_agent"
    # Rectified outside the services the refresh hooks sit in: the job restores it.
    add_item(institution, "电器能效检测", fields=TESTING_FIELDS)
    add_staff(institution, agent, StaffRole.AGENT, actor=admin)
    assert [(c.action, c.reason) for c in apply_rules()] == [("restore", None)]
    assert apply_rules() == []
    db.session.expire_all()
    assert institution.is_public
    assert len(inbox("homepage_hidden", admin)) == 2 and len(inbox("homepage_restored", admin)) == 2
    actions = [a.action for a in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.like("institution.homepage_%")).order_by(AuditEvent.id))]
    assert actions == ["institution.homepage_hide", "institution.homepage_restore",
                       "institution.homepage_hide", "institution.homepage_reason",
                       "institution.homepage_restore"]


def test_the_periodic_job_is_registered_and_idempotent_R_OPS_05(app, make_user):
    institution, _admin = listed_institution(make_user, "佛山市三水区检测站")
    went_live(institution, utcnow() - timedelta(days=62))
    job = get_job("apply_visibility_rules")
    assert job.func() == {"hidden": [institution.id], "restored": [], "reason_changed": []}
    assert job.func() == {}
    assert get_job("profile_deadline_reminders").func() == {}  # went live too long ago to remind


# ---------------------------------------------------------------- R-OPS-01


def test_the_profile_deadline_skips_national_day_R_OPS_01(app, make_user):
    institution, admin = listed_institution(make_user, "佛山市顺德区国庆检测站")
    went_live(institution, sh(2026, 9, 29, 10, 0))  # Tuesday; 1-7 October are holidays
    status = deadline.profile_deadline_status(institution, date(2026, 9, 30))
    # 30 Sep (1), 8 Oct (2), 9 Oct (3), Saturday 10 Oct is an adjusted working day (4), 12 Oct (5).
    assert (status.deadline, status.reminder_on) == (date(2026, 10, 12), date(2026, 10, 9))
    assert {"institutionType", "legalRepresentative", "introduction", "serviceItems"} <= {
        p.field for p in status.problems}
    assert not status.complete and not status.overdue
    assert deadline.profile_deadline_status(institution, date(2026, 10, 13)).overdue
    # The operator's override table counts: 10 October made a rest day moves the deadline.
    set_override(date(2026, 10, 10), False, "测试：调休取消", actor=None)
    assert deadline.profile_deadline_status(institution).deadline == date(2026, 10, 13)
    # A published item not written to the specification does not count; one that is, does.
    profile.update_profile(institution, COMPLETE_PROFILE, actor=admin)
    add_item(institution, "无类目字段的检测项目")
    assert [p.field for p in deadline.profile_deadline_status(institution).problems] == ["serviceItems"]
    add_item(institution, "家用电器安全检测", fields=TESTING_FIELDS)
    status = deadline.profile_deadline_status(institution, date(2026, 10, 20))
    assert status.complete and not status.overdue


def test_reminders_on_working_day_3_and_the_deadline_day_once_each_R_OPS_01(app, make_user):
    late, admin = listed_institution(make_user, "佛山市高明区检测站")
    done, done_admin = listed_institution(make_user, "佛山市禅城区已完善检测站")
    complete(done, done_admin)
    for institution in (late, done):
        went_live(institution, sh(2026, 9, 29, 10, 0))
    reminded, overdue = {}, {}
    day = date(2026, 9, 29)
    while day <= date(2026, 10, 14):
        for _run in range(2):  # every run twice: the second queues nothing
            report = deadline.send_reminders(day)
            if report["reminded"]:
                reminded.setdefault(day, []).extend(report["reminded"])
            if report["overdue"]:
                overdue[day] = report["overdue"]
        day += timedelta(days=1)
    assert reminded == {date(2026, 10, 9): [late.id], date(2026, 10, 12): [late.id]}
    assert overdue == {date(2026, 10, 13): [late.id], date(2026, 10, 14): [late.id]}
    messages = inbox("profile_deadline_reminder")
    assert [m.recipient_user_id for m in messages] == [admin.id, admin.id]
    assert "2026年10月12日" in messages[0].body and "今日为截止日" in messages[1].body
    assert "发布" in messages[0].body  # what is missing is named


# ---------------------------------------------------------------- R-OPS-04: the list


class Signals:
    """Three live institutions: one clean and checked, one with every back-end signal, one
    hidden and overdue; the list is read on 15 June 2026."""

    NOW = sh(2026, 6, 15, 12, 0)
    ON = date(2026, 6, 15)

    def __init__(self, make_user: Any) -> None:
        self.operator, self.regulator = make_user(Role.OPERATOR), make_user(Role.REGULATOR)
        self.customer = make_user(Role.ENTERPRISE, name="佛山市美达电器 何工")
        self.clean, admin = listed_institution(make_user, "佛山市甲检测中心")
        complete(self.clean, admin)
        add_staff(self.clean, make_user(Role.INSTITUTION_AGENT), StaffRole.AGENT, actor=admin)
        went_live(self.clean, sh(2026, 1, 5, 9, 0))
        self.troubled, self.troubled_admin = listed_institution(make_user, "佛山市乙检测中心")
        went_live(self.troubled, sh(2026, 6, 1, 9, 0))  # deadline 8 June passed, incomplete
        self.hidden, _admin = listed_institution(make_user, "佛山市丙检测中心")
        went_live(self.hidden, sh(2026, 1, 5, 9, 0))
        apply_rules(today=self.ON)  # hides 丙 (no item, no agent); 乙 is within its month
        spot_checks.record_spot_check(self.clean, result="ok", findings="信息完整，未发现问题。",
                                      actor=self.operator, now=self.NOW - timedelta(days=10))
        for stars, at, follow_up in ((1, sh(2026, 3, 1, 10, 0), FollowUpStatus.OPEN),
                                     (2, sh(2026, 4, 1, 10, 0), FollowUpStatus.RESPONDED),
                                     (2, sh(2025, 12, 20, 10, 0), FollowUpStatus.SATISFIED),
                                     (5, sh(2026, 5, 1, 10, 0), None)):
            self.review(self.troubled, stars, at, follow_up)
        for status, at in ((ComplaintStatus.VERIFIED, sh(2026, 2, 1, 9, 0)),
                           (ComplaintStatus.FILED, sh(2026, 6, 10, 9, 0)),
                           (ComplaintStatus.UNFOUNDED, sh(2026, 3, 1, 9, 0)),
                           (ComplaintStatus.WITHDRAWN, sh(2026, 3, 2, 9, 0)),
                           (ComplaintStatus.VERIFIED, sh(2025, 11, 1, 9, 0))):
            db.session.add(Complaint(institution_id=self.troubled.id,
                                     enterprise_user_id=self.customer.id,
                                     filed_by_id=self.customer.id, subject="检测报告延期",
                                     body="约定5个工作日出报告，实际拖延两周。", status=status, filed_at=at))
        # Answered after 3 h of service-window time: this month's average misses 2 h.
        db.session.add(Consultation(
            institution_id=self.troubled.id, enterprise_user_id=self.customer.id,
            filed_by_id=self.customer.id, subject="检测周期咨询", received_at=sh(2026, 6, 8, 9, 0),
            status=ConsultationStatus.ANSWERED, first_response_at=sh(2026, 6, 8, 12, 0),
            sla_rule="working_window", sla_seconds=3 * 3600))
        db.session.commit()

    def review(self, institution: Institution, stars: int, at: datetime,
               follow_up: FollowUpStatus | None) -> None:
        order = Order(institution_id=institution.id, enterprise_user_id=self.customer.id,
                      placed_by_id=self.customer.id, title="家电安全检测",
                      status=OrderStatus.COMPLETED, completed_at=at)
        db.session.add(order)
        db.session.flush()
        review = Review(order_id=order.id, institution_id=institution.id,
                        enterprise_user_id=self.customer.id, stars=stars, comment="服务一般", at=at)
        db.session.add(review)
        db.session.flush()
        if follow_up is not None:
            db.session.add(FollowUp(review_id=review.id, institution_id=institution.id,
                                    status=follow_up, opened_at=at))

    def page(self, sort: str = "risk", viewer: User | None = None) -> list[spot_checks.SpotCheckRow]:
        return spot_checks.spot_check_list(viewer or self.operator, sort=sort, on=self.ON,
                                           now=self.NOW).rows


@pytest.fixture
def signals(app: Any, make_user: Any) -> Signals:
    return Signals(make_user)


def test_the_spot_check_list_shows_each_signal_and_sorts_by_risk_R_OPS_04(signals):
    rows = {r.institution_id: r for r in signals.page()}
    clean, troubled, hidden = (rows[signals.clean.id], rows[signals.troubled.id],
                               rows[signals.hidden.id])
    assert (clean.hidden_reason, clean.profile_overdue, clean.open_follow_ups, clean.bad_reviews,
            clean.complaints_filed, clean.sla_missed, clean.days_since_check, clean.risk) == (
        None, False, 0, 0, 0, False, 10, 0)
    assert troubled.deadline.deadline == date(2026, 6, 8) and troubled.profile_overdue
    assert troubled.hidden_reason is None  # its month is not over
    assert (troubled.open_follow_ups, troubled.complaints_filed, troubled.complaints_verified,
            troubled.complaints_pending, troubled.bad_reviews) == (2, 3, 1, 1, 2)
    assert troubled.sla.average_seconds == 3 * 3600 and troubled.sla_missed
    assert troubled.last_checked_at is None and troubled.days_since_check is None
    assert troubled.risk == 3 + 2 * 2 + 3 + 1 + 2 * 1 + 3 + 2
    assert hidden.hidden_reason == "no_item_no_agent" and hidden.profile_overdue
    assert hidden.risk == 3 + 3 + 2
    assert [r.institution_id for r in signals.page()] == [
        signals.troubled.id, signals.hidden.id, signals.clean.id]
    assert [r.institution_id for r in signals.page("last_check")] == [
        signals.troubled.id, signals.hidden.id, signals.clean.id]
    assert [r.institution_id for r in signals.page("went_live")] == [  # newest live first
        signals.troubled.id, signals.hidden.id, signals.clean.id]
    assert len(signals.page(viewer=signals.regulator)) == 3  # regulators read it
    with pytest.raises(InvalidInput):
        spot_checks.spot_check_list(signals.operator, first=101)


def _count_statements(client: GraphQLClient, first: int) -> tuple[dict[str, Any], list[str]]:
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        body = client("""query($first: Int!) { spotCheckList(first: $first) { __typename
            ... on SpotCheckListPage { total hasMore rows { institutionName homepageHidden
                profileOverdue openFollowUps complaintsFiled complaintsVerified badReviews
                slaMet daysSinceCheck riskScore } } } }""", {"first": first}, csrf=False)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return body, statements


def test_the_list_reads_a_fixed_number_of_statements_at_any_page_size_R_OPS_04(app, make_user):
    operator, customer = make_user(Role.OPERATOR), make_user(Role.ENTERPRISE)
    for n in range(30):
        institution, _admin = listed_institution(make_user, f"佛山市第{n:02d}检测站")
        went_live(institution, utcnow() - timedelta(days=3 + n))
        add_item(institution, f"检测项目{n}", fields=TESTING_FIELDS)
        db.session.add(Complaint(institution_id=institution.id, enterprise_user_id=customer.id,
                                 filed_by_id=customer.id, subject="报告延期", body="报告延期两周。"))
        db.session.add(Consultation(institution_id=institution.id, enterprise_user_id=customer.id,
                                    filed_by_id=customer.id, subject="咨询", received_at=utcnow(),
                                    status=ConsultationStatus.OPEN))
        if n % 3 == 0:
            spot_checks.record_spot_check(institution, result="ok", findings="未发现问题。",
                                          actor=operator)
    db.session.commit()
    client = graphql_login(app, operator)
    small, five = _count_statements(client, 5)
    large, fifty = _count_statements(client, 50)
    assert len(small["data"]["spotCheckList"]["rows"]) == 5
    page = large["data"]["spotCheckList"]
    assert page["total"] == 30 and len(page["rows"]) == 30 and not page["hasMore"]
    assert all(r["complaintsFiled"] == 1 for r in page["rows"])
    assert len(five) == len(fifty), (five, fifty)
    assert len(fifty) <= 16, len(fifty)


# ---------------------------------------------------------------- R-OPS-04: recording


def test_only_operators_record_spot_checks_and_refusals_are_audited_R_OPS_04(signals, make_user):
    """Rectify tells the institution, referred tells the regulators; the institution reads its
    history without a referral's findings (R-G-05: nothing leaks beyond who is entitled)."""
    enterprise = signals.customer
    for user in (enterprise, signals.troubled_admin, signals.regulator):
        with pytest.raises(PermissionDenied):
            spot_checks.record_spot_check(signals.troubled, result="ok", findings="x", actor=user)
    assert [a.actor_id for a in audit_events("spot_check.record", "denied")] == [
        enterprise.id, signals.troubled_admin.id, signals.regulator.id]
    with pytest.raises(InvalidInput) as refused:
        spot_checks.record_spot_check(signals.troubled, result="maybe", findings="  ",
                                      actor=signals.operator)
    assert {p.field for p in refused.value.problems} == {"result", "findings"}

    rectify = spot_checks.record_spot_check(
        signals.troubled, result="rectify", actor=signals.operator,
        findings="服务项目未填写检测周期和收费标准，请于10个工作日内补充。")
    [message] = inbox("spot_check_rectify")
    assert message.recipient_user_id == signals.troubled_admin.id
    assert "未填写检测周期和收费标准" in message.body
    referred = spot_checks.record_spot_check(
        signals.troubled, result="referred", actor=signals.operator,
        findings="发现该机构出具的检测报告加盖的CMA标志超出资质认定范围，涉嫌违法。")
    assert [m.recipient_user_id for m in inbox("spot_check_referred")] == [signals.regulator.id]
    assert "涉嫌违法" in inbox("spot_check_referred")[0].body
    assert [(a.object_id, a.after["result"]) for a in audit_events("spot_check.record")][-2:] == [
        (str(signals.troubled.id), "rectify"), (str(signals.troubled.id), "referred")]
    # The history: the institution sees its checks but not a referral's findings.
    own = spot_checks.spot_checks_of(signals.troubled, signals.troubled_admin)
    assert [c.id for c in own] == [referred.id, rectify.id]
    assert [spot_checks.findings_visible(signals.troubled_admin, c) for c in own] == [False, True]
    assert spot_checks.findings_visible(signals.regulator, referred)
    with pytest.raises(PermissionDenied):
        spot_checks.spot_checks_of(signals.troubled, enterprise)
    other_admin = db.session.get(User, db.session.scalar(select(InstitutionStaff.user_id).where(
        InstitutionStaff.institution_id == signals.clean.id, InstitutionStaff.role == StaffRole.ADMIN)))
    with pytest.raises(PermissionDenied):
        spot_checks.spot_checks_of(signals.troubled, other_admin)
    assert len(audit_events("spot_check.history", "denied")) == 2


def test_spot_checks_over_graphql_and_the_web_R_OPS_04(app, signals):
    troubled_id = str(signals.troubled.id)
    record = """mutation($i: RecordSpotCheckInput!) { recordSpotCheck(input: $i) { __typename
        ... on UserError { code field } ... on RecordSpotCheckSuccess { spotCheck { result findings
        operatorName } } } }"""
    admin = graphql_login(app, signals.troubled_admin)
    refused = admin(record, {"i": {"institutionId": troubled_id, "result": "OK", "findings": "好"}})
    assert refused["data"]["recordSpotCheck"]["code"] == "PERMISSION_DENIED"
    operator = graphql_login(app, signals.operator)
    missing = operator(record, {"i": {"institutionId": troubled_id, "result": "OK", "findings": " "}})
    assert missing["data"]["recordSpotCheck"] == {"__typename": "InvalidInputError",
                                                  "code": "REQUIRED", "field": "findings"}
    done = operator(record, {"i": {"institutionId": troubled_id, "result": "REFERRED",
                                   "findings": "涉嫌超范围出具检测报告。"}})
    assert done["data"]["recordSpotCheck"]["spotCheck"]["result"] == "REFERRED"
    history = """query($id: ID!) { spotChecks(institutionId: $id) { __typename
        ... on UserError { code } ... on SpotCheckHistory { checks { result findings } } } }"""
    assert admin(history, {"id": troubled_id}, csrf=False)["data"]["spotChecks"]["checks"] == [
        {"result": "REFERRED", "findings": None}]
    regulator = graphql_login(app, signals.regulator)
    assert regulator(history, {"id": troubled_id}, csrf=False)["data"]["spotChecks"]["checks"][0][
        "findings"] == "涉嫌超范围出具检测报告。"
    listing = """{ spotCheckList(first: 2, sort: LAST_CHECK) { __typename ... on UserError { code }
        ... on SpotCheckListPage { total hasMore rows { institutionName } } } }"""
    read = regulator(listing, csrf=False)["data"]["spotCheckList"]
    # Never checked first, then the longest since (乙 was just checked above).
    assert (read["total"], read["hasMore"], [r["institutionName"] for r in read["rows"]]) == (
        3, True, ["佛山市丙检测中心", "佛山市甲检测中心"])
    assert admin(listing, csrf=False)["data"]["spotCheckList"]["code"] == "PERMISSION_DENIED"
    visibility = """query($id: ID!) { homepageVisibility(institutionId: $id) { __typename
        ... on UserError { code } ... on HomepageVisibility { homepageHidden homepageHiddenReason } }
        profileDeadline(institutionId: $id) { __typename ... on UserError { code }
        ... on ProfileDeadline { deadline overdue complete problems { field } } } }"""
    hidden_id = {"id": str(signals.hidden.id)}
    seen = operator(visibility, hidden_id, csrf=False)["data"]
    assert seen["homepageVisibility"] == {"__typename": "HomepageVisibility", "homepageHidden": True,
                                          "homepageHiddenReason": "no_item_no_agent"}
    assert seen["profileDeadline"]["deadline"] == "2026-01-12" and seen["profileDeadline"]["overdue"]
    customer = graphql_login(app, signals.customer)
    shut = customer(visibility, hidden_id, csrf=False)["data"]
    assert shut["homepageVisibility"]["code"] == shut["profileDeadline"]["code"] == "PERMISSION_DENIED"

    # The web: operators see the list and record; an institution is refused (audited).
    web = operator.client
    page = web.get("/operations/spot-checks").get_data(as_text=True)
    assert "佛山市乙检测中心" in page and 'id="sample-form"' in page
    assert 'id="sample-form"' not in regulator.client.get("/operations/spot-checks").get_data(
        as_text=True)
    assert admin.client.get("/operations/spot-checks").status_code == 403
    assert admin.client.get(f"/operations/spot-checks/{troubled_id}/new").status_code == 403
    assert customer.client.get(f"/institutions/{troubled_id}/spot-checks").status_code == 404
    assert len(audit_events("spot_check.access_denied", "denied")) >= 1
    form = web.get(f"/operations/spot-checks/{troubled_id}/new").get_data(as_text=True)
    token = form.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    posted = web.post(f"/operations/spot-checks/{troubled_id}/new",
                      data={"csrf_token": token, "result": "ok", "findings": "复查：已整改完毕。"})
    assert posted.status_code == 302
    assert db.session.scalars(select(SpotCheck).order_by(SpotCheck.id.desc())).first().result is (
        SpotCheckResult.OK)
    own = admin.client.get(f"/institutions/{troubled_id}/spot-checks").get_data(as_text=True)
    assert "复查：已整改完毕。" in own and "涉嫌超范围" not in own
    status = admin.client.get(f"/institutions/{signals.troubled.id}/application").get_data(
        as_text=True)
    assert 'id="profile-deadline"' in status and "2026-06-08" in status


def test_a_random_sample_is_reproducible_from_its_recorded_seed_R_OPS_04(signals, make_user):
    for n in range(7):
        listed_institution(make_user, f"佛山市抽样检测站{n}")
    first = spot_checks.draw_sample(signals.operator, size=4, seed=20260615)
    again = spot_checks.draw_sample(signals.operator, size=4, seed=20260615)
    assert first.institution_ids == again.institution_ids and len(set(first.institution_ids)) == 4
    assert first.population_size == 10
    fresh = spot_checks.draw_sample(signals.operator)  # SPOT_CHECK_SAMPLE_SIZE = 5
    recorded = audit_events("spot_check.sample")[-1]
    assert recorded.after["seed"] == fresh.seed and recorded.after["drawn"] == fresh.institution_ids
    assert len(fresh.institution_ids) == 5
    assert spot_checks.draw(recorded.after["population"], 5, recorded.after["seed"]) == (
        fresh.institution_ids)
    with pytest.raises(PermissionDenied):
        spot_checks.draw_sample(signals.regulator)
    assert audit_events("spot_check.sample", "denied")[-1].actor_id == signals.regulator.id
    with pytest.raises(InvalidInput):
        spot_checks.draw_sample(signals.operator, size=0)


def test_item_status_hides_only_published_items(app, make_user):
    """R-OPS-05: a draft item is not a service item shown to enterprises."""
    institution, admin = listed_institution(make_user, "佛山市草稿检测站")
    add_staff(institution, make_user(Role.INSTITUTION_AGENT), StaffRole.AGENT, actor=admin)
    add_item(institution, "草稿项目", status=ItemStatus.DRAFT, fields=TESTING_FIELDS)
    went_live(institution, utcnow() - timedelta(days=45))
    assert [(c.action, c.reason) for c in apply_rules()] == [("hide", "no_item")]


# ---------------------------------------------------------------- review: edge cases and races


def _past_grace_without_item(make_user: Any, name: str) -> tuple[Institution, User]:
    """A live institution past its month with an agent and no published item."""
    institution, admin = listed_institution(make_user, name)
    add_staff(institution, make_user(Role.INSTITUTION_AGENT), StaffRole.AGENT, actor=admin)
    went_live(institution, utcnow() - timedelta(days=40))
    return institution, admin


def test_a_removed_or_exited_institution_is_never_touched_R_OPS_05(app, make_user):
    """Hidden while live, then removed: neither a refresh (an item published, an agent leaving)
    nor the job restores it or tells anybody."""
    from core.institutions.models import InstitutionStatus
    from core.visibility.service import refresh

    for status in (InstitutionStatus.REMOVED, InstitutionStatus.EXITED):
        institution, admin = _past_grace_without_item(make_user, f"佛山市{status.value}检测站")
        assert [c.action for c in apply_rules()] == ["hide"]
        institution.status = status
        db.session.commit()
        add_item(institution, "电器能效检测", fields=TESTING_FIELDS)
        assert refresh(institution) is None and apply_rules() == []
        db.session.expire_all()
        assert institution.homepage_hidden_reason == "no_item" and institution.homepage_hidden_at
        assert inbox("homepage_restored", admin) == []
    assert audit_events("institution.homepage_restore") == []


def test_an_institution_live_without_a_go_live_time_is_left_alone_R_OPS_05_R_OPS_01(app, make_user):
    """No `went_live_at` (data from before it was recorded): no month can be counted, so the
    homepage is never hidden and no deadline is shown; a hidden one is restored."""
    institution, _admin = listed_institution(make_user, "佛山市无上线时间检测站")
    institution.went_live_at = None
    db.session.commit()
    assert apply_rules(today=date(2030, 1, 1)) == []
    status = deadline.profile_deadline_status(institution)
    assert status.deadline is None and not status.overdue
    institution.homepage_hidden_at, institution.homepage_hidden_reason = utcnow(), "no_item"
    db.session.commit()
    assert [c.action for c in apply_rules()] == ["restore"]
    assert [r.went_live_on for r in spot_checks.spot_check_list(
        make_user(Role.OPERATOR), sort="went_live").rows] == [None]


def test_a_rule_applied_inside_a_request_is_the_platform_s_act_R_OPS_05(app, make_user):
    """Withdrawing the last item hides the homepage: the audit row names no actor (the platform
    applied R-OPS-05), and records whose act triggered it."""
    institution, admin = _past_grace_without_item(make_user, "佛山市南海区触发检测站")
    item = add_item(institution, "家用电器安全检测", fields=TESTING_FIELDS)
    web = graphql_login(app, admin).client
    url = f"/institutions/{institution.id}/items/{item.id}"
    for action in ("withdraw", "publish"):
        page = web.get(url).get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        assert web.post(url, data={"csrf_token": token, "action": action}).status_code == 302
    [withdrawn] = audit_events("service_item.withdraw")
    assert withdrawn.actor_id == admin.id  # the user's own act stays theirs
    rows = audit_events("institution.homepage_hide") + audit_events("institution.homepage_restore")
    assert [(a.action, a.actor_id, a.actor_roles) for a in rows] == [
        ("institution.homepage_hide", None, ""), ("institution.homepage_restore", None, "")]
    assert {(a.after["trigger"], a.after["triggered_by"]) for a in rows} == {
        ("catalogue.edit_item", admin.id)}


def test_the_job_decides_on_what_was_committed_before_it_got_the_lock_R_OPS_05(
        app, make_user, postgres_url):
    """PostgreSQL: while another transaction holds the institution row and publishes an item,
    the job waits; once it has the row it must see that item, not hide the homepage."""
    import threading
    import time

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from core.catalogue.models import ServiceItem

    institution, _admin = _past_grace_without_item(make_user, "佛山市顺德区并发检测站")
    item = add_item(institution, "家用电器安全检测", status=ItemStatus.DRAFT, fields=TESTING_FIELDS)
    institution_id, item_id = institution.id, item.id
    holder = Session(db.engine)
    holder.execute(select(Institution.id).where(Institution.id == institution_id).with_for_update())
    found: list[Any] = []

    def job() -> None:
        with app.app_context():
            try:
                found.append(apply_rules())
            except Exception as exc:  # reported below
                found.append(exc)
            finally:
                db.session.remove()

    worker = threading.Thread(target=job)
    worker.start()
    try:
        deadline_at = time.monotonic() + 20
        waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND query ILIKE '%FOR UPDATE%'")
        while True:
            with db.engine.connect() as watcher:  # a new transaction: a fresh view of the activity
                if watcher.execute(waiting).scalar():
                    break
            assert worker.is_alive() and time.monotonic() < deadline_at, found
            time.sleep(0.05)
        holder.get(ServiceItem, item_id).status = ItemStatus.PUBLISHED
        holder.commit()
    finally:
        holder.close()
        worker.join(30)
    assert found == [[]], found
    db.session.expire_all()
    assert db.session.get(Institution, institution_id).is_public
    assert audit_events("institution.homepage_hide") == []


def test_a_drawn_sample_can_be_repeated_from_its_audit_row_alone_R_OPS_04(app, make_user):
    """With more than a thousand live institutions the audit row still holds the whole
    population the draw was made from."""
    from sqlalchemy import insert

    from core.catalogue.testing import make_uscc
    from core.institutions.models import InstitutionStatus

    db.session.execute(insert(Institution), [
        {"legal_name": f"佛山市抽样第{n}检测站", "uscc": make_uscc(5000 + n),
         "status": InstitutionStatus.LIVE, "went_live_at": utcnow()} for n in range(1100)])
    db.session.commit()
    sample = spot_checks.draw_sample(make_user(Role.OPERATOR), size=20)
    recorded = audit_events("spot_check.sample")[-1]
    assert len(recorded.after["population"]) == sample.population_size == 1100
    assert spot_checks.draw(recorded.after["population"], 20, recorded.after["seed"]) == (
        sample.institution_ids)


def test_two_runs_at_once_hide_once_and_tell_once_R_OPS_05(app, make_user, postgres_url):
    """PostgreSQL: the job on two workers and a refresh at the same moment: one hiding, one
    audit row, one message per admin."""
    import threading

    from core.visibility.service import refresh

    institution, admin = _past_grace_without_item(make_user, "佛山市高明区双跑检测站")
    institution_id = institution.id
    barrier = threading.Barrier(3)
    errors: list[Exception] = []

    def run(work: Any) -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                work()
            except Exception as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(w,))
               for w in (apply_rules, apply_rules, lambda: refresh(institution_id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(audit_events("institution.homepage_hide")) == 1
    assert len(inbox("homepage_hidden", admin)) == 1


def test_the_list_s_bulk_sla_agrees_with_the_monthly_sla_R_OPS_03_R_OPS_04(app, make_user):
    """`monthly_tallies` (SQL sums, for every live institution at once, what the list reads)
    gives MonthlySla's average and verdict on every kind of month: averages under and over 2 h,
    the non-working-day rule within, over and without its limit, consultations still open, and
    ones outside the month. Both are `SlaTally`'s verdict: one definition of R-OPS-03."""
    from core.consultations.sla import monthly_sla_many, monthly_tallies

    now = sh(2026, 6, 15, 12, 0)
    customer = make_user(Role.ENTERPRISE)
    cases: dict[str, list[tuple[datetime, int | None, str | None, int | None]]] = {
        # (received, counted seconds when answered, rule, limit)
        "averages 1.5 h": [(sh(2026, 6, 1, 9, 0), 3600, "working_window", None),
                           (sh(2026, 6, 2, 9, 0), 7200, "working_window", None)],
        "averages 2.25 h": [(sh(2026, 6, 3, 9, 0), 10800, "working_window", None),
                            (sh(2026, 6, 4, 9, 0), 5400, "working_window", None)],
        "one slow, average kept": [(sh(2026, 6, 5, 9, 0), 10800, "working_window", None),
                                   (sh(2026, 6, 8, 9, 0), 600, "working_window", None),
                                   (sh(2026, 6, 9, 9, 0), 600, "working_window", None)],
        "exactly 2 h": [(sh(2026, 6, 10, 9, 0), 7200, "working_window", None)],
        "weekend within 6 h": [(sh(2026, 6, 6, 10, 0), 5 * 3600, "non_working_daytime", 6 * 3600)],
        "weekend over 6 h": [(sh(2026, 6, 6, 10, 0), 7 * 3600, "non_working_daytime", 6 * 3600),
                             (sh(2026, 6, 8, 9, 0), 60, "working_window", None)],
        "weekend without a limit": [(sh(2026, 6, 7, 10, 0), 60, "non_working_daytime", None)],
        "open for days": [(sh(2026, 6, 10, 9, 0), None, None, None)],
        "open a moment": [(sh(2026, 6, 15, 11, 30), None, None, None),
                          (sh(2026, 6, 12, 9, 0), 1800, "working_window", None)],
        "open since Saturday": [(sh(2026, 6, 13, 10, 0), None, None, None)],
        "other months only": [(sh(2026, 5, 29, 9, 0), 99999, "working_window", None),
                              (sh(2026, 6, 15, 13, 0), None, None, None)],
        "none": [],
    }
    ids: dict[str, int] = {}
    for name, consultations in cases.items():
        institution, _admin = listed_institution(make_user, f"佛山市{name}检测站")
        ids[name] = institution.id
        for received, seconds, rule, limit in consultations:
            answered = seconds is not None
            db.session.add(Consultation(
                institution_id=institution.id, enterprise_user_id=customer.id,
                filed_by_id=customer.id, subject="检测咨询", received_at=received,
                status=ConsultationStatus.ANSWERED if answered else ConsultationStatus.OPEN,
                first_response_at=received + timedelta(hours=1) if answered else None,
                sla_rule=rule, sla_seconds=seconds, sla_limit_seconds=limit))
    db.session.commit()
    bulk = monthly_tallies(list(ids.values()), 2026, 6, now=now)
    monthly = monthly_sla_many({i: [(2026, 6)] for i in ids.values()}, now=now)
    found = {name: (bulk[i].average_seconds, bulk[i].met) for name, i in ids.items()}
    assert found == {name: (monthly[i][0].average_seconds, monthly[i][0].met)
                     for name, i in ids.items()}
    assert all(bulk[i] == monthly[i][0].tally for i in ids.values())  # the same counts too
    assert all(bulk[i].non_working_missed == len(monthly[i][0].non_working_missed)
               for i in ids.values())
    # The cases cover both verdicts and both rules.
    assert found["averages 2.25 h"] == (8100, False) and found["one slow, average kept"][1]
    assert not found["weekend over 6 h"][1] and not found["weekend without a limit"][1]
    assert not found["open for days"][1] and found["open a moment"][1]
    assert found["none"] == (None, True) and found["other months only"] == (None, True)


def test_the_month_counts_from_the_day_in_china_not_in_utc_R_OPS_05(app, make_user):
    """Live at 00:30 on 1 February in Foshan is 16:30 on 31 January in UTC: the month ends on
    1 March, not on 28 February."""
    institution, _admin = listed_institution(make_user, "佛山市禅城区凌晨上线检测站")
    went_live(institution, sh(2026, 2, 1, 0, 30))
    assert institution.went_live_at.astimezone(ZoneInfo("UTC")).day == 31
    assert apply_rules(today=date(2026, 2, 28)) == []
    assert [c.action for c in apply_rules(today=date(2026, 3, 1))] == ["hide"]


def test_who_may_read_and_do_what_over_graphql_SECURITY_9_R_OPS_04(app, make_user):
    """Every role against every operation of the area: an institution's staff read only their
    own visibility, deadline and history; enterprises and other institutions are refused, and
    each refusal is audited."""
    institution, admin = listed_institution(make_user, "佛山市顺德区矩阵检测站")
    agent = make_user(Role.INSTITUTION_AGENT)
    add_staff(institution, agent, StaffRole.AGENT, actor=admin)
    _other, other_admin = listed_institution(make_user, "佛山市三水区他家检测站")
    users = {"operator": make_user(Role.OPERATOR), "regulator": make_user(Role.REGULATOR),
             "admin": admin, "agent": agent, "other_admin": other_admin,
             "enterprise": make_user(Role.ENTERPRISE)}
    own = {"id": str(institution.id)}
    operations = {
        "list": ("{ spotCheckList(first: 5) { __typename } }", None),
        "history": ("query($id: ID!) { spotChecks(institutionId: $id) { __typename } }", own),
        "visibility": ("query($id: ID!) { homepageVisibility(institutionId: $id) { __typename } }",
                       own),
        "deadline": ("query($id: ID!) { profileDeadline(institutionId: $id) { __typename } }", own),
        "record": ("""mutation($id: ID!) { recordSpotCheck(input: {institutionId: $id, result: OK,
                      findings: "资料齐全。"}) { __typename } }""", own),
        "sample": ("mutation { drawSpotCheckSample(size: 1) { __typename } }", None),
    }
    allowed = {
        "operator": set(operations),
        "regulator": {"list", "history", "visibility", "deadline"},
        "admin": {"history", "visibility", "deadline"},
        "agent": {"history", "visibility", "deadline"},
        "other_admin": set(), "enterprise": set(),
    }
    refusals = 0
    for role, user in users.items():
        client = graphql_login(app, user)
        for name, (query, variables) in operations.items():
            data = client(query, variables)["data"]
            typename = next(iter(data.values()))["__typename"]
            if name in allowed[role]:
                assert typename not in ("PermissionDeniedError", "NotFoundError"), (role, name)
            else:
                assert typename == "PermissionDeniedError", (role, name, typename)
                refusals += 1
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.result == "denied")).all()
    assert len(denied) == refusals
    assert {a.actor_id for a in denied} == {users[r].id for r in users if r != "operator"}


def test_the_spot_check_forms_need_their_csrf_token_SECURITY_12_R_OPS_04(app, make_user):
    institution, _admin = listed_institution(make_user, "佛山市南海区令牌检测站")
    web = graphql_login(app, make_user(Role.OPERATOR)).client
    posted = web.post(f"/operations/spot-checks/{institution.id}/new",
                      data={"result": "ok", "findings": "资料齐全。"})
    assert posted.status_code == 400 and db.session.scalars(select(SpotCheck)).all() == []
    assert web.post("/operations/spot-checks/sample", data={"size": 1}).status_code == 400
    assert audit_events("spot_check.sample") == [] and audit_events("spot_check.record") == []


# ---------------------------------------------------------------- R-OPS-06: removal closes the homepage


def test_a_removal_notice_closes_the_homepage_at_once_whatever_the_items_R_OPS_06(app, make_user):
    """R-OPS-06 / R-ONB-07: from the regulator's notice until the removal completes, the homepage
    is closed — publishing an item does not reopen it, the job keeps it closed — and the notice
    itself is the admins' message (no second "homepage hidden" one)."""
    from core.onboarding.exit import complete_due_removals, issue_removal_notice
    from core.onboarding.models import RemovalReason

    lab, admin = listed_institution(make_user, "佛山市高明区清退检测站")
    add_item(lab, "建筑材料放射性检测")
    hides_before = audit_events("institution.homepage_hide")
    regulator = make_user(Role.REGULATOR, name="佛山市市场监督管理局 王科长")
    issue_removal_notice(lab, reason=RemovalReason.SERIOUS_COMPLAINT, details="经查实的严重投诉",
                         actor=regulator, legacy_days=30, on=date(2026, 11, 21))
    db.session.refresh(lab)
    assert lab.homepage_hidden_at is not None and not lab.is_public
    assert lab.homepage_hidden_reason == "removal_notice"
    (hide,) = audit_events("institution.homepage_hide")[len(hides_before):]
    assert hide.after["rule"] == "R-OPS-06" and hide.actor_id is None
    assert inbox("homepage_hidden", admin) == [] and len(inbox("removal_notice", admin)) == 1

    catalogue.publish_item(add_item(lab, "家具有害物质检测", status=ItemStatus.DRAFT,
                                    fields=TESTING_FIELDS), actor=admin)
    assert apply_rules() == []
    db.session.refresh(lab)
    assert lab.homepage_hidden_reason == "removal_notice"

    assert complete_due_removals(date(2026, 12, 22)) == [lab.id]
    assert apply_rules() == []  # a removed institution is never touched again
