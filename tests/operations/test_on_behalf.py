"""Acting for an enterprise user (R-G-08) without the side channels reviewers found:

* Naming `enterpriseUserId` is for operators. Anybody else is refused BEFORE the id is looked up,
  so an existing and a missing user get the same answer and nothing tells which ids exist
  (SECURITY.md 9); one rule, `core.on_behalf.enterprise_user_by_id`, for every service.
* The operator who filed a complaint for an enterprise does not verify it (separation of duties).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.catalogue.testing import add_item, listed_institution
from core.clock import local_today
from core.complaints import service as complaints
from core.complaints.models import ComplaintStatus
from core.db import db
from core.enterprises.service import create_enterprise
from core.errors import PermissionDenied
from core.identity.models import Role, User
from core.testing import TEST_PASSWORD, GraphQLClient, web_login
from core.testing import csrf_token_in as _csrf

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { __typename } }"""
ANSWER = "__typename ... on UserError { code field message }"


class World:
    def __init__(self, app: Any, make_user: Any) -> None:
        self.app = app
        self.lab, self.admin = listed_institution(make_user, "佛山市顺德区计量检测所",
                                                  categories=("metrology",))
        add_item(self.lab, "压力表计量校准", category="metrology",
                 fields={"measured_quantities": ["压力"], "uncertainty": "U=0.1%"})
        self.customer = make_user(Role.ENTERPRISE, name="何志强", phone="13631000001")
        create_enterprise({"name": "佛山市顺德区美达电器有限公司", "uscc": "91440606MA52K8RX8D",
                           "contactName": "何志强", "contactPhone": "13631000001"},
                          actor=self.customer)
        self.other = make_user(Role.ENTERPRISE, name="佛山市南海区利达五金厂 梁国华",
                               phone="13631000002")
        self.operator = make_user(Role.OPERATOR, name="运维中心 黄晓婷")
        self.second_operator = make_user(Role.OPERATOR, name="运维中心 吴嘉欣")

    def gql(self, user: User) -> GraphQLClient:
        client = GraphQLClient(self.app.test_client())
        body = client(LOGIN, {"i": {"identifier": user.email, "password": TEST_PASSWORD}})
        assert body["data"]["login"]["__typename"] == "LoginSuccess", body
        return client

    def web(self, user: User) -> Any:
        return web_login(self.app, user)




@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


def _mutations(world: World) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each mutation that lets an operator act for an enterprise: (input type, audit action of
    a refusal, input without `enterpriseUserId`)."""
    lab = str(world.lab.id)
    return {
        "postDemand": ("PostDemandInput", "demand.post", {
            "categoryCode": "metrology", "title": "压力表年度校准", "description": "车间压力表40只",
            "deadline": (local_today() + timedelta(days=10)).isoformat()}),
        "placeOrder": ("PlaceOrderInput", "order.place", {"institutionId": lab,
                                                          "title": "压力表校准"}),
        "askConsultation": ("AskConsultationInput", "consultation.ask", {
            "institutionId": lab, "subject": "校准周期", "body": "多久能出证书？"}),
        "fileComplaint": ("FileComplaintInput", "complaint.file", {
            "institutionId": lab, "subject": "报告延期", "body": "约定10个工作日，至今未出。"}),
    }


def _denials(action: str, actor: User) -> int:
    return len(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.result == "denied",
        AuditEvent.actor_id == actor.id)).all())


@pytest.mark.parametrize("mutation", ["postDemand", "placeOrder", "askConsultation",
                                      "fileComplaint"])
def test_only_operators_name_a_user_and_nobody_else_learns_which_ids_exist_R_G_08(world, mutation):
    input_type, action, values = _mutations(world)[mutation]
    document = f"mutation($i: {input_type}!) {{ {mutation}(input: $i) {{ {ANSWER} }} }}"
    missing = str(world.other.id + 1000)
    for user in (world.customer, world.admin):
        client = world.gql(user)
        answers = [client(document, {"i": {**values, "enterpriseUserId": user_id}})["data"][mutation]
                   for user_id in (str(world.other.id), missing, "²")]
        # The same refusal whether the user exists, does not, or cannot: nothing to probe.
        assert [a["code"] for a in answers] == ["PERMISSION_DENIED"] * 3, answers
        assert len({a["message"] for a in answers}) == 1
        assert _denials(action, user) == 3  # each refusal audited
    operator = world.gql(world.operator)
    unknown = operator(document, {"i": {**values, "enterpriseUserId": missing}})["data"][mutation]
    assert (unknown["code"], unknown["field"]) == ("NOT_FOUND", "enterpriseUserId")
    acted = operator(document, {"i": {**values, "enterpriseUserId": str(world.customer.id)}})
    assert acted["data"][mutation]["__typename"].endswith("Success"), acted
    another = {k: f"{v}（另一次）" for k, v in values.items() if k in ("title", "subject")}
    own = world.gql(world.customer)(document, {"i": {**values, **another,
                                                      "enterpriseUserId": str(world.customer.id)}})
    assert own["data"][mutation]["__typename"].endswith("Success"), own  # one's own id is oneself


# ---------------------------------------------------------------- separation of duties


def _filed_for_customer(world: World) -> Any:
    return complaints.file(world.lab, subject="检测报告延期两周未出具",
                           body="企业来电反映：约定10个工作日出报告，至今已超过两周。",
                           actor=world.operator, enterprise_user=world.customer)


def test_the_operator_who_filed_a_complaint_for_an_enterprise_does_not_verify_it(world):
    complaint = _filed_for_customer(world)
    assert complaint.on_behalf and complaint.filed_by_id == world.operator.id
    with pytest.raises(PermissionDenied) as refused:
        complaints.verify(complaint, outcome="verified", notes="已核实。", actor=world.operator)
    assert refused.value.message == "该投诉由您代企业提交，须由其他运维人员核实。"
    complaint = db.session.get(type(complaint), complaint.id)
    assert complaint.status is ComplaintStatus.FILED and complaint.verified_by_id is None
    assert _denials("complaint.verify", world.operator) == 1
    assert not complaints.may_verify(world.operator, complaint)
    assert complaints.may_verify(world.second_operator, complaint)
    complaints.verify(complaint, outcome="verified", notes="经调取平台记录核实，情况属实。",
                      actor=world.second_operator)
    assert complaint.status is ComplaintStatus.VERIFIED
    assert complaint.verified_by_id == world.second_operator.id


def test_separation_of_duties_over_graphql_and_the_web(world):
    complaint = _filed_for_customer(world)
    verify = ("mutation($i: VerifyComplaintInput!) { verifyComplaint(input: $i) { " + ANSWER
              + " } }")
    refused = world.gql(world.operator)(verify, {"i": {
        "complaintId": str(complaint.id), "outcome": "VERIFIED", "notes": "已核实。"}})
    answer = refused["data"]["verifyComplaint"]
    assert answer["code"] == "PERMISSION_DENIED" and "须由其他运维人员核实" in answer["message"]
    web = world.web(world.operator)
    page = web.get(f"/complaints/{complaint.id}").get_data(as_text=True)
    assert 'id="verify-form"' not in page and 'id="verify-by-another"' in page
    token = _csrf(page)
    posted = web.post(f"/complaints/{complaint.id}/verify", data={
        "outcome": "verified", "notes": "已核实。", "csrf_token": token})
    assert posted.status_code == 403 and "须由其他运维人员核实" in posted.get_data(as_text=True)
    assert _denials("complaint.verify", world.operator) == 2
    other = world.web(world.second_operator).get(f"/complaints/{complaint.id}")
    assert 'id="verify-form"' in other.get_data(as_text=True)
    assert db.session.get(type(complaint), complaint.id).status is ComplaintStatus.FILED
