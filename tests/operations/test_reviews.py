"""Reviews and bad-review follow-ups: only the client of a completed order rates it, once (R-G-04,
R-G-08); 1-2 stars opens a follow-up the institution answers and the client judges (R-OPS-04);
unsatisfied follow-ups are what Annex 2 item 10 deducts; open follow-ups block exit (R-ONB-06);
who sees what (SECURITY.md 9) and the reviewer masked on the public page (R-G-05)."""

from __future__ import annotations

import re
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "onboarding"))
from factory import eligible_institution

from core.audit.models import AuditEvent
from core.clock import local_today
from core.db import db
from core.enterprises.service import create_enterprise
from core.errors import DomainError, ErrorCode, InvalidInput, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.masking import mask_organisation
from core.notifications.models import OutboxMessage
from core.onboarding import exit as exits
from core.onboarding import workflow
from core.orders import service as orders
from core.orders.models import Order
from core.reviews import service
from core.reviews.models import FollowUp, FollowUpStatus, Review
from core.reviews.queries import NO_RATING, ratings, unsatisfied_follow_ups
from core.tasks import get_job, run_job
from core.testing import GraphQLClient, csrf_token_in, graphql_login, web_login

SH = ZoneInfo("Asia/Shanghai")
AGENT_PHONE = "13922000100"  # the factory's first agent
ENTERPRISE = "佛山市顺德区美达电器有限公司"
FOLLOW_UP = """__typename ... on UserError { code field message }
  ... on FollowUpSuccess { followUp { id status response verdictComment stars orderTitle } }"""


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


class World:
    def __init__(self, app: Any, make_user: Any) -> None:
        self.app = app
        institution, admin = eligible_institution(make_user)
        operator, regulator = make_user(Role.OPERATOR), make_user(Role.REGULATOR)
        workflow.transition(institution.id, "submit", actor=admin)
        workflow.transition(institution.id, "start_screening", actor=operator)
        workflow.transition(institution.id, "pass_screening", actor=operator)
        workflow.transition(institution.id, "approve", actor=regulator)
        self.institution, self.admin = institution, admin
        self.operator, self.regulator = operator, regulator
        self.other_operator = make_user(Role.OPERATOR, name="另一运维人员")
        self.agent = db.session.scalar(select(User).where(User.phone == AGENT_PHONE))
        self.customer = make_user(Role.ENTERPRISE, name="何志强", phone="13631000001")
        create_enterprise({"name": ENTERPRISE, "uscc": "91440606MA52K8RX8D"}, actor=self.customer)
        self.other_enterprise = make_user(Role.ENTERPRISE, name="另一企业 王工")
        self.other_admin = make_user(Role.INSTITUTION_ADMIN, name="另一机构管理员")
        self.other = create_institution(legal_name="佛山市南海区计量检测有限公司", uscc=None,
                                        admin=self.other_admin, status=InstitutionStatus.LIVE)
        self.other_agent = make_user(Role.INSTITUTION_AGENT, name="另一机构客服")
        add_staff(self.other, self.other_agent, StaffRole.AGENT, actor=self.other_admin)

    def completed(self, at: datetime | None = None, *, institution: Any = None,
                  customer: User | None = None, actor: User | None = None,
                  title: str = "GB 4706.1 家电安全检测") -> Order:
        """An order through the real state table, completed by the enterprise side."""
        customer = customer or self.customer
        institution = institution or self.institution
        order = orders.place(institution, title=title, amount="3800.00", actor=actor or customer,
                             enterprise_user=customer)
        staff = self.agent if institution is self.institution else self.other_agent
        for action in ("accept", "start", "deliver"):
            orders.advance(order, action, actor=staff, now=at)
        return orders.advance(order, "complete", actor=actor or customer, now=at)

    def bad(self, at: datetime | None = None, **kw: Any) -> FollowUp:
        review = service.review_order(self.completed(at, **kw), 2, "报告晚了一周，也没人解释原因。",
                                      kw.get("actor") or kw.get("customer") or self.customer,
                                      now=at)
        assert review.follow_up is not None
        return review.follow_up

    def gql(self, user: User | None = None) -> GraphQLClient:
        if user is None:
            return GraphQLClient(self.app.test_client())
        return graphql_login(self.app, user)


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


def audit(action: str, result: str = "success") -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                            AuditEvent.result == result)))


def problems(exc: pytest.ExceptionInfo[InvalidInput]) -> set[tuple[str, str | None]]:
    return {(str(p.code), p.field) for p in exc.value.problems}


# ---------------------------------------------------------------- rating (R-G-04, R-G-08)


def test_only_the_client_of_a_completed_order_rates_it_once_R_G_04(world):
    order = orders.place(world.institution, title="电子秤校准", actor=world.customer)
    with pytest.raises(InvalidInput) as exc:  # placed, not completed
        service.review_order(order, 5, "很好", world.customer)
    assert problems(exc) == {("ILLEGAL_TRANSITION", "orderId")}
    order = world.completed()
    strangers = [world.agent, world.admin, world.other_enterprise, world.other_agent,
                 world.regulator, world.other_operator]
    for user in strangers:  # the institution's staff never rate their own work
        with pytest.raises(PermissionDenied):
            service.review_order(order, 5, "非常好", user)
    assert len(audit("review.create", "denied")) == len(strangers)
    review = service.review_order(order, 4, "  报告规范，沟通顺畅。 ", world.customer)
    assert (review.stars, review.comment, review.follow_up) == (4, "报告规范，沟通顺畅。", None)
    assert review.enterprise_user_id == world.customer.id and review.entered_by_id is None
    with pytest.raises(DomainError) as again:
        service.review_order(order, 1, "改主意了", world.customer)
    assert again.value.code is ErrorCode.DUPLICATE and again.value.field == "orderId"
    assert db.session.scalar(select(func.count(Review.id))) == 1
    assert len(audit("review.create")) == 1
    db.session.add(Review(order_id=order.id, institution_id=order.institution_id,
                          enterprise_user_id=world.customer.id, stars=3))
    with pytest.raises(IntegrityError):  # the unique constraint backs the service's check
        db.session.flush()
    db.session.rollback()


def test_stars_outside_1_to_5_and_long_comments_are_refused_by_field_R_G_04(world):
    order = world.completed()
    for stars in (0, 6, -1, True, "5", None, 4.5):
        with pytest.raises(InvalidInput) as exc:
            service.review_order(order, stars, "一般", world.customer)
        assert problems(exc) == {("INVALID_INPUT", "stars")}
    with pytest.raises(InvalidInput) as exc:
        service.review_order(order, 9, "长" * (service.COMMENT_MAX + 1), world.customer)
    assert problems(exc) == {("INVALID_INPUT", "stars"), ("INVALID_INPUT", "comment")}
    assert db.session.scalar(select(func.count(Review.id))) == 0


def test_two_stars_open_a_follow_up_and_three_do_not_R_OPS_04(world):
    two = world.completed(title="电磁灶安全检测")
    with pytest.raises(InvalidInput) as exc:  # a bad review says what went wrong
        service.review_order(two, 2, "  ", world.customer)
    assert problems(exc) == {("REQUIRED", "comment")}
    review = service.review_order(two, 2, "报告晚了一周", world.customer)
    follow_up = review.follow_up
    assert follow_up is not None and follow_up.status is FollowUpStatus.OPEN
    assert follow_up.institution_id == world.institution.id
    sent = db.session.execute(select(OutboxMessage.recipient_user_id, OutboxMessage.channel).where(
        OutboxMessage.template == "follow_up_opened")).all()
    assert sorted(sent) == sorted((u.id, c) for u in (world.admin, world.agent)
                                  for c in ("sms", "inbox"))
    three = service.review_order(world.completed(), 3, None, world.customer)  # no comment needed
    assert three.follow_up is None
    one = service.review_order(world.completed(), 1, "态度差", world.customer)
    assert one.follow_up is not None
    assert db.session.scalar(select(func.count(FollowUp.id))) == 2
    assert len(audit("follow_up.open")) == 2


def test_the_operator_who_placed_the_order_rates_it_for_the_enterprise_R_G_08(world):
    order = world.completed(actor=world.operator)
    with pytest.raises(PermissionDenied):  # another operator did not act for it
        service.review_order(order, 5, "好", world.other_operator)
    review = service.review_order(order, 2, "企业电话反馈：报告有错别字", world.operator)
    assert (review.enterprise_user_id, review.entered_by_id) == (world.customer.id, world.operator.id)
    service.respond_to_follow_up(review.follow_up, "已重新出具报告", world.agent)
    service.judge_follow_up(review.follow_up, True, None, world.operator)
    assert review.follow_up.status is FollowUpStatus.SATISFIED
    assert review.follow_up.verdict_by_id == world.operator.id


# ---------------------------------------------------------------- the follow-up (R-OPS-04)


def test_the_follow_up_cycle_respond_update_judge_and_then_frozen_R_OPS_04(world):
    follow_up = world.bad()
    with pytest.raises(InvalidInput) as exc:  # nothing to judge before the institution answers
        service.judge_follow_up(follow_up, True, None, world.customer)
    assert problems(exc) == {("ILLEGAL_TRANSITION", "followUpId")}
    for user in (world.customer, world.other_agent, world.other_admin, world.operator):
        with pytest.raises(PermissionDenied):
            service.respond_to_follow_up(follow_up, "已处理", user)
    assert len(audit("follow_up.respond", "denied")) == 4
    with pytest.raises(InvalidInput) as exc:
        service.respond_to_follow_up(follow_up, "", world.agent)
    assert problems(exc) == {("REQUIRED", "response")}
    service.respond_to_follow_up(follow_up, "已致电致歉", world.agent)
    assert follow_up.status is FollowUpStatus.RESPONDED and follow_up.responded_by_id == world.agent.id
    service.respond_to_follow_up(follow_up, "已致电致歉，并退还加急费800元", world.admin)
    service.respond_to_follow_up(follow_up, "已致电致歉，并退还加急费800元", world.admin)  # a retry
    assert follow_up.status is FollowUpStatus.RESPONDED
    assert follow_up.response == "已致电致歉，并退还加急费800元"
    told = db.session.scalars(select(OutboxMessage.body).where(
        OutboxMessage.template == "follow_up_responded", OutboxMessage.channel == "inbox",
        OutboxMessage.recipient_user_id == world.customer.id)).all()
    assert len(told) == 2 and "退还加急费800元" in told[1]  # each answer once, the retry not again
    for user in (world.agent, world.other_enterprise, world.regulator):
        with pytest.raises(PermissionDenied):
            service.judge_follow_up(follow_up, True, None, user)
    with pytest.raises(InvalidInput) as exc:  # unsatisfied needs the reason: the deduction's evidence
        service.judge_follow_up(follow_up, False, "", world.customer)
    assert problems(exc) == {("REQUIRED", "comment")}
    service.judge_follow_up(follow_up, False, "退款未到账", world.customer)
    assert follow_up.status is FollowUpStatus.UNSATISFIED and follow_up.closed_at is not None
    for attempt in (lambda: service.respond_to_follow_up(follow_up, "已到账", world.agent),
                    lambda: service.judge_follow_up(follow_up, True, "到账了", world.customer)):
        with pytest.raises(InvalidInput) as exc:
            attempt()
        assert problems(exc) == {("ILLEGAL_TRANSITION", "followUpId")}
    db.session.expire_all()
    closed = db.session.get(FollowUp, follow_up.id)
    assert (closed.status, closed.verdict_comment, closed.response) == (
        FollowUpStatus.UNSATISFIED, "退款未到账", "已致电致歉，并退还加急费800元")
    assert [len(audit(a)) for a in ("follow_up.respond", "follow_up.judge")] == [3, 1]
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(
        OutboxMessage.template == "follow_up_judged")) == 2  # the admin's and the agent's inbox


def test_unsatisfied_follow_ups_are_counted_within_the_period_Annex2_item10(world):
    closes = [(sh(2026, 2, 28, 23, 59), False), (sh(2026, 3, 1, 0, 0), False),
              (sh(2026, 3, 15, 9, 0), True), (sh(2026, 3, 31, 23, 59), False),
              (sh(2026, 4, 1, 0, 0), False)]
    ids = []
    for at, satisfied in closes:
        follow_up = world.bad(sh(2026, 2, 1, 9, 0))
        service.respond_to_follow_up(follow_up, "已处理", world.agent, now=at)
        service.judge_follow_up(follow_up, satisfied, "满意" if satisfied else "未解决",
                                world.customer, now=at)
        ids.append(follow_up.id)
    other = world.bad(institution=world.other)
    service.respond_to_follow_up(other, "已处理", world.other_agent, now=sh(2026, 3, 2, 9, 0))
    service.judge_follow_up(other, False, "未解决", world.customer, now=sh(2026, 3, 2, 9, 0))
    march = unsatisfied_follow_ups(world.institution.id, date(2026, 3, 1), date(2026, 3, 31))
    assert [f.id for f in march] == [ids[1], ids[3]]
    assert [f.id for f in unsatisfied_follow_ups(world.institution.id, date(2026, 2, 1),
                                                 date(2026, 4, 1))] == [ids[0], ids[1], ids[3], ids[4]]
    assert [f.id for f in unsatisfied_follow_ups(world.other.id, date(2026, 3, 1),
                                                 date(2026, 3, 31))] == [other.id]


def test_ratings_average_every_review_of_an_institution_R_G_04(world):
    for stars in (5, 4, 2):
        service.review_order(world.completed(), stars, "评价", world.customer)
    service.review_order(world.completed(institution=world.other), 1, "差", world.customer)
    got = ratings([world.institution.id, world.other.id, 999])
    assert (got[world.institution.id].average, got[world.institution.id].count) == (3.67, 3)
    assert (got[world.other.id].average, got[world.other.id].count) == (1.0, 1)
    assert got[999] == NO_RATING


def test_an_open_or_responded_follow_up_blocks_exit_until_judged_R_ONB_06(world):
    follow_up = world.bad()
    exits.request_exit(world.institution, letter="因业务调整，申请退出佛山企质通平台。", actor=world.admin)
    assert [(m.kind, m.object_id) for m in exits.open_matters(world.institution)] == [
        ("follow_up", follow_up.id)]
    service.respond_to_follow_up(follow_up, "已致电客户致歉并重新出具报告", world.admin)
    assert exits.complete_exit_if_clear(world.institution) != []
    service.judge_follow_up(follow_up, True, None, world.customer)
    assert exits.complete_exit_if_clear(world.institution) == []
    db.session.refresh(world.institution)
    assert world.institution.status is InstitutionStatus.EXITED


def _at_once(app: Any, calls: list[Any]) -> list[str]:
    """Run each call in its own thread and session, released together; "ok" or the error code."""
    results: list[str] = []
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> None:
        with app.app_context():
            barrier.wait()
            try:
                call()
                results.append("ok")
            except DomainError as exc:
                results.append(str(exc.code))
            finally:
                db.session.rollback()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return sorted(results)


def test_two_ratings_or_two_verdicts_at_once_exactly_one_counts_R_OPS_04(world, postgres_url):
    order_id, customer_id = world.completed().id, world.customer.id

    def rate(stars: int) -> Any:
        return lambda: service.review_order(db.session.get(Order, order_id), stars, "报告有误",
                                            db.session.get(User, customer_id))

    assert _at_once(world.app, [rate(1), rate(2)]) == ["DUPLICATE", "ok"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Review.id))) == 1
    assert db.session.scalar(select(func.count(FollowUp.id))) == 1
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(
        OutboxMessage.template == "follow_up_opened")) == 4  # admin and agent, SMS and inbox
    follow_up = db.session.scalars(select(FollowUp)).one()
    service.respond_to_follow_up(follow_up, "已重新出具报告", world.agent)
    fid = follow_up.id

    def judge(satisfied: bool) -> Any:
        return lambda: service.judge_follow_up(db.session.get(FollowUp, fid), satisfied,
                                               "仍有错误", db.session.get(User, customer_id))

    assert _at_once(world.app, [judge(True), judge(False)]) == ["ILLEGAL_TRANSITION", "ok"]
    db.session.expire_all()
    assert len(audit("follow_up.judge")) == 1
    closed = db.session.get(FollowUp, fid)
    assert closed.status in (FollowUpStatus.SATISFIED, FollowUpStatus.UNSATISFIED)


# ---------------------------------------------------------------- who sees what (R-OPS-04, SECURITY.md 9)


def test_operators_list_every_unresolved_follow_up_oldest_first_R_OPS_04(world):
    first = world.bad(sh(2026, 3, 2, 9, 0))
    second = world.bad(sh(2026, 3, 5, 9, 0), institution=world.other)
    closed = world.bad(sh(2026, 3, 1, 9, 0))
    service.respond_to_follow_up(closed, "已处理", world.agent)
    service.judge_follow_up(closed, True, None, world.customer)
    mine = world.bad(sh(2026, 3, 6, 9, 0), customer=world.other_enterprise)
    total, rows = service.follow_ups_for(world.operator, statuses=service.UNRESOLVED)
    assert total == 3 and [r.follow_up.id for r in rows] == [first.id, second.id, mine.id]
    assert [r.institution.legal_name for r in rows][:2] == [world.institution.legal_name,
                                                           world.other.legal_name]
    assert rows[0].days_open == (local_today() - date(2026, 3, 2)).days
    assert rows[0].enterprise_name == ENTERPRISE
    total, rows = service.follow_ups_for(world.operator, first=1, offset=1)
    assert total == 4 and [r.follow_up.id for r in rows] == [first.id]
    assert [r.follow_up.id for r in service.follow_ups_for(world.agent)[1]] == [
        closed.id, first.id, mine.id]
    assert [r.follow_up.id for r in service.follow_ups_for(world.other_enterprise)[1]] == [mine.id]
    assert [r.follow_up.id for r in service.follow_ups_for(world.other_agent)[1]] == [second.id]
    for user in (world.other_agent, world.customer, world.regulator):
        with pytest.raises(PermissionDenied):
            service.follow_ups_for(user, institution_id=world.institution.id)
    for user, follow_up in ((world.other_agent, first), (world.customer, mine),
                            (world.regulator, first), (world.agent, second)):
        with pytest.raises(PermissionDenied):
            service.get_follow_up(follow_up.id, user)
    assert len(audit("follow_up.list", "denied")) == 3
    assert len(audit("follow_up.read", "denied")) == 4
    page = web_login(world.app, world.operator).get("/follow-ups").get_data(as_text=True)
    order = [int(n) for n in re.findall(r'id="follow-up-(\d+)"', page)]
    assert order == [first.id, second.id, mine.id] and world.other.legal_name in page


def test_an_unanswered_follow_up_reminds_the_institution_once_R_OPS_04(world):
    friday = world.bad(sh(2026, 3, 13, 10, 0))  # Friday; 2 working days: Monday and Tuesday
    answered = world.bad(sh(2026, 3, 13, 10, 0))
    service.respond_to_follow_up(answered, "已处理", world.agent)
    assert service.send_reminders(sh(2026, 3, 16, 17, 0)) == {}
    assert service.send_reminders(sh(2026, 3, 17, 9, 0)) == {"due": 1, "queued": 4}
    assert service.send_reminders(sh(2026, 3, 17, 10, 0)) == {"due": 1, "queued": 0}
    assert run_job(get_job("follow_up_reminders")) == {"due": 1, "queued": 0}
    reminded = db.session.execute(select(OutboxMessage.recipient_user_id, OutboxMessage.link,
                                         OutboxMessage.body).where(
        OutboxMessage.template == "follow_up_reminder", OutboxMessage.channel == "inbox")).all()
    assert sorted(u for u, _link, _b in reminded) == sorted([world.admin.id, world.agent.id])
    assert {link for _u, link, _b in reminded} == {f"/follow-ups/{friday.id}"}
    assert "4天未回复" in reminded[0][2]  # Friday to Tuesday


# ---------------------------------------------------------------- GraphQL


def _count(client: GraphQLClient, query: str, variables: dict[str, Any]) -> tuple[dict, int]:
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        body = client(query, variables, csrf=False)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert "errors" not in body, body
    return body, len(statements)


def test_graphql_lists_use_a_fixed_number_of_statements_R_OPS_04(world):
    for n in range(12):
        follow_up = world.bad(title=f"检测订单{n}")
        if n % 2:
            service.respond_to_follow_up(follow_up, "已处理", world.agent)
    follow_ups = """query($f: Int!) { followUps(first: $f) { ... on FollowUpPage { total
        followUps { id status institutionName orderTitle enterpriseName daysOpen } } } }"""
    operator = world.gql(world.operator)
    small, few = _count(operator, follow_ups, {"f": 2})
    large, many = _count(operator, follow_ups, {"f": 12})
    assert len(small["data"]["followUps"]["followUps"]) == 2
    assert large["data"]["followUps"]["total"] == 12 and few == many
    my_orders = """query($n: Int!) { myOrders(limit: $n) { ... on OrderList { orders { id
        review { stars followUp { status orderTitle } } } } } }"""
    customer = world.gql(world.customer)
    small, few = _count(customer, my_orders, {"n": 2})
    large, many = _count(customer, my_orders, {"n": 12})
    assert all(o["review"]["followUp"]["status"] in ("OPEN", "RESPONDED")
               for o in large["data"]["myOrders"]["orders"])
    assert few == many
    public = """query($i: ID!, $f: Int!) { institutionReviews(institutionId: $i, first: $f) {
        ... on ReviewPage { total average reviews { stars reviewer comment } } } }"""
    small, few = _count(world.gql(), public, {"i": str(world.institution.id), "f": 2})
    large, many = _count(world.gql(), public, {"i": str(world.institution.id), "f": 12})
    assert large["data"]["institutionReviews"]["total"] == 12 and few == many


def test_graphql_rates_answers_and_judges_with_typed_errors_R_OPS_04(world):
    order = world.completed()
    customer = world.gql(world.customer)
    rate = """mutation($i: ReviewOrderInput!) { reviewOrder(input: $i) { __typename
        ... on UserError { code field }
        ... on ReviewSuccess { review { stars followUp { id status } } } } }"""
    body = customer(rate, {"i": {"orderId": str(order.id), "stars": 6}})
    assert body["data"]["reviewOrder"] == {"__typename": "InvalidInputError", "code": "INVALID_INPUT",
                                           "field": "stars"}
    body = world.gql(world.other_enterprise)(rate, {"i": {"orderId": str(order.id), "stars": 5}})
    assert body["data"]["reviewOrder"]["__typename"] == "PermissionDeniedError"
    body = customer(rate, {"i": {"orderId": str(order.id), "stars": 1, "comment": "样品丢失"}})
    got = body["data"]["reviewOrder"]["review"]
    assert got["stars"] == 1 and got["followUp"]["status"] == "OPEN"
    again = customer(rate, {"i": {"orderId": str(order.id), "stars": 5}})
    assert again["data"]["reviewOrder"]["code"] == "DUPLICATE"
    fid = got["followUp"]["id"]
    judge = """mutation($id: ID!, $s: Boolean!, $c: String) { judgeFollowUp(followUpId: $id,
        satisfied: $s, comment: $c) { """ + FOLLOW_UP + " } }"
    respond = """mutation($id: ID!, $r: String!) { respondToFollowUp(followUpId: $id, response: $r)
        { """ + FOLLOW_UP + " } }"
    early = customer(judge, {"id": fid, "s": True})["data"]["judgeFollowUp"]
    assert (early["code"], early["field"]) == ("ILLEGAL_TRANSITION", "followUpId")
    stranger = world.gql(world.other_agent)(respond, {"id": fid, "r": "x"})
    assert stranger["data"]["respondToFollowUp"]["__typename"] == "PermissionDeniedError"
    answered = world.gql(world.agent)(respond, {"id": fid, "r": "已找回样品并免费复测"})
    assert answered["data"]["respondToFollowUp"]["followUp"]["status"] == "RESPONDED"
    closed = customer(judge, {"id": fid, "s": False, "c": "复测仍超期"})["data"]["judgeFollowUp"]
    assert closed["followUp"]["status"] == "UNSATISFIED"
    assert closed["followUp"]["verdictComment"] == "复测仍超期"
    mine = customer("""{ followUps(unresolvedOnly: true) { ... on FollowUpPage { total } } }""",
                    csrf=False)
    assert mine["data"]["followUps"]["total"] == 0
    public = world.gql()("""query($i: ID!) { institutionReviews(institutionId: $i) {
        ... on ReviewPage { average reviews { stars reviewer comment } } } }""",
                         {"i": str(world.institution.id)}, csrf=False)
    page = public["data"]["institutionReviews"]
    assert page["average"] == 1.0
    assert page["reviews"] == [{"stars": 1, "reviewer": "佛山市顺德区美达****公司",
                                "comment": "样品丢失"}]
    hidden = world.gql()("""{ institutionReviews(institutionId: "999") { __typename } }""",
                         csrf=False)
    assert hidden["data"]["institutionReviews"]["__typename"] == "NotFoundError"


def test_the_reviewer_is_shown_as_its_masked_enterprise_name_R_G_05():
    assert mask_organisation("佛山市顺德区美达电器有限公司") == "佛山市顺德区美达****公司"
    assert mask_organisation("美达电器有限公司") == "美达****公司"
    assert mask_organisation("美达电器厂") == "美***厂"
    assert mask_organisation("李工") == "李*"
    assert mask_organisation("") == "****"


# ---------------------------------------------------------------- the web pages


def test_rate_respond_and_judge_on_the_web_with_csrf_and_404_for_strangers_R_OPS_04(world):
    order = world.completed(title="电饭锅能效检测")
    customer = web_login(world.app, world.customer)
    assert 'id="review-order"' in customer.get(f"/orders/{order.id}").get_data(as_text=True)
    page = customer.get(f"/orders/{order.id}/review")
    assert page.status_code == 200 and "电饭锅能效检测" in page.get_data(as_text=True)
    url = f"/orders/{order.id}/review"
    assert customer.post(url, data={"stars": "2", "comment": "周期太长"}).status_code == 400  # no CSRF
    token = csrf_token_in(page.get_data(as_text=True))
    refused = customer.post(url, data={"stars": "2", "comment": "", "csrf_token": token})
    assert refused.status_code == 200 and "评1星或2星时须填写评价内容" in refused.get_data(as_text=True)
    done = customer.post(url, data={"stars": "2", "comment": "周期太长", "csrf_token": token})
    follow_up = db.session.scalars(select(FollowUp)).one()
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/follow-ups/{follow_up.id}")
    assert 'id="review-order"' not in customer.get(f"/orders/{order.id}").get_data(as_text=True)
    agent = web_login(world.app, world.agent)
    assert 'id="review-order"' not in agent.get(f"/orders/{order.id}").get_data(as_text=True)
    detail = agent.get(f"/follow-ups/{follow_up.id}").get_data(as_text=True)
    assert "周期太长" in detail and 'id="respond-form"' in detail and 'id="judge-form"' not in detail
    assert agent.post(f"/follow-ups/{follow_up.id}/respond", data={
        "response": "已安排加急", "csrf_token": csrf_token_in(detail)}).status_code == 302
    detail = customer.get(f"/follow-ups/{follow_up.id}").get_data(as_text=True)
    assert "已安排加急" in detail and 'id="judge-form"' in detail
    assert customer.post(f"/follow-ups/{follow_up.id}/judge", data={
        "verdict": "satisfied", "comment": "", "csrf_token": csrf_token_in(detail)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(FollowUp, follow_up.id).status is FollowUpStatus.SATISFIED
    assert "已结束：客户满意" in customer.get("/follow-ups").get_data(as_text=True)
    # Strangers get 404 (audited); the institution's staff may see the order but never rate it.
    stranger = web_login(world.app, world.other_agent)
    assert stranger.get(f"/follow-ups/{follow_up.id}").status_code == 404
    assert stranger.get(f"/orders/{order.id}/review").status_code == 404
    own_token = csrf_token_in(stranger.get("/follow-ups").get_data(as_text=True))  # the logout form's
    assert stranger.post(f"/follow-ups/{follow_up.id}/respond", data={
        "response": "x", "csrf_token": own_token}).status_code == 404
    assert agent.get(f"/orders/{order.id}/review").status_code == 403
    assert len(audit("follow_up.read", "denied")) == 2 and len(audit("order.read", "denied")) == 1
    public = world.app.test_client().get(f"/institutions/{world.institution.id}/reviews")
    html = public.get_data(as_text=True)
    assert public.status_code == 200 and "佛山市顺德区美达****公司" in html and ENTERPRISE not in html
    assert "周期太长" in html
    draft = create_institution(legal_name="草稿机构", uscc=None, admin=world.other_admin)
    assert world.app.test_client().get(f"/institutions/{draft.id}/reviews").status_code == 404


# ---------------------------------------------------------------- review findings


def test_a_reviewer_of_no_enterprise_is_not_shown_by_its_own_name_R_G_05(world):
    """A reviewer belonging to no enterprise is a person: the public reads "某企业", not part of
    its display name (mask_organisation("另一企业 王工") kept "王工")."""
    service.review_order(world.completed(customer=world.other_enterprise), 4, "出报告很快",
                         world.other_enterprise)
    service.review_order(world.completed(), 5, "服务周到", world.customer)
    _total, reviews = service.public_reviews(world.institution.id)
    assert sorted(r.reviewer for r in reviews) == ["佛山市顺德区美达****公司", "某企业"]
    html = world.app.test_client().get(f"/institutions/{world.institution.id}/reviews").get_data(
        as_text=True)
    assert "某企业" in html and "王工" not in html and "另一企业" not in html


def test_out_of_range_ids_and_pages_are_not_found_not_server_errors(world):
    """Past a 32-bit key (or a huge page) nothing reaches SQL: 404, an empty page or NOT_FOUND."""
    follow_up = world.bad()
    huge = "99999999999999999999"
    customer = web_login(world.app, world.customer)
    assert customer.get(f"/follow-ups/{huge}").status_code == 404
    assert world.app.test_client().get(f"/institutions/{huge}/reviews").status_code == 404
    page = customer.get(f"/follow-ups?page={huge}")
    assert page.status_code == 200 and f"/follow-ups/{follow_up.id}" not in page.get_data(as_text=True)
    assert world.app.test_client().get(
        f"/institutions/{world.institution.id}/reviews?page={huge}").status_code == 200
    client = world.gql(world.operator)
    body = client("""query($i: ID!) { followUp(id: $i) { __typename }
        followUps(institutionId: $i) { __typename ... on UserError { field } }
        institutionReviews(institutionId: $i) { __typename } }""", {"i": huge}, csrf=False)
    assert body["data"] == {"followUp": {"__typename": "NotFoundError"},
                            "followUps": {"__typename": "NotFoundError", "field": "institutionId"},
                            "institutionReviews": {"__typename": "NotFoundError"}}


def test_an_operator_records_the_verdict_a_silent_client_gave_by_phone_R_G_08_R_ONB_06(world):
    """A client who never logs in again would keep the follow-up — and the institution's exit —
    open for ever: any operator may record the verdict the client gave by phone or at a window
    (R-G-08), but must say how it was given (the evidence, R-ASM-04); the audit row says it was
    recorded for the client. The institution's own staff never judge, whatever their role."""
    follow_up = world.bad()
    service.respond_to_follow_up(follow_up, "已上门复检并重新出具报告", world.agent)
    assert service.may_judge(world.other_operator, follow_up)
    assert service.records_for_client(world.other_operator, follow_up)
    assert not service.records_for_client(world.customer, follow_up)
    with pytest.raises(InvalidInput) as exc:  # even "satisfied" needs how it was learnt
        service.judge_follow_up(follow_up, True, "", world.other_operator)
    assert problems(exc) == {("REQUIRED", "comment")}
    assert follow_up.status is FollowUpStatus.RESPONDED
    service.judge_follow_up(follow_up, True, "11月20日电话回访何志强，表示对复检结果满意",
                            world.other_operator)
    assert follow_up.status is FollowUpStatus.SATISFIED
    assert follow_up.verdict_by_id == world.other_operator.id
    (row,) = audit("follow_up.judge")
    assert row.actor_id == world.other_operator.id and row.after["recorded_for_client"] is True
    assert service.open_matters_of(world.institution) == []
