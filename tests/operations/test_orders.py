"""Orders: the timeline seen and audited on both sides (R-G-03), operators placing for an
enterprise (R-G-08), effective orders for the quota (R-ASM-03), open orders blocking exit
(R-ONB-06) and who sees what (SECURITY.md 9)."""

from __future__ import annotations

import io
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "onboarding"))
from factory import eligible_institution

from core.audit.models import AuditEvent
from core.consultations import service as consultations
from core.db import db
from core.demo import sample_pdf
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role, User
from core.identity.service import set_roles
from core.institutions.models import InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.onboarding import exit as exits
from core.onboarding import workflow
from core.orders import service
from core.orders.models import Order, OrderStatus
from core.testing import GraphQLClient, graphql_login

SH = ZoneInfo("Asia/Shanghai")
AGENT_PHONE = "13922000100"  # the factory's first agent
ORDER = """__typename ... on UserError { code message }
  ... on OrderSuccess { order { id status amount onBehalf customerName
      timeline { action fromStatus toStatus actorName reason } } }"""


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
        self.agent = db.session.scalar(select(User).where(User.phone == AGENT_PHONE))
        self.customer = make_user(Role.ENTERPRISE, name="佛山市美的配件厂 李工")
        self.other_enterprise = make_user(Role.ENTERPRISE, name="另一企业 王工")
        self.other_admin = make_user(Role.INSTITUTION_ADMIN, name="另一机构管理员")
        self.other = create_institution(legal_name="佛山市南海区计量检测有限公司", uscc=None,
                                        admin=self.other_admin, status=InstitutionStatus.LIVE)
        self.other_agent = make_user(Role.INSTITUTION_AGENT, name="另一机构客服")
        add_staff(self.other, self.other_agent, StaffRole.AGENT, actor=self.other_admin)

    def place(self, customer: User | None = None, **kw: Any) -> Order:
        return service.place(self.institution, title="GB 4706.1 家电安全检测", amount="3800.00",
                             actor=customer or self.customer, **kw)

    def complete(self, order: Order, at: datetime, customer: User | None = None) -> Order:
        for action in ("accept", "start", "deliver"):
            service.advance(order, action, actor=self.agent, now=at)
        return service.advance(order, "complete", actor=customer or self.customer, now=at)

    def gql(self, user: User) -> GraphQLClient:
        return graphql_login(self.app, user)


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


def audit(action: str, result: str = "success") -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                            AuditEvent.result == result)))


# ---------------------------------------------------------------- R-G-03


def test_each_step_is_timestamped_audited_and_on_both_sides_timeline_R_G_03(world):
    order = world.place()
    world.complete(order, sh(2026, 3, 16, 10, 0))
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.status is OrderStatus.COMPLETED
    assert all([order.placed_at, order.accepted_at, order.started_at, order.delivered_at,
                order.completed_at])
    assert [e.action for e in order.events] == ["place", "accept", "start", "deliver", "complete"]
    for action in ("place", "accept", "start", "deliver", "complete"):
        assert len(audit(f"order.{action}")) == 1
    query = "query($id: ID!) { order(id: $id) { " + ORDER + " } }"
    for user in (world.customer, world.agent, world.admin, world.operator):
        body = world.gql(user)(query, {"id": str(order.id)}, csrf=False)
        got = body["data"]["order"]["order"]
        assert got["status"] == "COMPLETED" and got["amount"] == "3800.00"
        assert [(e["fromStatus"], e["toStatus"]) for e in got["timeline"]] == [
            (None, "PLACED"), ("PLACED", "ACCEPTED"), ("ACCEPTED", "IN_PROGRESS"),
            ("IN_PROGRESS", "DELIVERED"), ("DELIVERED", "COMPLETED")]


def test_the_state_table_decides_who_moves_the_order_and_when_R_G_03(world):
    order = world.place()
    with pytest.raises(PermissionDenied):  # the enterprise does not accept its own order
        service.advance(order, "accept", actor=world.customer)
    with pytest.raises(InvalidInput):  # not delivered yet
        service.advance(order, "complete", actor=world.customer)
    service.advance(order, "accept", actor=world.agent)
    with pytest.raises(InvalidInput):  # a cancellation needs its reason
        service.advance(order, "cancel", actor=world.customer)
    service.advance(order, "cancel", actor=world.customer, reason="项目取消")
    assert order.status is OrderStatus.CANCELLED and order.cancel_reason == "项目取消"
    assert order.events[-1].reason == "项目取消" and order.cancelled_at is not None
    with pytest.raises(InvalidInput):
        service.advance(order, "start", actor=world.agent)
    delivered = world.place()
    for action in ("accept", "start", "deliver"):
        service.advance(delivered, action, actor=world.admin)
    with pytest.raises(InvalidInput):  # no cancelling after delivery
        service.advance(delivered, "cancel", actor=world.agent, reason="太晚了")
    with pytest.raises(PermissionDenied):  # the institution does not confirm for the client
        service.advance(delivered, "complete", actor=world.agent)


def test_contract_and_report_are_documents_of_the_institution_R_G_03(world):
    order = world.place()
    contract = service.upload_attachment(order, "order_contract", io.BytesIO(sample_pdf("contract")),
                                         filename="合同.pdf", actor=world.admin)
    report = service.upload_attachment(order, "test_report", io.BytesIO(sample_pdf("report")),
                                       filename="报告.pdf", actor=world.admin)
    assert {contract.document_id, report.document_id} == {a.document_id for a in order.attachments}
    with pytest.raises(PermissionDenied):
        service.upload_attachment(order, "test_report", io.BytesIO(sample_pdf("x")),
                                  filename="x.pdf", actor=world.customer)
    body = world.gql(world.customer)("query($id: ID!) { order(id: $id) { ... on OrderSuccess { "
                                     "order { attachments { kind filename } } } } }",
                                     {"id": str(order.id)}, csrf=False)
    assert sorted(a["kind"] for a in body["data"]["order"]["order"]["attachments"]) == [
        "order_contract", "test_report"]


# ---------------------------------------------------------------- R-ASM-03


def test_effective_orders_count_completed_orders_of_real_clients_in_the_period_R_ASM_03(world):
    counted = world.place(consultation_id=None)
    world.complete(counted, sh(2026, 3, 1, 0, 30))  # the first minutes of the period count
    cancelled = world.place()
    service.advance(cancelled, "cancel", actor=world.customer, reason="不做了")
    placed_only = world.place()
    outside = world.complete(world.place(), sh(2026, 2, 28, 23, 59))  # the day before: not counted
    # The institution's own admin ordering through a personal enterprise account.
    set_roles(world.admin, [*world.admin.roles, Role.ENTERPRISE], actor=None)
    own = world.complete(world.place(customer=world.admin), sh(2026, 3, 10, 9, 0), world.admin)
    assert service.effective_orders(world.institution.id, date(2026, 3, 1), date(2026, 3, 31)) == 1
    assert service.is_effective(counted) and service.is_effective(outside)
    assert not any(service.is_effective(o) for o in (cancelled, placed_only, own))
    assert service.effective_orders(world.other.id, date(2026, 1, 1), date(2026, 12, 31)) == 0
    assert service.effective_orders(world.institution.id, date(2026, 2, 1), date(2026, 2, 28)) == 1


# ---------------------------------------------------------------- R-ONB-06, R-G-08


def test_an_open_order_blocks_exit_until_completed_or_cancelled_R_ONB_06(world):
    order = world.place()
    exits.request_exit(world.institution, letter="因业务调整，申请退出佛山企质通平台。", actor=world.admin)
    assert [(m.kind, m.object_id) for m in exits.open_matters(world.institution)] == [
        ("order", order.id)]
    assert exits.complete_exit_if_clear(world.institution) != []
    service.advance(order, "cancel", actor=world.agent, reason="机构退出平台")
    assert exits.complete_exit_if_clear(world.institution) == []
    db.session.refresh(world.institution)
    assert world.institution.status is InstitutionStatus.EXITED


def test_an_operator_places_an_order_for_an_enterprise_from_its_consultation_R_G_08(world):
    c = consultations.ask(world.institution, subject="电子秤校准", body="请问费用？", actor=world.customer)
    body = world.gql(world.operator)("mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { "
                                     + ORDER + " } }", {"i": {
                                         "institutionId": str(world.institution.id),
                                         "title": "电子秤校准 10 台", "consultationId": str(c.id),
                                         "enterpriseUserId": str(world.customer.id)}})
    got = body["data"]["placeOrder"]["order"]
    assert got["onBehalf"] is True and got["customerName"] == "佛山市美的配件厂 李工"
    order = db.session.get(Order, int(got["id"]))
    assert (order.enterprise_user_id, order.placed_by_id) == (world.customer.id, world.operator.id)
    assert audit("order.place")[0].actor_id == world.operator.id
    mine = world.gql(world.customer)("{ myOrders { ... on OrderList { orders { id } } } }",
                                     csrf=False)
    assert [o["id"] for o in mine["data"]["myOrders"]["orders"]] == [got["id"]]
    with pytest.raises(InvalidInput):  # someone else's consultation is no source
        service.place(world.institution, title="x", actor=world.other_enterprise,
                      consultation_id=c.id)


# ---------------------------------------------------------------- SECURITY.md 9


def test_nobody_else_sees_or_moves_an_order_SECURITY_9(world):
    order = world.place()
    outsiders = [world.other_enterprise, world.other_admin, world.other_agent, world.regulator]
    for user in outsiders:
        with pytest.raises(PermissionDenied):
            service.get_order(order.id, user)
        client = world.gql(user)
        body = client("mutation($id: ID!) { advanceOrder(orderId: $id, action: \"accept\") { "
                      "__typename } }", {"id": str(order.id)})
        assert body["data"]["advanceOrder"]["__typename"] == "PermissionDeniedError"
        listed = client("query($id: ID!) { institutionOrders(institutionId: $id) { __typename } }",
                        {"id": str(world.institution.id)}, csrf=False)
        assert listed["data"]["institutionOrders"]["__typename"] == "PermissionDeniedError"
    assert len(audit("order.read", "denied")) == 2 * len(outsiders)
    assert len(audit("order.list", "denied")) == len(outsiders)
    with pytest.raises(PermissionDenied):  # only enterprises (and operators for them) order
        service.place(world.institution, title="x", actor=world.agent)
    assert db.session.get(Order, order.id).status is OrderStatus.PLACED
