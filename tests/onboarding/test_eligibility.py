"""The eligibility engine: every condition at once, with evidence, for a given day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from factory import eligible_institution, upload

from core.identity.models import Role
from core.onboarding import commitment, compliance
from core.onboarding.eligibility import evaluate
from core.onboarding.models import ComplianceKind

TODAY = date(2026, 11, 21)


def _result(report, code, subject=None):
    matches = [r for r in report.results if r.code == code and (subject is None or r.subject == subject)]
    assert matches, f"no result for {code}"
    return matches[0]


def test_a_complete_institution_is_eligible_R_ELIG_10(app, make_user):
    institution, _admin = eligible_institution(make_user)
    report = evaluate(institution, TODAY)
    assert report.eligible, [r.message for r in report.failures]
    codes = {r.code for r in report.results}
    assert {"R-ONB-01", "R-ELIG-01", "R-ELIG-02", "R-ELIG-03", "R-ELIG-04", "R-ELIG-05",
            "R-ELIG-06"} <= codes


def test_every_failure_is_reported_at_once_with_evidence_R_ELIG_10(app, make_user):
    institution, _admin = eligible_institution(make_user, licence_until=TODAY - timedelta(days=1),
                                               cma_until=TODAY - timedelta(days=1), agent_count=0,
                                               sign=False)
    report = evaluate(institution, TODAY)
    failed = {(r.code, r.subject) for r in report.failures}
    assert {("R-ELIG-01", "licence"), ("R-ELIG-02", "testing"), ("R-ELIG-04", None),
            ("R-ELIG-05", None)} <= failed
    licence = _result(report, "R-ELIG-01", "licence")
    assert licence.evidence["documents"][0]["status"] == "expired"
    assert licence.evidence["documents"][0]["valid_to"] == (TODAY - timedelta(days=1)).isoformat()
    assert "营业执照" in licence.message or "licence" in licence.message.lower()


def test_an_expired_licence_fails_R_ELIG_01(app, make_user):
    institution, _admin = eligible_institution(make_user, licence_until=date(2026, 11, 20))
    assert not _result(evaluate(institution, TODAY), "R-ELIG-01", "licence").passed


@pytest.mark.parametrize(("valid_to", "passes"), [(TODAY, True), (TODAY - timedelta(days=1), False)])
def test_certificate_valid_until_today_passes_until_yesterday_fails_R_ELIG_02(
        app, make_user, valid_to, passes):
    institution, _admin = eligible_institution(make_user, cma_until=valid_to)
    assert _result(evaluate(institution, TODAY), "R-ELIG-02", "testing").passed is passes


def test_the_report_is_evaluated_for_the_day_asked_R_ELIG_10(app, make_user):
    institution, _admin = eligible_institution(make_user, cma_until=date(2027, 3, 31))
    assert evaluate(institution, date(2027, 3, 31)).eligible
    assert not evaluate(institution, date(2027, 4, 1)).eligible


def test_a_missing_qualification_is_named_R_ELIG_02(app, make_user):
    institution, admin = eligible_institution(make_user)
    from sqlalchemy import select

    from core.db import db
    from core.documents.models import Document
    from core.documents.service import soft_delete

    cma = db.session.scalar(select(Document).where(Document.kind == "cma"))
    soft_delete(cma, actor=admin)
    result = _result(evaluate(institution, TODAY), "R-ELIG-02", "testing")
    assert not result.passed and "CMA" in result.message


@pytest.mark.parametrize(("occurred", "blocks"), [
    (date(2023, 11, 20), False),  # 3 years and 1 day before 2026-11-21
    (date(2024, 11, 21), True),  # 2 years before
])
def test_a_penalty_blocks_for_three_years_R_ELIG_03(app, make_user, occurred, blocks):
    institution, _admin = eligible_institution(make_user)
    operator = make_user(Role.OPERATOR)
    compliance.record(institution, kind=ComplianceKind.ADMINISTRATIVE_PENALTY, occurred_on=occurred,
                      source="佛山市市场监督管理局行政处罚决定书", reference="佛市监罚〔2023〕12号",
                      ended_on=occurred + timedelta(days=30), actor=operator)
    assert _result(evaluate(institution, TODAY), "R-ELIG-03").passed is not blocks


def test_an_active_dishonest_list_entry_blocks_R_ELIG_03(app, make_user):
    institution, _admin = eligible_institution(make_user)
    operator = make_user(Role.OPERATOR)
    record = compliance.record(institution, kind=ComplianceKind.DISHONEST_LIST,
                               occurred_on=date(2020, 5, 1), source="国家企业信用信息公示系统",
                               actor=operator)
    result = _result(evaluate(institution, TODAY), "R-ELIG-03")
    assert not result.passed
    assert result.evidence["records"][0]["record_id"] == record.id


@pytest.mark.parametrize(("agents", "passes"), [(0, False), (1, True), (2, True)])
def test_one_or_two_agents_are_required_R_ELIG_05(app, make_user, agents, passes):
    institution, _admin = eligible_institution(make_user, agent_count=agents)
    assert _result(evaluate(institution, TODAY), "R-ELIG-05").passed is passes


def test_a_commitment_signed_in_an_old_version_fails_R_ELIG_04(app, make_user):
    institution, _admin = eligible_institution(make_user)
    assert _result(evaluate(institution, TODAY), "R-ELIG-04").passed
    regulator = make_user(Role.REGULATOR)
    old = commitment.current_version()
    commitment.publish_version(title=old.title, preamble=old.preamble,
                               items=[*old.items[:7], old.items[7] + "（2026年修订）"],
                               closing=old.closing, actor=regulator)
    result = _result(evaluate(institution, TODAY), "R-ELIG-04")
    assert not result.passed and result.evidence["version"] == old.version + 1


def test_plugin_checks_join_the_report_R_ELIG_10(app, make_user, register_plugin):
    from core.hookspecs import hookimpl
    from core.onboarding.eligibility import CheckResult

    class ExtraCheck:
        @hookimpl
        def eligibility_checks(self, institution, on):
            return [CheckResult("R-ELIG-07", False, "两年内无成功案例", {"cases": 0}, "ip")]

    register_plugin(ExtraCheck())
    institution, _admin = eligible_institution(make_user)
    report = evaluate(institution, TODAY)
    assert not report.eligible
    assert [r.code for r in report.failures] == ["R-ELIG-07"]


def test_a_new_upload_of_a_document_is_what_counts(app, make_user):
    institution, admin = eligible_institution(make_user, cma_until=TODAY - timedelta(days=1))
    assert not evaluate(institution, TODAY).eligible
    upload(institution, admin, kind="cma", categoryCode="testing", certificateNumber="201919123456",
           issuer="广东省市场监督管理局", validFrom=date(2026, 1, 1), validTo=date(2032, 1, 1))
    assert evaluate(institution, TODAY).eligible
