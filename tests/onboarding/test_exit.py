"""Exit (R-ONB-06) and removal (R-ONB-07, R-ASM-05, R-OPS-06): archived, never deleted."""

from __future__ import annotations

from datetime import date

import pytest
from factory import eligible_institution
from sqlalchemy import select

from core.db import db
from core.errors import PermissionDenied
from core.hookspecs import hookimpl
from core.identity.models import Role
from core.institutions.models import Institution, InstitutionStatus
from core.notifications.models import OutboxMessage
from core.onboarding import exit as exits
from core.onboarding import workflow
from core.onboarding.eligibility import OpenMatter
from core.onboarding.models import RemovalReason


@pytest.fixture
def live(make_user):
    institution, admin = eligible_institution(make_user)
    operator, regulator = make_user(Role.OPERATOR), make_user(Role.REGULATOR)
    workflow.transition(institution.id, "submit", actor=admin)
    workflow.transition(institution.id, "start_screening", actor=operator)
    workflow.transition(institution.id, "pass_screening", actor=operator)
    workflow.transition(institution.id, "approve", actor=regulator)
    return institution, admin, regulator


class OpenOrders:
    """Stands in for service operations: one order still open."""

    def __init__(self) -> None:
        self.open = [OpenMatter("order", 41, "订单 #41 检测中")]

    @hookimpl
    def open_matters(self, institution):
        return list(self.open)


def test_exit_waits_for_open_matters_and_then_completes_R_ONB_06(app, live, register_plugin):
    institution, admin, _regulator = live
    orders = register_plugin(OpenOrders())
    exits.request_exit(institution, letter="因业务调整，申请退出佛山企质通平台。", actor=admin)
    db.session.refresh(institution)
    assert institution.status is InstitutionStatus.LIVE
    assert [m.description for m in exits.open_matters(institution)] == ["订单 #41 检测中"]
    orders.open = []
    assert exits.complete_exit_if_clear(institution) == []
    db.session.refresh(institution)
    assert institution.status is InstitutionStatus.EXITED
    assert db.session.get(Institution, institution.id) is not None  # archived, not deleted


def test_only_the_admin_of_a_live_institution_may_ask_to_exit_R_ONB_06(app, live, make_user):
    institution, _admin, regulator = live
    with pytest.raises(PermissionDenied):
        exits.request_exit(institution, letter="代为申请退出平台，请批准。", actor=regulator)


def test_removal_notice_then_removal_after_the_legacy_period_R_ONB_07(app, live):
    institution, _admin, regulator = live
    notice = exits.issue_removal_notice(institution, reason=RemovalReason.FAILED_ASSESSMENT,
                                        details="2026年度考核得分50分，不合格（R-ASM-05）",
                                        actor=regulator, legacy_days=30, on=date(2026, 12, 1))
    assert notice.legacy_deadline == date(2026, 12, 31)
    sms = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "removal_notice", OutboxMessage.channel == "sms")).all()
    assert len(sms) == 1
    assert exits.complete_due_removals(date(2026, 12, 31)) == []  # still in the legacy period
    assert exits.complete_due_removals(date(2027, 1, 1)) == [institution.id]
    assert exits.complete_due_removals(date(2027, 1, 2)) == []  # once
    db.session.refresh(institution)
    assert institution.status is InstitutionStatus.REMOVED
    listed = exits.removed_institutions()
    assert [(i.id, n.reason) for i, n in listed] == [(institution.id, RemovalReason.FAILED_ASSESSMENT)]


def test_only_the_regulator_issues_removal_notices_R_ONB_07(app, live, make_user):
    institution, admin, _regulator = live
    for actor in (admin, make_user(Role.OPERATOR)):
        with pytest.raises(PermissionDenied):
            exits.issue_removal_notice(institution, reason=RemovalReason.NOT_NEEDED,
                                       details="平台认为无需保留", actor=actor)


def test_the_periodic_job_completes_an_exit_once_its_matters_close_R_ONB_06(app, live, register_plugin):
    from core.tasks import get_job, run_job

    institution, admin, _regulator = live
    orders = register_plugin(OpenOrders())
    exits.request_exit(institution, letter="因业务调整，申请退出佛山企质通平台。", actor=admin)
    assert exits.complete_clear_exits() == []  # the order is still open
    db.session.refresh(institution)
    assert institution.status is InstitutionStatus.LIVE
    orders.open = []  # the order closes in its own area; nobody calls exit
    assert exits.complete_clear_exits() == [institution.id]
    db.session.refresh(institution)
    assert institution.status is InstitutionStatus.EXITED
    assert exits.complete_clear_exits() == []  # idempotent: nothing pending any more
    assert run_job(get_job("complete_clear_exits"), app) == {}
