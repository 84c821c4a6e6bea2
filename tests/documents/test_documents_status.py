"""Certificate status on a day, operator verification and status records, expiry reminders
(issue 3; R-ELIG-01, R-ELIG-02, SECURITY.md 9 and 14)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from documents_support import CNAS_ISSUER, CNAS_NUMBER, LICENCE_ISSUER, USCC_PUBLIC_INSTITUTE

from core.db import db, utcnow
from core.documents import service
from core.documents.models import RecordedStatus, Verification
from core.documents.status import CertificateStatus
from core.errors import InvalidInput, PermissionDenied
from core.hookspecs import hookimpl
from core.identity.models import Role
from core.institutions.models import InstitutionStatus, StaffRole

DAY = date(2026, 3, 16)  # a Monday; every date below is relative to it


@pytest.fixture
def cma(docs, org, pdf_bytes):  # type: ignore[no-untyped-def]
    """`cma(number, valid_to, valid_from=...)`: a CMA certificate stored through the service."""
    def make(number: str, valid_to: date | None, valid_from: date = date(2020, 1, 6)):
        return docs.store_document(org, data=pdf_bytes(number), certificateNumber=number,
                                   validFrom=valid_from, validTo=valid_to)

    return make


def _verdict(document, on):  # type: ignore[no-untyped-def]
    verdict = service.status_of(document, on)
    return verdict.status, verdict.since, verdict.source


# ------------------------------------------------------------------ 7. status boundaries


def test_validity_boundaries_r_elig_02(app, docs, org, cma, pdf_bytes):
    """R-ELIG-02: valid through valid_to inclusive (today counts, yesterday does not); the
    expiring window is CERT_EXPIRING_DAYS (30 days left: expiring, 31: valid); not yet valid
    before valid_from; a long-term licence is valid."""
    app.config["CERT_EXPIRING_DAYS"] = 30
    ends_today = cma("202019000001", DAY)
    ended_yesterday = cma("202019000002", DAY - timedelta(days=1))
    thirty_left = cma("202019000003", DAY + timedelta(days=30))
    thirty_one_left = cma("202019000004", DAY + timedelta(days=31))
    starts_tomorrow = cma("202019000005", date(2029, 1, 1), valid_from=DAY + timedelta(days=1))
    licence = docs.store_document(org, kind="business_licence", data=pdf_bytes("licence"),
                                  certificateNumber=org.institution.uscc, issuer=LICENCE_ISSUER,
                                  validFrom=date(2016, 8, 1), validTo=None, longTerm=True)

    assert _verdict(ends_today, DAY) == (CertificateStatus.EXPIRING, DAY, None)
    assert service.status_of(ends_today, DAY).status.usable
    assert _verdict(ended_yesterday, DAY) == (CertificateStatus.EXPIRED,
                                              DAY - timedelta(days=1), None)
    assert not service.status_of(ended_yesterday, DAY).status.usable
    assert _verdict(ended_yesterday, DAY - timedelta(days=1))[0] is CertificateStatus.EXPIRING
    assert _verdict(thirty_left, DAY)[0] is CertificateStatus.EXPIRING
    assert _verdict(thirty_one_left, DAY) == (CertificateStatus.VALID, date(2020, 1, 6), None)
    assert _verdict(starts_tomorrow, DAY)[0] is CertificateStatus.NOT_YET_VALID
    assert not service.status_of(starts_tomorrow, DAY).status.usable
    assert _verdict(starts_tomorrow, DAY + timedelta(days=1))[0] is CertificateStatus.VALID
    assert _verdict(licence, DAY)[0] is CertificateStatus.VALID
    assert _verdict(licence, date(2099, 12, 31))[0] is CertificateStatus.VALID

    app.config["CERT_EXPIRING_DAYS"] = 60  # the window is configuration, not code
    assert _verdict(thirty_one_left, DAY)[0] is CertificateStatus.EXPIRING


def test_recorded_suspension_restoration_and_withdrawal(docs, cma):
    """R-ELIG-02: an operator's record of a published suspension wins over the dates from its
    effective day, with its source; a later restoration makes it valid again; a withdrawal is
    final. Records are audited."""
    operator = docs.user(Role.OPERATOR, "运维 周婷")
    document = cma("201919123456", date(2028, 5, 31))
    source = "CNAS 公告〔2026〕第 12 号：暂停 CNAS L1234 认可资格"
    service.record_status(document, RecordedStatus.SUSPENDED, effective_on=DAY, source=source,
                          note="暂停 3 个月", actor=operator)
    assert _verdict(document, DAY - timedelta(days=1))[0] is CertificateStatus.VALID
    assert _verdict(document, DAY) == (CertificateStatus.SUSPENDED, DAY, source)
    assert not service.status_of(document, DAY).status.usable

    restored_on = DAY + timedelta(days=90)
    service.record_status(document, RecordedStatus.RESTORED, effective_on=restored_on,
                          source="CNAS 公告〔2026〕第 40 号：恢复", note=None, actor=operator)
    assert _verdict(document, restored_on - timedelta(days=1))[0] is CertificateStatus.SUSPENDED
    assert _verdict(document, restored_on)[0] is CertificateStatus.VALID

    withdrawn_on = date(2027, 2, 1)
    service.record_status(document, RecordedStatus.WITHDRAWN, effective_on=withdrawn_on,
                          source="国家认监委 撤销决定书 2027-001", note=None, actor=operator)
    assert _verdict(document, withdrawn_on) == (CertificateStatus.WITHDRAWN, withdrawn_on,
                                                "国家认监委 撤销决定书 2027-001")
    assert _verdict(document, date(2028, 1, 1))[0] is CertificateStatus.WITHDRAWN
    recorded = docs.audits("document.status_recorded")
    assert [a.after["status"] for a in recorded] == ["suspended", "restored", "withdrawn"]
    assert {a.actor_id for a in recorded} == {operator.id}

    with pytest.raises(InvalidInput) as err:
        service.record_status(document, RecordedStatus.SUSPENDED, effective_on=DAY, source="  ",
                              note=None, actor=operator)
    assert err.value.field == "source"


def test_status_through_graphql_and_the_detail_page(docs, org, cma, gql_for):
    """R-ELIG-02 as clients see it: `document(id){ status { status since source } }` and the
    operator's status form on the detail page."""
    today = utcnow().date()  # the service's "today"
    document = cma("201919123456", today + timedelta(days=400))
    operator = docs.user(Role.OPERATOR, "运维 周婷")
    client = docs.login(operator)
    response = client.post(f"/documents/{document.id}/status", data={
        "status": "suspended", "effective_on": today.isoformat(),
        "source": "广东省市场监管局 公告 2026 第 5 号", "note": "",
        "csrf_token": docs.csrf(client, f"/documents/{document.id}")})
    assert response.status_code == 302
    page = client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "广东省市场监管局 公告 2026 第 5 号" in page and "badge-suspended" in page

    query = """query($id: ID!, $on: Date) { document(id: $id) {
      status { status since source } earlier: status(on: $on) { status }
      statusRecords { status effectiveOn source } } }"""
    body = gql_for(org.admin)(query, {"id": str(document.id),
                                      "on": (today - timedelta(days=1)).isoformat()})
    assert body["data"]["document"] == {
        "status": {"status": "SUSPENDED", "since": today.isoformat(),
                   "source": "广东省市场监管局 公告 2026 第 5 号"},
        "earlier": {"status": "VALID"},
        "statusRecords": [{"status": "SUSPENDED", "effectiveOn": today.isoformat(),
                           "source": "广东省市场监管局 公告 2026 第 5 号"}]}

    mutation = """mutation($id: ID!, $on: Date!) { recordCertificateStatus(documentId: $id,
      status: RESTORED, effectiveOn: $on, source: "广东省市场监管局 公告 2026 第 9 号") {
      __typename ... on DocumentSuccess { document { status { status } } }
      ... on UserError { code } } }"""
    restored = gql_for(operator)(mutation, {"id": str(document.id), "on": today.isoformat()})
    assert restored["data"]["recordCertificateStatus"] == {
        "__typename": "DocumentSuccess", "document": {"status": {"status": "VALID"}}}
    refused = gql_for(org.admin)(mutation, {"id": str(document.id), "on": today.isoformat()})
    assert refused["data"]["recordCertificateStatus"]["__typename"] == "PermissionDeniedError"


# ------------------------------------------------------------------ 8. verification


VERIFY = """mutation($id: ID!, $status: DocumentVerification!, $reason: String) {
  setDocumentVerification(documentId: $id, status: $status, reason: $reason) {
    __typename
    ... on DocumentSuccess { document { verification verificationReason } }
    ... on InvalidInputError { field problems { field code } }
    ... on UserError { code }
  } }"""


def test_operator_verifies_and_rejects_with_a_reason(docs, org, cma, gql_for):
    """R-ONB-03: the operator screens the materials: verified, or rejected with a reason
    (without one: InvalidInputError on `reason`); each decision is audited with before/after."""
    document = cma("201919123456", date(2028, 5, 31))
    operator = gql_for(docs.user(Role.OPERATOR, "运维 周婷"))
    no_reason = operator(VERIFY, {"id": str(document.id), "status": "REJECTED"})
    result = no_reason["data"]["setDocumentVerification"]
    assert result["__typename"] == "InvalidInputError" and result["field"] == "reason"
    assert result["problems"] == [{"field": "reason", "code": "REQUIRED"}]
    db.session.expire_all()
    assert document.verification is Verification.UNVERIFIED

    rejected = operator(VERIFY, {"id": str(document.id), "status": "REJECTED",
                                 "reason": "证书扫描件不清晰，请重新上传"})
    assert rejected["data"]["setDocumentVerification"]["document"] == {
        "verification": "REJECTED", "verificationReason": "证书扫描件不清晰，请重新上传"}
    verified = operator(VERIFY, {"id": str(document.id), "status": "VERIFIED"})
    assert verified["data"]["setDocumentVerification"]["document"]["verification"] == "VERIFIED"
    audits = docs.audits("document.verification")
    assert [(a.before["verification"], a.after["verification"]) for a in audits] == [
        ("unverified", "rejected"), ("rejected", "verified")]


def test_only_the_operator_may_verify_and_refusals_are_audited(docs, org, cma, gql_for):
    """SECURITY.md 9: the institution's own admin (who can see the document) and an enterprise
    user (who can see it once public) get PermissionDenied; the refusals are audited; the
    web form answers 403."""
    document = cma("201919123456", date(2028, 5, 31))
    docs.set_status(org, InstitutionStatus.LIVE)
    enterprise = docs.user(Role.ENTERPRISE, "佛山市美的电器 采购部")
    for user in (org.admin, enterprise):
        body = gql_for(user)(VERIFY, {"id": str(document.id), "status": "VERIFIED"})
        assert body["data"]["setDocumentVerification"] == {"__typename": "PermissionDeniedError",
                                                           "code": "PERMISSION_DENIED"}
    with pytest.raises(PermissionDenied):
        service.set_verification(document, Verification.VERIFIED, reason=None, actor=org.admin)
    client = docs.login(org.admin)
    response = client.post(f"/documents/{document.id}/verification", data={
        "status": "verified", "reason": "",
        "csrf_token": docs.csrf(client, f"/documents/{document.id}")})
    assert response.status_code == 403
    db.session.expire_all()
    assert document.verification is Verification.UNVERIFIED
    denied = docs.audits("document.denied", result="denied")
    assert [(a.actor_id, a.object_id) for a in denied] == [
        (org.admin.id, str(document.id)), (enterprise.id, str(document.id)),
        (org.admin.id, str(document.id)), (org.admin.id, str(document.id))]
    assert docs.audits("document.verification") == []


def test_operator_verifies_through_the_detail_page(docs, org, cma):
    """R-ONB-03 on the web: the operator's verification form on the detail page."""
    document = cma("201919123456", date(2028, 5, 31))
    client = docs.login(docs.user(Role.OPERATOR, "运维 周婷"))
    response = client.post(f"/documents/{document.id}/verification", data={
        "status": "verified", "reason": "",
        "csrf_token": docs.csrf(client, f"/documents/{document.id}")})
    assert response.status_code == 302
    db.session.expire_all()
    assert document.verification is Verification.VERIFIED
    assert "badge-verified" in client.get(f"/documents/{document.id}").get_data(as_text=True)


# ------------------------------------------------------------------ 11. expiry reminders


class Notifier:
    """A test notification plugin: collects what the hook hands it."""

    def __init__(self) -> None:
        self.calls: list[list[service.ExpiryReminder]] = []

    @hookimpl
    def certificates_expiring(self, reminders):  # type: ignore[no-untyped-def]
        self.calls.append(reminders)


def test_expiry_reminders_name_the_certificates_and_the_admins(app, docs, org, cma, pdf_bytes,
                                                               register_plugin):
    """R-ELIG-02: institutions are warned before a certificate lapses and told once it has;
    current certificates only, every admin of the institution (not its agents); the day's
    reminders go to notification plugins through `certificates_expiring`."""
    app.config["CERT_EXPIRING_DAYS"] = 30
    second_admin = docs.user(Role.INSTITUTION_ADMIN, "副站长 何丽")
    from core.institutions.service import add_staff

    add_staff(org.institution, second_admin, StaffRole.ADMIN, actor=org.admin)
    docs.agent(org)
    expiring = cma("201919123456", DAY + timedelta(days=10))
    expired = docs.store_document(org, kind="cnas_laboratory", data=pdf_bytes("cnas"),
                                  certificateNumber=CNAS_NUMBER, issuer=CNAS_ISSUER,
                                  validFrom=date(2020, 3, 1), validTo=DAY - timedelta(days=1))
    cma("202019004321", DAY + timedelta(days=31))  # outside the window
    old = cma("201812000001", DAY + timedelta(days=5))
    cma("201812000001", date(2030, 1, 1))  # its renewal supersedes `old`
    docs.store_document(org, kind="business_licence", data=pdf_bytes("licence"),
                        certificateNumber=org.institution.uscc, issuer=LICENCE_ISSUER,
                        validFrom=date(2016, 8, 1), validTo=None, longTerm=True)
    suspended = cma("201701000009", DAY + timedelta(days=3))
    service.record_status(suspended, RecordedStatus.SUSPENDED, effective_on=DAY - timedelta(days=9),
                          source="CNAS 公告", note=None,
                          actor=docs.user(Role.OPERATOR, "运维 周婷"))
    other = docs.institution("佛山市质量计量监督检测中心", uscc=USCC_PUBLIC_INSTITUTE,
                             admin_name="梁国华")
    other_cma = docs.store_document(other, data=pdf_bytes("other"), certificateNumber="201744000123",
                                    validFrom=date(2017, 4, 1), validTo=DAY + timedelta(days=30))

    reminders = service.expiry_reminders(DAY)
    by_document = {r.document_id: r for r in reminders}
    assert set(by_document) == {expiring.id, expired.id, other_cma.id}
    assert old.id not in by_document and suspended.id not in by_document
    assert by_document[expiring.id].status is CertificateStatus.EXPIRING
    assert by_document[expired.id].status is CertificateStatus.EXPIRED
    assert by_document[expired.id].certificate_number == CNAS_NUMBER
    assert set(by_document[expiring.id].admin_user_ids) == {org.admin.id, second_admin.id}
    assert by_document[other_cma.id].admin_user_ids == (other.admin.id,)
    assert by_document[other_cma.id].valid_to == DAY + timedelta(days=30)

    notifier = register_plugin(Notifier())
    sent = service.send_expiry_reminders(DAY)
    assert notifier.calls == [sent] and {r.document_id for r in sent} == set(by_document)
    assert service.send_expiry_reminders(date(2020, 1, 1)) == []
    assert len(notifier.calls) == 1  # no reminders, no call
