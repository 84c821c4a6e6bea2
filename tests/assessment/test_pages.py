"""The assessment pages (issue 6; R-ASM-02, R-ASM-04, R-ASM-05, R-ASM-06): each role's page,
overrides only with a reason (a refused one changes nothing), finalisation by the regulator
only, drafts hidden from the institution, another institution's sheet is "not found"."""

from __future__ import annotations

from datetime import date

import pytest
from assessment_support import (
    add_complaints,
    add_unsatisfied_follow_up,
    clean_lab,
    fulfil,
)
from conftest import OPENED
from pages_support import bare_sheet, csrf, web
from sqlalchemy import select
from tests_support_count import count_statements

from core.assessment import service, summaries
from core.assessment.models import AssessmentSheet, ServiceSummary, SheetStatus
from core.catalogue.testing import listed_institution
from core.db import db
from core.identity.models import Role
from core.onboarding.models import RemovalNotice, RemovalReason
from core.testing import audit_events

AFTER_CYCLE_1 = date(2025, 1, 2)
REASON = "抽查发现3个上报案例为重复录入，实际不足10个"


@pytest.fixture
def draft(lab, operator):
    """Cycle 1 of the clean lab with its activity: 100 points."""
    fulfil(lab, lab.cycle(1), orders=20)
    return service.compute_assessment(lab.institution, actor=operator, on=AFTER_CYCLE_1)


@pytest.fixture
def failing(make_user, operator):
    """A lab that reported nothing, took no order, has 4 verified complaints and an unsatisfied
    follow-up: items 2, 6, 9, 10 → 100 − 20 − 10 − 10 − 10 = 50 (fails)."""
    lab = clean_lab(make_user, OPENED, name="佛山市南海区星辰检测技术有限公司")
    add_complaints(lab, 4, date(2024, 9, 3))
    add_unsatisfied_follow_up(lab, date(2024, 10, 8))
    sheet = service.compute_assessment(lab.institution, actor=operator, on=AFTER_CYCLE_1)
    assert sheet.score == 50
    return lab, sheet


def _reload(sheet_id: int) -> AssessmentSheet:
    db.session.expire_all()
    found = db.session.get(AssessmentSheet, sheet_id)
    assert found is not None
    return found


# ---------------------------------------------------------------- the institution


def test_the_institution_sees_its_final_sheet_with_evidence_but_never_a_draft_R_ASM_04(
        app, draft, lab, regulator):
    admin = web(app, lab.admin)
    page = admin.get("/assessment").get_data(as_text=True)
    assert lab.institution.legal_name in page and "第1个考核周期" in page
    assert f"sheet-link-{draft.id}" not in page and "评分表尚未定稿" in page
    assert admin.get(f"/assessment/sheets/{draft.id}").status_code == 404
    assert admin.get(f"/assessment/sheets/{draft.id}.pdf").status_code == 404
    assert len(audit_events("assessment.read", "denied")) == 2
    # The institution's staff do not reach the operators' list: it sends them to their page.
    assert admin.get("/assessment/sheets").headers["Location"].endswith("/assessment")

    service.finalise(draft, actor=regulator)
    for user in (lab.admin, lab.agent):
        page = web(app, user).get("/assessment").get_data(as_text=True)
        assert f"sheet-link-{draft.id}" in page
        # The ten rows, each with its evidence in words: which records, which numbers.
        assert page.count('<tr id="item-') == 10
        assert "上报成功服务案例10个" in page  # item 6: 10 reported, at least 10 required
        assert "有效订单20单，年度指标20单" in page  # item 9: 20 against the testing quota of 20
    detail = admin.get(f"/assessment/sheets/{draft.id}").get_data(as_text=True)
    assert 'data-status="final"' in detail and "100" in detail
    assert 'id="override-6-form"' not in detail and 'id="finalise-form"' not in detail


def test_another_institution_gets_404_and_the_attempt_is_audited(app, draft, make_user,
                                                                 regulator):
    service.finalise(draft, actor=regulator)
    _other, other_admin = listed_institution(make_user, "佛山市高明区恒信计量检定有限公司")
    browser = web(app, other_admin)
    for url in (f"/assessment/sheets/{draft.id}", f"/assessment/sheets/{draft.id}.pdf"):
        assert browser.get(url).status_code == 404
    denied = audit_events("assessment.read", "denied")
    assert [(a.object_id, a.actor_id) for a in denied] == [(str(draft.id), other_admin.id)] * 2
    page = browser.get("/assessment").get_data(as_text=True)
    assert draft.institution_id != _other.id and f"sheet-link-{draft.id}" not in page
    # Nor can it post to the sheet or to the lab's summary.
    token = csrf(page) if 'name="csrf_token"' in page else ""
    assert browser.post(f"/assessment/sheets/{draft.id}/finalise",
                        data={"csrf_token": token, "confirm": "y"}).status_code == 404
    assert browser.post(f"/assessment/institutions/{draft.institution_id}/cycles/1/summary",
                        data={"csrf_token": token}).status_code == 404


def test_an_enterprise_user_has_no_assessment_page(app, draft, make_user):
    browser = web(app, make_user(Role.ENTERPRISE, name="佛山美的配件厂采购"))
    for url in ("/assessment", "/assessment/sheets", "/assessment/summaries/missing",
                "/assessment/export.xlsx?year=2024"):
        assert browser.get(url).status_code == 403, url
    assert browser.get(f"/assessment/sheets/{draft.id}").status_code == 404


# ---------------------------------------------------------------- the operator's review


def test_an_override_without_a_reason_shows_the_field_error_and_changes_nothing_R_ASM_04(
        app, draft, operator):
    browser = web(app, operator)
    page = browser.get(f"/assessment/sheets/{draft.id}").get_data(as_text=True)
    assert 'id="override-6-form"' in page and 'id="recompute-form"' in page
    assert 'id="finalise-form"' not in page  # the operator does not finalise
    token = csrf(page, "override-6-form")
    refused = browser.post(f"/assessment/sheets/{draft.id}/items/6/override",
                           data={"csrf_token": token, "item6-decision": "deduct",
                                 "item6-reason": "  "})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert 'id="item6-reason-error"' in html and "请填写调整理由（至少5个字）。" in html
    sheet = _reload(draft.id)
    assert sheet.items[5].override_deducted is None and sheet.score == 100
    assert audit_events("assessment.override") == []

    # Without the CSRF token: refused, nothing written either.
    assert browser.post(f"/assessment/sheets/{draft.id}/items/6/override", data={
        "item6-decision": "deduct", "item6-reason": REASON}).status_code == 400
    assert _reload(draft.id).items[5].override_deducted is None

    done = browser.post(f"/assessment/sheets/{draft.id}/items/6/override", data={
        "csrf_token": token, "item6-decision": "deduct", "item6-reason": REASON})
    assert done.status_code == 302 and done.headers["Location"].endswith("#item-6")
    sheet = _reload(draft.id)
    item = sheet.items[5]
    assert (item.computed_deducted, item.override_deducted, sheet.score) == (False, True, 90)
    # The override is shown beside the computed value, with its reason.
    page = browser.get(f"/assessment/sheets/{draft.id}").get_data(as_text=True)
    assert 'id="item-6-override"' in page and "计算结果：否" in page and REASON in page


def test_the_recompute_button_reads_the_records_again_and_keeps_overrides(app, draft, lab,
                                                                         operator):
    service.override_item(draft, 6, deducted=True, reason=REASON, actor=operator)
    add_unsatisfied_follow_up(lab, date(2024, 10, 8))
    browser = web(app, operator)
    token = csrf(browser.get(f"/assessment/sheets/{draft.id}").get_data(as_text=True),
                 "recompute-form")
    assert browser.post(f"/assessment/sheets/{draft.id}/recompute",
                        data={"csrf_token": token}).status_code == 302
    sheet = _reload(draft.id)
    assert sheet.items[9].computed_deducted and sheet.items[5].override_deducted is True
    assert sheet.score == 80
    # The institution may not recompute (it cannot even see the draft).
    admin = web(app, lab.admin)
    own_token = csrf(admin.get("/assessment").get_data(as_text=True))
    assert admin.post(f"/assessment/sheets/{draft.id}/recompute",
                      data={"csrf_token": own_token}).status_code == 404
    assert _reload(draft.id).computed_by_id == operator.id


def test_the_sheet_list_filters_and_reads_a_fixed_number_of_statements(app, make_user, operator,
                                                                       regulator):
    for k in range(6):
        bare_sheet(make_user, f"佛山市禅城区第{k + 1}检测站", year=2024,
                   deducted=(2, 6, 9, 10) if k % 2 else (),
                   status=SheetStatus.FINAL if k < 2 else SheetStatus.DRAFT)
    bare_sheet(make_user, "佛山市三水区往年检测站", year=2023)
    browser = web(app, regulator)
    page = browser.get("/assessment/sheets?year=2024").get_data(as_text=True)
    assert page.count('<tr id="sheet-') == 6 and "往年检测站" not in page
    assert 'id="export-link"' in page
    failed = browser.get("/assessment/sheets?year=2024&result=fail").get_data(as_text=True)
    assert failed.count('data-passed="no"') == 3 and 'data-passed="yes"' not in failed
    final = browser.get("/assessment/sheets?status=final").get_data(as_text=True)
    assert final.count('data-status="final"') == 2 and 'data-status="draft"' not in final
    paged = browser.get("/assessment/sheets?per_page=10&page=1").get_data(as_text=True)
    assert paged.count('<tr id="sheet-') == 7 and 'id="page-next"' not in paged

    counts = []  # the same statements for a page of 2 sheets and one of 6
    for url in ("/assessment/sheets?year=2024&status=final", "/assessment/sheets?year=2024"):
        with count_statements() as counted:
            assert browser.get(url).status_code == 200
        counts.append(counted.count)
    assert counts[0] == counts[1], counts
    web_operator = web(app, operator)
    assert web_operator.get("/assessment/sheets").status_code == 200


def test_the_missing_summaries_list_shows_who_has_not_reported_R_ASM_06(app, draft, lab,
                                                                        operator):
    browser = web(app, operator)
    page = browser.get("/assessment/summaries/missing").get_data(as_text=True)
    assert f'id="missing-{draft.id}"' in page and lab.institution.legal_name in page
    summaries.submit_summary(lab.institution, 1, body="本年度通过平台接待咨询35次，完成检测订单20单，"
                             "上报成功案例10个。", actor=lab.admin)
    page = browser.get("/assessment/summaries/missing").get_data(as_text=True)
    assert f'id="missing-{draft.id}"' not in page


def test_the_institution_admin_submits_its_service_summary_R_ASM_06(app, draft, lab):
    admin = web(app, lab.admin)
    page = admin.get("/assessment").get_data(as_text=True)
    form_id = f"summary-{lab.institution.id}-1-form"
    token = csrf(page, form_id)
    url = f"/assessment/institutions/{lab.institution.id}/cycles/1/summary"
    prefix = f"c{lab.institution.id}-1-"
    short = admin.post(url, data={"csrf_token": token, prefix + "body": "总结略"})
    assert short.status_code == 400 and "请填写服务总结（至少20个字）。" in short.get_data(as_text=True)
    assert db.session.query(ServiceSummary).count() == 0
    body = ("本年度通过平台接待企业咨询35次，完成家电安全检测订单20单，"
            "上报成功服务案例10个，客服响应均在2小时内。")
    assert admin.post(url, data={"csrf_token": token, prefix + "body": body,
                                 prefix + "document_id": ""}).status_code == 302
    saved = db.session.query(ServiceSummary).one()
    assert (saved.institution_id, saved.cycle_number, saved.body) == (lab.institution.id, 1, body)
    assert "已于" in admin.get("/assessment").get_data(as_text=True)
    # The agent reads the page but has no form, and a post of its own is refused.
    agent = web(app, lab.agent)
    agent_page = agent.get("/assessment").get_data(as_text=True)
    assert form_id not in agent_page and body in agent_page
    assert agent.post(url, data={"csrf_token": csrf(agent_page),
                                 prefix + "body": "代理人改写" + body}).status_code == 404
    assert db.session.scalar(select(ServiceSummary.body)) == body


# ---------------------------------------------------------------- the regulator


def test_only_the_regulator_finalises_and_a_failed_sheet_shows_its_removal_notice_R_ASM_05(
        app, failing, operator, regulator):
    lab, sheet = failing
    operator_web = web(app, operator)
    token = csrf(operator_web.get(f"/assessment/sheets/{sheet.id}").get_data(as_text=True))
    assert operator_web.post(f"/assessment/sheets/{sheet.id}/finalise",
                             data={"csrf_token": token, "confirm": "y"}).status_code == 403
    assert _reload(sheet.id).status is SheetStatus.DRAFT
    assert len(audit_events("assessment.finalise", "denied")) == 1

    browser = web(app, regulator)
    page = browser.get(f"/assessment/sheets/{sheet.id}").get_data(as_text=True)
    assert 'id="finalise-form"' in page and 'id="override-2-form"' not in page
    token = csrf(page, "finalise-form")
    unconfirmed = browser.post(f"/assessment/sheets/{sheet.id}/finalise",
                               data={"csrf_token": token})
    assert unconfirmed.status_code == 400 and 'id="confirm-error"' in unconfirmed.get_data(
        as_text=True)
    assert _reload(sheet.id).status is SheetStatus.DRAFT

    done = browser.post(f"/assessment/sheets/{sheet.id}/finalise",
                        data={"csrf_token": token, "confirm": "y"})
    assert done.status_code == 302
    final = _reload(sheet.id)
    assert final.status is SheetStatus.FINAL and final.removal_notice_id is not None
    notice = db.session.get(RemovalNotice, final.removal_notice_id)
    assert notice.reason is RemovalReason.FAILED_ASSESSMENT
    page = browser.get(f"/assessment/sheets/{sheet.id}").get_data(as_text=True)
    assert 'id="removal-notice"' in page and 'id="finalise-form"' not in page
    assert 'data-passed="no"' in page
    # Finalising again changes nothing (a final sheet never changes).
    again = browser.post(f"/assessment/sheets/{sheet.id}/finalise",
                         data={"csrf_token": token, "confirm": "y"})
    assert again.status_code == 302
    assert db.session.query(RemovalNotice).count() == 1
    # The institution now reads its failed sheet and the notice.
    admin_page = web(app, lab.admin).get(f"/assessment/sheets/{sheet.id}").get_data(as_text=True)
    assert 'id="removal-notice"' in admin_page
