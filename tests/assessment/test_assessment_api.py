"""GraphQL and the runners (R-ASM-02, R-ASM-04, R-ASM-06): typed errors, an institution sees
only its own final sheet, the `qi assess` command and the daily job are idempotent."""

from __future__ import annotations

from datetime import date

import pytest
from assessment_support import clean_lab, fulfil
from conftest import OPENED
from sqlalchemy import func, select

from core.assessment import service
from core.assessment.cli import assess_command
from core.assessment.models import AssessmentItem, AssessmentSheet
from core.db import db
from core.testing import graphql_login

SHEET = """__typename ... on UserError { code message field }
  ... on AssessmentSheetSuccess { sheet { id score passed status cycleNumber
      items { number deducted computedDeducted overrideReason evidence } } }"""


@pytest.fixture
def draft(lab, operator):
    fulfil(lab, lab.cycle(1), orders=20)
    return service.compute_assessment(lab.institution, actor=operator, on=date(2025, 1, 2))


def test_the_workflow_through_graphql(app, draft, lab, operator, regulator):
    op = graphql_login(app, operator)
    no_reason = op(f"""mutation {{ overrideAssessmentItem(sheetId: "{draft.id}", number: 6,
        deducted: true, reason: "") {{ {SHEET} }} }}""")["data"]["overrideAssessmentItem"]
    assert (no_reason["__typename"], no_reason["code"]) == ("InvalidInputError", "REQUIRED")
    done = op(f"""mutation {{ overrideAssessmentItem(sheetId: "{draft.id}", number: 6,
        deducted: true, reason: "案例重复上报，核减后不足10个") {{ {SHEET} }} }}""")
    sheet = done["data"]["overrideAssessmentItem"]["sheet"]
    assert sheet["score"] == 90 and sheet["items"][5]["computedDeducted"] is False

    institution = graphql_login(app, lab.admin)
    hidden = institution(f'{{ assessmentSheet(id: "{draft.id}") {{ {SHEET} }} }}')
    assert hidden["data"]["assessmentSheet"]["code"] == "PERMISSION_DENIED"  # a draft

    refused = op(f'mutation {{ finaliseAssessment(sheetId: "{draft.id}") {{ {SHEET} }} }}')
    assert refused["data"]["finaliseAssessment"]["code"] == "PERMISSION_DENIED"
    final = graphql_login(app, regulator)(
        f'mutation {{ finaliseAssessment(sheetId: "{draft.id}") {{ {SHEET} }} }}')
    assert final["data"]["finaliseAssessment"]["sheet"]["status"] == "FINAL"
    again = op(f"""mutation {{ computeAssessment(institutionId: "{lab.institution.id}",
        cycleNumber: 1) {{ {SHEET} }} }}""")["data"]["computeAssessment"]
    assert again["code"] == "ASSESSMENT_FINAL"

    own = institution(f'{{ assessmentSheet(id: "{draft.id}") {{ {SHEET} }} }}')
    assert own["data"]["assessmentSheet"]["sheet"]["items"][5]["overrideReason"].startswith("案例")
    listed = institution("{ assessmentSheets(period: 2024) { ... on AssessmentSheetList { total } } }")
    assert listed["data"]["assessmentSheets"]["total"] == 1
    cycles = institution(f"""{{ assessmentCycles(institutionId: "{lab.institution.id}") {{
        ... on AssessmentCycleList {{ cycles {{ number ended summarySubmitted sheet {{ id }} }} }} }} }}""")
    first = cycles["data"]["assessmentCycles"]["cycles"][-1]
    assert (first["number"], first["ended"], first["sheet"]["id"]) == (1, True, str(draft.id))


def test_another_institution_is_refused_through_graphql(app, draft, make_user, regulator):
    service.finalise(draft, actor=regulator)
    other = clean_lab(make_user, OPENED, name="佛山市三水区质量检验所")
    client = graphql_login(app, other.admin)
    body = client(f'{{ assessmentSheet(id: "{draft.id}") {{ {SHEET} }} }}')
    assert body["data"]["assessmentSheet"]["code"] == "PERMISSION_DENIED"
    listed = client("{ assessmentSheets { ... on AssessmentSheetList { total } } }")
    assert listed["data"]["assessmentSheets"]["total"] == 0
    cycles = client(f"""{{ assessmentCycles(institutionId: "{draft.institution_id}") {{
        __typename }} }}""")
    assert cycles["data"]["assessmentCycles"]["__typename"] == "PermissionDeniedError"


def test_the_summary_through_graphql(app, draft, lab):
    """R-ASM-06."""
    client = graphql_login(app, lab.admin)
    body = client(f"""mutation {{ submitServiceSummary(institutionId: "{lab.institution.id}",
        cycleNumber: 1, body: "2024年下半年完成家电安全检测20单，上报成功案例10个，客服响应及时。") {{
        __typename ... on ServiceSummarySuccess {{ cycleNumber }} }} }}""")
    assert body["data"]["submitServiceSummary"] == {"__typename": "ServiceSummarySuccess",
                                                    "cycleNumber": 1}


def test_the_cli_and_the_daily_job_are_idempotent(app, make_user):
    from core.tasks.jobs import assess_ended_cycles

    labs = [clean_lab(make_user, OPENED, name=f"佛山市顺德区第{k}计量站") for k in range(3)]
    fulfil(labs[0], labs[0].cycle(1), orders=20)
    runner = app.test_cli_runner()
    result = runner.invoke(assess_command, ["--period", "2024"])
    assert result.exit_code == 0, result.output
    assert "computed (new drafts)" in result.output and "3" in result.output
    assert runner.invoke(assess_command, ["--period", "2024"]).exit_code == 0
    counts = (db.session.scalar(select(func.count()).select_from(AssessmentSheet)),
              db.session.scalar(select(func.count()).select_from(AssessmentItem)))
    assert counts == (3, 30)
    assert assess_ended_cycles(date(2025, 1, 5)) == {"computed": 0, "existing": 3, "failed": 0}
    scores = sorted(db.session.scalars(select(AssessmentSheet.score)))
    assert scores == [80, 80, 100]
