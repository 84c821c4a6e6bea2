"""The exports (issue 6 item 5; R-ASM-02, R-ASM-04): the Annex 2 sheet as a PDF with the
sheet page's permissions, and the regulator's workbook of a year's results with the evidence
of every deduction, checked against hand-computed sheets."""

from __future__ import annotations

import io
from datetime import date

import pytest
from assessment_support import clean_lab, fulfil
from conftest import OPENED
from openpyxl import load_workbook
from pages_support import bare_sheet, web
from pypdf import PdfReader

from core.assessment import exports, service
from core.catalogue.testing import listed_institution
from core.db import db
from core.identity.models import Role
from core.plugins import plugins
from core.testing import audit_events

AFTER_CYCLE_1 = date(2025, 1, 2)
REASON = "客服人员已于2024年8月离职，平台账号未及时移交，核实期内实际无人值守"


@pytest.fixture
def sheets(make_user, operator):
    """Two labs opened on 1 January 2024, cycle 1 (assessed 2024-07-01 … 2024-12-31):
    A reported 10 cases and took 20 orders: 100 points. B did neither (items 6 and 9: −20)
    and the operator deducted item 7 with a reason (−10): 70 points, a pass."""
    a = clean_lab(make_user, OPENED, name="佛山市顺德区华测家电检测有限公司")
    fulfil(a, a.cycle(1), orders=20)
    b = clean_lab(make_user, OPENED, name="佛山市南海区广检计量技术有限公司")
    sheet_a = service.compute_assessment(a.institution, actor=operator, on=AFTER_CYCLE_1)
    sheet_b = service.compute_assessment(b.institution, actor=operator, on=AFTER_CYCLE_1)
    service.override_item(sheet_b, 7, deducted=True, reason=REASON, actor=operator)
    assert (sheet_a.score, sheet_b.score) == (100, 70)
    bare_sheet(make_user, "佛山市三水区往年检测站", year=2023)  # another year: not exported
    return a, sheet_a, b, sheet_b


def _text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# ---------------------------------------------------------------- the PDF


def test_the_pdf_is_the_annex_2_sheet_of_the_institution(app, sheets, operator, regulator):
    _a, _sheet_a, b, sheet_b = sheets
    browser = web(app, operator)
    response = browser.get(f"/assessment/sheets/{sheet_b.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = _text(response.data)
    assert f"机构名称：{b.institution.legal_name}" in text
    assert "考核时间：2024-07-01至2024-12-31" in text and "入驻机构考核评分表（试行）" in text
    # The ten rows: items 6, 7 and 9 answered yes, the seven others no; 扣10分 on nine rows.
    assert text.count("■是") == 3 and text.count("□是") == 7
    assert text.count("扣10分") == 9 and text.count("扣20分") == 1
    assert "机构得分：70分" in text and "■合格" in text
    assert "运维机构调整" in text and "审核中的草稿" in text
    assert [a.object_id for a in audit_events("assessment.export_pdf")] == [str(sheet_b.id)]

    service.finalise(sheet_b, actor=regulator)
    text = _text(browser.get(f"/assessment/sheets/{sheet_b.id}.pdf").data)
    assert f"定稿：{regulator.display_name}" in text and "审核中的草稿" not in text


def test_the_pdf_has_the_sheet_pages_permissions(app, sheets, make_user, regulator):
    a, sheet_a, _b, sheet_b = sheets
    admin = web(app, a.admin)
    assert admin.get(f"/assessment/sheets/{sheet_a.id}.pdf").status_code == 404  # a draft
    service.finalise(sheet_a, actor=regulator)
    response = admin.get(f"/assessment/sheets/{sheet_a.id}.pdf")
    assert response.status_code == 200 and "机构得分：100分" in _text(response.data)
    assert admin.get(f"/assessment/sheets/{sheet_b.id}.pdf").status_code == 404  # not its own
    enterprise = web(app, make_user(Role.ENTERPRISE, name="佛山市德力电器采购部"))
    assert enterprise.get(f"/assessment/sheets/{sheet_a.id}.pdf").status_code == 404
    assert len(audit_events("assessment.read", "denied")) == 3
    assert len(audit_events("assessment.export_pdf")) == 1


# ---------------------------------------------------------------- the workbook


def _rows(data: bytes) -> tuple[list[tuple], list[tuple]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    results, evidence = book.worksheets
    return list(results.iter_rows(values_only=True)), list(evidence.iter_rows(values_only=True))


def test_the_workbook_has_one_row_per_institution_and_every_deductions_evidence(
        app, sheets, regulator):
    a, sheet_a, b, _sheet_b = sheets
    service.finalise(sheet_a, actor=regulator)
    response = web(app, regulator).get("/assessment/export.xlsx?year=2024")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('filename="assessment-2024.xlsx"')
    results, evidence = _rows(response.data)
    testing = plugins.categories()["testing"].name
    assert results[0][:11] == ("机构名称", "统一社会信用代码", "主营类别", "行政区划代码", "周期开始",
                               "周期结束", "考核起始日", "服务年度", "状态", "得分", "考核结果")
    assert results[0][11:21] == tuple(f"第{n}项扣分" for n in range(1, 11))
    by_name = {row[0]: row for row in results[1:]}
    assert set(by_name) == {a.institution.legal_name, b.institution.legal_name}
    row_a, row_b = by_name[a.institution.legal_name], by_name[b.institution.legal_name]
    assert row_a[1:4] == (a.institution.uscc, testing, "440604")
    assert [v.date() for v in row_a[4:7]] == [date(2024, 1, 1), date(2024, 12, 31),
                                              date(2024, 7, 1)]
    assert row_a[7:11] == (1, "已定稿", 100, "合格") and row_a[11:21] == (0,) * 10
    assert row_a[21]  # finalised at
    assert row_b[7:11] == (1, "草稿（审核中）", 70, "合格")
    assert row_b[11:21] == (0, 0, 0, 0, 0, 10, 10, 0, 10, 0) and row_b[21] is None
    # The evidence sheet: B's three deductions (A has none), the override with its reason.
    assert evidence[0] == ("机构名称", "统一社会信用代码", "序号", "考核内容", "扣分", "计算结果", "调整结果",
                           "调整理由", "依据")
    lines = {row[2]: row for row in evidence[1:]}
    assert set(lines) == {6, 7, 9} and {row[0] for row in evidence[1:]} == {b.institution.legal_name}
    assert lines[6][4:7] == (10, "是", None) and "上报成功服务案例0个" in lines[6][8]
    assert lines[7][4:8] == (10, "否", "是", REASON) and "配置客服人员1人" in lines[7][8]
    assert "有效订单0单，年度指标20单" in lines[9][8]
    export = audit_events("assessment.export_xlsx")
    assert [(e.actor_id, e.after) for e in export] == [(regulator.id, {"year": 2024, "rows": 2})]


def test_the_workbook_is_built_batch_by_batch(app, sheets):
    """`rows_of_year` pages by id and lets each batch go: one sheet at a time gives the same
    workbook, and no exported sheet stays in the session."""
    whole = _rows(exports.results_workbook(exports.rows_of_year(2024)))
    seen = []

    def batched():
        for sheet, institution in exports.rows_of_year(2024, batch_size=1):
            seen.append(sheet)
            yield sheet, institution

    assert _rows(exports.results_workbook(batched())) == whole and len(seen) == 2
    assert not any(sheet in db.session for sheet in seen)


def test_only_operators_and_regulators_export_the_workbook(app, sheets, make_user, operator):
    a = sheets[0]
    assert web(app, a.admin).get("/assessment/export.xlsx?year=2024").status_code == 403
    enterprise = make_user(Role.ENTERPRISE, name="佛山市德力电器采购部")
    assert web(app, enterprise).get("/assessment/export.xlsx?year=2024").status_code == 403
    assert len(audit_events("assessment.export_xlsx", "denied")) == 2
    browser = web(app, operator)
    assert browser.get("/assessment/export.xlsx").status_code == 302  # the year is required
    results, _evidence = _rows(browser.get("/assessment/export.xlsx?year=2023").data)
    assert [row[0] for row in results[1:]] == ["佛山市三水区往年检测站"]
    _other, other_admin = listed_institution(make_user, "佛山市高明区恒信计量检定有限公司")
    assert web(app, other_admin).get("/assessment/export.xlsx?year=2023").status_code == 403
