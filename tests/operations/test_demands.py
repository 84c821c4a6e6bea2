"""Demands: posting with every problem named (R-G-02), matching by region, keywords and rating
(R-G-02), the institutions' hall without the enterprise's identity (R-G-05), responding, picking
into an order, closing, each step on the timeline and audited (R-G-03), operators acting for an
enterprise (R-G-08), and who sees what (SECURITY.md 9)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select

from core.audit.models import AuditEvent
from core.catalogue.models import ItemStatus, ServiceItem
from core.catalogue.testing import add_item, add_review, hide_homepage, listed_institution
from core.clock import local_today
from core.db import db
from core.demands import access, service
from core.demands.models import Demand, DemandEvent, DemandMatch, DemandResponse, DemandStatus
from core.enterprises.service import create_enterprise
from core.errors import ErrorCode, InvalidInput, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import InstitutionStatus, StaffRole
from core.institutions.service import add_staff
from core.notifications.models import OutboxMessage
from core.orders.models import Order, OrderSource
from core.tasks import jobs
from core.testing import GraphQLClient, csrf_token_in, graphql_login, web_login

CUSTOMER_PHONE = "13631000001"
MASKED_PHONE = "136****0001"
MASKED_NAME = "某企业"  # who has the need, before its pick (R-G-05: a need can be a trade secret)
DEMAND = """__typename ... on UserError { code field message }
  ... on InvalidInputError { problems { code field } }
  ... on DemandSuccess { demand { id status title enterpriseName contactName contactPhone
      identityVisible onBehalf channel budget deadline
      matches { institutionName rank reasons } responses { id institutionName quote picked }
      timeline { action actor note } } }"""
LIST = """__typename ... on UserError { code }
  ... on DemandList { total demands { id title enterpriseName contactPhone
      matches { institutionName rank reasons } responses { institutionName quote }
      timeline { action actor note } } }"""
TITLE = "生产线计量器具年度校准"
DESCRIPTION = "注塑车间在用压力表40只、温度计25支，需在验厂前完成检定校准并出具证书，可上门。"


class World:
    """A Shunde enterprise and metrology institutions at every distance from it."""

    def __init__(self, app: Any, make_user: Any) -> None:
        self.app = app
        self.customer = make_user(Role.ENTERPRISE, name="美达电器 何志强", phone=CUSTOMER_PHONE)
        create_enterprise({"name": "佛山市顺德区美达电器有限公司", "uscc": "91440606MA52K8RX8D",
                           "provinceCode": "440000", "cityCode": "440600", "districtCode": "440606",
                           "contactName": "何志强", "contactPhone": CUSTOMER_PHONE},
                          actor=self.customer)
        self.other_enterprise = make_user(Role.ENTERPRISE, name="另一企业 王工")
        self.operator = make_user(Role.OPERATOR, name="运维中心 黄晓婷")
        self.regulator = make_user(Role.REGULATOR)

        def lab(name: str, city: str, district: str, title: str, **kw: Any) -> Any:
            institution, admin = listed_institution(make_user, name, categories=("metrology",),
                                                    city_code=city, district_code=district, **kw)
            item = add_item(institution, title, category="metrology",
                            fields={"measured_quantities": ["压力"], "uncertainty": "U=0.1%"})
            return institution, admin, item

        self.near, self.near_admin, self.near_item = lab("顺德区计量检测所", "440600", "440606",
                                                         "压力表计量校准")
        self.city, self.city_admin, self.city_item = lab("禅城区计量检测所", "440600", "440604",
                                                         "温度计计量校准")
        self.province, self.province_admin, _ = lab("广州市计量检测所", "440100", "440106",
                                                    "计量器具检定")
        self.far, self.far_admin, self.far_item = lab("北京市计量检测所", "110100", "110105",
                                                      "计量器具检定")
        self.hidden, self.hidden_admin, _ = lab("隐藏的计量所", "440600", "440606", "计量校准")
        hide_homepage(self.hidden)
        self.draft, self.draft_admin, _ = lab("申请中的计量所", "440600", "440606", "计量校准",
                                              status=InstitutionStatus.DRAFT)
        self.tester, self.tester_admin = listed_institution(make_user, "顺德区检测公司",
                                                            district_code="440606")
        add_item(self.tester, "家电安全检测")
        self.near_agent = make_user(Role.INSTITUTION_AGENT, name="顺德计量所 客服")
        add_staff(self.near, self.near_agent, StaffRole.AGENT, actor=self.near_admin)

    def post(self, actor: User | None = None, **kw: Any) -> Demand:
        values: dict[str, Any] = {"category": "metrology", "title": TITLE, "description": DESCRIPTION,
                                  "budget": "6000", "deadline": local_today() + timedelta(days=10)}
        values.update(kw)
        return service.post(actor=actor or self.customer, **values)

    def gql(self, user: User) -> GraphQLClient:
        return graphql_login(self.app, user)


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


def audit(action: str, result: str = "success") -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                            AuditEvent.result == result)))


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def fresh(demand: Demand) -> Demand:
    db.session.expire_all()
    found = db.session.get(Demand, demand.id)
    assert found is not None
    return found


# ---------------------------------------------------------------- posting (R-G-02)


def test_every_wrong_field_is_named_and_nothing_is_posted_R_G_02(world):
    with pytest.raises(InvalidInput) as caught:
        world.post(category="astrology", title=" ", description="需" * 5001, budget="-1",
                   deadline=local_today() - timedelta(days=1), district_code="44060",
                   channel="window")
    fields = {p.field: p.code for p in caught.value.problems}
    assert fields == {"category": ErrorCode.INVALID_INPUT, "title": ErrorCode.REQUIRED,
                      "description": ErrorCode.INVALID_INPUT, "budget": ErrorCode.INVALID_INPUT,
                      "deadline": ErrorCode.INVALID_INPUT, "districtCode": ErrorCode.INVALID_INPUT,
                      "channel": ErrorCode.INVALID_INPUT}
    for bad in ({"budget": "12.345"}, {"budget": "abc"}, {"deadline": None},
                {"deadline": local_today() + timedelta(days=400)}, {"deadline": "明天"},
                {"city_code": "440600", "district_code": "440106"}):
        with pytest.raises(InvalidInput):
            world.post(**bad)
    assert count(Demand) == 0 and count(DemandEvent) == 0
    with pytest.raises(PermissionDenied):  # an institution's staff posts no demand
        world.post(actor=world.near_admin)
    assert len(audit("demand.post", "denied")) == 1
    # Today (China's date) is a valid deadline; the region defaults to the enterprise's.
    demand = world.post(deadline=local_today().isoformat(), budget="0")
    assert (demand.district_code, demand.budget_yuan, demand.channel) == ("440606", Decimal("0.00"),
                                                                          "online")
    assert demand.enterprise_id is not None and not demand.on_behalf


# ---------------------------------------------------------------- matching (R-G-02)


def test_matching_ranks_by_region_then_keywords_and_rating_R_G_02(world, make_user):
    # A second far lab with a better review, and one whose item does not say 计量.
    rated, _a = listed_institution(make_user, "北京市第二计量所", categories=("metrology",),
                                   city_code="110100", district_code="110105")
    add_item(rated, "计量器具检定", category="metrology",
             fields={"measured_quantities": ["压力"], "uncertainty": "U=0.1%"})
    add_review(rated, world.other_enterprise, 5)
    plain, _a = listed_institution(make_user, "北京市长度所", categories=("metrology",),
                                   city_code="110100", district_code="110105")
    add_item(plain, "长度量具检定", category="metrology", description="卡尺、千分尺等长度量具的检定。",
             fields={"measured_quantities": ["长度"], "uncertainty": "U=0.1%"})

    demand = world.post()
    ranked = [m.institution_id for m in demand.matches]
    assert ranked == [world.near.id, world.city.id, world.province.id, rated.id, world.far.id,
                      plain.id]
    assert [m.rank for m in demand.matches] == [1, 2, 3, 4, 5, 6]
    reasons = {m.institution_id: m.reasons for m in demand.matches}
    assert reasons[world.near.id][0] == "同区县（440606）"
    assert reasons[world.city.id][0] == "同地市（440600）"
    assert reasons[world.province.id][0] == "同省份（440000）"
    assert any(r.startswith("关键词匹配：") and "计量" in r for r in reasons[world.far.id])
    assert "用户评分5分（1条评价）" in reasons[rated.id]
    assert not any(r.startswith("关键词匹配") and "计量" in r for r in reasons[plain.id])
    assert {m.service_item_id for m in demand.matches if m.institution_id == world.near.id} == {
        world.near_item.id}
    matched = [e for e in demand.events if e.action == "matched"]
    assert matched[0].detail["count"] == 6 and len(audit("demand.match")) == 1


def test_hidden_applying_and_other_category_institutions_are_never_proposed_R_G_02(world):
    demand = world.post()
    proposed = {m.institution_id for m in demand.matches}
    assert world.hidden.id not in proposed and world.draft.id not in proposed
    assert world.tester.id not in proposed
    # The matched institutions' admins and agents hear of it in the inbox and by SMS, once.
    messages = list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "demand_matched")))
    recipients = {(m.recipient_user_id, m.channel) for m in messages}
    for user in (world.near_admin, world.near_agent, world.far_admin):
        assert {(user.id, "inbox"), (user.id, "sms")} <= recipients
    assert not {m.recipient_user_id for m in messages} & {world.hidden_admin.id, world.draft_admin.id,
                                                          world.tester_admin.id}
    assert all("美达" not in m.body for m in messages)  # R-G-05: the enterprise is not named
    service.propose_matches(demand)  # matching again replaces the rows and queues nothing twice
    db.session.commit()
    assert count(DemandMatch) == len(proposed)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.template == "demand_matched")) == len(messages)


def test_the_match_limit_is_configurable_and_matching_reads_a_fixed_number_of_statements(
        world, app, make_user):
    app.config["DEMAND_MATCH_LIMIT"] = 2
    assert [m.institution_id for m in world.post().matches] == [world.near.id, world.city.id]

    def statements_for_matching() -> list[str]:
        demand = world.post()
        seen: list[str] = []

        def listener(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            if "outbox" not in statement:  # one row per recipient and channel, by design
                seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            service.propose_matches(demand)
            db.session.flush()
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        db.session.rollback()
        return seen

    app.config["DEMAND_MATCH_LIMIT"] = 10
    few = statements_for_matching()
    for n in range(8):
        more, _a = listed_institution(make_user, f"佛山市第{n}计量站", categories=("metrology",))
        add_item(more, "计量校准", category="metrology",
                 fields={"measured_quantities": ["压力"], "uncertainty": "U=0.1%"})
    many = statements_for_matching()
    assert len(few) == len(many), (few, many)


# ---------------------------------------------------------------- the hall (R-G-05)


def test_institution_staff_see_the_hall_without_the_enterprise_until_picked_R_G_05(world):
    """Before the pick: the enterprise's name masked, no contact. After it: the picked
    institution's admin reads the contact in full, its agents masked (the one rule for clients'
    contacts, `sees_client_contact`); other institutions still see neither name nor contact."""
    demand = world.post()
    hall = world.gql(world.near_agent)("query($i: ID!) { demandHall(institutionId: $i) { "
                                       + LIST + " } }", {"i": str(world.near.id)}, csrf=False)
    page = hall["data"]["demandHall"]
    assert page["total"] == 1
    seen = page["demands"][0]
    assert seen["title"] == TITLE and seen["enterpriseName"] == MASKED_NAME
    assert seen["contactPhone"] is None
    assert [m["institutionName"] for m in seen["matches"]] == ["顺德区计量检测所"]  # its own only
    assert all("美达" not in e["actor"] and "何志强" not in e["actor"] for e in seen["timeline"])
    # An unmatched institution serving the category sees it too; one of another category not.
    world.app.config["DEMAND_MATCH_LIMIT"] = 1
    second = world.post(title="温度计校准")
    assert access.can_view(world.far_admin, second) and not access.can_view(world.tester_admin, second)
    assert not access.can_view(world.hidden_admin, second)

    near = service.respond(demand, world.near, actor=world.near_agent, message="可上门校准",
                           quote="4800")
    service.respond(demand, world.city, actor=world.city_admin, message="我所可做", quote="4500")
    service.pick(demand, near.id, actor=world.customer)
    query = "query($id: ID!) { demand(id: $id) { " + DEMAND + " } }"
    picked = world.gql(world.near_admin)(query, {"id": str(demand.id)}, csrf=False)
    got = picked["data"]["demand"]["demand"]
    assert got["identityVisible"] and got["enterpriseName"] == "佛山市顺德区美达电器有限公司"
    assert got["contactPhone"] == CUSTOMER_PHONE and got["contactName"] == "美达电器 何志强"
    agent = world.gql(world.near_agent)(query, {"id": str(demand.id)}, csrf=False)
    got = agent["data"]["demand"]["demand"]
    assert got["identityVisible"] and got["enterpriseName"] == "佛山市顺德区美达电器有限公司"
    assert got["contactPhone"] == MASKED_PHONE  # an agent answers inside the platform
    for user in (world.customer, world.operator):
        seen = world.gql(user)(query, {"id": str(demand.id)}, csrf=False)["data"]["demand"]["demand"]
        assert seen["contactPhone"] == CUSTOMER_PHONE
    other = world.gql(world.city_admin)(query, {"id": str(demand.id)}, csrf=False)
    got = other["data"]["demand"]["demand"]
    assert not got["identityVisible"] and got["enterpriseName"] == MASKED_NAME
    assert got["contactPhone"] is None and got["contactName"] is None
    assert [r["institutionName"] for r in got["responses"]] == ["禅城区计量检测所"]
    assert [e["note"] for e in got["timeline"] if e["action"] == "picked"] == [
        "企业选定了其他机构的响应。"]
    mine = world.gql(world.customer)(query, {"id": str(demand.id)}, csrf=False)
    assert len(mine["data"]["demand"]["demand"]["responses"]) == 2


def test_a_stranger_is_refused_and_audited_SECURITY_9(world):
    demand = world.post()
    query = "query($id: ID!) { demand(id: $id) { " + DEMAND + " } }"
    for user in (world.other_enterprise, world.regulator, world.tester_admin, world.hidden_admin):
        body = world.gql(user)(query, {"id": str(demand.id)}, csrf=False)
        assert body["data"]["demand"]["code"] == "PERMISSION_DENIED"
    assert len(audit("demand.read", "denied")) == 4
    missing = world.gql(world.other_enterprise)(query, {"id": "999999"}, csrf=False)
    assert missing["data"]["demand"]["__typename"] == "NotFoundError"
    hall = world.gql(world.other_enterprise)("query($i: ID!) { demandHall(institutionId: $i) { "
                                             + LIST + " } }", {"i": str(world.near.id)}, csrf=False)
    assert hall["data"]["demandHall"]["code"] == "PERMISSION_DENIED"
    assert len(audit("demand.hall", "denied")) == 1
    with pytest.raises(PermissionDenied):
        service.close(demand, actor=world.other_enterprise, reason="x")
    with pytest.raises(PermissionDenied):  # the hidden institution cannot respond either
        service.respond(demand, world.hidden, actor=world.hidden_admin, message="我们也能做")
    assert fresh(demand).status is DemandStatus.OPEN and count(DemandResponse) == 0


# ---------------------------------------------------------------- responding


def test_an_institution_responds_once_while_the_demand_is_open_R_G_03(world):
    demand = world.post()
    body = world.gql(world.near_agent)(
        "mutation($i: RespondToDemandInput!) { respondToDemand(input: $i) { " + DEMAND + " } }",
        {"i": {"demandId": str(demand.id), "institutionId": str(world.near.id),
               "message": "我所可上门校准，3个工作日完成。", "serviceItemId": str(world.near_item.id),
               "quote": "4800.50"}})
    got = body["data"]["respondToDemand"]["demand"]
    assert got["responses"] == [{"id": got["responses"][0]["id"], "institutionName": "顺德区计量检测所",
                                 "quote": "4800.50", "picked": False}]
    customer_messages = db.session.scalars(select(OutboxMessage.channel).where(
        OutboxMessage.template == "demand_response_received",
        OutboxMessage.recipient_user_id == world.customer.id)).all()
    assert sorted(customer_messages) == ["inbox", "sms"]
    with pytest.raises(InvalidInput) as again:  # a colleague cannot answer a second time
        service.respond(demand, world.near, actor=world.near_admin, message="再报一次价")
    assert again.value.problems[0].code is ErrorCode.DUPLICATE
    with pytest.raises(InvalidInput) as wrong:  # another institution's item, a bad quote
        service.respond(demand, world.city, actor=world.city_admin, message="可做",
                        service_item_id=world.near_item.id, quote="1.001")
    assert {p.field for p in wrong.value.problems} == {"serviceItemId", "quote"}
    response = db.session.scalars(select(DemandResponse)).one()
    service.withdraw_response(response, actor=world.near_admin)
    with pytest.raises(InvalidInput):  # withdrawn is final: still one response per institution
        service.respond(demand, world.near, actor=world.near_admin, message="重新报价")
    with pytest.raises(PermissionDenied):  # only its own institution's staff withdraw
        service.withdraw_response(response, actor=world.city_admin)
    # Past the deadline nobody responds, matched or not.
    demand = fresh(demand)
    demand.deadline = local_today() - timedelta(days=1)
    db.session.commit()
    with pytest.raises(InvalidInput) as late:
        service.respond(demand, world.city, actor=world.city_admin, message="可做")
    assert late.value.problems[0].code is ErrorCode.ILLEGAL_TRANSITION
    assert [e.action for e in fresh(demand).events] == ["posted", "matched", "responded", "withdrawn"]
    assert len(audit("demand.respond")) == 1 and len(audit("demand.withdraw_response")) == 1


# ---------------------------------------------------------------- picking and closing


def test_picking_places_a_demand_order_with_the_quote_R_G_02_R_G_03(world):
    demand = world.post()
    near = service.respond(demand, world.near, actor=world.near_agent, message="可上门",
                           service_item_id=world.near_item.id, quote="4800")
    service.respond(demand, world.city, actor=world.city_admin, message="可做", quote="5200")
    body = world.gql(world.customer)(
        "mutation($d: ID!, $r: ID!) { pickDemandResponse(demandId: $d, responseId: $r) { "
        "__typename ... on DemandPicked { demand { status responses { id picked } } "
        "order { id source demandId amount serviceItemId title } } } }",
        {"d": str(demand.id), "r": str(near.id)})
    got = body["data"]["pickDemandResponse"]
    assert got["demand"]["status"] == "PICKED"
    assert {r["id"]: r["picked"] for r in got["demand"]["responses"]}[str(near.id)] is True
    assert got["order"] == {"id": got["order"]["id"], "source": "DEMAND", "demandId": str(demand.id),
                            "amount": "4800.00", "serviceItemId": str(world.near_item.id),
                            "title": TITLE}
    demand = fresh(demand)
    assert demand.picked_response_id == near.id and demand.picked_at is not None
    order = db.session.scalars(select(Order)).one()
    assert (order.institution_id, order.enterprise_user_id, order.source) == (
        world.near.id, world.customer.id, OrderSource.DEMAND)
    assert [e.action for e in demand.events] == ["posted", "matched", "responded", "responded",
                                                 "picked"]
    assert len(audit("demand.pick")) == 1 and len(audit("order.place")) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.template == "demand_picked",
        OutboxMessage.recipient_user_id == world.near_agent.id)) == 2


def test_a_second_pick_or_a_pick_after_closing_changes_nothing_R_G_03(world):
    demand = world.post()
    near = service.respond(demand, world.near, actor=world.near_agent, message="可上门", quote="4800")
    city = service.respond(demand, world.city, actor=world.city_admin, message="可做", quote="5200")
    service.pick(demand, near.id, actor=world.customer)
    with pytest.raises(InvalidInput) as twice:
        service.pick(fresh(demand), city.id, actor=world.customer)
    assert twice.value.problems[0].code is ErrorCode.ILLEGAL_TRANSITION
    with pytest.raises(InvalidInput):
        service.close(fresh(demand), actor=world.customer, reason="不需要了")
    assert fresh(demand).picked_response_id == near.id and count(Order) == 1

    closed = world.post(title="温度计校准")
    response = service.respond(closed, world.near, actor=world.near_admin, message="可做")
    with pytest.raises(InvalidInput) as no_reason:
        service.close(closed, actor=world.customer, reason=" ")
    assert no_reason.value.problems[0].field == "reason"
    service.close(closed, actor=world.customer, reason="已在线下找到服务机构")
    with pytest.raises(InvalidInput):
        service.pick(fresh(closed), response.id, actor=world.customer)
    closed = fresh(closed)
    assert closed.status is DemandStatus.CLOSED and closed.picked_response_id is None
    assert count(Order) == 1 and len(audit("demand.close")) == 1

    # Placing the order fails (the offered item was withdrawn meanwhile): the demand stays open.
    failing = world.post(title="压力表校准")
    offer = service.respond(failing, world.far, actor=world.far_admin, message="可做",
                            service_item_id=world.far_item.id, quote="3000")
    item = db.session.get(ServiceItem, world.far_item.id)
    item.status = ItemStatus.WITHDRAWN
    db.session.commit()
    with pytest.raises(InvalidInput) as failed:
        service.pick(fresh(failing), offer.id, actor=world.customer)
    assert failed.value.problems[0].field == "serviceItemId"
    failing = fresh(failing)
    assert failing.status is DemandStatus.OPEN and failing.picked_response_id is None
    assert "picked" not in [e.action for e in failing.events]
    assert count(Order) == 1 and len(audit("demand.pick")) == 1


def test_an_operator_posts_and_picks_for_an_enterprise_R_G_08(world, make_user):
    client = world.gql(world.operator)
    mutation = "mutation($i: PostDemandInput!) { postDemand(input: $i) { " + DEMAND + " } }"
    values = {"categoryCode": "metrology", "title": "电话受理：压力表校准", "description": DESCRIPTION,
              "deadline": (local_today() + timedelta(days=5)).isoformat(), "channel": "phone"}
    missing = client(mutation, {"i": values})
    assert missing["data"]["postDemand"]["problems"] == [{"code": "REQUIRED",
                                                          "field": "enterpriseUserId"}]
    body = client(mutation, {"i": {**values, "enterpriseUserId": str(world.customer.id)}})
    got = body["data"]["postDemand"]["demand"]
    assert got["onBehalf"] is True and got["channel"] == "phone"
    assert got["enterpriseName"] == "佛山市顺德区美达电器有限公司"
    demand = db.session.get(Demand, int(got["id"]))
    assert (demand.enterprise_user_id, demand.filed_by_id) == (world.customer.id, world.operator.id)
    assert audit("demand.post")[0].actor_id == world.operator.id
    mine = world.gql(world.customer)("{ myDemands { " + LIST + " } }", csrf=False)
    assert [d["id"] for d in mine["data"]["myDemands"]["demands"]] == [got["id"]]

    response = service.respond(demand, world.near, actor=world.near_agent, message="可做",
                               quote="800")
    another_operator = make_user(Role.OPERATOR)
    assert access.can_view(another_operator, demand)  # every operator sees it …
    with pytest.raises(PermissionDenied):  # … only the one who filed it acts for the enterprise
        service.pick(demand, response.id, actor=another_operator)
    _demand, order = service.pick(fresh(demand), response.id, actor=world.operator)
    assert order.on_behalf and order.placed_by_id == world.operator.id
    assert order.enterprise_user_id == world.customer.id and order.source is OrderSource.DEMAND


def test_the_deadline_job_closes_expired_demands_once(world):
    expired = world.post(title="过期的需求")
    current = world.post(title="还在征集的需求")
    picked = world.post(title="已选定的需求")
    response = service.respond(picked, world.near, actor=world.near_admin, message="可做")
    service.pick(picked, response.id, actor=world.customer)
    for demand in (fresh(expired), fresh(picked)):
        demand.deadline = local_today() - timedelta(days=1)
    db.session.commit()
    assert jobs.close_expired_demands() == {"closed": [expired.id]}
    assert jobs.close_expired_demands() == {}
    expired, current, picked = fresh(expired), fresh(current), fresh(picked)
    assert expired.status is DemandStatus.CLOSED and expired.closed_at is not None
    assert expired.events[-1].action == "closed" and expired.events[-1].detail["by"] == "deadline"
    assert current.status is DemandStatus.OPEN and picked.status is DemandStatus.PICKED
    assert len(audit("demand.expire")) == 1


# ---------------------------------------------------------------- the web pages


def test_the_web_pages_post_respond_pick_and_hide_R_G_02_R_G_05(world):
    customer = web_login(world.app, world.customer)
    page = customer.get("/demands/new")
    assert page.status_code == 200
    form = {"category": "metrology", "title": TITLE, "description": DESCRIPTION, "budget": "6000",
            "deadline": (local_today() + timedelta(days=7)).isoformat()}
    assert customer.post("/demands/new", data=form).status_code == 400  # no CSRF token
    bad = customer.post("/demands/new", data={**form, "budget": "-5",
                                              "csrf_token": csrf_token_in(page.get_data(as_text=True))})
    assert bad.status_code == 200 and 'id="budget-error"' in bad.get_data(as_text=True)
    response = customer.post("/demands/new", data={**form,
                                                   "csrf_token": csrf_token_in(page.get_data(as_text=True))})
    assert response.status_code == 302
    demand = db.session.scalars(select(Demand)).one()
    detail = customer.get(f"/demands/{demand.id}").get_data(as_text=True)
    assert "顺德区计量检测所" in detail and "同区县（440606）" in detail

    agent = web_login(world.app, world.near_agent)
    hall = agent.get("/demands").get_data(as_text=True)
    assert TITLE in hall and MASKED_NAME in hall and "美达" not in hall
    detail = agent.get(f"/demands/{demand.id}").get_data(as_text=True)
    assert "美达电器有限公司" not in detail and "何志强" not in detail
    assert CUSTOMER_PHONE not in detail and 'id="respond-form"' in detail
    assert agent.post(f"/demands/{demand.id}/respond", data={
        "institution_id": str(world.near.id), "message": "可上门校准", "quote": "4800",
        "service_item_id": str(world.near_item.id), "csrf_token": csrf_token_in(detail)}).status_code == 302
    assert agent.get("/demands/new").status_code == 403

    detail = customer.get(f"/demands/{demand.id}").get_data(as_text=True)
    response_id = db.session.scalars(select(DemandResponse.id)).one()
    assert f'id="pick-{response_id}"' in detail
    assert customer.post(f"/demands/{demand.id}/pick/{response_id}",
                         data={"csrf_token": csrf_token_in(detail)}).status_code == 302
    assert fresh(demand).status is DemandStatus.PICKED and count(Order) == 1
    detail = agent.get(f"/demands/{demand.id}").get_data(as_text=True)
    assert "佛山市顺德区美达电器有限公司" in detail  # picked: the enterprise is shown,
    assert MASKED_PHONE in detail and CUSTOMER_PHONE not in detail  # its phone masked for an agent
    detail = web_login(world.app, world.near_admin).get(f"/demands/{demand.id}").get_data(as_text=True)
    assert CUSTOMER_PHONE in detail  # and in full for the admin (R-G-05)

    stranger = web_login(world.app, world.other_enterprise)
    assert stranger.get(f"/demands/{demand.id}").status_code == 404
    token = csrf_token_in(stranger.get("/demands").get_data(as_text=True))
    assert stranger.post(f"/demands/{demand.id}/pick/{response_id}",
                         data={"csrf_token": token}).status_code == 404
    assert len(audit("demand.read", "denied")) == 2


def test_an_operator_files_a_demand_on_the_web_and_the_enterprise_closes_it_R_G_08(world):
    operator = web_login(world.app, world.operator)
    page = operator.get("/demands/new").get_data(as_text=True)
    assert 'id="enterprise_phone"' in page
    response = operator.post("/demands/new", data={  # typed with spaces, as orders accept it
        "enterprise_phone": "136 3100 0001", "channel": "window", "category": "metrology",
        "title": "窗口受理：温度计校准", "description": DESCRIPTION,
        "deadline": (local_today() + timedelta(days=3)).isoformat(), "csrf_token": csrf_token_in(page)})
    assert response.status_code == 302
    demand = db.session.scalars(select(Demand)).one()
    assert demand.on_behalf and demand.channel == "window"
    customer = web_login(world.app, world.customer)
    detail = customer.get(f"/demands/{demand.id}").get_data(as_text=True)
    assert customer.post(f"/demands/{demand.id}/close", data={
        "reason": "", "csrf_token": csrf_token_in(detail)}).status_code == 200  # the reason is required
    assert customer.post(f"/demands/{demand.id}/close", data={
        "reason": "已找到服务机构", "csrf_token": csrf_token_in(detail)}).status_code == 302
    assert fresh(demand).status is DemandStatus.CLOSED
    assert "窗口受理" in operator.get("/demands").get_data(as_text=True)


# ---------------------------------------------------------------- statement counts


def _count_statements(client: GraphQLClient, query: str, variables: dict[str, Any]) -> tuple[Any, int]:
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


def test_graphql_lists_read_a_fixed_number_of_statements(world):
    for n in range(12):
        demand = world.post(title=f"第{n}批计量器具校准")
        service.respond(demand, world.near, actor=world.near_agent, message="可做", quote="100")
    mine = world.gql(world.customer)
    query = "query($f: Int!) { myDemands(first: $f) { " + LIST + " } }"
    small, few = _count_statements(mine, query, {"f": 2})
    large, many = _count_statements(mine, query, {"f": 10})
    assert len(small["data"]["myDemands"]["demands"]) == 2
    assert len(large["data"]["myDemands"]["demands"]) == 10
    assert large["data"]["myDemands"]["total"] == 12 and few == many
    staff = world.gql(world.near_agent)
    query = "query($i: ID!, $f: Int!) { demandHall(institutionId: $i, first: $f) { " + LIST + " } }"
    small, few = _count_statements(staff, query, {"i": str(world.near.id), "f": 2})
    large, many = _count_statements(staff, query, {"i": str(world.near.id), "f": 10})
    assert len(large["data"]["demandHall"]["demands"]) == 10 and few == many
    too_many = staff(query, {"i": str(world.near.id), "f": 101}, csrf=False)
    assert too_many["data"]["demandHall"]["code"] == "INVALID_INPUT"


def test_two_picks_at_once_place_one_order_R_G_03(world, app, postgres_url):
    """PostgreSQL: the demand row is locked, so the second pick sees it picked."""
    demand = world.post()
    responses = [service.respond(demand, institution, actor=admin, message="可做", quote="100")
                 for institution, admin in ((world.near, world.near_admin),
                                            (world.city, world.city_admin))]
    results: list[str] = []
    barrier = threading.Barrier(2)

    def pick(response_id: int) -> None:
        with app.app_context():
            customer = db.session.get(User, world.customer.id)
            found = db.session.get(Demand, demand.id)
            barrier.wait()
            try:
                service.pick(found, response_id, actor=customer)
                results.append("ok")
            except InvalidInput as exc:
                results.append(str(exc.code))

    threads = [threading.Thread(target=pick, args=(r.id,)) for r in responses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["ILLEGAL_TRANSITION", "ok"]
    assert count(Order) == 1 and len(audit("demand.pick")) == 1
    demand = fresh(demand)
    order = db.session.scalars(select(Order)).one()
    picked = db.session.get(DemandResponse, demand.picked_response_id)
    assert demand.status is DemandStatus.PICKED and order.demand_id == demand.id
    assert order.institution_id == picked.institution_id


def test_odd_ids_are_not_found_not_server_errors(world):
    demand = world.post()
    client = world.gql(world.customer)
    for bad in ("99999999999999999999", "-1", "abc"):
        body = client("query($id: ID!) { demand(id: $id) { __typename } }", {"id": bad}, csrf=False)
        assert body["data"]["demand"]["__typename"] == "NotFoundError"
        picked = client("mutation($d: ID!, $r: ID!) { pickDemandResponse(demandId: $d, "
                        "responseId: $r) { __typename ... on UserError { field } } }",
                        {"d": str(demand.id), "r": bad})
        assert picked["data"]["pickDemandResponse"] == {"__typename": "NotFoundError",
                                                        "field": "responseId"}


def test_the_demo_posts_a_demand_the_lab_answers_R_G_02(app):
    from core.demo import load_demo

    lines = load_demo()
    assert any("demand #" in line for line in lines)
    demand = db.session.scalars(select(Demand)).one()
    assert demand.enterprise_id is not None and demand.deadline > local_today()
    lab = [m for m in demand.matches if m.rank == 1]
    assert lab and any("关键词匹配" in r for r in lab[0].reasons)
    response = db.session.scalars(select(DemandResponse)).one()
    assert response.institution_id == lab[0].institution_id and response.quote_yuan == Decimal("4800.00")


# ---------------------------------------------------------------- review findings


def test_out_of_range_numbers_and_reserved_pager_arguments_are_no_server_errors(world, monkeypatch):
    """A page past a 32-bit number is an empty page (it reached SQL's OFFSET and failed on
    PostgreSQL); a GraphQL id past it is NOT_FOUND; the pager passes on only the list's own
    parameters (`_method`, `_scheme` used to make url_for fail)."""
    import core.demands.views as views

    for n in range(3):
        world.post(title=f"{TITLE}{n}")
    huge = "99999999999999999999"
    agent = web_login(world.app, world.near_agent)
    assert agent.get(f"/demands?institution={huge}").status_code == 404
    assert audit("demand.access_denied", "denied")
    assert agent.get(f"/demands?page={huge}").status_code == 200
    body = world.gql(world.near_agent)("query($i: ID!) { demandHall(institutionId: $i) { "
                                       "__typename } }", {"i": huge}, csrf=False)
    assert body["data"]["demandHall"]["__typename"] == "NotFoundError"
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    response = agent.get(f"/demands?institution={world.near.id}&_method=DELETE&_external=&_scheme=x")
    assert response.status_code == 200
    assert (f'href="/demands?institution={world.near.id}&amp;page=2" id="page-next"'
            in response.get_data(as_text=True))
