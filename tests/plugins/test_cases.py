"""The client case list (R-ELIG-07, M Art. 8): IP agencies and quality-management consultancies
show successful cases of the last 24 months, each with its photo, instead of a certificate."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.audit.models import AuditEvent
from core.cases import service as cases
from core.cases.models import QualificationCase
from core.db import db
from core.documents import service as documents
from core.errors import ErrorCode, InvalidInput, PermissionDenied
from core.identity.models import Role
from core.onboarding.eligibility import evaluate

# A check day and the day exactly 24 months before it.
ON = date(2026, 3, 31)
TWO_YEARS_BEFORE = date(2024, 3, 31)


def _case_result(report, category):
    found = [r for r in report.results if r.code == "R-ELIG-07" and r.subject == category]
    assert len(found) == 1, [(r.code, r.subject) for r in report.results]
    return found[0]


def _problem_fields(exc: pytest.ExceptionInfo[InvalidInput]) -> dict[str, ErrorCode]:
    return {p.field: p.code for p in exc.value.problems}


# ---------------------------------------------------------------- the 24-month window


def test_the_window_is_24_calendar_months_R_ELIG_07():
    assert cases.window_start(ON) == TWO_YEARS_BEFORE
    assert cases.window_start(date(2026, 2, 28)) == date(2024, 2, 28)
    assert cases.window_start(date(2028, 2, 29)) == date(2026, 2, 28)  # no 29 Feb in 2026
    assert cases.months_before(date(2026, 1, 15), 1) == date(2025, 12, 15)


def test_a_case_24_months_ago_counts_and_one_day_older_does_not_R_ELIG_07(build):
    org = build.institution("ip")
    case = build.case(org, "ip", completed_on=TWO_YEARS_BEFORE)

    passed = _case_result(evaluate(org.institution, ON), "ip")
    assert passed.passed
    assert passed.evidence["cases"] == [{
        "case_id": case.id, "kind": "trademark_registration", "completed_on": "2024-03-31",
        "reference_number": "38476512", "evidence_document_id": case.evidence_document_id}]
    assert passed.evidence["since"] == "2024-03-31" and passed.evidence["required"] == 1

    # A day later the same case is 24 months and 1 day old.
    failed = _case_result(evaluate(org.institution, ON + timedelta(days=1)), "ip")
    assert not failed.passed
    assert failed.evidence["cases"] == []
    assert failed.evidence["not_counted"][0]["case_id"] == case.id
    assert failed.evidence["not_counted"][0]["reason"] == "older_than_24_months"
    assert "2024-04-01" in failed.message


def test_an_ip_agency_without_cases_is_not_eligible_and_needs_no_certificate_R_ELIG_07(build):
    org = build.institution("ip")
    report = evaluate(org.institution, ON)
    assert [(r.code, r.subject) for r in report.failures] == [("R-ELIG-07", "ip")]
    # No statutory qualification: no R-ELIG-02 document result for the IP category.
    assert not [r for r in report.results if r.code == "R-ELIG-02" and r.subject == "ip"]
    build.case(org, "ip", completed_on=date(2025, 6, 18), kind="patent_grant",
               reference="ZL202310123456.6", client="佛山市南海区联塑管业有限公司")
    assert evaluate(org.institution, ON).eligible


def test_quality_management_counts_consulting_cases_R_ELIG_07(build):
    org = build.institution("quality_management", name="佛山市质量提升咨询服务有限公司")
    assert not _case_result(evaluate(org.institution, ON), "quality_management").passed
    build.case(org, "quality_management", completed_on=date(2025, 11, 3), kind="brand_cultivation",
               reference=None, client="广东伊丽莎白陶瓷有限公司")
    result = _case_result(evaluate(org.institution, ON), "quality_management")
    assert result.passed and result.evidence["cases"][0]["kind"] == "brand_cultivation"


def test_only_the_filings_of_the_category_count_R_ELIG_07(build):
    """An IP agency's client list is trademark and patent filings; a consulting case recorded
    under IP does not count for it."""
    org = build.institution("ip")
    build.case(org, "ip", completed_on=date(2025, 9, 1), kind="quality_improvement", reference=None)
    assert not _case_result(evaluate(org.institution, ON), "ip").passed


def test_institutions_of_other_categories_get_no_case_list_check(build):
    org = build.institution("metrology", name="佛山市计量检测技术服务有限公司")
    assert not [r for r in evaluate(org.institution, ON).results if r.code == "R-ELIG-07"]


def test_an_institution_in_both_categories_is_checked_for_each(build):
    org = build.institution("ip", "quality_management")
    build.case(org, "ip", completed_on=date(2025, 6, 1))
    report = evaluate(org.institution, ON)
    assert _case_result(report, "ip").passed
    assert not _case_result(report, "quality_management").passed


# ---------------------------------------------------------------- how many (QI_CASES_REQUIRED)


@pytest.fixture
def two_cases_required(app_config):
    app_config["QI_CASES_REQUIRED"] = 2
    return app_config


@pytest.mark.usefixtures("two_cases_required")
def test_the_number_of_cases_required_is_configurable_R_ELIG_07(build):
    org = build.institution("ip")
    build.case(org, "ip", completed_on=date(2025, 1, 10))
    result = _case_result(evaluate(org.institution, ON), "ip")
    assert not result.passed and result.evidence["required"] == 2
    build.case(org, "ip", completed_on=date(2025, 2, 10), reference="40112233")
    assert _case_result(evaluate(org.institution, ON), "ip").passed


def test_the_count_also_comes_from_the_environment_R_ELIG_07(app, app_config, monkeypatch):
    assert cases.cases_required() == 1
    monkeypatch.setenv("QI_CASES_REQUIRED", "3")
    from core.app import create_app

    with create_app(app_config).app_context():
        assert cases.cases_required() == 3


# ---------------------------------------------------------------- evidence


def test_a_case_without_evidence_is_refused_R_ELIG_07(build):
    org = build.institution("ip")
    with pytest.raises(InvalidInput) as exc:
        cases.record_case(org.institution, category_code="ip", kind="trademark_registration",
                          client_name="佛山市顺德区美的电器配件有限公司", completed_on=date(2025, 5, 5),
                          reference_number="38476512", evidence_document_id=None, actor=org.admin)
    assert _problem_fields(exc) == {"evidenceDocumentId": ErrorCode.REQUIRED}
    assert db.session.scalar(select(func.count()).select_from(QualificationCase)) == 0


def test_another_institutions_evidence_is_refused_as_if_it_did_not_exist_R_ELIG_07(build):
    ours = build.institution("ip")
    theirs = build.institution("ip", name="佛山市南海区专利事务所有限公司")
    their_photo = build.photo(theirs, "ip")
    with pytest.raises(InvalidInput) as exc:
        build.case(ours, "ip", completed_on=date(2025, 5, 5), evidence=their_photo)
    assert _problem_fields(exc) == {"evidenceDocumentId": ErrorCode.INVALID_INPUT}
    assert exc.value.problems[0].message == "请选择本机构上传的案例证明照片。"
    with pytest.raises(InvalidInput) as missing:
        cases.record_case(ours.institution, category_code="ip", kind="trademark_registration",
                          client_name="佛山市顺德区美的电器配件有限公司", completed_on=date(2025, 5, 5),
                          reference_number="38476512", evidence_document_id=999_999, actor=ours.admin)
    assert missing.value.problems[0].message == exc.value.problems[0].message


def test_only_a_case_evidence_document_is_evidence_R_ELIG_07(build):
    org = build.institution("ip")
    licence = documents.institution_documents(org.id, org.admin)[0]
    assert licence.kind == "business_licence"
    with pytest.raises(InvalidInput) as exc:
        build.case(org, "ip", completed_on=date(2025, 5, 5), evidence=licence)
    assert "evidenceDocumentId" in _problem_fields(exc)


def test_a_case_whose_photo_was_deleted_no_longer_counts_R_ELIG_07(build):
    org = build.institution("ip")
    case = build.case(org, "ip", completed_on=date(2025, 5, 5))
    assert _case_result(evaluate(org.institution, ON), "ip").passed
    documents.soft_delete(db.session.get(documents.Document, case.evidence_document_id),
                          actor=org.admin)
    result = _case_result(evaluate(org.institution, ON), "ip")
    assert not result.passed
    assert result.evidence["not_counted"] == [{
        "case_id": case.id, "kind": "trademark_registration", "completed_on": "2025-05-05",
        "reference_number": "38476512", "evidence_document_id": case.evidence_document_id,
        "reason": "evidence_missing"}]
    with pytest.raises(InvalidInput):  # nor can the deleted photo prove a new case
        build.case(org, "ip", completed_on=date(2025, 5, 6), reference="40112233",
                   evidence=db.session.get(documents.Document, case.evidence_document_id))


# ---------------------------------------------------------------- recording


def test_only_the_institutions_admin_records_cases_and_refusals_are_audited(build, make_user):
    org = build.institution("ip")
    photo = build.photo(org, "ip")
    for outsider in (make_user(Role.INSTITUTION_ADMIN), make_user(Role.OPERATOR), None):
        with pytest.raises(PermissionDenied):
            cases.record_case(org.institution, category_code="ip", kind="trademark_registration",
                              client_name="佛山市顺德区美的电器配件有限公司",
                              completed_on=date(2025, 5, 5), reference_number="38476512",
                              evidence_document_id=photo.id, actor=outsider)
    denied = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "case.record", AuditEvent.result == "denied")).all()
    assert len(denied) == 3


def test_recording_a_case_is_audited(build):
    org = build.institution("ip")
    case = build.case(org, "ip", completed_on=date(2025, 5, 5))
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case.record",
                                                        AuditEvent.result == "success")).one()
    assert event.actor_id == org.admin.id and event.object_id == str(case.id)
    assert event.after["reference_number"] == "38476512"
    assert event.after["evidence_document_id"] == case.evidence_document_id


def test_every_problem_with_a_case_is_reported_at_once(build):
    org = build.institution("ip")
    photo = build.photo(org, "ip")
    with pytest.raises(InvalidInput) as exc:
        cases.record_case(org.institution, category_code="testing", kind="lawsuit", client_name=" ",
                          completed_on=None, reference_number=None, evidence_document_id=photo.id,
                          actor=org.admin)
    assert _problem_fields(exc) == {"categoryCode": ErrorCode.INVALID_INPUT,
                                    "kind": ErrorCode.INVALID_INPUT,
                                    "clientName": ErrorCode.REQUIRED,
                                    "completedOn": ErrorCode.REQUIRED}


def test_a_case_cannot_be_completed_in_the_future(build):
    from core.clock import local_today

    org = build.institution("ip")
    with pytest.raises(InvalidInput) as exc:
        build.case(org, "ip", completed_on=local_today() + timedelta(days=1))
    assert _problem_fields(exc) == {"completedOn": ErrorCode.INVALID_INPUT}


@pytest.mark.parametrize(("raw", "stored"), [
    ("ZL202310123456.6", "ZL202310123456.6"),
    ("zl 2023 1012 3456.6", "ZL202310123456.6"),
    ("CN202420567890.3", "ZL202420567890.3"),
    ("2022300123454", "ZL202230012345.4"),
    ("ZL02101234.2", "ZL02101234.2"),  # the form used until 2003
])
def test_patent_numbers_are_normalised(raw, stored):
    assert cases.normalise_patent_number(raw, granted_by=date(2025, 1, 1)) == stored


@pytest.mark.parametrize("raw", [
    "ZL202310123456.7",  # wrong check digit
    "ZL202350123456.X",  # no patent type 5
    "ZL202810123456.1",  # applied for after it was granted
    "ZL2023101234.5",  # too short
    "38476512",
])
def test_wrong_patent_numbers_are_refused(raw):
    assert cases.normalise_patent_number(raw, granted_by=date(2025, 1, 1)) is None


def test_reference_numbers_are_checked_and_never_listed_twice(build):
    org = build.institution("ip")
    with pytest.raises(InvalidInput) as exc:
        build.case(org, "ip", completed_on=date(2025, 5, 5), kind="patent_grant",
                   reference="ZL202310123456.7")
    assert _problem_fields(exc) == {"referenceNumber": ErrorCode.INVALID_NUMBER}
    with pytest.raises(InvalidInput) as exc:
        build.case(org, "ip", completed_on=date(2025, 5, 5), reference="TM-38476512")
    assert _problem_fields(exc) == {"referenceNumber": ErrorCode.INVALID_NUMBER}
    with pytest.raises(InvalidInput) as exc:
        build.case(org, "ip", completed_on=date(2025, 5, 5), reference=None)
    assert _problem_fields(exc) == {"referenceNumber": ErrorCode.REQUIRED}
    case = build.case(org, "ip", completed_on=date(2025, 5, 5), reference="第 38476512 号")
    assert case.reference_number == "38476512"
    with pytest.raises(InvalidInput) as exc:
        build.case(org, "ip", completed_on=date(2025, 6, 5), reference="38476512")
    assert _problem_fields(exc) == {"referenceNumber": ErrorCode.DUPLICATE}


# ---------------------------------------------------------------- GraphQL


RECORD = """mutation($i: RecordQualificationCaseInput!) { recordQualificationCase(input: $i) {
  __typename
  ... on RecordQualificationCaseSuccess { case { id kind clientName completedOn referenceNumber
                                                 evidenceDocumentId } }
  ... on InvalidInputError { problems { field code } }
} }"""
LIST = """query($id: ID!) { qualificationCases(institutionId: $id, categoryCode: "ip") {
  __typename ... on QualificationCaseList { cases { id kind completedOn referenceNumber } }
} }"""


def test_the_admin_records_and_reads_cases_over_graphql(build, gql, login):
    org = build.institution("ip")
    photo = build.photo(org, "ip")
    login(org.admin_phone)
    case_input = {"institutionId": str(org.id), "categoryCode": "ip", "kind": "PATENT_GRANT",
                  "clientName": "佛山市南海区联塑管业有限公司", "completedOn": "2025-06-18",
                  "referenceNumber": "ZL 2023 1012 3456.6", "evidenceDocumentId": str(photo.id)}
    body = gql(RECORD, {"i": case_input})
    result = body["data"]["recordQualificationCase"]
    assert result["__typename"] == "RecordQualificationCaseSuccess", body
    assert result["case"]["referenceNumber"] == "ZL202310123456.6"
    assert result["case"]["evidenceDocumentId"] == str(photo.id)

    refused = gql(RECORD, {"i": {**case_input, "referenceNumber": "ZL202420567890.3",
                                 "evidenceDocumentId": "999999"}})
    assert refused["data"]["recordQualificationCase"] == {
        "__typename": "InvalidInputError",
        "problems": [{"field": "evidenceDocumentId", "code": "INVALID_INPUT"}]}

    listed = gql(LIST, {"id": str(org.id)}, csrf=False)["data"]["qualificationCases"]
    assert listed["cases"] == [{"id": result["case"]["id"], "kind": "PATENT_GRANT",
                                "completedOn": "2025-06-18", "referenceNumber": "ZL202310123456.6"}]


def test_another_institution_cannot_read_the_client_list(build, gql, login):
    org = build.institution("ip")
    build.case(org, "ip", completed_on=date(2025, 5, 5))
    other = build.institution("ip", name="佛山市南海区专利事务所有限公司")
    login(other.admin_phone)
    body = gql(LIST, {"id": str(org.id)}, csrf=False)
    assert body["data"]["qualificationCases"]["__typename"] == "PermissionDeniedError"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "case.read", AuditEvent.result == "denied")) == 1
