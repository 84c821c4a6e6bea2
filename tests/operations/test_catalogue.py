"""Service items (R-OPS-01, Annex 2 item 5 = R-ASM-02 item 5) and enterprises (R-G-01)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.catalogue import service
from core.catalogue.models import ItemStatus
from core.catalogue.testing import METROLOGY_FIELDS, listed_institution, make_uscc
from core.enterprises import service as enterprises
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role
from core.institutions.models import StaffRole
from core.institutions.service import add_staff
from core.testing import TEST_PASSWORD

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def login(client, identifier: str) -> None:
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"identifier": identifier, "password": TEST_PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302

COMPLETE = {"categoryCode": "metrology", "title": "压力表检定校准",
            "description": "依据JJG 52-2013对弹性元件式压力表进行检定或校准，出具检定证书或校准证书。",
            "scope": "佛山市企业在用的一般压力表、精密压力表", "pricingKind": "fixed", "price": "80",
            "turnaroundDays": 5, "fields": METROLOGY_FIELDS}


@pytest.fixture
def metrology(app, make_user):
    return listed_institution(make_user, "佛山市质量计量监督检测中心", categories=("metrology", "testing"))


def test_r_asm_02_item_5_specification_problems_list_every_missing_field(metrology):
    """R-OPS-01 / R-ASM-02 item 5: a draft may be incomplete; the check names what is missing,
    common fields and the category's required fields alike."""
    institution, admin = metrology
    item = service.create_item(institution, {"categoryCode": "metrology", "title": "压力表校准",
                                             "pricingKind": "fixed"}, actor=admin)
    assert item.status is ItemStatus.DRAFT
    missing = {p.field for p in service.specification_problems(item)}
    assert missing == {"description", "scope", "price", "turnaroundDays",
                       "fields.measured_quantities", "fields.uncertainty"}
    with pytest.raises(InvalidInput) as refused:
        service.publish_item(item, actor=admin)
    assert {p.field for p in refused.value.problems} == missing
    service.update_item(item, {k: v for k, v in COMPLETE.items() if k != "categoryCode"}, actor=admin)
    assert service.specification_problems(item) == []
    service.publish_item(item, actor=admin)
    assert item.status is ItemStatus.PUBLISHED and item.published_at is not None


def test_r_ops_01_item_category_must_be_one_of_the_institutions_and_values_are_checked(metrology):
    institution, admin = metrology
    with pytest.raises(InvalidInput) as refused:
        service.create_item(institution, {**COMPLETE, "categoryCode": "certification",
                                          "price": "abc", "turnaroundDays": 0}, actor=admin)
    assert {p.field for p in refused.value.problems} == {"categoryCode", "price", "turnaroundDays"}


def test_r_ops_01_a_published_item_stays_to_specification_and_can_be_withdrawn(metrology):
    institution, admin = metrology
    item = service.create_item(institution, COMPLETE, actor=admin)
    service.publish_item(item, actor=admin)
    with pytest.raises(InvalidInput):
        service.update_item(item, {"scope": ""}, actor=admin)
    assert item.scope  # unchanged
    service.withdraw_item(item, actor=admin)
    assert item.status is ItemStatus.WITHDRAWN
    actions = [e.action for e in service.db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "service_item"))]
    assert actions == ["service_item.create", "service_item.publish", "service_item.withdraw"]


def test_security_9_only_the_institutions_admin_changes_items(app, make_user, metrology):
    """Another institution's admin, the institution's own agent and an enterprise are refused
    and audited; the agent still reads the items."""
    institution, admin = metrology
    item = service.create_item(institution, COMPLETE, actor=admin)
    _other_institution, other_admin = listed_institution(make_user, "佛山市某检测公司")
    agent = make_user(Role.INSTITUTION_AGENT, name="客服")
    add_staff(institution, agent, StaffRole.AGENT, actor=admin)
    enterprise_user = make_user(Role.ENTERPRISE)
    for actor in (other_admin, agent, enterprise_user):
        with pytest.raises(PermissionDenied):
            service.update_item(item, {"title": "改"}, actor=actor)
        with pytest.raises(PermissionDenied):
            service.create_item(institution, COMPLETE, actor=actor)
    assert item.title == COMPLETE["title"]
    denied = service.db.session.scalars(select(AuditEvent).where(AuditEvent.result == "denied")).all()
    assert len(denied) == 6
    assert [i.id for i in service.institution_items(institution, agent)] == [item.id]
    assert service.institution_items(institution, enterprise_user) == []  # a draft is private


def test_security_9_items_pages_over_the_web(app, client, make_user, metrology):
    institution, admin = metrology
    item = service.create_item(institution, COMPLETE, actor=admin)
    _other, other_admin = listed_institution(make_user, "佛山市某检测公司")
    login(client, other_admin.email)
    assert client.get(f"/institutions/{institution.id}/items").status_code == 404
    assert client.get(f"/institutions/{institution.id}/items/{item.id}").status_code == 404


def test_r_g_01_enterprise_created_joined_and_listed_for_operators(app, make_user):
    owner = make_user(Role.ENTERPRISE, name="王经理")
    created = enterprises.create_enterprise({
        "name": "佛山市南海区某五金制品有限公司", "uscc": make_uscc(901), "industry": "金属制品业",
        "provinceCode": "440000", "cityCode": "440600", "districtCode": "440605", "size": "small",
        "contactName": "王经理", "contactPhone": "13800138000"}, actor=owner)
    enterprise = created.enterprise
    colleague = make_user(Role.ENTERPRISE)
    with pytest.raises(InvalidInput):
        enterprises.join_enterprise(enterprise.uscc, "WRONG", actor=colleague)
    assert enterprises.join_enterprise(enterprise.uscc, created.join_code, actor=colleague) == enterprise
    with pytest.raises(InvalidInput):  # USCC is unique
        enterprises.create_enterprise({"name": "重复", "uscc": enterprise.uscc},
                                      actor=make_user(Role.ENTERPRISE))
    with pytest.raises(InvalidInput) as bad:
        enterprises.create_enterprise({"name": "坏代码", "uscc": "91440606MA4UHF0X10"},
                                      actor=make_user(Role.ENTERPRISE))
    assert bad.value.problems[0].field == "uscc"
    with pytest.raises(PermissionDenied):
        enterprises.enterprise_database(owner)
    with pytest.raises(PermissionDenied):  # only its admin edits it
        enterprises.update_enterprise(enterprise, {"industry": "x"}, actor=colleague)
    operator = make_user(Role.OPERATOR)
    total, rows = enterprises.enterprise_database(operator, keyword="五金")
    assert total == 1 and rows == [enterprise]
    assert enterprises.sees_contacts(operator, enterprise)
    assert not enterprises.sees_contacts(make_user(Role.REGULATOR), enterprise)
    assert enterprises.masked_phone(enterprise.contact_phone) == "138****8000"


def test_r_g_01_enterprise_over_graphql_and_masking(app, client, gql, make_user):
    user = make_user(Role.ENTERPRISE, email="ent@example.cn")
    login(client, "ent@example.cn")
    body = gql("""mutation($i: EnterpriseInput!) { createEnterprise(input: $i) {
        __typename ... on EnterpriseSuccess { joinCode enterprise { name contactPhone } }
        ... on InvalidInputError { problems { field } } } }""",
               {"i": {"name": "佛山某企业", "uscc": make_uscc(902), "contactPhone": "13800138000"}})
    result = body["data"]["createEnterprise"]
    assert result["__typename"] == "EnterpriseSuccess", result
    assert result["enterprise"]["contactPhone"] == "13800138000" and result["joinCode"]
    assert user.id
    body = gql("{ enterprises { total } }")
    assert body["data"] is None or body.get("errors")  # not for an enterprise user


def test_r_ops_01_admin_creates_and_publishes_an_item_on_the_web(app, client, metrology):
    institution, admin = metrology
    login(client, admin.email)
    page = client.get(f"/institutions/{institution.id}/items").get_data(as_text=True)
    assert "新增服务项目" in page
    token = CSRF.search(page).group(1)
    response = client.post(f"/institutions/{institution.id}/items", data={
        "csrf_token": token, "category_code": "metrology", "title": "压力表检定校准",
        "pricing_kind": "fixed"})
    assert response.status_code == 302
    item_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "请填写服务范围" in item_page  # the specification problems are listed
    item_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    refused = client.post(response.headers["Location"], data={"csrf_token": token, "action": "publish"})
    assert refused.status_code == 200 and "请填写办理时限" in refused.get_data(as_text=True)
    assert service.get_item(item_id, admin).status is ItemStatus.DRAFT
