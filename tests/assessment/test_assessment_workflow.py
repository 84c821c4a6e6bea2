"""The workflow (R-ASM-04, R-ASM-05, R-ASM-06, R-ONB-07): recompute is idempotent, overrides
need a reason and keep the computed value, a final sheet never changes, a failed cycle raises a
removal notice, the institution reads only its own final sheet; refusals are audited."""

from __future__ import annotations

from datetime import date

import pytest
from assessment_support import add_unsatisfied_follow_up, clean_lab, fulfil
from conftest import OPENED
from sqlalchemy import func, select

from core.assessment import service, summaries
from core.assessment.models import AssessmentItem, AssessmentSheet, SheetStatus
from core.db import db
from core.errors import DomainError, ErrorCode, InvalidInput, PermissionDenied
from core.notifications.models import OutboxMessage
from core.onboarding.models import RemovalNotice, RemovalReason
from core.testing import audit_events

AFTER_CYCLE_1 = date(2025, 1, 2)


@pytest.fixture
def draft(lab, operator):
    fulfil(lab, lab.cycle(1), orders=20)
    return service.compute_assessment(lab.institution, actor=operator, on=AFTER_CYCLE_1)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_recomputing_a_draft_keeps_the_same_rows(draft, lab, operator):
    item_ids = [i.id for i in draft.items]
    add_unsatisfied_follow_up(lab, date(2024, 10, 8))
    again = service.compute_assessment(lab.institution, actor=operator, on=AFTER_CYCLE_1)
    assert again.id == draft.id and [i.id for i in again.items] == item_ids
    assert (_count(AssessmentSheet), _count(AssessmentItem), again.score) == (1, 10, 90)
    assert len(audit_events("assessment.computed")) == 2


def test_an_override_needs_a_reason_and_keeps_the_computed_value(draft, operator):
    """R-ASM-04."""
    with pytest.raises(InvalidInput) as refused:
        service.override_item(draft, 6, deducted=True, reason="  ", actor=operator)
    assert refused.value.problems[0].field == "reason"
    assert draft.items[5].override_deducted is None and draft.score == 100

    item = service.override_item(draft, 6, deducted=True,
                                 reason="抽查发现3个上报案例为重复录入，实际不足10个", actor=operator)
    assert (item.computed_deducted, item.override_deducted, item.deducted) == (False, True, True)
    assert item.evidence["count"] == 10 and draft.score == 90
    audit = audit_events("assessment.override")[0]
    assert audit.after["computed"] is False and audit.after["reason"].startswith("抽查")
    assert audit.before["score"] == 100 and audit.actor_id == operator.id


def test_only_an_operator_overrides_and_refusals_are_audited(draft, regulator):
    with pytest.raises(PermissionDenied):
        service.override_item(draft, 6, deducted=True, reason="理由充分的说明", actor=regulator)
    assert len(audit_events("assessment.override", "denied")) == 1


def test_a_final_sheet_never_changes(draft, lab, operator, regulator):
    service.finalise(draft, actor=regulator)
    assert draft.status is SheetStatus.FINAL
    before = [(i.computed_deducted, i.override_deducted, i.evidence) for i in draft.items]
    with pytest.raises(DomainError) as refused:
        service.override_item(draft, 2, deducted=True, reason="补充核查结果", actor=operator)
    assert refused.value.code is ErrorCode.ASSESSMENT_FINAL
    with pytest.raises(DomainError):
        service.finalise(draft, actor=regulator)
    add_unsatisfied_follow_up(lab, date(2024, 10, 8))
    with pytest.raises(DomainError) as refused:
        service.compute_assessment(lab.institution, actor=operator, on=AFTER_CYCLE_1)
    assert refused.value.code is ErrorCode.ASSESSMENT_FINAL
    summary = service.assess_due(*service.period_bounds(2024))
    assert (summary.final_unchanged, summary.recomputed) == (1, 0)
    db.session.expire_all()
    sheet = db.session.get(AssessmentSheet, draft.id)
    assert sheet.score == 100 and sheet.status is SheetStatus.FINAL
    assert [(i.computed_deducted, i.override_deducted, i.evidence) for i in sheet.items] == before


def test_finalising_notifies_the_institution_who_then_reads_its_sheet(draft, lab, regulator):
    with pytest.raises(PermissionDenied):  # a draft is still under review
        service.get_sheet(draft.id, lab.admin)
    service.finalise(draft, actor=regulator)
    channels = sorted(m.channel for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "assessment_final", OutboxMessage.recipient_user_id == lab.admin.id)))
    assert channels == ["inbox", "sms"]
    assert service.get_sheet(draft.id, lab.admin).id == draft.id
    assert _count(RemovalNotice) == 0  # passed: no removal


def test_a_failed_cycle_raises_a_removal_notice(app, make_user, operator, regulator):
    """R-ASM-05, R-ONB-07: the regulator's finalisation of a score under 60 starts removal."""
    lab = clean_lab(make_user, OPENED)  # no cases, no orders: 80; then −30 by overrides
    sheet = service.compute_assessment(lab.institution, actor=operator, on=AFTER_CYCLE_1)
    for number in (1, 3, 7):
        service.override_item(sheet, number, deducted=True, reason="现场核查认定不符合要求",
                              actor=operator)
    assert (sheet.score, sheet.passed) == (50, False)
    service.finalise(sheet, actor=regulator)
    notice = db.session.scalar(select(RemovalNotice))
    assert (notice.reason, notice.institution_id, notice.issued_by_id) == (
        RemovalReason.FAILED_ASSESSMENT, lab.institution.id, regulator.id)
    assert "50" in notice.details and sheet.removal_notice_id == notice.id


def test_another_institution_cannot_read_a_sheet(draft, app, make_user, regulator):
    other = clean_lab(make_user, OPENED, name="佛山市南海区计量检测中心")
    service.finalise(draft, actor=regulator)
    with pytest.raises(PermissionDenied):
        service.get_sheet(draft.id, other.admin)
    denied = audit_events("assessment.read", "denied")
    assert [(a.actor_id, a.object_id) for a in denied] == [(other.admin.id, str(draft.id))]
    rows, total = service.list_sheets(other.admin)
    assert (rows, total) == ([], 0)
    with pytest.raises(PermissionDenied):
        service.compute_assessment(other.institution, actor=other.admin, on=AFTER_CYCLE_1)


def test_listing_reads_a_constant_number_of_statements(app, make_user, operator):
    from tests_support_count import count_statements

    for k in range(6):
        lab = clean_lab(make_user, OPENED, name=f"佛山市禅城区第{k}检测站")
        service.compute_assessment(lab.institution, actor=operator, on=AFTER_CYCLE_1)
    with count_statements() as small:
        rows, total = service.list_sheets(operator, year=2024, first=2)
        [len(r.items) for r in rows]
    with count_statements() as large:
        rows, total = service.list_sheets(operator, year=2024, first=6)
        [len(r.items) for r in rows]
    assert (len(rows), total) == (6, 6) and small.count == large.count


def test_the_batched_run_reads_a_fixed_number_of_statements(app, make_user):
    """Assessing 3 or 9 institutions issues the same statements: the batch path scales."""
    from tests_support_count import count_statements

    labs = [clean_lab(make_user, OPENED, name=f"佛山市高明区第{k}检测站") for k in range(9)]
    for lab in labs:
        fulfil(lab, lab.cycle(1), orders=3)
    counts = []
    for group in (labs[:3], labs[3:]):
        cycles = [lab.cycle(1) for lab in group]
        with count_statements(reads_only=True) as counted:
            service.compute_batch(cycles, {lab.institution.id: lab.institution for lab in group})
        counts.append(counted.count)
    assert counts[0] == counts[1]


def test_the_service_summary_is_submitted_and_its_absence_listed(draft, lab, operator, regulator):
    """R-ASM-06."""
    rows, total = summaries.sheets_missing_summary(operator)
    assert ([r.id for r in rows], total) == ([draft.id], 1)
    with pytest.raises(InvalidInput):
        summaries.submit_summary(lab.institution, 1, body="太短", actor=lab.admin,
                                 on=AFTER_CYCLE_1)
    with pytest.raises(PermissionDenied):
        summaries.submit_summary(lab.institution, 1, body="本年度共完成检测服务20单" * 3,
                                 actor=operator, on=AFTER_CYCLE_1)
    summaries.submit_summary(lab.institution, 1, body="本年度共完成检测服务20单，上报案例10个。" * 2,
                             actor=lab.admin, on=AFTER_CYCLE_1)
    assert summaries.sheets_missing_summary(regulator) == ([], 0)
    service.finalise(draft, actor=regulator)
    with pytest.raises(DomainError):
        summaries.submit_summary(lab.institution, 1, body="修改后的年度服务总结内容，补充说明。" * 2,
                                 actor=lab.admin, on=AFTER_CYCLE_1)
