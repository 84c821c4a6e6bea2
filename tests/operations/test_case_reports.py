"""Case reports: the fields of M Art. 13 and their checks (R-OPS-02), prefilled from a
consultation or an order, withdrawn but kept, counted per China calendar year for assessment
item 6, the client's contact masked for anybody not entitled (R-G-05), who reads them
(SECURITY.md 9) and the one masking module."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from core.case_reports import service
from core.case_reports.models import CaseReport
from core.case_reports.queries import reported_cases
from core.consultations import service as consultations
from core.db import db, utcnow
from core.enterprises.service import create_enterprise
from core.errors import ErrorCode, InvalidInput, NotFound, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.masking import mask_contact, mask_email, mask_organisation, mask_person_name, mask_phone
from core.orders import service as orders
from core.testing import (
    GraphQLClient,
    audit_events,
    csrf_token_in,
    graphql_login,
    problem_fields,
    web_login,
)

SH = ZoneInfo("Asia/Shanghai")
CLIENT_PHONE = "13812345678"
REPORT = """__typename ... on UserError { code message field }
  ... on InvalidInputError { problems { code field } }
  ... on CaseReportSuccess { caseReport { id clientName clientContact item content reply
      businessFollowed amountSaved consultedAt consultationId orderId counted withdrawnReason } }"""
PAGE = """query($i: ID, $y: Int, $f: Int!, $o: Int!) {
  caseReports(institutionId: $i, year: $y, first: $f, offset: $o) {
    __typename ... on UserError { code }
    ... on CaseReportPage { total countedInYear reports { id clientContact reporterName
        institutionName counted } } } }"""


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


class World:
    """A live lab with its admin and an agent, another live institution, platform staff, and an
    enterprise user of 佛山市顺德区美达电器有限公司 who consulted the lab."""

    def __init__(self, app: Any, make_user: Any) -> None:
        self.app = app
        self.admin = make_user(Role.INSTITUTION_ADMIN, name="李建国", phone="13922000001")
        self.lab = create_institution(legal_name="佛山市质量计量监督检测中心", uscc=None,
                                      admin=self.admin, status=InstitutionStatus.LIVE)
        self.agent = make_user(Role.INSTITUTION_AGENT, name="客服 周静", phone="13922000002")
        add_staff(self.lab, self.agent, StaffRole.AGENT, actor=self.admin)
        self.agent2 = make_user(Role.INSTITUTION_AGENT, name="客服 吴敏", phone="13922000005")
        add_staff(self.lab, self.agent2, StaffRole.AGENT, actor=self.admin)
        self.other_admin = make_user(Role.INSTITUTION_ADMIN, name="另一机构管理员")
        self.other = create_institution(legal_name="佛山市南海区计量检测有限公司", uscc=None,
                                        admin=self.other_admin, status=InstitutionStatus.LIVE)
        self.operator, self.regulator = make_user(Role.OPERATOR), make_user(Role.REGULATOR)
        self.client = make_user(Role.ENTERPRISE, name="何志强", phone=CLIENT_PHONE)
        create_enterprise({"name": "佛山市顺德区美达电器有限公司", "uscc": "91440606MA52K8RX8D",
                           "contactName": "何志强", "contactPhone": CLIENT_PHONE}, actor=self.client)
        self.outsider = make_user(Role.ENTERPRISE, name="另一企业 王工")

    def consultation(self, at: datetime | None = None) -> Any:
        c = consultations.ask(self.lab, subject="电磁灶出口前安全检测咨询",
                              body="电磁灶出口前要做哪些安全检测？", actor=self.client, now=at)
        consultations.reply(c, body="需做GB 4706.1和GB 4706.21，约10个工作日。", actor=self.agent,
                            now=at + timedelta(minutes=30) if at else None)
        return c

    def data(self, **changes: Any) -> dict[str, Any]:
        return {"consultedAt": sh(2026, 3, 2, 10, 0), "clientName": "佛山市顺德区美达电器有限公司",
                "clientContact": CLIENT_PHONE, "item": "电磁灶出口安全检测咨询",
                "content": "电磁灶出口前要做哪些安全检测？", "reply": "需做GB 4706.1和GB 4706.21。",
                "businessFollowed": True, "amountSaved": "2600", **changes}

    def report(self, actor: User | None = None, now: datetime | None = None, **changes: Any
               ) -> CaseReport:
        return service.report_case(self.lab, self.data(**changes), actor=actor or self.admin,
                                   now=now)

    def gql(self, user: User) -> GraphQLClient:
        return graphql_login(self.app, user)


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


# ---------------------------------------------------------------- R-G-05: one masking module


def test_one_set_of_masks_for_phones_emails_contacts_and_names_R_G_05():
    assert mask_phone("13812345678") == mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone(None) is None and mask_phone("12345") == "****"
    assert mask_email("Zhang.Gong@Example.com") == "z***@example.com"
    assert mask_contact("13812345678") == "138****5678"
    assert mask_contact("0757-83031234") == "0757-****1234"
    assert mask_contact("zhang@example.cn") == "z***@example.cn"
    assert mask_contact("secret\nvalue") == "sec***"  # anything else: three printable characters
    assert mask_person_name("陈晓峰") == "陈**"
    assert mask_organisation("佛山市顺德区美达电器有限公司") == "佛山市顺德区美达****公司"


def test_masks_hold_for_short_values_prefixes_extensions_and_non_ascii_R_G_05():
    """Every mask hides at least four characters or everything; nothing is shown whole."""
    assert mask_phone("83031234") == "****1234"  # a bare 8-digit landline: not 830****1234
    assert mask_phone("1234567") == "****" and mask_phone("075783031234") == "075****1234"
    for mobile in ("8613812345678", "0086 138 1234 5678", "+86-138-1234-5678",
                   "１３８１２３４５６７８", "＋８６ １３８１２３４５６７８"):  # full-width too
        assert mask_phone(mobile) == mask_contact(mobile) == "138****5678", mobile
    assert mask_contact("+86 757 8303 1234") == "0757-****1234"
    assert mask_contact("0757-83031234-801") == mask_contact("0757-83031234转801") == \
        mask_contact("（0757）83031234 ext. 801") == "0757-****1234"  # no extension shown
    assert mask_contact("020-12345678") == mask_contact("02012345678") == "020-****5678"
    assert mask_contact("@example.com") == mask_email("@example.com") == "***@example.com"
    assert mask_email("zhang") == "z***" and mask_email("张伟@例子.中国") == "张***@例子.中国"
    assert mask_contact("ab") == "***" and mask_contact("abcdef") == "ab***"
    assert mask_contact("x") == "***" and mask_contact(" ") == "***" and mask_contact("") is None
    assert mask_person_name("陈") == "**" and mask_person_name("Zhang Xiaoming") == "Z**"
    assert mask_person_name(" ") is None
    assert mask_organisation("佛山市美达电器有限公司") == "佛山市美达****公司"  # an enterprise's, one way


# ---------------------------------------------------------------- R-OPS-02: the fields


def test_a_case_is_reported_with_the_fields_of_M_Art_13_and_audited_R_OPS_02(world):
    report = world.report(actor=world.agent)
    db.session.expire_all()
    stored = db.session.get(CaseReport, report.id)
    assert (stored.consulted_at, stored.client_name, stored.client_contact) == (
        sh(2026, 3, 2, 10, 0), "佛山市顺德区美达电器有限公司", CLIENT_PHONE)
    assert stored.item == "电磁灶出口安全检测咨询" and stored.reply.startswith("需做")
    assert stored.business_followed is True and stored.amount_saved_yuan == Decimal("2600.00")
    assert stored.reported_by_id == world.agent.id and stored.withdrawn_at is None
    [row] = audit_events("case_report.report")
    assert row.actor_id == world.agent.id
    assert row.after["client_contact"] == "138****5678"  # no unmasked contact in the audit trail
    # An institution that is not serving on the platform reports nothing.
    world.other.status = InstitutionStatus.EXITED
    db.session.commit()
    with pytest.raises(InvalidInput) as exc:
        service.report_case(world.other, world.data(), actor=world.other_admin)
    assert problem_fields(exc.value) == {"institutionId": ErrorCode.ILLEGAL_TRANSITION}


def test_every_field_is_checked_on_its_own_and_all_problems_are_listed_R_OPS_02(world):
    future = utcnow() + timedelta(hours=2)
    with pytest.raises(InvalidInput) as exc:
        service.report_case(world.lab, world.data(
            consultedAt=future, clientName=" ", clientContact="打电话给我", item="", content="",
            reply="  ", amountSaved="-1"), actor=world.admin)
    assert problem_fields(exc.value) == {
        "consultedAt": ErrorCode.INVALID_INPUT, "clientName": ErrorCode.REQUIRED,
        "clientContact": ErrorCode.INVALID_INPUT, "item": ErrorCode.REQUIRED,
        "content": ErrorCode.REQUIRED, "reply": ErrorCode.REQUIRED,
        "amountSaved": ErrorCode.INVALID_INPUT}
    bad = {"consultedAt": "明天", "amountSaved": "两千", "clientContact": "",
           "clientName": "x" * 201}
    with pytest.raises(InvalidInput) as exc:
        service.report_case(world.lab, world.data(**bad), actor=world.admin)
    assert problem_fields(exc.value) == {"consultedAt": ErrorCode.INVALID_INPUT,
                                          "amountSaved": ErrorCode.INVALID_INPUT,
                                          "clientContact": ErrorCode.REQUIRED,
                                          "clientName": ErrorCode.INVALID_INPUT}
    # Another institution's consultation is no source.
    foreign = consultations.ask(world.other, subject="压力表检定", body="费用？", actor=world.client)
    with pytest.raises(InvalidInput) as exc:
        world.report(consultationId=foreign.id)
    assert problem_fields(exc.value) == {"consultationId": ErrorCode.INVALID_INPUT}
    assert db.session.scalar(select(CaseReport.id)) is None  # nothing half-written
    # Accepted forms: a landline or an email, an amount of zero, a naive time read as Beijing time.
    ok = world.report(clientContact="(0757) 83031234", amountSaved="0",
                      consultedAt="2026-03-02T10:00")
    assert ok.client_contact == "0757-83031234" and ok.amount_saved_yuan == Decimal("0.00")
    assert ok.consulted_at == sh(2026, 3, 2, 10, 0)
    assert world.report(clientContact="Zhang@Example.CN", amountSaved=None).client_contact == \
        "zhang@example.cn"


def test_prefilled_from_a_consultation_and_reported_once_R_OPS_02(world):
    c = world.consultation(sh(2026, 3, 2, 9, 15))
    draft = service.draft_from(world.lab, world.admin, consultation_id=c.id)
    assert draft["consultedAt"] == sh(2026, 3, 2, 9, 15)
    assert draft["clientName"] == "佛山市顺德区美达电器有限公司"  # the enterprise, not the person
    assert draft["clientContact"] == CLIENT_PHONE
    assert draft["content"] == "电磁灶出口前要做哪些安全检测？"
    assert draft["reply"] == "需做GB 4706.1和GB 4706.21，约10个工作日。"
    assert draft["item"] == "电磁灶出口前安全检测咨询" and draft["consultationId"] == c.id
    # The thread masks the asker's phone from agents; so does the draft (R-G-05).
    assert service.draft_from(world.lab, world.agent, consultation_id=c.id)["clientContact"] == ""
    with pytest.raises(PermissionDenied):
        service.draft_from(world.lab, world.client, consultation_id=c.id)
    with pytest.raises(NotFound):  # the other institution's staff cannot draft from this thread
        service.draft_from(world.other, world.other_admin, consultation_id=c.id)
    first = service.report_case(world.lab, {**draft, "amountSaved": "2600"}, actor=world.admin)
    with pytest.raises(InvalidInput) as exc:  # one case counts once (assessment item 6)
        service.report_case(world.lab, draft, actor=world.admin)
    assert problem_fields(exc.value) == {"consultationId": ErrorCode.DUPLICATE}
    service.withdraw(first, reason="客户名称写错，重新上报", actor=world.admin)
    again = service.report_case(world.lab, draft, actor=world.admin)
    assert again.consultation_id == c.id


def test_prefilled_from_an_order_R_OPS_02(world):
    order = orders.place(world.lab, title="车间压力表年度检定（48台）", amount="1440", actor=world.client,
                         now=sh(2026, 4, 8, 14, 0))
    draft = service.draft_from(world.lab, world.agent, order_id=order.id)
    assert draft["consultedAt"] == sh(2026, 4, 8, 14, 0)
    assert draft["item"] == draft["content"] == "车间压力表年度检定（48台）"
    assert draft["businessFollowed"] is True and draft["orderId"] == order.id
    # The client's phone: for the admin, not for an agent — with or without a consultation (R-G-05).
    assert draft["clientContact"] == ""
    assert service.draft_from(world.lab, world.admin, order_id=order.id)["clientContact"] == CLIENT_PHONE
    report = service.report_case(world.lab, {**draft, "reply": "上门检定，当天出证。",
                                             "clientContact": CLIENT_PHONE}, actor=world.agent)
    assert report.order_id == order.id
    with pytest.raises(InvalidInput) as exc:
        service.report_case(world.lab, {**draft, "reply": "再报一次", "clientContact": CLIENT_PHONE},
                            actor=world.admin)
    assert problem_fields(exc.value) == {"orderId": ErrorCode.DUPLICATE}


def test_two_staff_reporting_the_same_consultation_at_once_count_it_once_R_OPS_02(
        world, app, postgres_url):
    c = world.consultation(sh(2026, 3, 2, 9, 15))
    data = world.data(consultationId=c.id)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def report(user_id: int) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            lab = db.session.get(type(world.lab), world.lab.id)
            barrier.wait()
            try:
                service.report_case(lab, data, actor=user)
                results.append("ok")
            except InvalidInput as exc:
                results.append(exc.code)

    threads = [threading.Thread(target=report, args=(u.id,)) for u in (world.admin, world.agent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == sorted(["ok", ErrorCode.DUPLICATE])
    db.session.expire_all()
    assert len(db.session.scalars(select(CaseReport)).all()) == 1


# ---------------------------------------------------------------- withdrawing


def test_a_withdrawn_report_is_kept_with_its_reason_and_no_longer_counted_R_OPS_02(world):
    report = world.report(actor=world.agent, now=sh(2026, 3, 5, 10, 0))
    year = (date(2026, 1, 1), date(2026, 12, 31))
    assert [r.id for r in reported_cases(world.lab.id, *year)] == [report.id]
    with pytest.raises(PermissionDenied):  # another agent did not report it
        service.withdraw(report, reason="重复", actor=world.agent2)
    with pytest.raises(PermissionDenied):
        service.withdraw(report, reason="重复", actor=world.operator)
    assert len(audit_events("case_report.withdraw", "denied")) == 2
    with pytest.raises(InvalidInput) as exc:
        service.withdraw(report, reason=" ", actor=world.agent)
    assert problem_fields(exc.value) == {"reason": ErrorCode.REQUIRED}
    service.withdraw(report, reason="与另一条案例重复录入", actor=world.agent)
    with pytest.raises(InvalidInput) as exc:
        service.withdraw(report, reason="再撤一次", actor=world.admin)
    assert problem_fields(exc.value) == {"caseReportId": ErrorCode.ILLEGAL_TRANSITION}
    db.session.expire_all()
    kept = db.session.get(CaseReport, report.id)
    assert kept.withdrawn_reason == "与另一条案例重复录入" and kept.withdrawn_at is not None
    assert reported_cases(world.lab.id, *year) == []
    assert service.counted_in_year(world.lab.id, 2026) == 0
    [row] = audit_events("case_report.withdraw")
    assert row.before["withdrawn"] is False and row.after["withdrawn"] is True


# ---------------------------------------------------------------- counting per China calendar year


def test_reports_are_counted_by_the_china_calendar_day_at_the_year_boundary_R_OPS_02(world, gql):
    last_of_2025 = world.report(now=sh(2025, 12, 31, 23, 59, 59), consultedAt=sh(2025, 12, 30, 9, 0))
    first_of_2026 = world.report(now=sh(2026, 1, 1, 0, 0), consultedAt=sh(2025, 12, 31, 9, 0),
                                 clientContact="13800138000")
    assert first_of_2026.reported_at.astimezone(UTC).date() == date(2025, 12, 31)  # UTC: still 2025
    assert [r.id for r in reported_cases(world.lab.id, date(2025, 1, 1), date(2025, 12, 31))] == [
        last_of_2025.id]
    assert [r.id for r in reported_cases(world.lab.id, date(2026, 1, 1), date(2026, 12, 31))] == [
        first_of_2026.id]
    body = world.gql(world.regulator)(PAGE, {"i": str(world.lab.id), "y": 2026, "f": 10, "o": 0},
                                      csrf=False)
    page = body["data"]["caseReports"]
    assert page["total"] == 1 and page["countedInYear"] == 1
    assert [r["id"] for r in page["reports"]] == [str(first_of_2026.id)]
    bad = world.gql(world.regulator)(PAGE, {"i": str(world.lab.id), "y": 1900, "f": 10, "o": 0},
                                     csrf=False)
    assert bad["data"]["caseReports"] == {"__typename": "InvalidInputError", "code": "INVALID_INPUT"}


# ---------------------------------------------------------------- R-G-05 and SECURITY.md 9


def test_the_client_contact_is_for_the_admin_and_platform_staff_not_agents_R_G_05(world, gql):
    """One rule for a client's contact (`sees_client_contact`): a case report's client like a
    consultation's asker — in full for the institution's admin, operators and regulators,
    masked for its agents, even the agent who reported the case."""
    report = world.report(actor=world.agent)
    variables = {"i": str(world.lab.id), "y": None, "f": 10, "o": 0}
    for user, contact in ((world.admin, CLIENT_PHONE), (world.operator, CLIENT_PHONE),
                          (world.regulator, CLIENT_PHONE), (world.agent, "138****5678"),
                          (world.agent2, "138****5678")):
        client = world.gql(user)
        page = client(PAGE, variables, csrf=False)["data"]["caseReports"]
        assert page["reports"][0]["clientContact"] == contact, user.display_name
        assert page["reports"][0]["reporterName"] == "客服 周静"
        one = client("query($id: ID!) { caseReport(id: $id) { ... on CaseReportSuccess { "
                     "caseReport { clientContact } } } }", {"id": str(report.id)}, csrf=False)
        assert one["data"]["caseReport"]["caseReport"]["clientContact"] == contact
        web = web_login(world.app, user)
        for url in (f"/case-reports/{report.id}", f"/institutions/{world.lab.id}/case-reports",
                    "/case-reports"):
            html = web.get(url).get_data(as_text=True)
            assert contact in html and (contact == CLIENT_PHONE or CLIENT_PHONE not in html), url
    # The same agent reads the consultation's asker masked too: the two areas agree.
    c = world.consultation()
    assert consultations.asker_phone(world.agent, c) == "138****5678"
    assert consultations.asker_phone(world.admin, c) == CLIENT_PHONE
    # A deactivated admin is entitled to nothing.
    world.admin.is_active = False
    db.session.commit()
    assert service.client_contact(world.admin, report) == "138****5678"
    assert consultations.asker_phone(world.admin, c) == "138****5678"
    world.admin.is_active = True
    db.session.commit()
    # Anybody else reads nothing at all; the mask guards every other path.
    for user in (world.client, world.outsider, world.other_admin):
        client = world.gql(user)
        page = client(PAGE, variables, csrf=False)["data"]["caseReports"]
        assert page == {"__typename": "PermissionDeniedError", "code": "PERMISSION_DENIED"}
        one = client("query($id: ID!) { caseReport(id: $id) { __typename } }",
                     {"id": str(report.id)}, csrf=False)
        assert one["data"]["caseReport"]["__typename"] == "PermissionDeniedError"
        assert service.client_contact(user, report) == "138****5678"
    assert len(audit_events("case_report.list", "denied")) == 3
    assert len(audit_events("case_report.read", "denied")) == 3
    anonymous = gql(PAGE, variables, csrf=False)["data"]["caseReports"]
    assert anonymous == {"__typename": "NotAuthenticatedError", "code": "NOT_AUTHENTICATED"}
    # Without an institution: every institution for platform staff, one's own for staff.
    mine = world.gql(world.other_admin)(PAGE, {**variables, "i": None}, csrf=False)
    assert mine["data"]["caseReports"]["total"] == 0
    everything = world.gql(world.operator)(PAGE, {**variables, "i": None}, csrf=False)
    assert everything["data"]["caseReports"]["reports"][0]["institutionName"] == "佛山市质量计量监督检测中心"


def test_only_the_institutions_staff_report_its_cases_SECURITY_9(world):
    for user in (world.client, world.operator, world.regulator, world.other_admin):
        with pytest.raises(PermissionDenied):
            service.report_case(world.lab, world.data(), actor=user)
    assert len(audit_events("case_report.report", "denied")) == 4
    assert db.session.scalar(select(CaseReport.id)) is None
    body = world.gql(world.client)("mutation($i: ReportCaseInput!) { reportCase(input: $i) { "
                                   + REPORT + " } }", {"i": {
                                       "institutionId": str(world.lab.id),
                                       "consultedAt": "2026-03-02T10:00:00", "clientName": "x",
                                       "clientContact": CLIENT_PHONE, "item": "x", "content": "x",
                                       "reply": "x"}})
    assert body["data"]["reportCase"]["code"] == "PERMISSION_DENIED"


# ---------------------------------------------------------------- GraphQL


def test_graphql_report_prefill_and_withdraw_R_OPS_02(world):
    c = world.consultation(sh(2026, 3, 2, 9, 15))
    agent = world.gql(world.agent)
    draft = agent("query($i: ID!, $c: ID) { caseReportDraft(institutionId: $i, consultationId: $c) {"
                  " __typename ... on CaseReportDraft { consultedAt clientName clientContact content"
                  " reply consultationId } } }", {"i": str(world.lab.id), "c": str(c.id)},
                  csrf=False)["data"]["caseReportDraft"]
    assert draft["clientName"] == "佛山市顺德区美达电器有限公司" and draft["clientContact"] == ""
    assert draft["consultedAt"].startswith("2026-03-02T01:15")  # UTC
    mutation = "mutation($i: ReportCaseInput!) { reportCase(input: $i) { " + REPORT + " } }"
    inputs = {"institutionId": str(world.lab.id), "consultedAt": draft["consultedAt"],
              "clientName": draft["clientName"], "clientContact": "13812345678",
              "item": "电磁灶出口安全检测咨询", "content": draft["content"], "reply": draft["reply"],
              "businessFollowed": True, "amountSaved": "-5", "consultationId": draft["consultationId"]}
    refused = agent(mutation, {"i": inputs})["data"]["reportCase"]
    assert refused["code"] == "INVALID_INPUT"
    assert refused["problems"] == [{"code": "INVALID_INPUT", "field": "amountSaved"}]
    done = agent(mutation, {"i": {**inputs, "amountSaved": "2600.50"}})["data"]["reportCase"]
    got = done["caseReport"]
    assert got["amountSaved"] == "2600.50" and got["counted"] is True
    # Stored in full, read back masked by the agent that typed it (R-G-05).
    assert got["clientContact"] == "138****5678" and got["consultationId"] == str(c.id)
    assert db.session.get(CaseReport, int(got["id"])).client_contact == CLIENT_PHONE
    withdraw = ("mutation($id: ID!, $r: String!) { withdrawCaseReport(id: $id, reason: $r) { "
                + REPORT + " } }")
    gone = agent(withdraw, {"id": got["id"], "r": "金额填错"})["data"]["withdrawCaseReport"]
    assert gone["caseReport"]["counted"] is False and gone["caseReport"]["withdrawnReason"] == "金额填错"
    twice = agent(withdraw, {"id": got["id"], "r": "再撤"})["data"]["withdrawCaseReport"]
    assert twice["code"] == "ILLEGAL_TRANSITION"
    missing = agent(withdraw, {"id": "abc", "r": "x"})["data"]["withdrawCaseReport"]
    assert missing == {"__typename": "NotFoundError", "code": "NOT_FOUND", "message": missing["message"],
                       "field": "caseReportId"}


def _count_statements(client: GraphQLClient, variables: dict[str, Any]) -> tuple[dict, list[str]]:
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        body = client(PAGE, variables, csrf=False)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return body, statements


def test_case_report_pages_use_a_fixed_number_of_statements(world):
    agents = [world.agent, world.agent2, world.admin]
    for n in range(30):
        world.report(actor=agents[n % 3], clientContact=f"1381234{n:04d}",
                     consultedAt=sh(2026, 1, 20, 9, 0), now=sh(2026, 2, 1, 9, 0) + timedelta(hours=n))
    client = world.gql(world.operator)
    small, few = _count_statements(client, {"i": str(world.lab.id), "y": 2026, "f": 5, "o": 0})
    large, many = _count_statements(client, {"i": str(world.lab.id), "y": 2026, "f": 25, "o": 5})
    assert len(small["data"]["caseReports"]["reports"]) == 5
    assert len(large["data"]["caseReports"]["reports"]) == 25
    assert large["data"]["caseReports"]["total"] == 30
    assert len(few) == len(many), (few, many)


# ---------------------------------------------------------------- web pages


def test_web_report_as_case_from_the_thread_list_detail_and_withdraw_R_OPS_02(world):
    c = world.consultation(sh(2026, 3, 2, 9, 15))
    admin = web_login(world.app, world.admin)
    thread = admin.get(f"/consultations/{c.id}").get_data(as_text=True)
    assert 'id="report-case"' in thread
    assert 'id="report-case"' not in web_login(world.app, world.client).get(
        f"/consultations/{c.id}").get_data(as_text=True)
    form_url = f"/institutions/{world.lab.id}/case-reports/new?consultation_id={c.id}"
    page = admin.get(form_url).get_data(as_text=True)
    assert "佛山市顺德区美达电器有限公司" in page and CLIENT_PHONE in page
    assert 'value="2026-03-02T09:15"' in page  # shown in Beijing time
    data = {"consulted_at": "2026-03-02T09:15", "client_name": "佛山市顺德区美达电器有限公司",
            "client_contact": CLIENT_PHONE, "item": "电磁灶出口安全检测咨询", "content": "出口检测",
            "reply": "GB 4706.1", "business_followed": "y", "amount_saved": "-3",
            "consultation_id": str(c.id)}
    assert admin.post(form_url, data=data).status_code == 400  # no CSRF token
    refused = admin.post(form_url, data={**data, "csrf_token": csrf_token_in(page)})
    assert refused.status_code == 200 and 'id="amount_saved-error"' in refused.get_data(as_text=True)
    assert db.session.scalar(select(CaseReport.id)) is None
    done = admin.post(form_url, data={**data, "amount_saved": "2600", "csrf_token": csrf_token_in(page)})
    assert done.status_code == 302
    report = db.session.scalars(select(CaseReport)).one()
    assert report.consultation_id == c.id and report.amount_saved_yuan == Decimal("2600.00")
    listing = admin.get(f"/institutions/{world.lab.id}/case-reports?year=2026").get_data(as_text=True)
    assert "电磁灶出口安全检测咨询" in listing and CLIENT_PHONE in listing
    operator_listing = web_login(world.app, world.operator).get("/case-reports")
    assert "佛山市顺德区美达电器有限公司" in operator_listing.get_data(as_text=True)
    detail = admin.get(f"/case-reports/{report.id}").get_data(as_text=True)
    assert admin.post(f"/case-reports/{report.id}/withdraw",
                      data={"reason": "重复录入", "csrf_token": csrf_token_in(detail)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(CaseReport, report.id).withdrawn_reason == "重复录入"
    # Outsiders: not found (audited), and no form to report for another institution.
    for user in (world.client, world.other_admin):
        web = web_login(world.app, user)
        assert web.get(f"/case-reports/{report.id}").status_code == 404
        assert web.get(f"/institutions/{world.lab.id}/case-reports").status_code == 404
        assert web.get(f"/institutions/{world.lab.id}/case-reports/new").status_code == 404
    assert web_login(world.app, world.client).get("/case-reports").status_code == 403


def test_ids_and_pages_that_name_no_row_are_not_found_not_server_errors_SECURITY_9(world):
    report = world.report()
    huge = "99999999999999999999"
    agent = world.gql(world.admin)
    for bad in (huge, "²"):  # "²" is a digit to str.isdigit, not to int()
        one = agent("query($id: ID!) { caseReport(id: $id) { __typename } }", {"id": bad}, csrf=False)
        assert one["data"]["caseReport"]["__typename"] == "NotFoundError"
    draft = agent("query($i: ID!, $c: ID) { caseReportDraft(institutionId: $i, consultationId: $c) {"
                  " __typename } }", {"i": str(world.lab.id), "c": huge}, csrf=False)
    assert draft["data"]["caseReportDraft"]["__typename"] == "NotFoundError"
    with pytest.raises(InvalidInput) as exc:
        world.report(consultationId=huge, orderId=str(2**31))
    assert problem_fields(exc.value) == {"consultationId": ErrorCode.INVALID_INPUT,
                                          "orderId": ErrorCode.INVALID_INPUT}
    web = web_login(world.app, world.admin)
    for url in (f"/case-reports/{huge}", f"/institutions/{huge}/case-reports",
                f"/institutions/{huge}/case-reports/new",
                f"/institutions/{world.lab.id}/case-reports/new?consultation_id={huge}"):
        assert web.get(url).status_code == 404, url
    for url in (f"/case-reports?page={huge}", f"/institutions/{world.lab.id}/case-reports?page={huge}"):
        assert web.get(url).status_code == 200, url
    assert web.get(f"/case-reports/{report.id}").status_code == 200


def test_an_outsiders_post_is_refused_and_audited_whatever_the_form_holds_SECURITY_9(world):
    web = web_login(world.app, world.other_admin)
    token = csrf_token_in(web.get(f"/institutions/{world.other.id}/case-reports/new").get_data(as_text=True))
    over_long = {"client_name": "x" * 201, "csrf_token": token}  # fails the form's own checks
    assert web.post(f"/institutions/{world.lab.id}/case-reports/new", data=over_long).status_code == 404
    [row] = audit_events("case_report.report", "denied")
    assert (row.actor_id, row.object_id) == (world.other_admin.id, str(world.lab.id))


def test_a_withdrawn_reason_is_shown_as_text_not_markup_SECURITY_9(world):
    report = world.report()
    service.withdraw(report, reason='<script>alert("x")</script>', actor=world.admin)
    html = web_login(world.app, world.admin).get(f"/case-reports/{report.id}").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_two_withdrawals_at_once_withdraw_once_R_OPS_02(world, app, postgres_url):
    report = world.report(actor=world.agent)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def withdraw(user_id: int, reason: str) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            found = db.session.get(CaseReport, report.id)
            barrier.wait()
            try:
                service.withdraw(found, reason=reason, actor=user)
                results.append("ok")
            except InvalidInput as exc:
                db.session.rollback()
                results.append(exc.code)

    threads = [threading.Thread(target=withdraw, args=args)
               for args in ((world.admin.id, "客户名称有误"), (world.agent.id, "重复录入"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == sorted(["ok", ErrorCode.ILLEGAL_TRANSITION])
    db.session.expire_all()
    assert len(audit_events("case_report.withdraw")) == 1


def _web_statements(web: Any, url: str) -> tuple[str, int]:
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        html = web.get(url).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return html, len(statements)


def test_web_case_report_lists_use_a_fixed_number_of_statements(world):
    """A page of 3 rows and a full page of 20 cost the same, masked (agent) or not (operator)."""
    for n in range(3):
        world.report(actor=world.agent, clientContact=f"1381234{n:04d}",
                     consultedAt=sh(2026, 1, 20, 9, 0), now=sh(2026, 2, 1, 9, 0) + timedelta(hours=n))
    webs = {u.id: web_login(world.app, u) for u in (world.operator, world.agent)}
    urls = ("/case-reports", f"/institutions/{world.lab.id}/case-reports?year=2026")
    few = {(u, url): _web_statements(web, url)[1] for u, web in webs.items() for url in urls}
    for n in range(3, 25):
        world.report(actor=world.admin, clientContact=f"1381234{n:04d}",
                     consultedAt=sh(2026, 1, 20, 9, 0), now=sh(2026, 2, 1, 9, 0) + timedelta(hours=n))
    for (u, url), count in few.items():
        html, many = _web_statements(webs[u], url)
        assert html.count('<tr id="case-report-') == 20 and many == count, (u, url)
