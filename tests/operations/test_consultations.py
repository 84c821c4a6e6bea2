"""Consultations: the first-response SLA stored on the first reply and read per month (R-OPS-03),
reminders before a breach, operators asking for an enterprise (R-G-08), masking (R-G-05), who
sees what (SECURITY.md 9) and open consultations blocking exit (R-ONB-06)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "onboarding"))
from factory import eligible_institution

from core.audit.models import AuditEvent
from core.consultations import service, sla
from core.consultations.models import Consultation, ConsultationStatus
from core.db import db
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.notifications.models import OutboxMessage
from core.onboarding import exit as exits
from core.onboarding import workflow
from core.testing import GraphQLClient, csrf_token_in, graphql_login, web_login

SH = ZoneInfo("Asia/Shanghai")
MIN = 60
ASKER_PHONE = "13812345678"
AGENT_PHONE = "13922000100"  # the factory's first agent
FIELDS = """__typename ... on UserError { code message }
  ... on ConsultationList { consultations { id subject askerPhone onBehalf slaSeconds } }"""


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
        self.asker = make_user(Role.ENTERPRISE, name="佛山市美的配件厂 李工", phone=ASKER_PHONE)
        self.other_enterprise = make_user(Role.ENTERPRISE, name="另一企业 王工")
        other_admin = make_user(Role.INSTITUTION_ADMIN, name="另一机构管理员")
        self.other = create_institution(legal_name="佛山市南海区计量检测有限公司",
                                        uscc=None, admin=other_admin,
                                        status=InstitutionStatus.LIVE)
        self.other_admin = other_admin
        self.other_agent = make_user(Role.INSTITUTION_AGENT, name="另一机构客服")
        add_staff(self.other, self.other_agent, StaffRole.AGENT, actor=other_admin)

    def ask(self, at: datetime, subject: str = "家电安全检测周期咨询") -> Consultation:
        return service.ask(self.institution, subject=subject, body="请问GB 4706.1检测需要多久？",
                           actor=self.asker, now=at)

    def answer(self, c: Consultation, at: datetime) -> Consultation:
        service.reply(c, body="您好，一般7个工作日出具报告。", actor=self.agent, now=at)
        return c

    def gql(self, user: User) -> GraphQLClient:
        return graphql_login(self.app, user)


@pytest.fixture
def world(app: Any, make_user: Any) -> World:
    return World(app, make_user)


def denied(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                            AuditEvent.result == "denied")))


# ---------------------------------------------------------------- R-OPS-03


def test_first_reply_stores_40_minutes_for_friday_1730_to_monday_0810_R_OPS_03(world):
    c = world.ask(sh(2026, 3, 13, 17, 30))
    service.reply(c, body="补充：产品是电饭煲。", actor=world.asker, now=sh(2026, 3, 14, 9, 0))
    assert c.first_response_at is None  # the asker's own message is not a response
    world.answer(c, sh(2026, 3, 16, 8, 10))
    service.reply(c, body="另外可加急。", actor=world.admin, now=sh(2026, 3, 16, 15, 0))
    db.session.expire_all()
    c = db.session.get(Consultation, c.id)
    assert (c.sla_seconds, c.sla_rule, c.sla_limit_seconds) == (40 * MIN, "working_window", None)
    assert c.first_response_at == sh(2026, 3, 16, 8, 10)
    assert c.first_response_by_id == world.agent.id
    assert c.status is ConsultationStatus.ANSWERED


def test_national_day_question_is_held_to_6_daytime_hours_R_OPS_03(world):
    within = world.answer(world.ask(sh(2026, 10, 2, 16, 0)), sh(2026, 10, 3, 10, 0))
    missed = world.answer(world.ask(sh(2026, 10, 4, 9, 0)), sh(2026, 10, 4, 16, 0))
    assert (within.sla_rule, within.sla_seconds, within.sla_limit_seconds) == (
        "non_working_daytime", 4 * 3600, 6 * 3600)
    assert missed.sla_seconds == 7 * 3600
    report = sla.monthly_sla(world.institution.id, 2026, 10, now=sh(2026, 11, 1, 0, 0))
    assert [e.consultation_id for e in report.non_working_daytime] == [within.id, missed.id]
    assert [e.consultation_id for e in report.non_working_missed] == [missed.id]
    assert not report.non_working_within and not report.met


def test_monthly_average_of_working_window_times_R_OPS_03(world):
    # Monday 16 March 2026: 40 min and 1 h 20 min → average 1 h: met.
    world.answer(world.ask(sh(2026, 3, 16, 9, 0)), sh(2026, 3, 16, 9, 40))
    world.answer(world.ask(sh(2026, 3, 16, 10, 0)), sh(2026, 3, 16, 11, 20))
    report = sla.monthly_sla(world.institution.id, 2026, 3, now=sh(2026, 4, 1, 0, 0))
    assert report.average_seconds == 3600 and report.average_within and report.met
    # One answered after 5 h of service-window time lifts the average to 2 h 20 min: missed.
    world.answer(world.ask(sh(2026, 3, 17, 9, 0)), sh(2026, 3, 17, 14, 0))
    report = sla.monthly_sla(world.institution.id, 2026, 3, now=sh(2026, 4, 1, 0, 0))
    assert report.average_seconds == (40 + 80 + 300) * MIN / 3
    assert not report.average_within and not report.met
    assert [e.seconds for e in report.working_window] == [40 * MIN, 80 * MIN, 300 * MIN]
    # Another institution's month is its own.
    assert sla.monthly_sla(world.other.id, 2026, 3).working_window == []


def test_unanswered_consultations_near_the_limit_remind_the_agents_once_R_OPS_03(world):
    c = world.ask(sh(2026, 3, 16, 9, 0))
    assert sla.due_soon(sh(2026, 3, 16, 10, 0)) == []  # 60 of 90 minutes
    due = sla.due_soon(sh(2026, 3, 16, 10, 31))
    assert [d.consultation.id for d in due] == [c.id] and due[0].threshold_seconds == 90 * MIN
    assert service.send_reminders(sh(2026, 3, 16, 10, 31))["queued"] >= 1
    assert service.send_reminders(sh(2026, 3, 16, 11, 0))["queued"] == 0  # deduplicated
    rows = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "consultation_reminder")).all()
    assert {r.recipient_user_id for r in rows} == {world.agent.id}
    world.answer(c, sh(2026, 3, 16, 11, 5))
    assert sla.due_soon(sh(2026, 3, 16, 12, 0)) == []  # answered: no longer due
    # A holiday question is due an hour before its 6 h limit.
    holiday = world.ask(sh(2026, 10, 2, 9, 0))
    assert [d.consultation.id for d in sla.due_soon(sh(2026, 10, 2, 13, 59))] == []
    assert [d.consultation.id for d in sla.due_soon(sh(2026, 10, 2, 14, 0))] == [holiday.id]
    world.answer(holiday, sh(2026, 10, 2, 14, 30))
    assert sla.due_soon(sh(2026, 10, 2, 15, 0)) == []


# ---------------------------------------------------------------- R-ONB-06, R-G-08, R-G-05


def test_an_open_consultation_blocks_exit_until_closed_R_ONB_06(world):
    c = world.ask(sh(2026, 3, 16, 9, 0))
    exits.request_exit(world.institution, letter="因业务调整，申请退出佛山企质通平台。", actor=world.admin)
    matters = exits.open_matters(world.institution)
    assert [(m.kind, m.object_id) for m in matters] == [("consultation", c.id)]
    assert exits.complete_exit_if_clear(world.institution) != []
    with pytest.raises(InvalidInput):  # the institution may not close it unanswered
        service.close(c, actor=world.agent)
    world.answer(c, sh(2026, 3, 16, 9, 30))
    service.close(c, actor=world.asker)
    assert exits.complete_exit_if_clear(world.institution) == []
    db.session.refresh(world.institution)
    assert world.institution.status is InstitutionStatus.EXITED


def test_an_operator_files_a_consultation_for_an_enterprise_R_G_08(world):
    c = service.ask(world.institution, subject="代企业咨询：计量器具校准", body="企业来电咨询电子秤校准。",
                    actor=world.operator, enterprise_user=world.asker)
    assert (c.enterprise_user_id, c.filed_by_id, c.on_behalf) == (world.asker.id, world.operator.id, True)
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "consultation.ask")).one()
    assert audit.actor_id == world.operator.id and audit.after["on_behalf"] is True
    mine = world.gql(world.asker)("{ myConsultations { " + FIELDS + " } }", csrf=False)
    assert [x["onBehalf"] for x in mine["data"]["myConsultations"]["consultations"]] == [True]
    service.reply(c, body="企业补充：量程30kg。", actor=world.operator)  # keeps acting for it
    with pytest.raises(PermissionDenied):  # an agent may not ask for anyone
        service.ask(world.institution, subject="x", body="y", actor=world.agent,
                    enterprise_user=world.asker)


def test_the_askers_phone_is_masked_for_agents_R_G_05(world):
    world.ask(sh(2026, 3, 16, 9, 0))
    query = "query($id: ID!) { institutionConsultations(institutionId: $id) { " + FIELDS + " } }"
    variables = {"id": str(world.institution.id)}

    def phones(user: User) -> list[str]:
        body = world.gql(user)(query, variables, csrf=False)
        return [x["askerPhone"] for x in body["data"]["institutionConsultations"]["consultations"]]

    assert phones(world.agent) == ["138****5678"]
    assert phones(world.admin) == [ASKER_PHONE]
    assert phones(world.operator) == [ASKER_PHONE]
    mine = world.gql(world.asker)("{ myConsultations { " + FIELDS + " } }", csrf=False)
    assert mine["data"]["myConsultations"]["consultations"][0]["askerPhone"] == ASKER_PHONE


# ---------------------------------------------------------------- SECURITY.md 9


def test_nobody_else_sees_or_answers_a_consultation_SECURITY_9(world):
    c = world.ask(sh(2026, 3, 16, 9, 0))
    outsiders = [world.other_enterprise, world.other_admin, world.other_agent, world.regulator]
    for user in outsiders:
        with pytest.raises(PermissionDenied):
            service.get_consultation(c.id, user)
        with pytest.raises(PermissionDenied):
            service.reply(c, body="我来回答", actor=user)
        client = world.gql(user)
        body = client("""mutation($i: ReplyConsultationInput!) { replyConsultation(input: $i) {
            __typename } }""", {"i": {"consultationId": str(c.id), "body": "我来回答"}})
        assert body["data"]["replyConsultation"]["__typename"] == "PermissionDeniedError"
        listed = client("query($id: ID!) { institutionConsultations(institutionId: $id) { "
                        + FIELDS + " } }", {"id": str(world.institution.id)}, csrf=False)
        assert listed["data"]["institutionConsultations"]["__typename"] == "PermissionDeniedError"
        assert client.client.get(f"/consultations/{c.id}").status_code == 404
    assert len(denied("consultation.read")) >= 2 * len(outsiders)
    assert len(denied("consultation.reply")) == len(outsiders)
    assert len(denied("consultation.list")) == len(outsiders)
    for user in (world.asker, world.agent, world.admin, world.operator):
        assert service.get_consultation(c.id, user).id == c.id
    # Only enterprises (and operators for them) ask.
    with pytest.raises(PermissionDenied):
        service.ask(world.institution, subject="x", body="y", actor=world.other_admin)
    assert db.session.get(Institution, world.institution.id) is not None


# ---------------------------------------------------------------- the web pages


def test_an_enterprise_asks_on_the_web_and_the_agent_answers_in_the_thread_R_OPS_03(world):
    asker = web_login(world.app, world.asker)
    page = asker.get(f"/institutions/{world.institution.id}/consult")
    assert page.status_code == 200
    response = asker.post(f"/institutions/{world.institution.id}/consult", data={
        "subject": "电器能效检测费用", "body": "请问一台空调能效检测的费用？",
        "csrf_token": csrf_token_in(page.get_data(as_text=True))})
    assert response.status_code == 302
    c = db.session.scalars(select(Consultation)).one()
    agent = web_login(world.app, world.agent)
    inbox = agent.get("/consultations").get_data(as_text=True)
    assert "电器能效检测费用" in inbox
    thread = agent.get(f"/consultations/{c.id}").get_data(as_text=True)
    assert "138****5678" in thread and ASKER_PHONE not in thread
    assert agent.post(f"/consultations/{c.id}", data={
        "body": "您好，费用约800元。", "csrf_token": csrf_token_in(thread)}).status_code == 302
    db.session.expire_all()
    c = db.session.get(Consultation, c.id)
    assert c.status is ConsultationStatus.ANSWERED and c.sla_rule is not None
    assert "电器能效检测费用" in asker.get("/consultations").get_data(as_text=True)
    # An institution's staff cannot ask; another enterprise cannot open the thread.
    assert agent.get(f"/institutions/{world.institution.id}/consult").status_code == 403
    assert web_login(world.app, world.other_enterprise).get(f"/consultations/{c.id}").status_code == 404


def test_the_asker_closes_a_consultation_on_the_web_others_cannot_R_ONB_06(world):
    """Closing from the thread page: another enterprise gets 404 and an audit row and changes
    nothing; the institution may not close before answering (the rule's message is flashed);
    the asker closes it, which ends it as an open matter (R-ONB-06)."""
    c = world.ask(datetime(2026, 11, 23, 9, 0, tzinfo=SH))
    stranger = web_login(world.app, world.other_enterprise)
    own_form = stranger.get(f"/institutions/{world.institution.id}/consult").get_data(as_text=True)
    assert stranger.post(f"/consultations/{c.id}/close",
                         data={"csrf_token": csrf_token_in(own_form)}).status_code == 404
    assert denied("consultation.read") or denied("consultation.close")
    agent = web_login(world.app, world.agent)
    agent_page = agent.get(f"/consultations/{c.id}").get_data(as_text=True)
    refused = agent.post(f"/consultations/{c.id}/close", data={"csrf_token": csrf_token_in(agent_page)},
                         follow_redirects=True)
    assert "请先回复该咨询，再关闭。" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).status is ConsultationStatus.OPEN

    asker = web_login(world.app, world.asker)
    page = asker.get(f"/consultations/{c.id}").get_data(as_text=True)
    assert asker.post(f"/consultations/{c.id}/close", data={}).status_code in (302, 400)  # no token
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).status is ConsultationStatus.OPEN
    assert asker.post(f"/consultations/{c.id}/close",
                      data={"csrf_token": csrf_token_in(page)}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Consultation, c.id).status is ConsultationStatus.CLOSED
