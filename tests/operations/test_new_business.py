"""An institution whose homepage is hidden takes no new business — no new consultation, order,
demand response or pick — while what it already has goes on (R-OPS-05, R-OPS-06, R-ONB-07;
the one rule: `core.institutions.intake`). Not live: "no such institution", as before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.catalogue.testing import add_item, hide_homepage, listed_institution
from core.clock import local_today
from core.consultations import service as consultations
from core.consultations.models import Consultation
from core.db import db
from core.demands import service as demands
from core.demands.models import DemandStatus
from core.errors import ErrorCode, InvalidInput, NotFound
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus, StaffRole
from core.institutions.service import add_staff
from core.onboarding import exit as exits
from core.onboarding.models import RemovalReason
from core.orders import service as orders
from core.orders.models import Order, OrderStatus
from core.testing import TEST_PASSWORD, GraphQLClient, web_login
from core.testing import csrf_token_in as csrf

REFUSED = "该机构目前暂不在平台受理新的咨询、订单或预约。"
ASK = """mutation($i: AskConsultationInput!) { askConsultation(input: $i) { __typename
  ... on UserError { code field } } }"""
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { __typename
  ... on UserError { code field } } }"""


class World:
    """A Foshan lab with an open consultation and an order from a client, before any hiding."""

    def __init__(self, app: Any, make_user: Any) -> None:
        self.app = app
        self.lab, self.admin = listed_institution(make_user, "佛山市禅城区陶瓷检测有限公司")
        self.agent = make_user(Role.INSTITUTION_AGENT, name="陶瓷检测 客服 梁敏")
        add_staff(self.lab, self.agent, StaffRole.AGENT, actor=self.admin)
        self.item = add_item(self.lab, "建筑陶瓷砖吸水率检测")
        self.client = make_user(Role.ENTERPRISE, name="佛山市南海区华辉陶瓷 陈志明",
                                phone="13631000021")
        self.operator = make_user(Role.OPERATOR, name="运维中心 黄晓婷")
        self.regulator = make_user(Role.REGULATOR, name="市场监管局 林科长")
        self.consultation = consultations.ask(self.lab, subject="瓷砖吸水率检测周期",
                                              body="请问出报告需要几天？", actor=self.client)
        self.order = orders.place(self.lab, title="抛釉砖检测", amount="1200", actor=self.client)

    def counts(self) -> tuple[int, int]:
        return (db.session.scalar(select(func.count(Consultation.id))) or 0,
                db.session.scalar(select(func.count(Order.id))) or 0)

    def web(self, user: User) -> FlaskClient:
        return web_login(self.app, user)

    def gql(self, user: User) -> GraphQLClient:
        client = GraphQLClient(self.app.test_client())
        body = client("mutation($i: LoginInput!) { login(input: $i) { __typename } }",
                      {"i": {"identifier": user.email, "password": TEST_PASSWORD}})
        assert body["data"]["login"]["__typename"] == "LoginSuccess"
        return client


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)




def refused_code(call: Any) -> tuple[ErrorCode, str | None]:
    with pytest.raises(InvalidInput) as refused:
        call()
    return refused.value.code, refused.value.field


def new_business(world: World, institution: Institution) -> dict[str, Any]:
    """Every way to start new business with `institution` (the world's client, or an operator
    for it), each a call that raises or returns the new object."""
    consultation_id = world.consultation.id if institution.id == world.lab.id else None
    return {
        "ask": lambda: consultations.ask(institution, subject="釉面砖耐磨性", body="能做吗？",
                                         actor=world.client),
        "ask for the client": lambda: consultations.ask(
            institution, subject="釉面砖耐磨性", body="代企业咨询", actor=world.operator,
            enterprise_user=world.client),
        "order": lambda: orders.place(institution, title="耐磨性检测", actor=world.client),
        "order an item": lambda: orders.place(institution, title="吸水率检测", actor=world.client,
                                              service_item_id=world.item.id),
        "order from the existing consultation": lambda: orders.place(
            institution, title="吸水率检测", actor=world.client, consultation_id=consultation_id),
        "order for the client": lambda: orders.place(
            institution, title="吸水率检测", actor=world.operator, enterprise_user=world.client),
    }


def test_a_hidden_institution_takes_no_new_consultation_or_order_R_OPS_05(world):
    before = world.counts()
    hide_homepage(world.lab, "no_item")
    for name, call in new_business(world, world.lab).items():
        assert refused_code(call) == (ErrorCode.NOT_TAKING_REQUESTS, "institutionId"), name
    assert world.counts() == before  # nothing half-made
    # Once it rectifies (the homepage shown again) it takes new business again.
    world.lab.homepage_hidden_at = world.lab.homepage_hidden_reason = None
    db.session.commit()
    assert consultations.ask(world.lab, subject="再次咨询", body="现在可以了吗？", actor=world.client)
    assert orders.place(world.lab, title="耐磨性检测", actor=world.client).status is OrderStatus.PLACED


def test_what_it_already_has_goes_on_while_hidden_R_OPS_05_R_ONB_07(world):
    hide_homepage(world.lab, "no_agent")
    consultations.reply(world.consultation, body="一般5个工作日出具报告。", actor=world.agent)
    consultations.reply(world.consultation, body="好的，谢谢。", actor=world.client)
    for step in ("accept", "start", "deliver"):
        orders.advance(world.order, step, actor=world.admin)
    orders.advance(world.order, "complete", actor=world.client)
    db.session.expire_all()
    consultation = db.session.get(Consultation, world.consultation.id)
    assert consultation.first_response_at is not None and len(consultation.messages) == 3
    assert db.session.get(Order, world.order.id).status is OrderStatus.COMPLETED


def test_under_a_removal_notice_it_finishes_its_legacy_matters_but_takes_nothing_new_R_OPS_06(world):
    """The regulator's notice closes the homepage at once; the legacy period is for finishing
    what exists (R-ONB-07), not for new business."""
    exits.issue_removal_notice(world.lab, reason=RemovalReason.SERIOUS_COMPLAINT,
                               details="投诉查实：伪造检测数据。", actor=world.regulator)
    db.session.expire_all()
    lab = db.session.get(Institution, world.lab.id)
    assert lab.is_live and not lab.is_public and lab.homepage_hidden_reason == "removal_notice"
    for name, call in new_business(world, lab).items():
        assert refused_code(call) == (ErrorCode.NOT_TAKING_REQUESTS, "institutionId"), name
    consultations.reply(world.consultation, body="报告已于昨日寄出。", actor=world.admin)
    orders.advance(world.order, "accept", actor=world.admin)
    assert db.session.get(Order, world.order.id).status is OrderStatus.ACCEPTED


def test_one_not_live_is_still_no_such_institution(world, make_user):
    applying, _admin = listed_institution(make_user, "佛山市三水区申请中检测站",
                                          status=InstitutionStatus.DRAFT)
    for name, call in new_business(world, applying).items():
        if "existing consultation" in name:
            continue  # its consultation is the lab's
        with pytest.raises(NotFound) as refused:
            call()
        assert refused.value.field == "institutionId", name


def test_graphql_says_why_with_a_stable_code_R_OPS_05(world, make_user):
    hide_homepage(world.lab)
    applying, _admin = listed_institution(make_user, "佛山市三水区申请中检测站",
                                          status=InstitutionStatus.DRAFT)
    client = world.gql(world.client)
    for institution, expected in ((world.lab, {"__typename": "InvalidInputError",
                                               "code": "NOT_TAKING_REQUESTS", "field": "institutionId"}),
                                  (applying, {"__typename": "NotFoundError", "code": "NOT_FOUND",
                                              "field": "institutionId"})):
        asked = client(ASK, {"i": {"institutionId": str(institution.id), "subject": "能否检测",
                                   "body": "釉面砖耐磨性"}})
        placed = client(PLACE, {"i": {"institutionId": str(institution.id), "title": "耐磨性检测"}})
        assert asked["data"]["askConsultation"] == expected
        assert placed["data"]["placeOrder"] == expected


def test_the_ask_and_order_pages_say_it_takes_no_new_requests_R_OPS_05(world, make_user):
    hide_homepage(world.lab)
    before = world.counts()
    client = world.web(world.client)
    token = csrf(client.get("/orders").get_data(as_text=True))
    for path in (f"/institutions/{world.lab.id}/consult", f"/institutions/{world.lab.id}/order",
                 f"/institutions/{world.lab.id}/order?consultation={world.consultation.id}"):
        page = client.get(path)
        assert page.status_code == 409 and REFUSED in page.get_data(as_text=True), path
        assert 'id="title"' not in page.get_data(as_text=True)  # no form to fill in vain
        posted = client.post(path, data={"subject": "能否检测", "body": "釉面砖", "title": "检测",
                                         "csrf_token": token})
        assert posted.status_code == 409 and REFUSED in posted.get_data(as_text=True), path
    assert world.counts() == before
    applying, _admin = listed_institution(make_user, "佛山市三水区申请中检测站",
                                          status=InstitutionStatus.DRAFT)
    for path in (f"/institutions/{applying.id}/consult", f"/institutions/{applying.id}/order"):
        assert client.get(path).status_code == 404
    # The existing thread and order still open and take a reply.
    thread = client.get(f"/consultations/{world.consultation.id}")
    assert thread.status_code == 200
    assert client.get(f"/orders/{world.order.id}").status_code == 200


def test_no_new_demand_response_or_pick_once_hidden_R_OPS_05(world, make_user):
    """Matched while public, then hidden: it cannot respond; a response it gave before cannot
    be picked — the demand stays open for another institution."""
    other, other_admin = listed_institution(make_user, "佛山市南海区建材检测中心")
    add_item(other, "陶瓷砖检测")
    demand = demands.post(actor=world.client, category="testing", title="抛釉砖批量检测",
                          description="新品抛釉砖200箱，需检测吸水率与耐磨性，出具CMA报告。",
                          province_code="440000", city_code="440600", district_code="440604",
                          budget="5000", deadline=local_today() + timedelta(days=10))
    assert world.lab.id in {m.institution_id for m in demand.matches}
    answer = demands.respond(demand, world.lab, actor=world.agent, message="可做", quote="4800")
    second = demands.post(actor=world.client, category="testing", title="仿古砖检测",
                          description="仿古砖50箱，检测防滑性能。", province_code="440000",
                          city_code="440600", district_code="440604",
                          deadline=local_today() + timedelta(days=10))
    assert world.lab.id in {m.institution_id for m in second.matches}  # so it still sees it
    hide_homepage(world.lab)
    assert refused_code(lambda: demands.respond(second, world.lab, actor=world.admin, message="可做")) == (
        ErrorCode.NOT_TAKING_REQUESTS, "institutionId")
    _before, orders_before = world.counts()
    assert refused_code(lambda: demands.pick(demand, answer.id, actor=world.client)) == (
        ErrorCode.NOT_TAKING_REQUESTS, "responseId")
    db.session.expire_all()
    assert demand.status is DemandStatus.OPEN and demand.picked_response_id is None
    assert world.counts()[1] == orders_before
    theirs = demands.respond(demand, other, actor=other_admin, message="我们可做", quote="4500")
    picked, order = demands.pick(demand, theirs.id, actor=world.client)
    assert picked.status is DemandStatus.PICKED and order.institution_id == other.id
