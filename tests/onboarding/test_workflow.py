"""The application workflow: one state machine (R-ONB-01…05, R-ELIG-10)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from factory import eligible_institution
from sqlalchemy import func, select

from core.audit.models import AuditEvent
from core.db import db
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role
from core.institutions.models import Institution, InstitutionStatus
from core.notifications.models import OutboxMessage
from core.onboarding import workflow
from core.onboarding.models import Application, ApplicationState

S = ApplicationState


@pytest.fixture
def staff(make_user):
    return {"operator": make_user(Role.OPERATOR, name="运维 黄晓婷"),
            "regulator": make_user(Role.REGULATOR, name="市场监管局 陈立新")}


def _to_review(institution, admin, staff):
    workflow.transition(institution.id, "submit", actor=admin)
    workflow.transition(institution.id, "start_screening", actor=staff["operator"])
    return workflow.transition(institution.id, "pass_screening", actor=staff["operator"],
                               reason="资质齐全，技术能力符合要求")


def _outbox(template):
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)))


def test_approval_makes_the_institution_live_and_sends_an_sms_R_ONB_05(app, make_user, staff):
    institution, admin = eligible_institution(make_user)
    _to_review(institution, admin, staff)
    application = workflow.transition(institution.id, "approve", actor=staff["regulator"],
                                      on=date(2026, 11, 23))
    assert application.state is S.APPROVED
    db.session.refresh(institution)
    assert institution.status is InstitutionStatus.LIVE
    assert institution.service_opening_date == date(2026, 11, 23)
    sms = [m for m in _outbox("application_approved") if m.channel == "sms"]
    assert len(sms) == 1 and sms[0].address == "13922000003"
    assert institution.legal_name in sms[0].body
    history = [(e.from_state, e.to_state) for e in application.events]
    assert history == [("draft", "submitted"), ("submitted", "screening"),
                       ("screening", "review"), ("review", "approved")]


def test_submission_is_refused_while_any_check_fails_listing_them_R_ELIG_10(app, make_user):
    institution, admin = eligible_institution(make_user, agent_count=0, sign=False)
    with pytest.raises(workflow.NotEligible) as refused:
        workflow.transition(institution.id, "submit", actor=admin)
    assert {r.code for r in refused.value.report.failures} == {"R-ELIG-04", "R-ELIG-05"}
    assert workflow.application_for(institution).state is S.DRAFT


def test_an_illegal_transition_is_refused_and_the_state_kept_R_ONB_03(app, make_user, staff):
    institution, _admin = eligible_institution(make_user)
    with pytest.raises(workflow.IllegalTransition, match=r"draft|草稿|审核"):
        workflow.transition(institution.id, "approve", actor=staff["regulator"])
    assert workflow.application_for(institution).state is S.DRAFT


def test_the_operator_screens_and_only_the_regulator_decides_R_ONB_03(app, make_user, staff):
    institution, admin = eligible_institution(make_user)
    _to_review(institution, admin, staff)
    with pytest.raises(PermissionDenied):
        workflow.transition(institution.id, "approve", actor=staff["operator"])
    with pytest.raises(PermissionDenied):
        workflow.transition(institution.id, "approve", actor=admin)
    denied = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "application.approve", AuditEvent.result == "denied"))
    assert denied == 2


def test_rejection_needs_reasons_and_resubmission_keeps_the_history_R_ONB_03(app, make_user, staff):
    institution, admin = eligible_institution(make_user)
    _to_review(institution, admin, staff)
    with pytest.raises(InvalidInput):
        workflow.transition(institution.id, "reject", actor=staff["regulator"], reason=" ")
    workflow.transition(institution.id, "reject", actor=staff["regulator"],
                        reason="检验检测能力与所选优势项目不符")
    assert len(_outbox("application_rejected")) >= 1
    workflow.transition(institution.id, "reopen", actor=admin)
    application = workflow.transition(institution.id, "submit", actor=admin)
    assert application.state is S.SUBMITTED and application.round == 2
    reasons = [e.reason for e in application.events if e.to_state == "rejected"]
    assert reasons == ["检验检测能力与所选优势项目不符"]
    assert len(application.events) == 6  # submit, screen, pass, reject, reopen, submit


def test_materials_deadline_counts_working_days_across_national_day_R_ONB_04(app, make_user, staff):
    """15 working days from Tue 29 Sep 2026 skip the National Day holiday (1-7 Oct) and count the
    adjusted working Saturday 10 Oct: the deadline is Mon 26 Oct, not Tue 20 Oct."""
    institution, admin = eligible_institution(make_user)
    _to_review(institution, admin, staff)
    application = workflow.transition(institution.id, "request_materials", actor=staff["regulator"],
                                      reason="请补充近一年家电安全检测报告样本", on=date(2026, 9, 29))
    assert application.materials_deadline == date(2026, 10, 26)
    assert _outbox("materials_requested")

    assert workflow.lapse_overdue(date(2026, 10, 26)) == []  # the deadline day itself is fine
    assert workflow.lapse_overdue(date(2026, 10, 27)) == [institution.id]
    db.session.expire_all()
    assert workflow.application_for(institution).state is S.LAPSED  # not approved
    assert workflow.lapse_overdue(date(2026, 10, 28)) == []  # idempotent


def test_materials_provided_in_time_go_back_to_the_queue_R_ONB_04(app, make_user, staff):
    institution, admin = eligible_institution(make_user)
    _to_review(institution, admin, staff)
    workflow.transition(institution.id, "request_materials", actor=staff["operator"],
                        reason="补充CMA附表", on=date(2026, 11, 23))
    application = workflow.transition(institution.id, "submit", actor=admin)
    assert application.state is S.SUBMITTED and application.materials_deadline is None


def test_an_on_site_investigation_needs_a_date_and_place_R_ONB_04(app, make_user, staff):
    institution, admin = eligible_institution(make_user)
    _to_review(institution, admin, staff)
    with pytest.raises(InvalidInput):
        workflow.transition(institution.id, "schedule_onsite", actor=staff["operator"])
    visit = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # 09:30 in Foshan
    workflow.transition(institution.id, "schedule_onsite", actor=staff["operator"],
                        onsite_at=visit, onsite_place="佛山市顺德区大良街道观绿路4号 实验室")
    message = _outbox("onsite_visit_scheduled")[0]
    assert "09:30" in message.body
    application = workflow.transition(institution.id, "record_onsite", actor=staff["operator"],
                                      reason="现场核查：设备与人员符合要求")
    assert application.state is S.REVIEW


def test_two_approvals_at_once_exactly_one_succeeds_R_ONB_05(app, make_user, staff, postgres_url):
    institution, admin = eligible_institution(make_user)
    _to_review(institution, admin, staff)
    second = make_user(Role.REGULATOR, name="市场监管局 李敏")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def approve(user_id: int) -> None:
        from core.identity.models import User

        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait()
            try:
                workflow.transition(institution.id, "approve", actor=user)
                results.append("ok")
            except workflow.IllegalTransition:
                results.append("refused")

    threads = [threading.Thread(target=approve, args=(u.id,))
               for u in (staff["regulator"], second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["ok", "refused"]
    db.session.expire_all()
    approvals = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "application.approve", AuditEvent.result == "success"))
    assert approvals == 1
    assert len([m for m in _outbox("application_approved") if m.channel == "sms"]) == 1
    assert db.session.get(Institution, institution.id).status is InstitutionStatus.LIVE


def test_review_queue_lists_waiting_applications_oldest_first(app, make_user, staff):
    institution, admin = eligible_institution(make_user)
    workflow.transition(institution.id, "submit", actor=admin)
    queue = workflow.review_queue()
    assert [a.institution_id for a in queue] == [institution.id]
    assert workflow.review_queue(category="metrology") == []
    assert workflow.review_queue(category="testing")[0].state is S.SUBMITTED
    assert db.session.scalar(select(func.count()).select_from(Application)) == 1
