"""Who may see and change an institution's documents (issue 3; SECURITY.md 9, R-ONB-05):
every role against another tenant's documents, over the web, GraphQL and download URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from documents_support import CMA_ISSUER, CMA_NUMBER, LICENCE_ISSUER, USCC_CERT_CO

from core.catalogue.testing import hide_homepage
from core.db import db
from core.documents import service
from core.documents.models import Verification
from core.identity.models import Role
from core.institutions.models import Institution, InstitutionStatus

LIST = """query($id: ID!) { institutionDocuments(institutionId: $id) { id kind } }"""
ONE = """query($id: ID!) { document(id: $id) { id kind } }"""
REQUEST = """mutation($i: DocumentUploadInput!) { requestDocumentUpload(input: $i) {
  __typename ... on UserError { code } } }"""


@dataclass
class Scene:
    org: object
    licence: object
    cma: object
    other: object  # another institution, with its own admin


@pytest.fixture
def scene(docs, org, pdf_bytes):  # type: ignore[no-untyped-def]
    """佛山市顺德区质检技术有限公司 with its licence (never public) and its CMA certificate
    (public once the institution is live), and a second institution next door."""
    licence = docs.store_document(org, kind="business_licence", data=pdf_bytes("licence"),
                                  filename="营业执照.pdf", certificateNumber=org.institution.uscc,
                                  issuer=LICENCE_ISSUER, validFrom=date(2016, 8, 1),
                                  validTo=None, longTerm=True)
    cma = docs.store_document(org, data=pdf_bytes("cma"), filename="CMA.pdf")
    other = docs.institution("佛山市南海区认证服务有限公司", uscc=USCC_CERT_CO,
                             status=InstitutionStatus.LIVE, admin_name="黄伟")
    return Scene(org, licence, cma, other)


def _upload_input(institution_id: int) -> dict[str, object]:
    return {"i": {"institutionId": str(institution_id), "kind": "cma", "filename": "x.pdf",
                  "certificateNumber": CMA_NUMBER, "issuer": CMA_ISSUER,
                  "validFrom": "2021-06-01", "validTo": "2027-05-31"}}


def _outsiders(docs, scene):  # type: ignore[no-untyped-def]
    return {
        "another institution's admin": scene.other.admin,
        "another institution's agent": docs.agent(scene.other, "客服 赵磊"),
        "an enterprise user": docs.user(Role.ENTERPRISE, "佛山市美的电器 采购部 刘洋"),
        "an anonymous visitor": None,
    }


def test_outsiders_are_refused_everywhere_and_refusals_are_audited(docs, scene, gql_for,
                                                                   pdf_bytes):
    """SECURITY.md 9: another institution's admin or agent, an enterprise user and an anonymous
    visitor try the list page, the detail page, the download URLs, the upload form,
    `institutionDocuments`, `document` and `requestDocumentUpload` on a DRAFT institution:
    each is refused (404, login, empty, null, PermissionDenied) and each refusal is audited."""
    org, licence, cma = scene.org, scene.licence, scene.cma
    for who, user in _outsiders(docs, scene).items():
        before = len(docs.audits(result="denied"))
        client = docs.login(user) if user is not None else docs.anonymous()
        gql = gql_for(user)
        pages = [f"/institutions/{org.id}/documents", f"/documents/{licence.id}",
                 f"/documents/{cma.id}"]
        for path in pages:
            response = client.get(path)
            if user is None:
                assert response.status_code == 302 and "/login" in response.headers["Location"]
            else:
                assert response.status_code == 404, (who, path)
        for document in (licence, cma):
            response = client.get(f"/documents/{document.id}/download", buffered=True)
            assert response.status_code == 404, who
            assert b"%PDF" not in response.data
        upload = docs.upload(client, org.id, data=pdf_bytes(), filename="x.pdf",
                             csrf=docs.csrf(client, "/login"))
        assert upload.status_code == (302 if user is None else 404), who

        assert gql(LIST, {"id": str(org.id)})["data"]["institutionDocuments"] == [], who
        for document in (licence, cma):
            assert gql(ONE, {"id": str(document.id)})["data"]["document"] is None, who
        requested = gql(REQUEST, _upload_input(org.id))["data"]["requestDocumentUpload"]
        expected = "NotAuthenticatedError" if user is None else "PermissionDeniedError"
        assert requested["__typename"] == expected, who

        refusals = docs.audits(result="denied")[before:]
        assert {a.actor_id for a in refusals} == {user.id if user else None}, who
        seen = {(a.action, a.object_type, a.object_id) for a in refusals}
        expected_audits = {
            ("document.access_denied", "document", str(licence.id)),  # download, GraphQL
            ("document.access_denied", "document", str(cma.id)),
        }
        if user is not None:
            expected_audits |= {
                ("document.access_denied", "institution", str(org.id)),  # list page, upload
                ("document.denied", "institution", str(org.id)),  # requestDocumentUpload
            }
        assert seen == expected_audits, who
        # list page, upload post, 2 detail pages, 2 downloads, 2 GraphQL reads, 1 request
        assert len(refusals) == (9 if user is not None else 4), (who, len(refusals))
    assert len(docs.documents()) == 2 and len(docs.object_keys()) == 2
    assert docs.pending_uploads() == []


def test_an_agent_of_the_institution_can_view_but_not_upload(docs, scene, gql_for, pdf_bytes):
    """R-ELIG-05 agents answer customers: they see their institution's documents but only the
    admin manages them (web upload 403, GraphQL PermissionDenied, both audited)."""
    org = scene.org
    agent = docs.agent(org)
    client = docs.login(agent)
    page = client.get(f"/institutions/{org.id}/documents")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert CMA_NUMBER in html and 'id="upload-form"' not in html
    assert client.get(f"/documents/{scene.licence.id}").status_code == 200
    download = client.get(f"/documents/{scene.licence.id}/download", buffered=True)
    assert download.status_code == 200 and download.data.startswith(b"%PDF-1.4")
    assert docs.audits("document.download")[-1].actor_id == agent.id

    response = docs.upload(client, org.id, data=pdf_bytes(), filename="x.pdf",
                           certificate_number="202019004321")
    assert response.status_code == 403
    gql = gql_for(agent)
    listed = gql(LIST, {"id": str(org.id)})["data"]["institutionDocuments"]
    assert {d["kind"] for d in listed} == {"business_licence", "cma"}
    assert gql(REQUEST, _upload_input(org.id))["data"]["requestDocumentUpload"][
        "__typename"] == "PermissionDeniedError"
    assert len(docs.documents()) == 2 and len(docs.object_keys()) == 2
    assert [a.actor_id for a in docs.audits("document.denied", result="denied")] == [
        agent.id, agent.id]


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.REGULATOR])
def test_operators_and_regulators_see_every_institutions_documents(docs, scene, gql_for, role):
    """R-ONB-03: the operator screens and the regulator decides, so both see every document of
    every institution, licences included; their downloads of private ones are audited."""
    staff = docs.user(role, "运维 周婷" if role is Role.OPERATOR else "佛山市市场监管局 陈科长")
    client = docs.login(staff)
    html = client.get(f"/institutions/{scene.org.id}/documents").get_data(as_text=True)
    assert CMA_NUMBER in html and scene.org.institution.uscc in html
    assert client.get(f"/documents/{scene.licence.id}").status_code == 200
    download = client.get(f"/documents/{scene.licence.id}/download", buffered=True)
    assert download.status_code == 200
    assert docs.audits("document.download")[-1].actor_id == staff.id
    listed = gql_for(staff)(LIST, {"id": str(scene.org.id)})["data"]["institutionDocuments"]
    assert {d["kind"] for d in listed} == {"business_licence", "cma"}
    assert docs.audits(result="denied") == []


def test_the_public_sees_public_certificates_of_live_institutions_only(docs, scene, gql_for):
    """R-ONB-05, R-OPS-05 and SECURITY.md 9: once LIVE, anybody sees and downloads the CMA certificate,
    never the business licence (personal data of the legal representative); nothing of a
    DRAFT or REMOVED institution; a rejected certificate is not shown."""
    org, licence, cma = scene.org, scene.licence, scene.cma
    anonymous, enterprise = gql_for(None), gql_for(docs.user(Role.ENTERPRISE, "刘洋"))
    for gql in (anonymous, enterprise):
        assert gql(LIST, {"id": str(org.id)})["data"]["institutionDocuments"] == []

    docs.set_status(org, InstitutionStatus.LIVE)
    for gql in (anonymous, enterprise):
        assert gql(LIST, {"id": str(org.id)})["data"]["institutionDocuments"] == [
            {"id": str(cma.id), "kind": "cma"}]
        assert gql(ONE, {"id": str(cma.id)})["data"]["document"] == {"id": str(cma.id),
                                                                      "kind": "cma"}
        assert gql(ONE, {"id": str(licence.id)})["data"]["document"] is None
    visitor = docs.anonymous()
    public = visitor.get(f"/documents/{cma.id}/download", buffered=True)
    assert public.status_code == 200 and public.data.startswith(b"%PDF-1.4")
    assert visitor.get(f"/documents/{licence.id}/download", buffered=True).status_code == 404

    service.set_verification(cma, Verification.REJECTED, reason="证书与机构名称不符",
                             actor=docs.user(Role.OPERATOR, "运维 周婷"))
    assert anonymous(LIST, {"id": str(org.id)})["data"]["institutionDocuments"] == []
    assert visitor.get(f"/documents/{cma.id}/download", buffered=True).status_code == 404
    service.set_verification(cma, Verification.VERIFIED, reason=None,
                             actor=docs.user(Role.OPERATOR, "运维 孙悦"))
    assert len(anonymous(LIST, {"id": str(org.id)})["data"]["institutionDocuments"]) == 1

    # R-OPS-05: a homepage hidden for want of an item or agent hides its certificates too.
    institution = db.session.get(Institution, org.id)
    hide_homepage(institution)
    assert anonymous(LIST, {"id": str(org.id)})["data"]["institutionDocuments"] == []
    assert visitor.get(f"/documents/{cma.id}/download", buffered=True).status_code == 404
    institution.homepage_hidden_at = None
    db.session.commit()
    assert visitor.get(f"/documents/{cma.id}/download", buffered=True).status_code == 200

    docs.set_status(org, InstitutionStatus.REMOVED)
    assert anonymous(LIST, {"id": str(org.id)})["data"]["institutionDocuments"] == []
    assert visitor.get(f"/documents/{cma.id}/download", buffered=True).status_code == 404


def test_unknown_ids_are_plain_not_found(docs, scene, gql_for):
    """SECURITY.md 9: unknown or malformed ids answer like refused ones (no oracle)."""
    client = docs.login(scene.org.admin)
    assert client.get("/institutions/99999/documents").status_code == 404
    assert client.get("/documents/99999").status_code == 404
    assert client.get("/documents/99999/download", buffered=True).status_code == 404
    gql = gql_for(scene.org.admin)
    assert gql(ONE, {"id": "99999"})["data"]["document"] is None
    assert gql(ONE, {"id": "abc"})["data"]["document"] is None
    assert gql(LIST, {"id": "abc"})["data"]["institutionDocuments"] == []


def test_only_the_admin_removes_a_document_and_its_history_stays(docs, scene, gql_for):
    """R-ONB-02 evidence is kept: the admin's removal hides a document from current use but
    keeps its row, object and history; the agent gets 403 and an outsider 404, both audited."""
    org, cma = scene.org, scene.cma
    agent = docs.agent(org)
    for user, status in ((agent, 403), (scene.other.admin, 404), (org.admin, 302)):
        client = docs.login(user)
        token = docs.csrf(client, "/login")
        response = client.post(f"/documents/{cma.id}/delete", data={"csrf_token": token})
        assert response.status_code == status, user.display_name
    denied = docs.audits(result="denied")
    assert [(a.action, a.actor_id) for a in denied] == [
        ("document.denied", agent.id), ("document.access_denied", scene.other.admin.id)]
    [deleted] = docs.audits("document.delete")
    assert deleted.actor_id == org.admin.id and deleted.object_id == str(cma.id)

    [row] = [d for d in docs.documents() if d.id == cma.id]
    assert row.deleted_at is not None and not row.is_current
    assert row.object_key in docs.object_keys()
    gql = gql_for(org.admin)
    current = gql(LIST, {"id": str(org.id)})["data"]["institutionDocuments"]
    assert [d["kind"] for d in current] == ["business_licence"]
    everything = gql("""query($id: ID!) { institutionDocuments(institutionId: $id,
        includeHistory: true) { id isCurrent } }""", {"id": str(org.id)})
    assert {"id": str(cma.id), "isCurrent": False} in everything["data"]["institutionDocuments"]
