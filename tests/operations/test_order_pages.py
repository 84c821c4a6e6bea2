"""The order pages: each role's list, placing an order (also for an enterprise, R-G-08), the order
with its timeline and steps as CSRF-protected forms (R-G-03), the customer's phone masked for
the institution's agents (R-G-05), attachments uploaded by the institution and downloaded by its client,
and strangers refused with 404 and an audit row (SECURITY.md 9)."""

from __future__ import annotations

import re
import sys
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "documents"))
from documents_support import multipart_body, pdf_bytes

from core.audit.models import AuditEvent
from core.catalogue.testing import add_item, listed_institution
from core.consultations import service as consultations
from core.db import db
from core.documents.models import Document
from core.identity.models import Role, User
from core.institutions.models import StaffRole
from core.institutions.service import add_staff
from core.orders import service
from core.orders.models import Order, OrderAttachment, OrderEvent, OrderSource, OrderStatus
from core.testing import GraphQLClient, audit_events, web_login
from core.testing import csrf_token_in as csrf

CUSTOMER_PHONE = "13631000088"
MASKED = "136****0088"


class World:
    def __init__(self, app: Any, make_user: Any) -> None:
        self.app = app
        self.institution, self.admin = listed_institution(make_user, "佛山市家电检测有限公司")
        self.agent = make_user(Role.INSTITUTION_AGENT, name="家电检测 客服 周静")
        add_staff(self.institution, self.agent, StaffRole.AGENT, actor=self.admin)
        self.item = add_item(self.institution, "家用电器安全检测（GB 4706系列）")
        self.customer = make_user(Role.ENTERPRISE, name="佛山市顺德区美达电器 何志强",
                                  phone=CUSTOMER_PHONE)
        self.other_enterprise = make_user(Role.ENTERPRISE, name="南海五金厂 王工",
                                          phone="13631000099")
        self.operator = make_user(Role.OPERATOR, name="运维中心 黄晓婷")
        self.regulator = make_user(Role.REGULATOR, name="市场监管局 林科长")
        self.other, self.other_admin = listed_institution(make_user, "佛山市南海区计量检测有限公司")

    def place(self, title: str = "电磁灶安全检测", customer: User | None = None,
              institution: Any = None) -> Order:
        return service.place(institution or self.institution, title=title, amount="3800",
                             actor=customer or self.customer)

    def web(self, user: User) -> FlaskClient:
        return web_login(self.app, user)


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)




def fresh(order: Order) -> Order:
    db.session.expire_all()
    found = db.session.get(Order, order.id)
    assert found is not None
    return found


def audits(action: str, result: str = "success") -> list[AuditEvent]:
    db.session.expire_all()  # the web requests wrote in their own sessions
    return audit_events(action, result)


def step(client: FlaskClient, order: Order, action: str, reason: str = "") -> Any:
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert f'id="{action}-submit"' in page, f"no {action} button"
    return client.post(f"/orders/{order.id}/advance",
                       data={"action": action, "reason": reason, "csrf_token": csrf(page)})


def upload(client: FlaskClient, order: Order, *, data: bytes, kind: str = "order_contract",
           filename: str = "检测委托合同.pdf", with_csrf: bool | str = True,
           key: str | None = None) -> Any:
    """Post the attachment form as a browser does: the fields, then the file. `with_csrf`: the
    token of the order page (True), none (False) or the one given."""
    token = (with_csrf if isinstance(with_csrf, str)
             else csrf(client.get(f"/orders/{order.id}").get_data(as_text=True)) if with_csrf
             else None)
    fields = [("csrf_token", token)] if token else []
    fields += [("idempotency_key", key or uuid.uuid4().hex), ("kind", kind)]
    body, content_type = multipart_body(fields, ("file", filename, data, "application/pdf"))
    return client.post(f"/orders/{order.id}/attachments", data=body, content_type=content_type)


# ---------------------------------------------------------------- placing


def test_an_enterprise_places_an_order_from_the_item_on_the_institution_page_R_G_03(world):
    client = world.web(world.customer)
    page = client.get(f"/institutions/{world.institution.id}").get_data(as_text=True)
    link = f"/institutions/{world.institution.id}/order?item={world.item.id}"
    assert link in page and "下单" in page
    form = client.get(link).get_data(as_text=True)
    assert 'id="order-item"' in form and 'value="家用电器安全检测（GB 4706系列）"' in form
    data = {"title": "电磁灶 GB 4706.21 安全检测", "amount": "4200.50",
            "service_item_id": str(world.item.id), "consultation_id": ""}
    # Without the CSRF token the form is refused and nothing is placed.
    assert client.post(f"/institutions/{world.institution.id}/order", data=data).status_code == 400
    assert db.session.scalar(select(func.count(Order.id))) == 0
    response = client.post(f"/institutions/{world.institution.id}/order",
                           data={**data, "csrf_token": csrf(form)})
    order = db.session.scalars(select(Order)).one()
    assert response.status_code == 302 and response.location.endswith(f"/orders/{order.id}")
    assert (order.source, order.service_item_id, str(order.amount_yuan)) == (
        OrderSource.SERVICE_ITEM, world.item.id, "4200.50")
    detail = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "订单已提交给机构。" in detail and "待机构受理" in detail
    assert CUSTOMER_PHONE in detail  # the customer sees its own number


def test_placing_shows_the_fields_chinese_message_and_places_nothing(world):
    client = world.web(world.customer)
    path = f"/institutions/{world.institution.id}/order"
    token = csrf(client.get(path).get_data(as_text=True))
    response = client.post(path, data={"title": "电饭锅检测", "amount": "三千元", "csrf_token": token})
    assert response.status_code == 200
    assert 'id="amount-error">请输入以元为单位的金额。' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Order.id))) == 0
    # An unpublished item, or one of another institution, is not found.
    other_item = add_item(world.other, "压力表检定")
    assert client.get(f"{path}?item={other_item.id}").status_code == 404
    # Institution staff do not order (refused and audited).
    assert world.web(world.agent).get(path).status_code == 403
    assert audits("order.access_denied", "denied")


def test_an_operator_places_an_order_for_an_enterprise_by_its_mobile_number_R_G_08(world):
    client = world.web(world.operator)
    path = f"/institutions/{world.institution.id}/order"
    page = client.get(path).get_data(as_text=True)
    assert 'id="enterprise_phone"' in page
    response = client.post(path, data={"enterprise_phone": "13900000000", "title": "线下窗口代下单",
                                       "csrf_token": csrf(page)})
    assert "没有使用该手机号的企业用户。" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Order.id))) == 0
    response = client.post(path, data={"enterprise_phone": "136 3100 0088", "title": "线下窗口代下单",
                                       "csrf_token": csrf(page)})
    assert response.status_code == 302
    order = db.session.scalars(select(Order)).one()
    assert order.on_behalf and order.enterprise_user_id == world.customer.id
    assert order.placed_by_id == world.operator.id
    assert "线下窗口代下单" in world.web(world.customer).get("/orders").get_data(as_text=True)
    assert "运维中心 黄晓婷" in client.get(f"/orders/{order.id}").get_data(as_text=True)


def test_an_order_from_the_enterprises_consultation_thread(world):
    question = consultations.ask(world.institution, subject="电磁灶出口前安全检测咨询",
                                 body="请问周期和费用？", actor=world.customer)
    client = world.web(world.customer)
    thread = client.get(f"/consultations/{question.id}").get_data(as_text=True)
    link = f"/institutions/{world.institution.id}/order?consultation={question.id}"
    assert link in thread
    form = client.get(link).get_data(as_text=True)
    assert 'value="电磁灶出口前安全检测咨询"' in form and 'id="order-consultation"' in form
    client.post(f"/institutions/{world.institution.id}/order", data={
        "title": "电磁灶出口前安全检测", "consultation_id": str(question.id), "csrf_token": csrf(form)})
    order = db.session.scalars(select(Order)).one()
    assert (order.source, order.consultation_id) == (OrderSource.CONSULTATION, question.id)
    # Another enterprise cannot order from (or even see) this consultation: 404, audited.
    assert world.web(world.other_enterprise).get(link).status_code == 404
    assert audits("consultation.read", "denied")


# ---------------------------------------------------------------- lists


def test_each_role_lists_the_orders_it_may_see_filtered_by_status(world):
    mine = world.place("美达电器 电磁灶检测")
    theirs = world.place("五金厂 插座检测", customer=world.other_enterprise)
    elsewhere = world.place("美达电器 压力表检定", institution=world.other)
    service.advance(theirs, "accept", actor=world.agent)

    def listed(user: User, query: str = "") -> set[str]:
        html = world.web(user).get(f"/orders{query}").get_data(as_text=True)
        return set(re.findall(r'id="order-(\d+)"', html))

    ids = {o: str(o.id) for o in (mine, theirs, elsewhere)}
    assert listed(world.customer) == {ids[mine], ids[elsewhere]}
    assert listed(world.other_enterprise) == {ids[theirs]}
    assert listed(world.agent) == listed(world.admin) == {ids[mine], ids[theirs]}
    assert listed(world.other_admin) == {ids[elsewhere]}
    assert listed(world.operator) == set(ids.values())
    assert listed(world.agent, "?status=accepted") == {ids[theirs]}
    assert listed(world.operator, "?status=placed") == {ids[mine], ids[elsewhere]}
    assert listed(world.regulator) == set()
    # The nav link: enterprises, institution staff and operators.
    for user in (world.customer, world.agent, world.operator):
        assert 'id="nav-orders"' in world.web(user).get("/").get_data(as_text=True)
    assert 'id="nav-orders"' not in world.web(world.regulator).get("/").get_data(as_text=True)


def _statements(client: FlaskClient, url: str) -> tuple[str, list[str]]:
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        response = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    return response.get_data(as_text=True), statements


def test_the_list_uses_the_same_number_of_statements_at_any_page_size(app, make_user, world):
    """Issue 8: the statement count does not grow with the page size."""
    for n in range(30):
        customer = make_user(Role.ENTERPRISE, name=f"企业{n:02d}")
        world.place(f"检测订单{n:02d}", customer=customer)
    client = world.web(world.operator)
    small, five = _statements(client, "/orders?per_page=5")
    large, twenty_five = _statements(client, "/orders?per_page=25")
    assert len(re.findall(r'id="order-\d+"', small)) == 5
    assert len(re.findall(r'id="order-\d+"', large)) == 25
    assert "共 30 个订单。" in large and "企业29" in small
    assert len(five) == len(twenty_five) <= 10, (five, twenty_five)
    page_two = client.get("/orders?per_page=25&page=2").get_data(as_text=True)
    assert len(re.findall(r'id="order-\d+"', page_two)) == 5


# ---------------------------------------------------------------- one order


def test_both_sides_take_their_steps_through_the_forms_and_see_the_timeline_R_G_03(world):
    order = world.place()
    enterprise, agent, admin = (world.web(u) for u in (world.customer, world.agent, world.admin))
    page = enterprise.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'id="cancel-submit"' in page and 'id="accept-submit"' not in page
    # A step without the CSRF token is refused and changes nothing.
    assert agent.post(f"/orders/{order.id}/advance", data={"action": "accept"}).status_code == 400
    assert fresh(order).status is OrderStatus.PLACED
    # The enterprise cannot take the institution's step, even by crafting the form (audited).
    token = csrf(page)
    assert enterprise.post(f"/orders/{order.id}/advance",
                           data={"action": "accept", "csrf_token": token}).status_code == 403
    assert audits("order.accept", "denied") and fresh(order).status is OrderStatus.PLACED
    assert step(agent, order, "accept").status_code == 302
    assert step(agent, order, "start").status_code == 302
    # A stale second click is refused with the rule's message; the order stays in progress.
    again = agent.post(f"/orders/{order.id}/advance", data={
        "action": "start", "csrf_token": csrf(agent.get("/orders").get_data(as_text=True))})
    assert again.status_code == 400 and "该订单当前不能进行此操作。" in again.get_data(as_text=True)
    assert step(admin, order, "deliver").status_code == 302
    assert 'id="complete-submit"' not in admin.get(f"/orders/{order.id}").get_data(as_text=True)
    assert step(enterprise, order, "complete").status_code == 302
    assert fresh(order).status is OrderStatus.COMPLETED
    for client in (enterprise, agent, world.web(world.operator)):
        html = client.get(f"/orders/{order.id}").get_data(as_text=True)
        assert re.findall(r'data-action="(\w+)"', html) == ["place", "accept", "start", "deliver",
                                                             "complete"]
        assert "家电检测 客服 周静" in html and "佛山市家电检测有限公司管理员" in html
        assert "已完成" in html and 'id="actions"' not in html


def test_the_customers_phone_follows_the_one_client_contact_rule_R_G_05(world):
    """`sees_client_contact`, as for a consultation's asker: the customer, operators and the
    institution's admin read the phone in full; its agents read 138****5678; nobody deactivated
    reads it at all."""
    order = world.place()
    html = world.web(world.agent).get(f"/orders/{order.id}").get_data(as_text=True)
    assert MASKED in html and CUSTOMER_PHONE not in html
    for user in (world.customer, world.operator, world.admin):
        html = world.web(user).get(f"/orders/{order.id}").get_data(as_text=True)
        assert CUSTOMER_PHONE in html and MASKED not in html
    world.admin.is_active = False
    db.session.commit()
    assert service.customer_phone(world.admin, order, world.customer) == MASKED


def test_cancelling_without_a_reason_shows_the_field_error_and_keeps_the_order_R_G_03(world):
    order = world.place()
    client = world.web(world.customer)
    response = step(client, order, "cancel", reason="   ")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="reason-error">请填写理由。' in html
    order = fresh(order)
    assert order.status is OrderStatus.PLACED and order.cancelled_at is None
    assert db.session.scalar(select(func.count(OrderEvent.id))) == 1
    assert not audits("order.cancel")
    assert step(client, order, "cancel", reason="项目延期，暂不检测").status_code == 302
    html = world.web(world.agent).get(f"/orders/{order.id}").get_data(as_text=True)
    assert "项目延期，暂不检测" in html and "已取消" in html
    assert fresh(order).status is OrderStatus.CANCELLED


def test_strangers_get_404_and_an_audit_row_SECURITY_9(world):
    order = world.place()
    for user in (world.other_enterprise, world.other_admin, world.regulator):
        client = world.web(user)
        before = len(audits("order.read", "denied"))
        assert client.get(f"/orders/{order.id}").status_code == 404
        assert len(audits("order.read", "denied")) == before + 1
        token = csrf(client.get("/orders").get_data(as_text=True))
        assert client.post(f"/orders/{order.id}/advance",
                           data={"action": "cancel", "reason": "x", "csrf_token": token}).status_code == 404
        assert upload(client, order, data=pdf_bytes(), with_csrf=token).status_code == 404
    assert fresh(order).status is OrderStatus.PLACED and not fresh(order).attachments
    assert world.web(world.customer).get("/orders/999999").status_code == 404


# ---------------------------------------------------------------- attachments


def test_the_institution_uploads_the_contract_and_its_client_downloads_it_R_G_03(
        storage_backend, world):
    order = world.place()
    service.advance(order, "accept", actor=world.agent)
    admin = world.web(world.admin)
    # Without the token nothing is stored; a file that is not a PDF/JPEG/PNG is refused by content.
    assert upload(admin, order, data=pdf_bytes(), with_csrf=False).status_code == 400
    refused = upload(admin, order, data=b"<html><script>alert(1)</script></html>")
    assert refused.status_code == 400
    assert "仅接受 PDF、JPEG、PNG 格式的文件（按文件内容识别）。" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Document.id))) == 0
    # The agent may not add documents (only the admin manages them), nor may the client.
    assert upload(world.web(world.agent), order, data=pdf_bytes()).status_code == 403
    assert upload(world.web(world.customer), order, data=pdf_bytes()).status_code == 403
    assert audits("order.attach", "denied")
    contract = pdf_bytes("Contract FSJD-2026-0318")
    assert upload(admin, order, data=contract).status_code == 302
    document = db.session.scalars(select(Document)).one()
    assert document.kind == "order_contract" and document.institution_id == world.institution.id
    assert [a.document_id for a in fresh(order).attachments] == [document.id]
    assert fresh(order).status is OrderStatus.ACCEPTED
    # The client downloads it from its order page; the download is app-served and audited.
    customer = world.web(world.customer)
    page = customer.get(f"/orders/{order.id}").get_data(as_text=True)
    assert f'href="/documents/{document.id}/download"' in page and "检测委托合同.pdf" in page
    assert 'id="attachment-form"' not in page
    response = customer.get(f"/documents/{document.id}/download")
    assert response.status_code == 200 and response.data == contract
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert [e.actor_id for e in audits("document.download")] == [world.customer.id]
    # It stays the institution's document: the client does not get its document page.
    assert customer.get(f"/documents/{document.id}").status_code == 404
    # Another enterprise is refused (404) and the attempt audited.
    assert world.web(world.other_enterprise).get(
        f"/documents/{document.id}/download").status_code == 404
    assert audits("document.access_denied", "denied")


def test_a_retried_upload_gives_one_document_and_one_attachment(world):
    """SECURITY.md 4: the same idempotency key twice stores and links the report once."""
    order = world.place()
    admin = world.web(world.admin)
    for _attempt in range(2):
        assert upload(admin, order, data=pdf_bytes("Report"), kind="test_report",
                      key="retry-3f9c2a").status_code == 302
    assert db.session.scalar(select(func.count(Document.id))) == 1
    assert len(fresh(order).attachments) == 1


def test_the_operator_who_placed_the_order_and_graphql_get_the_download_url(world):
    order = service.place(world.institution, title="代下单检测", actor=world.operator,
                          enterprise_user=world.customer)
    service.upload_attachment(order, "test_report", BytesIO(pdf_bytes("Report")),
                              filename="检测报告.pdf", actor=world.admin)
    document = db.session.scalars(select(Document)).one()
    assert service.may_read_attachment(world.operator, document)
    assert service.may_read_attachment(world.customer, document)
    assert not service.may_read_attachment(world.other_enterprise, document)
    assert not service.may_read_attachment(world.regulator, document)
    client = world.web(world.customer)
    body = GraphQLClient(client)("query($id: ID!) { order(id: $id) { ... on OrderSuccess { order {"
                                 " attachments { kind downloadUrl } } } } }",
                                 {"id": str(order.id)}, csrf=False)
    (attachment,) = body["data"]["order"]["order"]["attachments"]
    assert attachment["kind"] == "test_report"
    assert attachment["downloadUrl"].endswith(f"/documents/{document.id}/download")
    assert client.get(attachment["downloadUrl"]).data == pdf_bytes("Report")


# ---------------------------------------------------------------- review findings (SECURITY.md 9-10, 16)


def _at_once(app: Any, calls: list[Any]) -> list[str]:
    """Run `calls` in threads released together, each in its own session; what each returned."""
    import threading

    from core.errors import DomainError

    results: list[str] = []
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> None:
        with app.app_context():
            prepared = call()  # each thread reads its rows before the others act
            barrier.wait()
            try:
                prepared()
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


def test_a_delivery_and_a_cancel_at_once_take_effect_one_after_the_other_R_G_03(world, postgres_url):
    """PostgreSQL: the order row is locked for a step, so the second step is judged against the
    first's status — never an order both delivered and cancelled, or two timeline entries."""
    order = world.place()
    for action in ("accept", "start"):
        service.advance(order, action, actor=world.agent)
    order_id, agent_id, customer_id = order.id, world.agent.id, world.customer.id

    def step_by(action: str, user_id: int, reason: str | None = None) -> Any:
        def prepare() -> Any:
            found, actor = db.session.get(Order, order_id), db.session.get(User, user_id)
            assert found.status is OrderStatus.IN_PROGRESS
            return lambda: service.advance(found, action, actor=actor, reason=reason)
        return prepare

    assert _at_once(world.app, [step_by("deliver", agent_id),
                                step_by("cancel", customer_id, "不需要了")]) == [
        "ILLEGAL_TRANSITION", "ok"]
    order = fresh(order)
    assert [e.action for e in order.events][:3] == ["place", "accept", "start"]
    assert len(order.events) == 4
    if order.status is OrderStatus.DELIVERED:
        assert order.cancelled_at is None and order.cancel_reason is None
    else:
        assert order.status is OrderStatus.CANCELLED and order.delivered_at is None
    # A double click on "accept" of a new order: one step, one timeline entry.
    second = world.place("第二个订单")
    second_id, admin_id = second.id, world.admin.id

    def accept_by(user_id: int) -> Any:
        def prepare() -> Any:
            found, actor = db.session.get(Order, second_id), db.session.get(User, user_id)
            return lambda: service.advance(found, "accept", actor=actor)
        return prepare

    assert _at_once(world.app, [accept_by(agent_id), accept_by(admin_id)]) == [
        "ILLEGAL_TRANSITION", "ok"]
    assert [e.action for e in fresh(second).events] == ["place", "accept"]


def test_a_retried_upload_racing_the_first_links_the_document_once(world, postgres_url):
    """SECURITY.md 4/16: two posts of the same upload at once (a double click) link one document
    once; the slower one gets the attachment the faster made, not a server error."""
    order = world.place()
    service.upload_attachment(order, "test_report", BytesIO(pdf_bytes("Report")),
                              filename="检测报告.pdf", actor=world.admin, idempotency_key="k1")
    document = db.session.scalars(select(Document)).one()
    db.session.execute(delete(OrderAttachment))  # as if not yet linked
    db.session.commit()
    order_id, document_id, admin_id = order.id, document.id, world.admin.id

    def attach() -> Any:
        found, doc = db.session.get(Order, order_id), db.session.get(Document, document_id)
        actor = db.session.get(User, admin_id)
        assert found.attachments == []
        return lambda: service.attach(found, doc, actor=actor)

    assert _at_once(world.app, [attach, attach]) == ["ok", "ok"]
    assert [a.document_id for a in fresh(order).attachments] == [document_id]


def test_a_regulator_reads_no_clients_contract_or_report_R_G_05(world):
    """An order's contract and reports are between the institution and its client (and operators,
    who see every order): a regulator, who does not see the order, neither downloads them nor
    finds them in the institution's documents; the attempt is audited."""
    order = world.place()
    service.upload_attachment(order, "test_report", BytesIO(pdf_bytes("Report")),
                              filename="美达电器检测报告.pdf", actor=world.admin)
    document = db.session.scalars(select(Document)).one()
    regulator = world.web(world.regulator)
    assert regulator.get(f"/orders/{order.id}").status_code == 404
    before = len(audits("document.access_denied", "denied"))
    assert regulator.get(f"/documents/{document.id}/download").status_code == 404
    assert len(audits("document.access_denied", "denied")) == before + 1
    listing = regulator.get(f"/institutions/{world.institution.id}/documents")
    row = f'data-document="{document.id}"'
    assert listing.status_code == 200 and row not in listing.get_data(as_text=True)
    gql = GraphQLClient(regulator)("query($id: ID!) { document(id: $id) { id } }",
                                   {"id": str(document.id)}, csrf=False)
    assert gql["data"]["document"] is None
    # Its client, the institution's staff and operators still read it.
    for user in (world.customer, world.agent, world.admin, world.operator):
        assert world.web(user).get(f"/documents/{document.id}/download").status_code == 200
    assert row in world.web(world.admin).get(
        f"/institutions/{world.institution.id}/documents").get_data(as_text=True)


def test_out_of_range_numbers_are_not_found_not_server_errors(world):
    """A number past a 32-bit key or a huge page is 404 or an empty page, never a 500 (on
    PostgreSQL it used to reach SQL and fail with "integer out of range")."""
    world.place()
    client = world.web(world.customer)
    huge = "99999999999999999999"
    for url in (f"/orders/{huge}", f"/orders/{huge}/review", f"/documents/{huge}/download",
                f"/institutions/{huge}/order"):
        assert client.get(url).status_code == 404, url
    form = client.get(f"/institutions/{world.institution.id}/order?item={huge}")  # as ?item=abc
    assert form.status_code == 200 and 'id="order-item"' not in form.get_data(as_text=True)
    page = client.get(f"/orders?page={huge}")
    assert page.status_code == 200 and 'id="order-' not in page.get_data(as_text=True)
    gql = GraphQLClient(client)
    assert gql("query($id: ID!) { order(id: $id) { __typename } }", {"id": huge},
               csrf=False)["data"]["order"]["__typename"] == "NotFoundError"
    placed = gql("""mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { __typename
        ... on UserError { field } } }""", {"i": {
        "institutionId": str(world.institution.id), "title": "检测", "serviceItemId": huge}})
    assert placed["data"]["placeOrder"] == {"__typename": "NotFoundError",  # core.ids: one rule
                                            "field": "serviceItemId"}


def test_the_pager_keeps_only_the_lists_own_parameters(world):
    """Reserved url_for arguments in the query string (`_method`, `_scheme`) are not passed on to
    the pager's links (they made a server error)."""
    for n in range(3):
        world.place(f"订单{n}")
    client = world.web(world.customer)
    response = client.get("/orders?per_page=1&status=placed&_method=DELETE&_external=&_scheme=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/orders?status=placed&amp;per_page=1&amp;page=2" id="page-next"' in html


def test_an_over_long_idempotency_key_is_refused_before_anything_is_stored(world):
    order = world.place()
    response = upload(world.web(world.admin), order, data=pdf_bytes(), key="k" * 65)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Document.id))) == 0 and not fresh(order).attachments
