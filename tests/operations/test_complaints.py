"""Complaints: filing (by the enterprise, or an operator for it, R-G-08), the verification state
machine, verified complaints counted per China calendar year (Annex 2 item 2), the
complainant's contact masked for the institution (R-G-05), who sees what (SECURITY.md 9), open
complaints blocking exit (R-ONB-06) and removal after a serious complaint (R-OPS-06)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from core.complaints import service
from core.complaints.models import Complaint, ComplaintStatus
from core.complaints.queries import verified_complaints
from core.consultations import service as consultations
from core.db import db
from core.enterprises.service import create_enterprise
from core.errors import DomainError, ErrorCode, InvalidInput, NotFound, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.notifications.models import OutboxMessage
from core.onboarding import exit as exits
from core.onboarding.models import RemovalNotice, RemovalReason
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
PHONE = "13812345678"
ONE = """__typename ... on UserError { code message field }
  ... on InvalidInputError { problems { code field } }
  ... on ComplaintSuccess { complaint { id status serious onBehalf complainantName enterpriseName
      complainantContact verificationNotes removalNoticeId institutionName orderId } }"""
PAGE = """query($s: ComplaintStatus, $i: ID, $f: Int!, $o: Int!) {
  complaints(status: $s, institutionId: $i, first: $f, offset: $o) {
    __typename ... on UserError { code }
    ... on ComplaintPage { total complaints { id subject complainantContact enterpriseName } } } }"""


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


class World:
    """A live lab with its admin and an agent, another live institution, platform staff, and the
    enterprise user of 佛山市顺德区美达电器有限公司."""

    def __init__(self, app: Any, make_user: Any) -> None:
        self.app = app
        self.admin = make_user(Role.INSTITUTION_ADMIN, name="李建国", phone="13922000001")
        self.lab = create_institution(legal_name="佛山市质量计量监督检测中心", uscc=None,
                                      admin=self.admin, status=InstitutionStatus.LIVE)
        self.agent = make_user(Role.INSTITUTION_AGENT, name="客服 周静", phone="13922000002")
        add_staff(self.lab, self.agent, StaffRole.AGENT, actor=self.admin)
        self.other_admin = make_user(Role.INSTITUTION_ADMIN, name="另一机构管理员")
        self.other = create_institution(legal_name="佛山市南海区计量检测有限公司", uscc=None,
                                        admin=self.other_admin, status=InstitutionStatus.LIVE)
        self.operator = make_user(Role.OPERATOR, name="运维 黄晓婷")
        self.regulator = make_user(Role.REGULATOR, name="监管 陈立新")
        self.customer = make_user(Role.ENTERPRISE, name="何志强", phone=PHONE)
        create_enterprise({"name": "佛山市顺德区美达电器有限公司", "uscc": "91440606MA52K8RX8D",
                           "contactName": "何志强", "contactPhone": PHONE}, actor=self.customer)
        self.outsider = make_user(Role.ENTERPRISE, name="另一企业 王工", phone="13700000009")

    def file(self, user: User | None = None, at: datetime | None = None, **kw: Any) -> Complaint:
        """The same complaint, or (with `at`) one about the order of that day: an identical one
        still waiting is refused as a double submit."""
        body = "约定10个工作日出报告，至今已超过两周，多次询问无明确答复。"
        return service.file(self.lab, subject="检测报告延期两周未出具",
                            body=f"{at:%Y年%m月%d日}下单的检测，{body}" if at else body,
                            actor=user or self.customer, now=at, **kw)

    def verify(self, complaint: Complaint, outcome: str = "verified", serious: bool = False
               ) -> Complaint:
        return service.verify(complaint, outcome=outcome, notes="经调取平台记录核实，情况属实。",
                              serious=serious, actor=self.operator)

    def gql(self, user: User) -> GraphQLClient:
        return graphql_login(self.app, user)


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


def outbox(template: str) -> list[tuple[int | None, str]]:
    return list(db.session.execute(select(OutboxMessage.recipient_user_id, OutboxMessage.channel)
                                   .where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)).all())


# ---------------------------------------------------------------- filing


def test_an_enterprise_files_about_its_own_order_and_the_admins_are_told_R_G_04(world):
    order = orders.place(world.lab, title="电磁灶安全检测", actor=world.customer)
    complaint = world.file(order_id=order.id)
    assert (complaint.status, complaint.order_id, complaint.on_behalf) == (
        ComplaintStatus.FILED, order.id, False)
    assert {r for r, _c in outbox("complaint_filed")} == {world.admin.id}  # admins, not agents
    assert audit_events("complaint.file")[0].actor_id == world.customer.id
    # Someone else's order, or a consultation with another institution, is no subject.
    theirs = orders.place(world.lab, title="另一企业的订单", actor=world.outsider)
    elsewhere = consultations.ask(world.other, subject="压力表", body="费用？", actor=world.customer)
    with pytest.raises(InvalidInput) as exc:
        world.file(order_id=theirs.id, consultation_id=elsewhere.id)
    assert problem_fields(exc.value) == {"orderId": ErrorCode.INVALID_INPUT,
                                          "consultationId": ErrorCode.INVALID_INPUT}
    with pytest.raises(InvalidInput) as exc:
        service.file(world.lab, subject=" ", body="", actor=world.customer)
    assert problem_fields(exc.value) == {"subject": ErrorCode.REQUIRED, "body": ErrorCode.REQUIRED}
    assert db.session.scalar(select(func.count(Complaint.id))) == 1
    # Only enterprises (and operators for them) complain; only about a live institution.
    for user in (world.admin, world.agent, world.regulator):
        with pytest.raises(PermissionDenied):
            world.file(user)
    assert len(audit_events("complaint.file", "denied")) == 3
    world.other.status = InstitutionStatus.EXITED
    db.session.commit()
    with pytest.raises(NotFound):
        service.file(world.other, subject="x", body="y", actor=world.customer)


def test_a_complaint_can_still_be_filed_in_the_removal_legacy_period_R_ONB_07(world):
    exits.issue_removal_notice(world.lab, reason=RemovalReason.FAILED_ASSESSMENT,
                               details="年度评价不合格", actor=world.regulator)
    assert world.file().status is ComplaintStatus.FILED


def test_an_operator_files_for_an_enterprise_and_may_withdraw_it_R_G_08(world):
    complaint = world.file(world.operator, enterprise_user=world.customer)
    assert (complaint.enterprise_user_id, complaint.filed_by_id, complaint.on_behalf) == (
        world.customer.id, world.operator.id, True)
    with pytest.raises(InvalidInput):  # for an enterprise user only
        world.file(world.operator, enterprise_user=world.agent)
    service.withdraw(complaint, actor=world.operator)
    assert complaint.status is ComplaintStatus.WITHDRAWN and complaint.withdrawn_at is not None
    assert audit_events("complaint.withdraw")[0].actor_id == world.operator.id


def test_a_double_submit_files_one_complaint_R_G_04(world):
    first = world.file()
    with pytest.raises(InvalidInput) as exc:
        world.file()
    assert problem_fields(exc.value) == {"subject": ErrorCode.DUPLICATE}
    assert f"#{first.id}" in exc.value.problems[0].message
    assert db.session.scalar(select(func.count(Complaint.id))) == 1
    # Once the first is decided (or about something else) the same words may be filed again.
    world.verify(first, outcome="unfounded")
    assert world.file().id != first.id


def test_two_identical_complaints_filed_at_once_make_one_R_G_04(world, app, postgres_url):
    results: list[str] = []
    barrier = threading.Barrier(2)

    def file() -> None:
        with app.app_context():
            lab = db.session.get(type(world.lab), world.lab.id)
            user = db.session.get(User, world.customer.id)
            barrier.wait()
            try:
                service.file(lab, subject="检测报告延期", body="超过约定时间两周", actor=user)
                results.append("ok")
            except InvalidInput as exc:
                db.session.rollback()
                results.append(exc.code)

    threads = [threading.Thread(target=file) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == sorted(["ok", ErrorCode.DUPLICATE])
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Complaint.id))) == 1


# ---------------------------------------------------------------- the state machine


def test_verification_is_once_by_an_operator_with_notes_and_both_sides_told_R_G_04(world):
    complaint = world.file()
    for user in (world.regulator, world.admin, world.customer):
        with pytest.raises(PermissionDenied):
            service.verify(complaint, outcome="verified", notes="查实", actor=user)
    assert len(audit_events("complaint.verify", "denied")) == 3
    with pytest.raises(InvalidInput) as exc:
        service.verify(complaint, outcome="maybe", notes=" ", serious=False, actor=world.operator)
    assert problem_fields(exc.value) == {"outcome": ErrorCode.INVALID_INPUT, "notes": ErrorCode.REQUIRED}
    with pytest.raises(InvalidInput) as exc:  # serious only when verified (R-OPS-06)
        service.verify(complaint, outcome="unfounded", notes="不属实", serious=True,
                       actor=world.operator)
    assert problem_fields(exc.value) == {"serious": ErrorCode.INVALID_INPUT}
    db.session.refresh(complaint)
    assert complaint.status is ComplaintStatus.FILED and complaint.verified_at is None
    world.verify(complaint, serious=True)
    assert (complaint.status, complaint.serious, complaint.verified_by_id) == (
        ComplaintStatus.VERIFIED, True, world.operator.id)
    assert {r for r, _c in outbox("complaint_decided")} == {world.admin.id, world.customer.id}
    with pytest.raises(InvalidInput) as exc:  # not twice
        world.verify(complaint, outcome="unfounded")
    assert problem_fields(exc.value) == {"complaintId": ErrorCode.ILLEGAL_TRANSITION}
    with pytest.raises(InvalidInput):  # no withdrawing after the verification
        service.withdraw(complaint, actor=world.customer)
    db.session.expire_all()
    kept = db.session.get(Complaint, complaint.id)
    assert kept.status is ComplaintStatus.VERIFIED and kept.withdrawn_at is None
    assert len(audit_events("complaint.verify")) == 1 and audit_events("complaint.withdraw") == []


def test_a_withdrawn_complaint_cannot_be_verified_and_only_the_complainant_withdraws_R_G_04(world):
    complaint = world.file()
    with pytest.raises(PermissionDenied):
        service.withdraw(complaint, actor=world.admin)
    with pytest.raises(PermissionDenied):  # an operator who did not file it for the enterprise
        service.withdraw(complaint, actor=world.operator)
    service.withdraw(complaint, actor=world.customer)
    with pytest.raises(InvalidInput):
        world.verify(complaint, outcome="unfounded")
    with pytest.raises(InvalidInput):
        service.withdraw(complaint, actor=world.customer)
    assert db.session.get(Complaint, complaint.id).status is ComplaintStatus.WITHDRAWN


def test_a_failed_notification_leaves_the_complaint_as_it_was_R_G_04(world, monkeypatch):
    from core.notifications import service as notifications

    complaint = world.file()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("template missing")

    monkeypatch.setattr(notifications, "notify", broken)
    with pytest.raises(ValueError):
        world.verify(complaint)
    db.session.rollback()
    db.session.expire_all()
    kept = db.session.get(Complaint, complaint.id)
    assert kept.status is ComplaintStatus.FILED and kept.verified_by_id is None
    assert audit_events("complaint.verify") == [] and outbox("complaint_decided") == []


def test_two_operators_verifying_at_once_decide_once_R_G_04(world, app, make_user, postgres_url):
    complaint = world.file()
    second = make_user(Role.OPERATOR, name="运维 梁敏")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def verify(user_id: int, outcome: str) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            found = db.session.get(Complaint, complaint.id)
            barrier.wait()
            try:
                service.verify(found, outcome=outcome, notes="核查意见", actor=user)
                results.append(outcome)
            except InvalidInput as exc:
                db.session.rollback()
                results.append(exc.code)

    threads = [threading.Thread(target=verify, args=args)
               for args in ((world.operator.id, "verified"), (second.id, "unfounded"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and ErrorCode.ILLEGAL_TRANSITION in results
    db.session.expire_all()
    decided = db.session.get(Complaint, complaint.id)
    assert decided.status.value in results and len(audit_events("complaint.verify")) == 1
    assert len([r for r, c in outbox("complaint_decided") if c == "sms"]) == 2  # admin + enterprise


# ---------------------------------------------------------------- Annex 2 item 2: counting


def test_verified_complaints_count_by_the_china_calendar_day_R_ASM_02(world):
    last_of_2025 = world.file(at=sh(2025, 12, 31, 23, 59, 59))
    first_of_2026 = world.file(at=sh(2026, 1, 1, 0, 0))
    unfounded = world.file(at=sh(2026, 3, 1, 10, 0))
    waiting = world.file(at=sh(2026, 3, 2, 10, 0))
    withdrawn = world.file(at=sh(2026, 3, 3, 10, 0))
    for c in (last_of_2025, first_of_2026):
        world.verify(c)
    world.verify(unfounded, outcome="unfounded")
    service.withdraw(withdrawn, actor=world.customer)
    assert waiting.status is ComplaintStatus.FILED
    year_2025 = verified_complaints(world.lab.id, date(2025, 1, 1), date(2025, 12, 31))
    year_2026 = verified_complaints(world.lab.id, date(2026, 1, 1), date(2026, 12, 31))
    assert [c.id for c in year_2025] == [last_of_2025.id]
    assert [c.id for c in year_2026] == [first_of_2026.id]
    assert verified_complaints(world.other.id, date(2025, 1, 1), date(2026, 12, 31)) == []


# ---------------------------------------------------------------- R-G-05, SECURITY.md 9


def test_each_role_sees_its_complaints_and_the_institution_a_masked_contact_R_G_05(world):
    mine = world.file()
    service.file(world.other, subject="另一机构的投诉", body="服务态度差", actor=world.outsider)
    seen = {}
    for user in (world.customer, world.admin, world.agent, world.operator, world.regulator,
                 world.outsider, world.other_admin):
        page = world.gql(user)(PAGE, {"s": None, "i": None, "f": 20, "o": 0},
                               csrf=False)["data"]["complaints"]
        seen[user.display_name] = {c["subject"]: c["complainantContact"] for c in page["complaints"]}
    subject = "检测报告延期两周未出具"
    assert seen["何志强"] == {subject: PHONE}
    # The institution's admin too, unlike for its clients (`sees_complainant_contact` says why).
    assert seen["李建国"] == seen["客服 周静"] == {subject: "138****5678"}
    assert seen["运维 黄晓婷"] == seen["监管 陈立新"] == {subject: PHONE, "另一机构的投诉": "13700000009"}
    assert seen["另一企业 王工"] == {"另一机构的投诉": "13700000009"}
    assert seen["另一机构管理员"] == {"另一机构的投诉": "137****0009"}
    # Nobody else opens it; each refusal is audited.
    for user in (world.outsider, world.other_admin):
        with pytest.raises(PermissionDenied):
            service.get_complaint(mine.id, user)
        body = world.gql(user)("query($id: ID!) { complaint(id: $id) { " + ONE + " } }",
                               {"id": str(mine.id)}, csrf=False)
        assert body["data"]["complaint"]["code"] == "PERMISSION_DENIED"
    assert len(audit_events("complaint.read", "denied")) == 4
    staff_view = world.gql(world.agent)("query($id: ID!) { complaint(id: $id) { " + ONE + " } }",
                                        {"id": str(mine.id)}, csrf=False)["data"]["complaint"]
    assert staff_view["complaint"]["complainantContact"] == "138****5678"
    assert staff_view["complaint"]["enterpriseName"] == "佛山市顺德区美达电器有限公司"


def test_the_operator_queue_lists_waiting_complaints_oldest_first_R_G_04(world, gql):
    newer = world.file(at=sh(2026, 3, 5, 9, 0))
    older = world.file(at=sh(2026, 3, 1, 9, 0))
    decided = world.file(at=sh(2026, 2, 1, 9, 0))
    world.verify(decided, outcome="unfounded")
    assert [c.id for c in service.queue(world.operator).complaints] == [older.id, newer.id]
    body = world.gql(world.operator)(PAGE, {"s": "FILED", "i": str(world.lab.id), "f": 20, "o": 0},
                                     csrf=False)
    assert [c["id"] for c in body["data"]["complaints"]["complaints"]] == [str(older.id),
                                                                           str(newer.id)]
    for user in (world.customer, world.admin):
        with pytest.raises(PermissionDenied):
            service.queue(user)
    assert len(audit_events("complaint.queue", "denied")) == 2
    anonymous = gql(PAGE, {"s": None, "i": None, "f": 5, "o": 0}, csrf=False)
    assert anonymous["data"]["complaints"]["code"] == "NOT_AUTHENTICATED"


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


def test_complaint_pages_use_a_fixed_number_of_statements(world, make_user):
    for n in range(30):
        user = make_user(Role.ENTERPRISE, name=f"企业用户{n}", phone=f"1360000{n:04d}")
        if n % 2:
            create_enterprise({"name": f"佛山市第{n}五金厂", "uscc": _uscc(n)}, actor=user)
        world.file(user, at=sh(2026, 3, 1, 9, 0) + timedelta(hours=n))
    for user in (world.operator, world.agent):  # masked and unmasked rows alike
        client = world.gql(user)
        small, few = _count_statements(client, {"s": None, "i": None, "f": 5, "o": 0})
        large, many = _count_statements(client, {"s": None, "i": None, "f": 25, "o": 5})
        assert len(small["data"]["complaints"]["complaints"]) == 5
        assert len(large["data"]["complaints"]["complaints"]) == 25
        assert large["data"]["complaints"]["total"] == 30
        assert len(few) == len(many), (few, many)


def test_web_complaint_lists_use_a_fixed_number_of_statements(world, make_user):
    """A page of 3 rows and a full page of 20 cost the same, masked (agent) or not (operator)."""
    def file(n: int) -> None:
        user = make_user(Role.ENTERPRISE, name=f"企业用户{n}", phone=f"1360000{n:04d}")
        if n % 2:
            create_enterprise({"name": f"佛山市第{n}五金厂", "uscc": _uscc(n)}, actor=user)
        world.file(user, at=sh(2026, 3, 1, 9, 0) + timedelta(hours=n))

    def statements(web: Any, url: str) -> tuple[str, int]:
        seen: list[str] = []

        def listener(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            html = web.get(url).get_data(as_text=True)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return html, len(seen)

    for n in range(3):
        file(n)
    webs = {u.id: web_login(world.app, u) for u in (world.operator, world.agent)}
    urls = ("/complaints", "/complaints?status=filed")
    few = {(u, url): statements(web, url)[1] for u, web in webs.items() for url in urls}
    few[(world.operator.id, "/complaints/queue")] = statements(webs[world.operator.id],
                                                               "/complaints/queue")[1]
    for n in range(3, 25):
        file(n)
    for (u, url), count in few.items():
        html, many = statements(webs[u], url)
        assert html.count('<tr id="complaint-') == 20 and many == count, (u, url)


def _uscc(n: int) -> str:
    from stdnum.cn import uscc

    base = f"9144060{n:05d}MA4W0"[:17]
    return base + uscc.calc_check_digit(base)


# ---------------------------------------------------------------- R-ONB-06, R-OPS-06


def test_a_complaint_waiting_for_verification_blocks_exit_R_ONB_06(world):
    complaint = world.file()
    exits.request_exit(world.lab, letter="因业务调整，申请退出佛山企质通平台。", actor=world.admin)
    assert [(m.kind, m.object_id) for m in exits.open_matters(world.lab)] == [
        ("complaint", complaint.id)]
    assert exits.complete_exit_if_clear(world.lab) != []
    db.session.refresh(world.lab)
    assert world.lab.status is InstitutionStatus.LIVE
    world.verify(complaint, outcome="unfounded")
    assert exits.complete_exit_if_clear(world.lab) == []
    db.session.refresh(world.lab)
    assert world.lab.status is InstitutionStatus.EXITED


def test_only_a_regulator_issues_removal_for_a_verified_serious_complaint_R_OPS_06(world):
    plain = world.verify(world.file())
    with pytest.raises(InvalidInput) as exc:
        service.issue_removal(plain, details="投诉查实", actor=world.regulator)
    assert problem_fields(exc.value) == {"complaintId": ErrorCode.ILLEGAL_TRANSITION}
    serious = world.verify(world.file(), serious=True)
    for user in (world.operator, world.admin, world.customer):
        with pytest.raises(PermissionDenied):
            service.issue_removal(serious, details="严重投诉查实", actor=user)
    assert len(audit_events("complaint.removal_notice", "denied")) == 3
    assert db.session.scalar(select(func.count(RemovalNotice.id))) == 0
    with pytest.raises(InvalidInput) as exc:  # the grounds are required
        service.issue_removal(serious, details=" ", actor=world.regulator)
    assert problem_fields(exc.value) == {"details": ErrorCode.REQUIRED}
    removal = ("mutation($i: IssueRemovalForComplaintInput!) { issueRemovalForComplaint(input: $i) { "
               + ONE + " } }")
    body = world.gql(world.regulator)(removal, {"i": {
        "complaintId": str(serious.id), "details": "出具虚假检测数据，投诉查实且情节严重", "legacyDays": 30}})
    got = body["data"]["issueRemovalForComplaint"]["complaint"]
    notice = db.session.scalars(select(RemovalNotice)).one()
    assert got["removalNoticeId"] == str(notice.id)
    assert notice.reason is RemovalReason.SERIOUS_COMPLAINT
    assert {r for r, _c in outbox("removal_notice")} == {world.admin.id}
    assert audit_events("complaint.removal_notice")[0].actor_id == world.regulator.id
    again = world.gql(world.regulator)(removal, {"i": {"complaintId": str(serious.id),
                                                       "details": "再发一次"}})
    assert again["data"]["issueRemovalForComplaint"]["code"] == "DUPLICATE"
    another = world.verify(world.file(), serious=True)  # the institution already has a notice
    with pytest.raises(DomainError) as err:
        service.issue_removal(another, details="又一起严重投诉", actor=world.regulator)
    assert err.value.code is ErrorCode.DUPLICATE
    assert db.session.scalar(select(func.count(RemovalNotice.id))) == 1


def test_a_pending_serious_complaint_notice_is_linked_not_issued_twice_R_OPS_06(world):
    serious = world.verify(world.file(), serious=True)
    # The regulator issued the notice from the institution's page, not from the complaint.
    notice = exits.issue_removal_notice(world.lab, reason=RemovalReason.SERIOUS_COMPLAINT,
                                        details="出具虚假检测数据", actor=world.regulator)
    assert service.issue_removal(serious, details="出具虚假检测数据", actor=world.regulator).id == notice.id
    assert db.session.get(Complaint, serious.id).removal_notice_id == notice.id
    assert db.session.scalar(select(func.count(RemovalNotice.id))) == 1


def test_a_removal_that_fails_half_way_leaves_no_notice_R_OPS_06(world, monkeypatch):
    """The notice and the complaint's record of it are one transaction."""
    serious = world.verify(world.file(), serious=True)
    real = service.record_audit

    def failing(action: str, **kwargs: Any) -> Any:
        if action == "complaint.removal_notice":
            raise RuntimeError("disk full")
        return real(action, **kwargs)

    monkeypatch.setattr(service, "record_audit", failing)
    with pytest.raises(RuntimeError):
        service.issue_removal(serious, details="出具虚假检测数据", actor=world.regulator)
    db.session.rollback()
    assert db.session.scalar(select(func.count(RemovalNotice.id))) == 0
    assert outbox("removal_notice") == [] and audit_events("institution.removal_notice") == []
    assert db.session.get(Complaint, serious.id).removal_notice_id is None
    assert db.session.get(type(world.lab), world.lab.id).is_public  # the homepage stays open
    monkeypatch.setattr(service, "record_audit", real)
    notice = service.issue_removal(serious, details="出具虚假检测数据", actor=world.regulator)
    assert db.session.get(Complaint, serious.id).removal_notice_id == notice.id
    # R-OPS-06: the notice closes the homepage in the same commit.
    assert not db.session.get(type(world.lab), world.lab.id).is_public


def test_two_regulators_at_once_issue_one_removal_notice_R_OPS_06(world, app, make_user,
                                                                   postgres_url):
    first = world.verify(world.file(at=sh(2026, 3, 1, 9, 0)), serious=True)
    second = world.verify(world.file(at=sh(2026, 3, 2, 9, 0)), serious=True)
    other = make_user(Role.REGULATOR, name="监管 周海")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def remove(user_id: int, complaint_id: int) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            found = db.session.get(Complaint, complaint_id)
            barrier.wait()
            try:
                service.issue_removal(found, details="投诉查实且情节严重", actor=user)
                results.append("ok")
            except DomainError as exc:
                db.session.rollback()
                results.append(exc.code)

    threads = [threading.Thread(target=remove, args=args)
               for args in ((world.regulator.id, first.id), (other.id, second.id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == sorted(["ok", ErrorCode.DUPLICATE])
    db.session.expire_all()
    notice = db.session.scalars(select(RemovalNotice)).one()
    linked = db.session.scalars(select(Complaint.id).where(
        Complaint.removal_notice_id == notice.id)).all()
    assert len(linked) == 1 and len(outbox("removal_notice")) == 2  # the admin: SMS and inbox


def test_removal_grounds_over_the_limit_are_refused_not_cut_R_OPS_06(world):
    serious = world.verify(world.file(), serious=True)
    with pytest.raises(InvalidInput) as exc:
        service.issue_removal(serious, details="严" * 5001, actor=world.regulator)
    assert problem_fields(exc.value) == {"details": ErrorCode.INVALID_INPUT}
    assert db.session.scalar(select(func.count(RemovalNotice.id))) == 0


def test_ids_and_pages_that_name_no_row_are_not_found_not_server_errors_SECURITY_9(world):
    complaint = world.file()
    huge = "99999999999999999999"
    for bad in (huge, "²"):  # "²" is a digit to str.isdigit, not to int()
        body = world.gql(world.customer)("query($id: ID!) { complaint(id: $id) { " + ONE + " } }",
                                         {"id": bad}, csrf=False)
        assert body["data"]["complaint"]["code"] == "NOT_FOUND"
    with pytest.raises(InvalidInput) as exc:
        world.file(order_id=2**31, consultation_id=2**40)
    assert problem_fields(exc.value) == {"orderId": ErrorCode.INVALID_INPUT,
                                          "consultationId": ErrorCode.INVALID_INPUT}
    web = web_login(world.app, world.customer)
    for url in (f"/complaints/{huge}", f"/institutions/{huge}/complaints/new"):
        assert web.get(url).status_code == 404, url
    for url in (f"/complaints/{huge}/withdraw", f"/complaints/{huge}/verify"):
        assert web.post(url).status_code in (400, 404), url
    assert web.get(f"/complaints?page={huge}").status_code == 200
    url = f"/institutions/{world.lab.id}/complaints/new"
    token = csrf_token_in(web.get(url).get_data(as_text=True))
    refused = web.post(url, data={"subject": "报告延期", "body": "超过两周", "order_id": huge,
                                  "csrf_token": token})
    assert refused.status_code == 200 and 'id="order_id-error"' in refused.get_data(as_text=True)
    assert web.get(f"/complaints/{complaint.id}").status_code == 200


# ---------------------------------------------------------------- GraphQL


def test_graphql_file_withdraw_and_verify_R_G_04(world):
    order = orders.place(world.lab, title="电磁灶安全检测", actor=world.customer)
    customer = world.gql(world.customer)
    file = ("mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { " + ONE + " } }")
    refused = customer(file, {"i": {"institutionId": str(world.lab.id), "subject": "", "body": "x",
                                    "orderId": "x"}})["data"]["fileComplaint"]
    assert refused["code"] == "NOT_FOUND" and refused["field"] == "orderId"
    filed = customer(file, {"i": {"institutionId": str(world.lab.id), "subject": "报告延期",
                                  "body": "超过约定时间两周", "orderId": str(order.id)}})
    got = filed["data"]["fileComplaint"]["complaint"]
    assert got["status"] == "FILED" and got["orderId"] == str(order.id)
    assert got["complainantContact"] == PHONE and got["institutionName"] == "佛山市质量计量监督检测中心"
    verify = ("mutation($i: VerifyComplaintInput!) { verifyComplaint(input: $i) { " + ONE + " } }")
    operator = world.gql(world.operator)
    bad = operator(verify, {"i": {"complaintId": got["id"], "outcome": "UNFOUNDED", "notes": "x",
                                  "serious": True}})["data"]["verifyComplaint"]
    assert bad["problems"] == [{"code": "INVALID_INPUT", "field": "serious"}]
    done = operator(verify, {"i": {"complaintId": got["id"], "outcome": "UNFOUNDED",
                                   "notes": "机构已按约定时间出具报告，投诉不属实。"}})
    assert done["data"]["verifyComplaint"]["complaint"]["status"] == "UNFOUNDED"
    late = customer("mutation($id: ID!) { withdrawComplaint(id: $id) { " + ONE + " } }",
                    {"id": got["id"]})["data"]["withdrawComplaint"]
    assert late["code"] == "ILLEGAL_TRANSITION"
    denied = world.gql(world.regulator)(verify, {"i": {"complaintId": got["id"], "outcome": "VERIFIED",
                                                       "notes": "x"}})["data"]["verifyComplaint"]
    assert denied["code"] == "PERMISSION_DENIED"


# ---------------------------------------------------------------- web pages


def test_web_file_verify_and_remove_with_csrf_R_OPS_06(world):
    customer = web_login(world.app, world.customer)
    url = f"/institutions/{world.lab.id}/complaints/new"
    # The institution page offers the complaint form to enterprises.
    assert f'href="{url}"' in customer.get(f"/institutions/{world.lab.id}").get_data(as_text=True)
    page = customer.get(url).get_data(as_text=True)
    data = {"subject": "出具虚假检测数据", "body": "报告中的温升数据与我司复测结果严重不符。"}
    assert customer.post(url, data=data).status_code == 400  # no CSRF token
    assert customer.post(url, data={**data, "csrf_token": csrf_token_in(page)}).status_code == 302
    complaint = db.session.scalars(select(Complaint)).one()
    mine = customer.get("/complaints").get_data(as_text=True)
    assert "出具虚假检测数据" in mine and PHONE in mine
    admin_list = web_login(world.app, world.admin).get("/complaints").get_data(as_text=True)
    assert "138****5678" in admin_list and PHONE not in admin_list
    assert web_login(world.app, world.outsider).get(f"/complaints/{complaint.id}").status_code == 404
    admin_form = web_login(world.app, world.admin).get(f"/institutions/{world.lab.id}/complaints/new")
    assert admin_form.status_code == 403
    operator = web_login(world.app, world.operator)
    queue = operator.get("/complaints/queue").get_data(as_text=True)
    assert f'id="complaint-{complaint.id}"' in queue
    assert customer.get("/complaints/queue").status_code == 403
    detail = operator.get(f"/complaints/{complaint.id}").get_data(as_text=True)
    assert 'id="verify-form"' in detail and 'id="removal-form"' not in detail
    verify_url = f"/complaints/{complaint.id}/verify"
    assert operator.post(verify_url, data={"outcome": "verified", "serious": "y",
                                           "notes": "复测数据与报告不符，查实。"}).status_code == 400
    missing = operator.post(verify_url, data={"outcome": "verified", "notes": "",
                                              "csrf_token": csrf_token_in(detail)})
    assert missing.status_code == 400 and 'id="notes-error"' in missing.get_data(as_text=True)
    assert operator.post(verify_url, data={"outcome": "verified", "serious": "y",
                                           "notes": "复测数据与报告不符，查实。",
                                           "csrf_token": csrf_token_in(detail)}).status_code == 302
    assert 'id="removal-form"' not in operator.get(f"/complaints/{complaint.id}").get_data(as_text=True)
    regulator = web_login(world.app, world.regulator)
    detail = regulator.get(f"/complaints/{complaint.id}").get_data(as_text=True)
    assert 'id="removal-form"' in detail and 'id="verify-form"' not in detail
    own_token = csrf_token_in(operator.get(f"/complaints/{complaint.id}").get_data(as_text=True))
    assert operator.post(f"/complaints/{complaint.id}/removal", data={
        "details": "x", "csrf_token": own_token}).status_code == 403
    assert regulator.post(f"/complaints/{complaint.id}/removal", data={
        "details": "出具虚假检测数据，投诉查实且情节严重", "legacy_days": "30",
        "csrf_token": csrf_token_in(detail)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).removal_notice_id is not None
    assert 'id="removal-notice"' in customer.get(f"/complaints/{complaint.id}").get_data(as_text=True)
    # R-OPS-06: the homepage is closed from the notice on.
    assert customer.get(f"/institutions/{world.lab.id}").status_code == 404
