"""Hand-computed score sheets (R-ASM-01, R-ASM-02, R-ASM-03, R-ASM-04).

Each test starts from a lab that loses nothing in its first cycle (2024-07-01 … 2024-12-31 is
assessed, testing quota 20 in service year 1), then adds exactly the rows that cost an item.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from assessment_support import (
    Lab,
    add_cases,
    add_complaints,
    add_compliance,
    add_orders,
    add_required_documents,
    add_unanswered_consultation,
    add_unsatisfied_follow_up,
    clean_lab,
    fulfil,
)
from conftest import OPENED
from sqlalchemy import delete, func, select

from core.assessment import service
from core.assessment.cycles import Cycle, add_months
from core.catalogue.models import ItemStatus, ServiceItem
from core.complaints.models import ComplaintStatus
from core.db import db
from core.errors import DomainError, ErrorCode
from core.institutions.models import InstitutionStaff, StaffRole
from core.orders.models import OrderStatus

IN_CYCLE = date(2024, 9, 10)  # a Tuesday inside cycle 1's assessed months


def compute(lab: Lab, number: int = 1):
    cycle = lab.cycle(number)
    return service.compute_batch([cycle], {lab.institution.id: lab.institution})[0]


def deducted(sheet) -> list[int]:
    return [item.number for item in sheet.items if item.deducted]


@pytest.fixture
def ready(lab):
    fulfil(lab, lab.cycle(1), orders=20)
    return lab


def test_a_lab_that_meets_every_item_scores_100(ready):
    sheet = compute(ready)
    assert (sheet.score, sheet.passed, deducted(sheet)) == (100, True, [])
    assert [i.number for i in sheet.items] == list(range(1, 11))
    assert (sheet.period_start, sheet.period_end, sheet.assessed_from) == (
        date(2024, 1, 1), date(2024, 12, 31), date(2024, 7, 1))
    assert sheet.items[8].evidence == {"count": 20, "quota": 20, "category": "testing",
                                       "serviceYear": 1}


def test_item_1_a_penalty_within_three_years_costs_10(ready):
    """R-ASM-02 item 1: even a penalty from before the cycle, within 3 years of its end."""
    record = add_compliance(ready, date(2022, 3, 1))
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score) == ([1], 90)
    assert sheet.items[0].evidence["records"][0]["id"] == record.id


def test_item_2_more_than_three_verified_complaints_cost_20(ready):
    add_complaints(ready, 3, IN_CYCLE)
    add_complaints(ready, 2, IN_CYCLE, status=ComplaintStatus.UNFOUNDED)
    assert compute(ready).score == 100  # 3 verified are not "more than 3"
    add_complaints(ready, 1, IN_CYCLE)
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score) == ([2], 80)
    assert sheet.items[1].evidence["count"] == 4


def test_item_3_an_incomplete_profile_costs_10(ready):
    ready.institution.introduction = "检测服务"
    db.session.commit()
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score) == ([3], 90)
    assert sheet.items[2].evidence["missing"] == ["introduction"]


def test_item_4_a_required_document_not_valid_on_the_cycle_end_costs_10(ready, make_user):
    from core.documents.models import Document

    cma = db.session.scalar(select(Document).where(Document.kind == "cma"))
    cma.valid_to = date(2024, 11, 30)  # expired before 2024-12-31
    db.session.commit()
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score) == ([4], 90)
    failing = [c for c in sheet.items[3].evidence["checks"] if not c["passed"]]
    assert [c["subject"] for c in failing] == ["testing"]


def test_item_5_an_item_off_specification_or_none_published_costs_10(ready):
    item = db.session.scalar(select(ServiceItem))
    item.scope = None
    db.session.commit()
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score) == ([5], 90)
    assert sheet.items[4].evidence["offSpecification"][0]["fields"] == ["scope"]
    item.scope, item.status = "佛山市企业", ItemStatus.WITHDRAWN
    db.session.commit()
    assert deducted(compute(ready)) == [5]  # nothing published fails too


def test_item_6_nine_cases_cost_10_ten_do_not(lab):
    add_orders(lab, 20, IN_CYCLE)
    add_cases(lab, 9, IN_CYCLE)
    add_cases(lab, 5, date(2024, 6, 30))  # the adaptation period does not count (R-ASM-01)
    assert deducted(compute(lab)) == [6]
    add_cases(lab, 1, date(2024, 12, 31))
    assert deducted(compute(lab)) == []


def test_item_7_no_agent_costs_10(ready):
    db.session.execute(delete(InstitutionStaff).where(InstitutionStaff.role == StaffRole.AGENT))
    db.session.commit()
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score, sheet.items[6].evidence["agents"]) == ([7], 90, 0)


def test_item_8_a_month_missing_the_response_sla_costs_10(ready):
    add_unanswered_consultation(ready, IN_CYCLE)
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score) == ([8], 90)
    evidence = sheet.items[7].evidence
    assert evidence["months"] == [f"2024-{m:02d}" for m in range(7, 13)]
    assert [m["month"] for m in evidence["missed"]] == ["2024-09"]


def test_item_9_orders_below_the_quota_cost_10(lab):
    add_cases(lab, 10, IN_CYCLE)
    add_orders(lab, 19, IN_CYCLE)
    add_orders(lab, 3, IN_CYCLE, status=OrderStatus.CANCELLED)
    add_orders(lab, 2, IN_CYCLE, placed_by_staff=True)  # not effective (R-ASM-03)
    sheet = compute(lab)
    assert (deducted(sheet), sheet.score, sheet.items[8].evidence["count"]) == ([9], 90, 19)


def test_item_10_an_unsatisfied_follow_up_costs_10(ready):
    follow_up = add_unsatisfied_follow_up(ready, IN_CYCLE)
    sheet = compute(ready)
    assert (deducted(sheet), sheet.score) == ([10], 90)
    assert sheet.items[9].evidence["followUpIds"] == [follow_up.id]


def test_all_ten_deductions_together_score_0(lab):
    add_compliance(lab, date(2024, 8, 1))
    add_complaints(lab, 4, IN_CYCLE)
    lab.institution.introduction = ""
    db.session.execute(delete(InstitutionStaff).where(InstitutionStaff.role == StaffRole.AGENT))
    db.session.commit()
    from core.documents.models import Document
    for document in db.session.scalars(select(Document)):
        document.deleted_at = document.uploaded_at
    db.session.scalar(select(ServiceItem)).status = ItemStatus.DRAFT
    db.session.commit()
    add_unanswered_consultation(lab, IN_CYCLE)
    add_unsatisfied_follow_up(lab, IN_CYCLE)
    sheet = compute(lab)
    assert deducted(sheet) == list(range(1, 11))
    assert (sheet.score, sheet.passed) == (0, False)  # 110 points deducted, never below 0


def test_exactly_60_passes_and_50_fails(lab):
    """R-ASM-02: deductions are multiples of 10, so the boundary is 60 against 50."""
    add_complaints(lab, 4, IN_CYCLE)  # −20
    # no cases (−10) and no orders (−10): 100 − 40 = 60
    sheet = compute(lab)
    assert (deducted(sheet), sheet.score, sheet.passed) == ([2, 6, 9], 60, True)
    add_unsatisfied_follow_up(lab, IN_CYCLE)  # −10 more
    sheet = compute(lab)
    assert (sheet.score, sheet.passed) == (50, False)


def test_an_institution_in_its_adaptation_period_is_not_assessed(app, make_user, operator):
    """R-ASM-01: opened four months ago — nothing is due; the daily run skips it too."""
    today = date(2026, 5, 1)
    lab = clean_lab(make_user, add_months(today, -4))
    with pytest.raises(DomainError) as refused:
        service.compute_assessment(lab.institution, actor=operator, on=today)
    assert refused.value.code is ErrorCode.ASSESSMENT_NOT_DUE
    assert "adaptation" in refused.value.message or "适应期" in refused.value.message
    start, end = service.on_bounds(today)
    summary = service.assess_due(start, end)
    assert summary.computed == 0
    assert db.session.scalar(select(func.count()).select_from(
        service.AssessmentSheet)) == 0


def test_the_first_cycle_is_assessed_after_it_ends(ready, operator):
    with pytest.raises(DomainError):  # month 9: past adaptation, cycle 1 not over
        service.compute_assessment(ready.institution, actor=operator, on=date(2024, 10, 1))
    sheet = service.compute_assessment(ready.institution, actor=operator, on=date(2025, 1, 1))
    assert (sheet.cycle_number, sheet.service_year, sheet.score) == (1, 1, 100)


@pytest.mark.parametrize(("category", "year", "quota"), [
    ("testing", 1, 20), ("testing", 2, 30), ("testing", 3, 50), ("testing", 4, 50),
    ("certification", 1, 5), ("certification", 2, 5), ("certification", 3, 5)])
def test_quota_boundaries_by_service_year_and_group(app, make_user, category, year, quota):
    """R-ASM-03: group A 20/30/50 (year 3 and later), group B 5 every year: quota − 1 orders
    cost item 9, the quota itself does not."""
    lab = clean_lab(make_user, add_months(OPENED, -12 * (year - 1)), category=category)
    cycle = lab.cycle(year)
    assert cycle.service_year == year
    fulfil(lab, cycle, orders=quota - 1)
    sheet = compute(lab, year)
    assert (deducted(sheet), sheet.items[8].evidence["quota"]) == ([9], quota)
    add_orders(lab, 1, cycle.end)
    assert deducted(compute(lab, year)) == []


def test_the_main_category_sets_the_quota_or_the_configured_rule(app, make_user):
    lab = clean_lab(make_user, OPENED)
    from core.onboarding.models import InstitutionCategory
    db.session.add(InstitutionCategory(institution_id=lab.institution.id,
                                       category_code="certification"))
    lab.institution.main_category_code = "certification"
    db.session.commit()
    add_required_documents(lab.institution, lab.admin, "certification")
    fulfil(lab, lab.cycle(1), orders=5)
    sheet = compute(lab)
    assert (sheet.quota_category, sheet.items[8].evidence["quota"], deducted(sheet)) == (
        "certification", 5, [])
    app.config["ASSESSMENT_QUOTA_RULE"] = "highest"
    sheet = compute(lab)
    assert (sheet.quota_category, deducted(sheet)) == ("testing", [9])


def test_cycles_count_twelve_months_from_the_opening_date():
    cycle = Cycle(1, 1, date(2024, 2, 29), service.cycles_mod.OpeningSource.SERVICE_OPENING)
    assert (cycle.start, cycle.end, cycle.assessed_from) == (
        date(2024, 2, 29), date(2025, 2, 27), date(2024, 8, 29))
    second = Cycle(1, 2, date(2024, 2, 29), cycle.opening_source)
    assert (second.start, second.end, second.assessed_from) == (
        date(2025, 2, 28), date(2026, 2, 27), date(2025, 2, 28))
    # each calendar month belongs to the cycle its last day falls in
    assert cycle.months == [(2024, m) for m in range(8, 13)] + [(2025, 1)]
    assert second.months[0] == (2025, 2) and len(second.months) == 12
    assert second.end - timedelta(days=1) > cycle.end
