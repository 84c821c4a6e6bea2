"""The presigned upload flow of front-end apps over GraphQL (issue 3; R-ONB-02, SECURITY.md 2,
4 and 16): request a URL, PUT the bytes, confirm; refused objects are deleted."""

from __future__ import annotations

import hashlib
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from documents_support import CMA_ISSUER, CMA_NUMBER

from core.db import db, utcnow

REQUEST = """
mutation($i: DocumentUploadInput!) { requestDocumentUpload(input: $i) {
  __typename
  ... on RequestDocumentUploadSuccess { uploadId uploadUrl expiresAt }
  ... on UserError { code message field }
  ... on InvalidInputError { problems { code field } }
} }"""

CONFIRM = """
mutation($id: String!, $sha: String) { confirmDocumentUpload(uploadId: $id, sha256: $sha) {
  __typename
  ... on DocumentSuccess { document {
    id kind certificateNumber contentType size sha256 originalFilename verification
    status { status since } downloadUrl } }
  ... on UserError { code message field }
} }"""


def cma_input(institution_id: int, **overrides):  # type: ignore[no-untyped-def]
    return {"institutionId": str(institution_id), "kind": "cma", "filename": "CMA证书.pdf",
            "certificateNumber": CMA_NUMBER, "issuer": CMA_ISSUER, "categoryCode": "testing",
            "validFrom": "2021-06-01", "validTo": "2027-05-31", **overrides}


class Uploader:
    """Requests, PUTs and confirms like a front-end app, as the logged-in `gql` client."""

    def __init__(self, docs, gql):  # type: ignore[no-untyped-def]
        self.docs, self.gql = docs, gql

    def request(self, institution_id: int, **overrides):  # type: ignore[no-untyped-def]
        body = self.gql(REQUEST, {"i": cma_input(institution_id, **overrides)})
        assert "errors" not in body, body
        return body["data"]["requestDocumentUpload"]

    def put(self, url: str, data: bytes) -> int:
        """PUT to a presigned S3 URL over the network, or to the app's stand-in URL."""
        parts = urlsplit(url)
        if parts.path.startswith("/documents/uploads/"):
            return self.docs.anonymous().put(parts.path, data=data).status_code
        request = urllib.request.Request(url, data=data, method="PUT")  # noqa: S310 - test URL
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status

    def confirm(self, upload_id: str, sha256: str | None = None):  # type: ignore[no-untyped-def]
        body = self.gql(CONFIRM, {"id": upload_id, "sha": sha256})
        assert "errors" not in body, body
        return body["data"]["confirmDocumentUpload"]


@pytest.fixture
def uploader(docs, org, gql_for):  # type: ignore[no-untyped-def]
    return Uploader(docs, gql_for(org.admin))


def test_presigned_upload_round_trip(storage_backend, docs, org, uploader, pdf_bytes):
    """R-ONB-02 for front-end apps: request → PUT → confirm records a document whose type was
    sniffed from the stored bytes and whose SHA-256 matched; a second confirm is refused with
    ALREADY_CONFIRMED; confirming before the PUT gives UPLOAD_MISSING."""
    data = pdf_bytes("CMA 201919123456")
    sha = hashlib.sha256(data).hexdigest()
    reserved = uploader.request(org.id)
    assert reserved["__typename"] == "RequestDocumentUploadSuccess"
    if storage_backend == "s3":
        assert "X-Amz-Signature=" in reserved["uploadUrl"]
    else:
        assert f"/documents/uploads/{reserved['uploadId']}" in reserved["uploadUrl"]
    [pending] = docs.pending_uploads()
    assert pending.token == reserved["uploadId"] and pending.original_filename == "CMA证书.pdf"

    missing = uploader.confirm(reserved["uploadId"], sha)
    assert missing["__typename"] == "UploadRefusedError" and missing["code"] == "UPLOAD_MISSING"

    assert uploader.put(reserved["uploadUrl"], data) == 200
    confirmed = uploader.confirm(reserved["uploadId"], sha.upper())
    assert confirmed["__typename"] == "DocumentSuccess", confirmed
    document = confirmed["document"]
    assert document["contentType"] == "application/pdf" and document["size"] == len(data)
    assert document["sha256"] == sha and document["originalFilename"] == "CMA证书.pdf"
    assert document["verification"] == "UNVERIFIED"
    assert document["status"]["status"] in ("VALID", "EXPIRING", "EXPIRED")
    [row] = docs.documents()
    assert docs.object_keys() == [row.object_key] == [pending.object_key]
    assert docs.object_bytes(row.object_key) == data
    assert [a.object_id for a in docs.audits("document.upload")] == [str(row.id)]
    assert len(docs.audits("document.upload_requested")) == 1
    assert docs.pending_uploads()[0].confirmed_document_id == row.id

    again = uploader.confirm(reserved["uploadId"], sha)
    assert again["__typename"] == "UploadRefusedError" and again["code"] == "ALREADY_CONFIRMED"
    assert len(docs.documents()) == 1 and docs.object_keys() == [row.object_key]


def test_refused_presigned_uploads_are_deleted(storage_backend, app, docs, org, uploader,
                                               pdf_bytes):
    """SECURITY.md 2, 4 and 16: an expired upload, a checksum mismatch, HTML bytes and an
    over-size object are each refused with their code; the object is deleted, the upload
    closed, no row written. A closed upload cannot be confirmed later."""
    def reserve_and_put(data: bytes):  # type: ignore[no-untyped-def]
        reserved = uploader.request(org.id)
        assert uploader.put(reserved["uploadUrl"], data) == 200
        return reserved["uploadId"]

    expired = reserve_and_put(pdf_bytes())
    pending = docs.pending_uploads()[-1]
    pending.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert docs.object_keys() == [pending.object_key]
    result = uploader.confirm(expired)
    assert (result["__typename"], result["code"]) == ("UploadRefusedError", "UPLOAD_EXPIRED")
    assert docs.object_keys() == []

    wrong_sum = reserve_and_put(pdf_bytes())
    result = uploader.confirm(wrong_sum, hashlib.sha256(b"other bytes").hexdigest())
    assert (result["code"], result["field"]) == ("CHECKSUM_MISMATCH", "sha256")
    assert docs.object_keys() == []

    html = reserve_and_put(b"<!doctype html><html><script>alert(1)</script></html>")
    result = uploader.confirm(html)
    assert (result["code"], result["field"]) == ("FILE_TYPE_NOT_ALLOWED", "file")
    assert docs.object_keys() == []

    app.config["UPLOAD_MAX_BYTES"] = 64 * 1024
    big = pdf_bytes(padding=100 * 1024)
    reserved = uploader.request(org.id)
    status = uploader.put(reserved["uploadUrl"], big)
    if storage_backend == "s3":  # S3 takes any size: the confirmation refuses it
        assert status == 200
        result = uploader.confirm(reserved["uploadId"])
        assert result["code"] == "FILE_TOO_LARGE"
    else:  # the app's own upload URL counts while streaming
        assert status == 413
        assert uploader.confirm(reserved["uploadId"])["code"] == "UPLOAD_MISSING"

    assert docs.documents() == [] and docs.object_keys() == []
    for upload_id in (expired, wrong_sum, html):
        assert uploader.confirm(upload_id)["code"] == "UPLOAD_EXPIRED"  # closed for good
    refused = 4 if storage_backend == "s3" else 3  # locally the over-size PUT never landed
    assert len(docs.audits("document.upload_refused", result="failed")) == refused


def test_the_apps_upload_url_refuses_unknown_closed_or_expired_tokens(docs, org, uploader,
                                                                      pdf_bytes):
    """SECURITY.md 4: the local stand-in for a presigned URL is only as good as its token:
    an unknown, expired or already used token is 404 and nothing is written."""
    client = docs.anonymous()
    assert client.put("/documents/uploads/not-a-token", data=pdf_bytes()).status_code == 404
    reserved = uploader.request(org.id)
    token_path = urlsplit(reserved["uploadUrl"]).path
    pending = docs.pending_uploads()[-1]
    pending.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.put(token_path, data=pdf_bytes()).status_code == 404
    assert docs.object_keys() == []

    used = uploader.request(org.id)
    assert uploader.put(used["uploadUrl"], pdf_bytes()) == 200
    assert uploader.confirm(used["uploadId"])["__typename"] == "DocumentSuccess"
    [row] = docs.documents()
    assert client.put(urlsplit(used["uploadUrl"]).path, data=b"<html>").status_code == 404
    assert docs.object_bytes(row.object_key) == pdf_bytes()  # not overwritten after confirmation


def test_request_upload_checks_metadata_and_permission_first(docs, org, uploader, gql_for):
    """R-ELIG-01/02 and SECURITY.md 9: a bad number is refused before any URL is handed out;
    another institution's admin gets PermissionDenied (audited); anonymous callers must log in."""
    bad = uploader.request(org.id, certificateNumber="20191912345")
    assert bad["__typename"] == "InvalidInputError"
    assert [p["field"] for p in bad["problems"]] == ["certificateNumber"]
    other = docs.institution("佛山市南海区计量检测有限公司", uscc=None, admin_name="黄伟")
    body = gql_for(other.admin)(REQUEST, {"i": cma_input(org.id)})
    assert body["data"]["requestDocumentUpload"]["__typename"] == "PermissionDeniedError"
    anonymous = gql_for(None)(REQUEST, {"i": cma_input(org.id)})
    assert anonymous["data"]["requestDocumentUpload"]["__typename"] == "NotAuthenticatedError"
    assert docs.pending_uploads() == []
    denied = docs.audits("document.denied", result="denied")
    assert [(a.actor_id, a.object_id) for a in denied] == [(other.admin.id, str(org.id))]
