"""Uploading documents through the streamed web form (issue 3; R-ONB-02, R-ELIG-01/02,
SECURITY.md 1-4 and 16), on the local folder and on a real S3 server."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date
from urllib.parse import quote

import pytest
from documents_support import (
    CMA_NUMBER,
    CMA_NUMBER_2,
    CNCA_NUMBER,
    LICENCE_ISSUER,
    USCC_BAD_CHECK_DIGIT,
    USCC_CERT_CO,
    USCC_TESTING_CO,
)

from core.db import db
from core.documents import service
from core.errors import ErrorCode
from core.institutions.models import InstitutionStatus
from core.storage import S3Storage

KEY_RE = re.compile(r"documents/\d{4}/\d{2}/[0-9a-f]{32}")
FILE_TYPE_ZH = "仅接受 PDF、JPEG、PNG 格式的文件"


def _licence(docs, client, org, data, filename="营业执照.pdf", **kwargs):
    return docs.upload(client, org.id, data=data, filename=filename, kind="business_licence",
                       certificate_number=org.institution.uscc, issuer=LICENCE_ISSUER,
                       valid_from=date(2019, 3, 1), valid_to=None, long_term=True,
                       category_code="", scope="检验检测服务；计量校准服务", **kwargs)


# ------------------------------------------------------------------ 1. round trip


def test_web_upload_and_download_round_trip_r_onb_02(storage_backend, docs, org, admin_client,
                                                      store, pdf_bytes, png_bytes):
    """R-ONB-02 and SECURITY.md 2-3: a licence and a CMA certificate uploaded through the form
    are stored in object storage under generated keys, with the type sniffed from the bytes, the
    size and SHA-256; downloads are attachments with an RFC 6266 name and nosniff; non-public
    downloads are audited."""
    licence = pdf_bytes("Business licence 91440606MA4UHF0X17")
    cma = png_bytes(40, 30)
    assert _licence(docs, admin_client, org, licence).status_code == 302
    assert docs.upload(admin_client, org.id, data=cma, filename="CMA资质认定证书.png",
                       file_content_type="image/png").status_code == 302

    rows = {d.kind: d for d in docs.documents(org.id)}
    assert set(rows) == {"business_licence", "cma"}
    expected = {"business_licence": (licence, "application/pdf", "营业执照.pdf"),
                "cma": (cma, "image/png", "CMA资质认定证书.png")}
    for kind, (data, content_type, filename) in expected.items():
        row = rows[kind]
        assert row.content_type == content_type
        assert row.size == len(data)
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert row.original_filename == filename
        assert KEY_RE.fullmatch(row.object_key)  # generated: nothing of the file name in it
        assert docs.object_bytes(row.object_key) == data
        assert row.uploaded_by_id == org.admin.id
        if isinstance(store, S3Storage):  # really in the bucket, as any S3 client sees it
            stat = store.client.stat_object(store.bucket, row.object_key)
            assert (stat.size, stat.content_type) == (len(data), content_type)
    assert rows["business_licence"].long_term and rows["business_licence"].valid_to is None
    assert rows["cma"].certificate_number == CMA_NUMBER and rows["cma"].category_code == "testing"
    assert sorted(docs.object_keys()) == sorted(r.object_key for r in rows.values())
    uploads = docs.audits("document.upload")
    assert [(a.object_id, a.actor_id) for a in uploads] == [
        (str(rows["business_licence"].id), org.admin.id), (str(rows["cma"].id), org.admin.id)]
    assert uploads[1].after["sha256"] == rows["cma"].sha256

    page = admin_client.get(f"/institutions/{org.id}/documents").get_data(as_text=True)
    assert CMA_NUMBER in page and "营业执照" in page

    response = admin_client.get(f"/documents/{rows['business_licence'].id}/download", buffered=True)
    assert response.status_code == 200
    assert response.data == licence
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"file.pdf\"; filename*=UTF-8''" + quote("营业执照.pdf", safe=""))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert int(response.headers["Content-Length"]) == len(licence)
    downloads = docs.audits("document.download")
    assert [(a.object_id, a.actor_id) for a in downloads] == [
        (str(rows["business_licence"].id), org.admin.id)]

    # A public certificate of a live institution is downloadable by anyone, unaudited.
    docs.set_status(org, InstitutionStatus.LIVE)
    public = docs.anonymous().get(f"/documents/{rows['cma'].id}/download", buffered=True)
    assert public.status_code == 200 and public.data == cma and public.mimetype == "image/png"
    assert len(docs.audits("document.download")) == 1


@pytest.mark.parametrize("storage_backend", [pytest.param("s3", marks=pytest.mark.s3)])
def test_the_app_creates_its_s3_bucket_on_first_use(storage_backend, app, s3_server, s3_bucket,
                                                     docs, org, admin_client, pdf_bytes):
    """R-ONB-02: files live in MinIO/S3; a fresh deployment needs no manual bucket set-up, and
    creating the app does no storage I/O."""
    assert not s3_server.client().bucket_exists(s3_bucket)
    assert docs.upload(admin_client, org.id, data=pdf_bytes(), filename="cma.pdf").status_code == 302
    assert s3_server.client().bucket_exists(s3_bucket)
    [row] = docs.documents()
    assert s3_server.client().get_object(s3_bucket, row.object_key).read() == pdf_bytes()


# ------------------------------------------------------------------ 2. supersede and history


def test_supersede_and_history_r_elig_02(docs, org, admin_client, gql_for, pdf_bytes, jpeg_bytes):
    """R-ELIG-02 needs the current version of each certificate: a re-upload of the same CMA
    number supersedes the old one (history keeps both); any new licence replaces the old
    licence (R-ELIG-01); another number and photos never supersede."""
    for version in (1, 2):
        assert docs.upload(admin_client, org.id, data=pdf_bytes(f"CMA v{version}"),
                           filename=f"CMA-{version}.pdf",
                           valid_to=date(2024 + 3 * version, 5, 31)).status_code == 302
    assert docs.upload(admin_client, org.id, data=pdf_bytes("CMA other"), filename="cma2.pdf",
                       certificate_number=CMA_NUMBER_2).status_code == 302
    old, new, other = docs.documents()
    assert old.superseded_by_id == new.id and old.superseded_at is not None
    assert new.superseded_by_id is None and other.superseded_by_id is None
    assert [d.id for d in service.history(new)] == [new.id, old.id]
    assert docs.audits("document.upload")[1].after["supersedes"] == [old.id]

    body = gql_for(org.admin)(
        "query($id: ID!) { document(id: $id) { isCurrent history { id isCurrent } } }",
        {"id": str(new.id)})
    assert body["data"]["document"] == {"isCurrent": True, "history": [
        {"id": str(new.id), "isCurrent": True}, {"id": str(old.id), "isCurrent": False}]}
    listed = [d.id for d in service.institution_documents(org.id, org.admin)]
    assert old.id not in listed and {new.id, other.id} <= set(listed)
    detail = admin_client.get(f"/documents/{new.id}").get_data(as_text=True)
    assert f"/documents/{old.id}" in detail

    assert _licence(docs, admin_client, org, pdf_bytes("licence 2019")).status_code == 302
    assert _licence(docs, admin_client, org, pdf_bytes("licence 2025")).status_code == 302
    first, second = [d for d in docs.documents() if d.kind == "business_licence"]
    assert first.superseded_by_id == second.id and second.is_current

    for n in range(2):
        assert docs.upload(admin_client, org.id, data=jpeg_bytes(), filename=f"设备{n}.jpg",
                           kind="equipment_photo", certificate_number="", issuer="",
                           valid_from=None, valid_to=None).status_code == 302
    photos = [d for d in docs.documents() if d.kind == "equipment_photo"]
    assert len(photos) == 2 and all(p.is_current for p in photos)
    assert all(p.content_type == "image/jpeg" and p.certificate_number is None for p in photos)


# ------------------------------------------------------------------ 3. bad inputs


REFUSED_FILES = {
    "html named .pdf": b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script>",
    "markup before the PDF header": b"<html><body>%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF",
    "script inside the PDF header window": b"%PDF-1.4\n<script>alert(1)</script>\n%%EOF",
    "MZ executable named .pdf": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50
                                + b"%PDF-1.4\n%%EOF",
    "ELF binary named .pdf": b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
    "bad PDF header %PDX": b"%PDX-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n",
    "zip named .pdf": b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 40,
}


def test_refused_files_leave_no_row_and_no_object(storage_backend, docs, org, admin_client):
    """SECURITY.md 2 and 4: type comes from the bytes; a refused file is an error under the file
    field and leaves no row, no object and no upload audit row."""
    for case, data in REFUSED_FILES.items():
        response = docs.upload(admin_client, org.id, data=data, filename="资质证书.pdf",
                               file_content_type="application/pdf")
        assert response.status_code == 400, case
        page = response.get_data(as_text=True)
        assert 'id="file-error"' in page and FILE_TYPE_ZH in page, case
    empty = docs.upload(admin_client, org.id, data=b"", filename="空文件.pdf")
    assert empty.status_code == 400 and "文件内容为空" in empty.get_data(as_text=True)
    assert docs.documents() == [] and docs.object_keys() == []
    assert docs.audits("document.upload") == []


def test_png_bytes_named_pdf_are_stored_as_png(docs, org, admin_client, png_bytes):
    """SECURITY.md 2: the content decides the type, not the name: PNG bytes called .pdf are an
    allowed PNG and are served back as image/png with nosniff."""
    data = png_bytes()
    assert docs.upload(admin_client, org.id, data=data, filename="证书.pdf",
                       file_content_type="application/pdf").status_code == 302
    [row] = docs.documents()
    assert row.content_type == "image/png" and row.original_filename == "证书.pdf"
    response = admin_client.get(f"/documents/{row.id}/download", buffered=True)
    assert response.mimetype == "image/png" and response.data == data
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.app_config(UPLOAD_MAX_BYTES=64 * 1024)
def test_oversize_upload_gets_413_in_chinese_and_stores_nothing(storage_backend, app, docs, org,
                                                               admin_client, pdf_bytes):
    """SECURITY.md 1 and 4: a file over UPLOAD_MAX_BYTES is refused with the Chinese 413 page
    while it streams, and nothing is stored; a body over MAX_CONTENT_LENGTH (derived from
    UPLOAD_MAX_BYTES: 64 KiB + 256 KiB for the fields) is refused before it is read at all."""
    assert app.config["MAX_CONTENT_LENGTH"] == (64 + 256) * 1024
    response = docs.upload(admin_client, org.id, data=pdf_bytes(padding=100 * 1024),
                           filename="大文件.pdf")
    assert response.status_code == 413
    assert "过大" in response.get_data(as_text=True)
    too_long = docs.upload(admin_client, org.id, data=pdf_bytes(padding=2 * 1024 * 1024),
                           filename="更大的文件.pdf")
    assert too_long.status_code == 413 and "过大" in too_long.get_data(as_text=True)
    # Just under the limit is fine.
    small = pdf_bytes(padding=60 * 1024)
    assert len(small) <= 64 * 1024
    assert docs.upload(admin_client, org.id, data=small, filename="ok.pdf").status_code == 302
    [row] = docs.documents()
    assert docs.object_keys() == [row.object_key] and row.size == len(small)


def test_client_file_names_are_cleaned_and_never_used_as_keys(docs, org, admin_client, pdf_bytes):
    """SECURITY.md 3: `../../etc/passwd.pdf`, Windows paths and control or bidi characters in a
    file name reach neither the key nor a path; the shown name is cleaned."""
    names = {  # the multipart header as sent (a quoted string: `\\` is one backslash) → shown
        "../../etc/passwd.pdf": "passwd.pdf",
        "C:\\\\Users\\\\王强\\\\..\\\\证书.pdf": "证书.pdf",
        "\x1b[31m资质\u202egpj.exe\x07\t.pdf": "[31m资质gpj.exe.pdf",
        "a<b>:c|d?.pdf": "a_b__c_d_.pdf",
    }
    for number, sent in enumerate(names):
        response = docs.upload(admin_client, org.id, data=pdf_bytes(sent.encode().hex()),
                               filename=sent, certificate_number=f"2019191234{number:02d}")
        assert response.status_code == 302, sent
    rows = docs.documents()
    assert [r.original_filename for r in rows] == list(names.values())
    for row in rows:
        assert KEY_RE.fullmatch(row.object_key)
    assert sorted(docs.object_keys()) == sorted(r.object_key for r in rows)

    # Line breaks cannot travel in a multipart header, but any caller of the service can pass
    # them: they are dropped from the stored name and from the download header.
    row = docs.store_document(org, data=pdf_bytes(), certificateNumber=CNCA_NUMBER,
                              kind="cnca_approval", issuer="国家认证认可监督管理委员会",
                              filename="批准书\r\nSet-Cookie: x=1\x00.pdf")
    assert row.original_filename == "批准书Set-Cookie_ x=1.pdf"
    header = admin_client.get(f"/documents/{row.id}/download", buffered=True).headers["Content-Disposition"]
    assert "\r" not in header and "\n" not in header and "Set-Cookie_" in header


@pytest.mark.parametrize(("kind", "number", "message"), [
    ("cma", "20191912345", "12"),  # 11 digits
    ("business_licence", USCC_BAD_CHECK_DIGIT, "18"),  # wrong check digit
    ("business_licence", USCC_CERT_CO, USCC_TESTING_CO),  # valid, but another company's
    ("cnca_approval", "CNCA-R-21-1", "CNCA-R-2021-123"),
    ("cnas_laboratory", "CNAS 1234", "CNAS L1234"),
])
def test_bad_certificate_number_is_a_field_error_and_stores_nothing(docs, org, admin_client,
                                                                     pdf_bytes, kind, number,
                                                                     message):
    """R-ELIG-01/02: certificate numbers are checked by kind (CMA 12 digits, USCC check digit and
    the institution's own code, CNCA and CNAS formats) before a byte of the file is stored."""
    response = docs.upload(admin_client, org.id, data=pdf_bytes(), filename="证书.pdf", kind=kind,
                           certificate_number=number, long_term=kind == "business_licence")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(r'id="certificate_number-error">([^<]*)<', page)
    assert error is not None and message in error.group(1)
    assert docs.documents() == [] and docs.object_keys() == []


def test_validity_period_ending_before_it_starts_is_refused(docs, org, admin_client, pdf_bytes):
    """R-ELIG-02: a validity period must make sense; missing dates are named too."""
    response = docs.upload(admin_client, org.id, data=pdf_bytes(), filename="cma.pdf",
                           valid_from=date(2025, 1, 1), valid_to=date(2024, 12, 31))
    assert response.status_code == 400
    assert 'id="valid_to-error"' in response.get_data(as_text=True)
    missing = docs.upload(admin_client, org.id, data=pdf_bytes(), filename="cma.pdf",
                          valid_from=None, valid_to=None)
    page = missing.get_data(as_text=True)
    assert missing.status_code == 400
    assert 'id="valid_from-error"' in page and 'id="valid_to-error"' in page
    long_term_cma = docs.upload(admin_client, org.id, data=pdf_bytes(), filename="cma.pdf",
                                valid_to=None, long_term=True)
    assert long_term_cma.status_code == 400
    assert docs.documents() == [] and docs.object_keys() == []


def test_csrf_token_is_required_and_must_precede_the_file(storage_backend, docs, org,
                                                          admin_client, pdf_bytes):
    """SECURITY.md 12 for the streamed form: without the token, or with the file placed before
    the token (so the file would be read unchecked), the post is refused with 400 and nothing is
    stored."""
    assert docs.upload(admin_client, org.id, data=pdf_bytes(), filename="a.pdf",
                       csrf=False).status_code == 400
    assert docs.upload(admin_client, org.id, data=pdf_bytes(), filename="a.pdf",
                       csrf="forged-token").status_code == 400
    assert docs.upload(admin_client, org.id, data=pdf_bytes(), filename="a.pdf",
                       file_first=True).status_code == 400
    assert docs.documents() == [] and docs.object_keys() == []
    # The same post with the token first and the file last is accepted.
    assert docs.upload(admin_client, org.id, data=pdf_bytes(), filename="a.pdf").status_code == 302


def test_a_retried_post_with_the_same_idempotency_key_gives_one_document(storage_backend, docs,
                                                                          org, admin_client,
                                                                          pdf_bytes):
    """SECURITY.md 4: a browser retry (same form, same idempotency key) stores one document and
    one object."""
    for _ in range(3):
        response = docs.upload(admin_client, org.id, data=pdf_bytes(), filename="cma.pdf",
                               idempotency_key="retry-7f3a9c")
        assert response.status_code == 302
    [row] = docs.documents()
    assert docs.object_keys() == [row.object_key]
    assert len(docs.audits("document.upload")) == 1
    # Another form (another key) with the same certificate is a new version.
    assert docs.upload(admin_client, org.id, data=pdf_bytes(), filename="cma.pdf",
                       idempotency_key="second-form").status_code == 302
    assert len(docs.documents()) == 2


def test_a_form_without_a_file_asks_for_one(docs, org, admin_client):
    """R-ONB-02: the form names the missing file instead of storing a row without one."""
    response = docs.upload(admin_client, org.id, data=b"", filename="")
    assert response.status_code == 400
    assert 'id="file-error"' in response.get_data(as_text=True)
    assert docs.documents() == []


# ------------------------------------------------------------------ 4. over-size not read


class CountingBody:
    """A multipart body of `total` bytes made up on the fly, counting what the server reads."""

    def __init__(self, head: bytes, total: int, tail: bytes):
        self.head, self.total, self.tail = head, total, tail
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.total - self.position
        size = min(size, self.total - self.position)
        out = bytearray()
        while len(out) < size:
            at = self.position + len(out)
            if at < len(self.head):
                out += self.head[at:at + size - len(out)]
            elif at >= self.total - len(self.tail):
                start = at - (self.total - len(self.tail))
                out += self.tail[start:start + size - len(out)]
            else:
                out += b"0" * min(size - len(out), self.total - len(self.tail) - at)
        self.position += len(out)
        return bytes(out)

    # The test client measures the stream with seek/tell before the request starts.
    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.total + offset if whence == 2 else offset
        return self.position


def _huge_body(docs, client, pdf_bytes, total):
    from documents_support import multipart_body

    token = docs.csrf(client, "/login")
    fields = [("csrf_token", token), ("idempotency_key", "huge"), ("kind", "cma"),
              ("certificate_number", CMA_NUMBER), ("issuer", "广东省市场监督管理局"),
              ("valid_from", "2021-06-01"), ("valid_to", "2027-05-31")]
    body, content_type = multipart_body(fields, ("file", "huge.pdf", pdf_bytes() + b"<<FILL>>",
                                                 "application/pdf"))
    head, tail = body.split(b"<<FILL>>")
    return CountingBody(head, total, tail), content_type


@pytest.mark.app_config(UPLOAD_MAX_BYTES=64 * 1024, MAX_CONTENT_LENGTH=64 * 1024 * 1024)
@pytest.mark.parametrize("declared", ["content-length", "chunked"])
def test_an_oversize_body_is_refused_before_it_is_read_to_the_end(app, docs, org, admin_client,
                                                                  pdf_bytes, declared):
    """SECURITY.md 1: with a 64 KiB file limit, a 32 MiB upload is answered 413 after well
    under 1 MiB has been read, whether it declares its length (within a generous
    MAX_CONTENT_LENGTH, so the streaming count is what stops it) or streams it chunked."""
    total = 32 * 1024 * 1024
    body, content_type = _huge_body(docs, admin_client, pdf_bytes, total)
    if declared == "content-length":
        response = admin_client.post(f"/institutions/{org.id}/documents", input_stream=body,
                                     content_type=content_type)
    else:
        response = admin_client.post(
            f"/institutions/{org.id}/documents", input_stream=body, content_type=content_type,
            environ_overrides={"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    assert response.status_code == 413
    assert "过大" in response.get_data(as_text=True)
    assert body.position < 1024 * 1024, f"{body.position} of {total} bytes read"
    assert docs.documents() == [] and docs.object_keys() == []


@pytest.mark.app_config(UPLOAD_MAX_BYTES=64 * 1024)
def test_a_declared_length_over_max_content_length_is_not_read_at_all(app, docs, org,
                                                                      admin_client, pdf_bytes):
    """SECURITY.md 1: MAX_CONTENT_LENGTH refuses from the Content-Length header alone."""
    total = 512 * 1024 * 1024
    body, content_type = _huge_body(docs, admin_client, pdf_bytes, total)
    response = admin_client.post(f"/institutions/{org.id}/documents", input_stream=body,
                                 content_type=content_type)
    assert response.status_code == 413
    assert body.position == 0


# ------------------------------------------------------------------ 5. faults


def _unreachable_s3_url() -> str:
    from documents_support import closed_port

    return f"s3://qi-key:qi-secret@127.0.0.1:{closed_port()}/qi-docs?secure=false&region=cn"


@pytest.mark.app_config(STORAGE_URL=_unreachable_s3_url)
def test_unreachable_storage_gives_a_clear_chinese_error_and_no_row(docs, org,
                                                                   admin_client, pdf_bytes, gql_for):
    """SECURITY.md 16: with S3 down, an upload is refused with 503 and a Chinese message, and no
    row is written; GraphQL gets StorageUnavailableError."""
    response = docs.upload(admin_client, org.id, data=pdf_bytes(), filename="cma.pdf")
    assert response.status_code == 503
    assert "文件存储服务暂不可用" in response.get_data(as_text=True)
    assert docs.documents() == []
    body = gql_for(org.admin)(
        """mutation($i: DocumentUploadInput!) { requestDocumentUpload(input: $i) {
             __typename ... on UserError { code } } }""",
        {"i": {"institutionId": str(org.id), "kind": "cma", "filename": "cma.pdf",
               "certificateNumber": CMA_NUMBER, "issuer": "广东省市场监督管理局",
               "validFrom": "2021-06-01", "validTo": "2027-05-31"}})
    assert body["data"]["requestDocumentUpload"] == {"__typename": "StorageUnavailableError",
                                                     "code": "STORAGE_UNAVAILABLE"}
    assert docs.pending_uploads() == []


def test_a_failed_database_write_removes_the_stored_object(storage_backend, docs, org, store,
                                                           pdf_bytes, monkeypatch):
    """SECURITY.md 16: the object is written first; when recording the row fails afterwards the
    object is deleted again: no row, no object."""
    stored = []
    real_put = store.put_stream

    def spy_put(key, stream, **kwargs):
        real_put(key, stream, **kwargs)
        stored.append(key)

    def failing_audit(*args, **kwargs):
        assert stored and docs.object_keys() == stored  # the object really was there
        raise RuntimeError("database connection lost")

    monkeypatch.setattr(store, "put_stream", spy_put)
    monkeypatch.setattr(service, "record_audit", failing_audit)
    with pytest.raises(RuntimeError, match="connection lost"):
        docs.store_document(org, data=pdf_bytes())
    monkeypatch.undo()
    assert docs.documents() == [] and docs.object_keys() == []


def test_a_lost_idempotency_race_removes_the_loser_object(docs, org, store, pdf_bytes):
    """SECURITY.md 4 and 16: when a concurrent retry of the same post committed first, the
    unique key refuses the second row; its object is deleted and the winner returned."""
    winner = docs.store_document(org, data=pdf_bytes())
    winner.idempotency_key = "same-form"
    db.session.commit()
    key = store.new_key(service.KEY_PREFIX)
    store.put_stream(key, io.BytesIO(pdf_bytes()), content_type="application/pdf")
    meta = service.validate_meta({"kind": "cma", "certificateNumber": CMA_NUMBER,
                                  "issuer": "广东省市场监督管理局", "validFrom": date(2021, 6, 1),
                                  "validTo": date(2027, 5, 31)}, org.institution)
    got = service._record(org.institution, meta, key=key, filename="cma.pdf",
                          content_type="application/pdf", size=1, sha256="0" * 64,
                          actor=org.admin, idempotency_key="same-form")
    assert got.id == winner.id
    assert docs.object_keys() == [winner.object_key]
    assert [d.id for d in docs.documents()] == [winner.id]


class CutOff:
    """A client that disconnects after `after` bytes."""

    def __init__(self, data: bytes, after: int):
        self.data, self.after, self.position = data, after, 0

    def read(self, size: int = -1) -> bytes:
        if self.position >= self.after:
            raise ConnectionResetError("client went away")
        size = len(self.data) if size is None or size < 0 else size
        chunk = self.data[self.position:min(self.position + size, self.after)]
        self.position += len(chunk)
        return chunk


def test_an_upload_cut_off_half_way_stores_nothing(storage_backend, docs, org, admin_client,
                                                   store, pdf_bytes, monkeypatch):
    """SECURITY.md 4 and 16: a connection lost mid-file leaves no row and no object (on S3 the
    client vanishes after 16 MiB, several 5 MiB parts in: a multipart upload was under way and
    is aborted)."""
    data = pdf_bytes(padding=17 * 1024 * 1024)
    started = []
    if isinstance(store, S3Storage):
        create = store.client._create_multipart_upload
        monkeypatch.setattr(store.client, "_create_multipart_upload",
                            lambda *args: started.append(args) or create(*args))
    with pytest.raises(ConnectionResetError):
        service.store_upload(org.institution, service.validate_meta(
            {"kind": "cma", "certificateNumber": CMA_NUMBER, "issuer": "广东省市场监督管理局",
             "validFrom": date(2021, 6, 1), "validTo": date(2027, 5, 31)}, org.institution),
            CutOff(data, 16 * 1024 * 1024), filename="cma.pdf", actor=org.admin)
    assert docs.documents() == [] and docs.object_keys() == []
    if isinstance(store, S3Storage):  # the multipart upload was started, then aborted
        assert len(started) == 1
        uploads = store.client._list_multipart_uploads(store.bucket)
        assert list(uploads.uploads) == []

    # Through the form: the body ends in the middle of the file part.
    from documents_support import multipart_body

    body, content_type = multipart_body(
        [("csrf_token", docs.csrf(admin_client, "/login")), ("kind", "cma"),
         ("certificate_number", CMA_NUMBER), ("issuer", "广东省市场监督管理局"),
         ("valid_from", "2021-06-01"), ("valid_to", "2027-05-31")],
        ("file", "cma.pdf", pdf_bytes(padding=300 * 1024), "application/pdf"))
    truncated = body[: len(body) - 100 * 1024]
    response = admin_client.post(f"/institutions/{org.id}/documents", data=truncated,
                                 content_type=content_type)
    assert response.status_code == 400
    assert docs.documents() == [] and docs.object_keys() == []


def test_service_refusals_carry_their_codes(docs, org, pdf_bytes):
    """The error codes front-end apps rely on, from the service itself."""
    with pytest.raises(service.UploadRefused) as err:
        docs.store_document(org, data=b"")
    assert err.value.code is ErrorCode.FILE_EMPTY and err.value.field == "file"
    with pytest.raises(service.UploadRefused) as err:
        docs.store_document(org, data=b"<html></html>")
    assert err.value.code is ErrorCode.FILE_TYPE_NOT_ALLOWED
    docs.app.config["UPLOAD_MAX_BYTES"] = 1024
    with pytest.raises(service.UploadRefused) as err:
        docs.store_document(org, data=pdf_bytes(padding=4096))
    assert err.value.code is ErrorCode.FILE_TOO_LARGE
    assert docs.documents() == [] and docs.object_keys() == []


@pytest.fixture
def live_server(app):  # type: ignore[no-untyped-def]
    """The app behind a real HTTP server on a free port, in a thread."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(10)


def _browser_session(base: str, email: str) -> tuple[str, str]:
    """Log in over HTTP like a browser; returns the Cookie header and a CSRF token."""
    import http.cookiejar
    import urllib.parse
    import urllib.request

    from documents_support import CSRF_INPUT_RE, VALUE_RE

    from core.testing import TEST_PASSWORD

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def token() -> str:
        html = opener.open(f"{base}/login", timeout=10).read().decode()
        return VALUE_RE.search(CSRF_INPUT_RE.search(html).group(0)).group(1)

    form = urllib.parse.urlencode({"identifier": email, "password": TEST_PASSWORD,
                                   "csrf_token": token()}).encode()
    opener.open(f"{base}/login", data=form, timeout=10).read()
    csrf = token()
    return "; ".join(f"{c.name}={c.value}" for c in jar), csrf


@pytest.mark.app_config(UPLOAD_MAX_BYTES=64 * 1024, MAX_CONTENT_LENGTH=512 * 1024 * 1024)
def test_a_real_server_answers_413_long_before_the_client_has_sent_the_body(
        app, live_server, docs, org, pdf_bytes):
    """SECURITY.md 1 over a real socket: a client streaming a 256 MiB file (declared, within
    MAX_CONTENT_LENGTH) gets 413 from the server after a few MiB at most; the app stopped
    at the 64 KiB limit."""
    import select
    import socket

    from documents_support import multipart_body

    cookie, csrf = _browser_session(f"http://{live_server}", org.admin.email)
    fields = [("csrf_token", csrf), ("kind", "cma"), ("certificate_number", CMA_NUMBER),
              ("issuer", "广东省市场监督管理局"), ("valid_from", "2021-06-01"),
              ("valid_to", "2027-05-31")]
    body, content_type = multipart_body(fields, ("file", "huge.pdf", pdf_bytes(), "application/pdf"))
    head = body[: body.rindex(b"\r\n--")]  # everything up to the end of the file's first bytes
    total = 256 * 1024 * 1024
    host, port = live_server.split(":")
    request = (f"POST /institutions/{org.id}/documents HTTP/1.1\r\nHost: {live_server}\r\n"
               f"Cookie: {cookie}\r\nContent-Type: {content_type}\r\n"
               f"Content-Length: {total}\r\n\r\n").encode()
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request + head)
        sent = len(head)
        chunk = b"0" * (256 * 1024)
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the server has answered
            if writable:
                try:
                    sent += sock.send(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.settimeout(10)
        status_line = sock.recv(1024).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    assert sent < 32 * 1024 * 1024, f"{sent} of {total} bytes sent before the answer"
    assert docs.documents() == [] and docs.object_keys() == []


def test_too_many_form_parts_or_an_oversized_field_get_413(app, docs, org, admin_client,
                                                           pdf_bytes):
    """SECURITY.md 1: the streamed parser bounds the number of parts (MAX_FORM_PARTS) and the
    size of each plain field, before the file is reached."""
    from documents_support import multipart_body

    token = docs.csrf(admin_client, "/login")
    padding = [(f"extra{n}", "x") for n in range(app.config["MAX_FORM_PARTS"] + 5)]
    body, content_type = multipart_body([("csrf_token", token), *padding],
                                        ("file", "a.pdf", pdf_bytes(), "application/pdf"))
    response = admin_client.post(f"/institutions/{org.id}/documents", data=body,
                                 content_type=content_type)
    assert response.status_code == 413
    body, content_type = multipart_body([("csrf_token", token), ("scope", "检" * 40_000)],
                                        ("file", "a.pdf", pdf_bytes(), "application/pdf"))
    response = admin_client.post(f"/institutions/{org.id}/documents", data=body,
                                 content_type=content_type)
    assert response.status_code == 413
    assert docs.documents() == [] and docs.object_keys() == []


def test_storage_failing_after_upload_is_reported_not_crashed(docs, org, gql_for, pdf_bytes,
                                                              monkeypatch):
    """SECURITY.md 16: when S3 goes down later, a download answers 503 and a confirmation gets
    StorageUnavailableError with the upload left open to retry; nothing is half-written."""
    from documents_support import closed_port

    from core.documents.storage import _KEY
    from core.storage import open_storage

    document = docs.store_document(org, data=pdf_bytes())
    gql = gql_for(org.admin)
    reserved = gql("""mutation($i: DocumentUploadInput!) { requestDocumentUpload(input: $i) {
        ... on RequestDocumentUploadSuccess { uploadId } } }""", {"i": {
        "institutionId": str(org.id), "kind": "cma", "filename": "b.pdf",
        "certificateNumber": CMA_NUMBER_2, "issuer": "广东省市场监督管理局",
        "validFrom": "2021-06-01", "validTo": "2027-05-31"}})["data"]["requestDocumentUpload"]
    down = open_storage(f"s3://k:s@127.0.0.1:{closed_port()}/qi-docs?secure=false&region=cn")
    monkeypatch.setitem(docs.app.extensions[_KEY], "storage", down)

    client = docs.login(org.admin)
    assert client.get(f"/documents/{document.id}/download", buffered=True).status_code == 503
    confirmed = gql("""mutation($id: String!) { confirmDocumentUpload(uploadId: $id) {
        __typename ... on UserError { code } } }""", {"id": reserved["uploadId"]})
    assert confirmed["data"]["confirmDocumentUpload"] == {
        "__typename": "StorageUnavailableError", "code": "STORAGE_UNAVAILABLE"}
    [pending] = docs.pending_uploads()
    assert pending.closed_at is None and pending.confirmed_document_id is None
    assert len(docs.documents()) == 1
