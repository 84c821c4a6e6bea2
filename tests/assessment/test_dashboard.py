"""The regulator's assessment dashboard and `assessmentStatistics` (issue 6 item 7): figures equal
to hand-computed ones (R-ASM-02: 60 passes; R-ASM-04: an override is the answer in force),
operators and regulators only with audited refusals (SECURITY.md 9), and a statement count that
does not grow with the number of sheets."""

from __future__ import annotations

import re
from datetime import date

import pytest
from pages_support import web
from tests_support_count import count_statements

from core.assessment.charts import Bar, bars
from core.assessment.models import AssessmentItem, AssessmentSheet, OpeningSource, SheetStatus
from core.assessment.sheet import ITEMS, passes, score_of
from core.assessment.statistics import statistics
from core.catalogue.testing import listed_institution
from core.db import db, utcnow
from core.errors import InvalidInput, PermissionDenied
from core.identity.models import Role
from core.testing import GraphQLClient, audit_events, graphql_login

FINAL, DRAFT = SheetStatus.FINAL, SheetStatus.DRAFT


def add_sheet(make_user, name: str, *, year: int, category: str | None, district: str | None,
              city: str = "440600", computed: tuple[int, ...] = (),
              overrides: dict[int, bool] | None = None, status: SheetStatus = DRAFT) -> AssessmentSheet:
    """A stored sheet (no computation): `computed` items deducted, `overrides` beside them."""
    overrides = overrides or {}
    institution, _admin = listed_institution(make_user, name, city_code=city,
                                             district_code=district)  # type: ignore[arg-type]
    in_force = [n for n in ITEMS if overrides.get(n, n in computed)]
    score = score_of([ITEMS[n][0] for n in in_force])
    start = date(year - 1, 3, 1)
    sheet = AssessmentSheet(
        institution_id=institution.id, cycle_number=2, opening_date=date(year - 2, 3, 1),
        opening_source=OpeningSource.SERVICE_OPENING, period_start=start,
        period_end=date(year, 2, 28), assessed_from=start, service_year=2,
        quota_category=category, status=status, score=score, passed=passes(score),
        finalised_at=utcnow() if status is FINAL else None,
        items=[AssessmentItem(number=n, points=ITEMS[n][0], computed_deducted=n in computed,
                              override_deducted=overrides.get(n),
                              override_reason="复核后调整" if n in overrides else None,
                              evidence={}) for n in ITEMS])
    db.session.add(sheet)
    db.session.commit()
    return sheet


@pytest.fixture
def sheets(app, make_user):
    """Five sheets of 2025 (scores 90, 70, 60, 30, 0), one of 2024 and one of 2026."""
    return {
        "A": add_sheet(make_user, "佛山市顺德区甲检测有限公司", year=2025, category="testing",
                       district="440606", computed=(6,), status=FINAL),
        "B": add_sheet(make_user, "佛山市禅城区乙检测有限公司", year=2025, category="testing",
                       district="440604", computed=(2, 9)),
        "C": add_sheet(make_user, "佛山市顺德区丙计量有限公司", year=2025, category="metrology",
                       district="440606", computed=(2, 3, 5), status=FINAL),
        # Computed 1-5 and 9; the operator took 9 off and added 6: in force 1-6, 30 points.
        "D": add_sheet(make_user, "佛山市南海区丁计量有限公司", year=2025, category="metrology",
                       district="440605", computed=(1, 2, 3, 4, 5, 9), overrides={9: False, 6: True}),
        "E": add_sheet(make_user, "东莞市戊认证有限公司", year=2025, category=None, district=None,
                       city="441900", computed=tuple(ITEMS), status=FINAL),
        "F": add_sheet(make_user, "佛山市顺德区己检测有限公司", year=2024, category="testing",
                       district="440606", computed=(9,), status=FINAL),
        "G": add_sheet(make_user, "佛山市顺德区庚检测有限公司", year=2026, category="testing",
                       district="440606"),
    }


def test_the_figures_are_the_hand_computed_ones(sheets, regulator):
    """R-ASM-02 (the sheet with exactly 60 passes), R-ASM-04 (overrides count as in force)."""
    stats = statistics(regulator, year=2025)
    o = stats.overall
    assert (o.sheets, o.passed, o.failed, o.pass_rate, o.average) == (5, 3, 2, 0.6, 50.0)
    assert o.bands == [1, 0, 0, 1, 0, 0, 1, 1, 0, 1]  # 0, 30, 60, 70, 90
    assert o.top_deductions() == [(2, 4), (3, 3), (5, 3), (6, 3), (1, 2), (4, 2), (9, 2), (7, 1),
                                  (8, 1), (10, 1)]

    categories = {c.key: c for c in stats.categories}
    assert [c.key for c in stats.categories] == ["metrology", "testing", None]
    assert (categories["testing"].sheets, categories["testing"].passed,
            categories["testing"].average) == (2, 2, 80.0)
    metrology = categories["metrology"]
    assert (metrology.sheets, metrology.passed, metrology.pass_rate, metrology.average) == (
        2, 1, 0.5, 45.0)
    assert metrology.deductions == {1: 1, 2: 2, 3: 2, 4: 1, 5: 2, 6: 1}  # 9 taken off
    assert (categories[None].sheets, categories[None].passed, categories[None].bands[0]) == (1, 0, 1)

    assert [r.key for r in stats.regions] == ["440606", "440604", "440605", "441900"]
    shunde = stats.regions[0]
    assert (shunde.name, shunde.sheets, shunde.passed, shunde.average) == (
        "顺德区 (440606)", 2, 2, 75.0)
    assert shunde.deductions == {6: 1, 2: 1, 3: 1, 5: 1}
    assert (stats.regions[3].name, stats.regions[3].failed) == ("441900", 1)

    assert [(y.year, y.final, y.draft, y.passed, y.average) for y in stats.years] == [
        (2024, 1, 0, 1, 90.0), (2025, 3, 2, 3, 50.0), (2026, 0, 1, 1, 100.0)]


def test_a_status_filter_and_the_default_year(sheets, operator):
    finals = statistics(operator, year=2025, status=FINAL).overall
    assert (finals.sheets, finals.passed, finals.average) == (3, 2, 50.0)  # 90, 60, 0
    assert (finals.deductions[2], finals.deductions[9]) == (2, 1)
    assert statistics(operator).year == 2026  # the latest year with a sheet
    empty = statistics(operator, year=2030)
    assert (empty.overall.sheets, empty.overall.pass_rate, empty.categories) == (0, None, [])
    assert [y.year for y in empty.years] == [2024, 2025, 2026, 2030]
    with pytest.raises(InvalidInput) as refused:
        statistics(operator, year=1999)
    assert refused.value.problems[0].field == "year"


def test_only_operators_and_regulators_and_refusals_are_audited(app, sheets, make_user):
    """SECURITY.md 9."""
    enterprise = make_user(Role.ENTERPRISE, name="佛山美的配件厂采购")
    admin = make_user(Role.INSTITUTION_ADMIN, name="检测机构管理员")
    for user in (enterprise, admin, None):
        with pytest.raises(PermissionDenied):
            statistics(user, year=2025)
    assert len(audit_events("assessment.statistics", "denied")) == 3

    assert web(app, enterprise).get("/assessment/dashboard").status_code == 403
    assert web(app, admin).get("/assessment/dashboard?year=2025").status_code == 403
    assert len(audit_events("assessment.statistics", "denied")) == 5
    anonymous = app.test_client().get("/assessment/dashboard")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]

    body = graphql_login(app, enterprise)(QUERY, {"year": 2025})["data"]["assessmentStatistics"]
    assert (body["__typename"], body["code"]) == ("PermissionDeniedError", "PERMISSION_DENIED")
    assert len(audit_events("assessment.statistics", "denied")) == 6
    body = GraphQLClient(app.test_client())(QUERY, {"year": 2025})["data"]["assessmentStatistics"]
    assert body["__typename"] == "NotAuthenticatedError"


def cell(html: str, row_id: str) -> str:
    row = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None, row_id
    return re.sub(r"<[^>]+>", " ", row.group(1)).split()


def test_the_page_draws_each_chart_with_a_title_and_its_table(app, sheets, regulator):
    html = web(app, regulator).get("/assessment/dashboard?year=2025").get_data(as_text=True)
    assert 'id="nav-assessment-dashboard"' in html
    for chart in ("distribution", "deductions", "categories", "regions", "years"):
        svg = re.search(rf'<svg[^>]*id="chart-{chart}"[^>]*>', html)
        assert svg is not None and 'role="img"' in svg.group(0), chart
        assert f'aria-labelledby="chart-{chart}-title chart-{chart}-desc"' in svg.group(0)
        assert f'<title id="chart-{chart}-title">' in html and f'<desc id="chart-{chart}-desc">' in html
    assert re.search(r'id="overview-rate">60.0%<', html) and 'id="overview-average">50.0<' in html
    assert cell(html, "band-6") == ["60–69", "1"] and cell(html, "band-9") == ["90–100", "1"]
    assert cell(html, "deduction-2")[-2:] == ["4", "80.0%"]
    assert cell(html, "year-2025") == ["2025", "3", "2", "5", "3", "2", "60.0%", "50.0"]
    # One drawn column per non-empty band, in the two series colours.
    distribution = re.search(r'<svg[^>]*id="chart-distribution".*?</svg>', html, re.S).group(0)
    assert len(re.findall(r'<rect [^>]*height="(?!0\.0)', distribution)) == 5 + 2  # + legend

    finals = web(app, regulator).get("/assessment/dashboard?year=2025&status=final")
    assert 'id="overview-sheets">3<' in finals.get_data(as_text=True)
    wrong = web(app, regulator).get("/assessment/dashboard?year=1999").get_data(as_text=True)
    assert 'id="dashboard-problem"' in wrong and 'value="2026"' in wrong


def test_chart_text_is_escaped():
    svg = str(bars("x", "<b>标题</b>", "说明", [Bar("<script>alert(1)</script>", 3, "3", "全称")]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg


QUERY = """query($year: Int, $status: AssessmentStatus) {
  assessmentStatistics(year: $year, status: $status) {
    __typename
    ... on UserError { code message field }
    ... on AssessmentStatistics { year status passMark
      overall { sheets passed failed passRate averageScore scoreBands { low high sheets }
                deductions { number title points sheets } }
      categories { code name sheets passed passRate deductions { number sheets } }
      regions { code name sheets passed averageScore }
      years { year final draft sheets passed failed passRate averageScore } } } }"""


def test_graphql_gives_the_same_figures(app, sheets, regulator, operator):
    body = graphql_login(app, regulator)(QUERY, {"year": 2025})["data"]["assessmentStatistics"]
    assert (body["year"], body["status"], body["passMark"]) == (2025, None, 60)
    overall = body["overall"]
    assert (overall["sheets"], overall["passed"], overall["passRate"], overall["averageScore"]) == (
        5, 3, 0.6, 50.0)
    assert overall["scoreBands"][6] == {"low": 60, "high": 69, "sheets": 1}
    assert overall["scoreBands"][9] == {"low": 90, "high": 100, "sheets": 1}
    assert overall["deductions"][0] == {"number": 2, "title": str(ITEMS[2][1]), "points": 20,
                                        "sheets": 4}
    assert [c["code"] for c in body["categories"]] == ["metrology", "testing", None]
    assert body["regions"][0] == {"code": "440606", "name": "顺德区 (440606)", "sheets": 2,
                                  "passed": 2, "averageScore": 75.0}
    assert [(y["year"], y["final"], y["draft"]) for y in body["years"]] == [
        (2024, 1, 0), (2025, 3, 2), (2026, 0, 1)]
    finals = graphql_login(app, operator)(QUERY, {"year": 2025, "status": "FINAL"})
    assert finals["data"]["assessmentStatistics"]["overall"]["sheets"] == 3
    wrong = graphql_login(app, operator)(QUERY, {"year": 1999})["data"]["assessmentStatistics"]
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInputError", "year")


def test_the_statement_count_does_not_grow_with_the_sheets(app, sheets, make_user, regulator):
    client = graphql_login(app, regulator)
    browser = web(app, regulator)

    def measured() -> tuple[int, int]:
        with count_statements() as api:
            body = client(QUERY, {"year": 2025}, csrf=False)
        assert "errors" not in body, body
        with count_statements() as page:
            assert browser.get("/assessment/dashboard?year=2025").status_code == 200
        return api.count, page.count

    before = measured()
    for n in range(6):
        add_sheet(make_user, f"佛山市高明区第{n}检测有限公司", year=2025,
                  category=("testing", "metrology", "ip")[n % 3], district="440608",
                  computed=(n + 1,), status=FINAL)
    after = measured()
    assert after == before, (before, after)
    assert statistics(regulator, year=2025).overall.sheets == 11
