"""Storage maintenance: the orphan sweep and the integrity check, through the service and
`qi storage sweep|verify` (issue 3; SECURITY.md 16)."""

from __future__ import annotations

import io
import os
import time
from datetime import date, timedelta

import pytest
from documents_support import CMA_ISSUER, CMA_NUMBER_2

from core.storage import S3Storage

GRACE = timedelta(hours=24)


def _orphan(store, data: bytes = b"%PDF-1.4 orphan") -> str:  # type: ignore[no-untyped-def]
    """An object no row refers to, as a crash between storing and committing leaves."""
    key = store.new_key("documents")
    store.put_stream(key, io.BytesIO(data), content_type="application/pdf")
    return key


@pytest.fixture
def uploader_for(store):  # type: ignore[no-untyped-def]
    """`uploader_for(org)`: an open presigned upload whose PUT has landed; returns its key."""
    from core.documents import service

    def make(org) -> str:  # type: ignore[no-untyped-def]
        meta = service.validate_meta({"kind": "cma", "certificateNumber": CMA_NUMBER_2,
                                      "issuer": CMA_ISSUER, "validFrom": date(2021, 6, 1),
                                      "validTo": date(2027, 5, 31)}, org.institution)
        pending, _url = service.request_upload(org.institution, meta, filename="cma.pdf",
                                               actor=org.admin, upload_url_for=lambda p: "-")
        store.put_stream(pending.object_key, io.BytesIO(b"%PDF-1.4 in flight"),
                         content_type="application/octet-stream")
        return pending.object_key

    return make


def _age_local(store, key: str, hours: float) -> None:  # type: ignore[no-untyped-def]
    path = store.root.joinpath(*key.split("/"))
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_sweep_removes_only_old_orphans(storage_backend, docs, org, store, uploader_for,
                                        pdf_bytes):
    """SECURITY.md 16: the sweep deletes objects no document and no open upload refers to once
    they are older than the grace period; young orphans (an upload in flight), referenced
    objects and open presigned uploads are kept; --dry-run deletes nothing. Audited."""
    kept = docs.store_document(org, data=pdf_bytes())
    orphan = _orphan(store)
    pending_key = uploader_for(org)
    outside = "misc/2026/01/not-ours"  # outside the documents prefix: never touched
    store.put_stream(outside, io.BytesIO(b"x"), content_type="text/plain")

    assert service_sweep(GRACE) == []  # everything is younger than the grace period
    assert service_sweep(timedelta(0), dry_run=True) == [orphan]
    assert orphan in docs.object_keys()
    assert service_sweep(timedelta(0)) == [orphan]
    assert sorted(docs.object_keys()) == sorted([kept.object_key, pending_key])
    assert store.exists(outside)
    [audit] = docs.audits("storage.sweep")
    assert audit.after == {"removed": 1}

    if isinstance(store, S3Storage):
        return
    old, young = _orphan(store), _orphan(store)  # modification times are settable locally
    _age_local(store, old, 25)
    _age_local(store, young, 23)
    _age_local(store, kept.object_key, 1000)
    assert service_sweep(GRACE) == [old]
    assert sorted(docs.object_keys()) == sorted([kept.object_key, pending_key, young])


def service_sweep(older_than: timedelta, *, dry_run: bool = False) -> list[str]:
    from core.documents import service

    return sorted(service.sweep_orphans(older_than=older_than, dry_run=dry_run))


def test_sweep_keeps_expired_uploads_for_the_grace_period(docs, org, store, uploader_for):
    """A presigned upload past its expiry is an orphan only once the grace period has passed
    since it expired (its PUT may have just landed)."""
    from core.db import db, utcnow
    from core.documents import service

    key = uploader_for(org)
    pending = docs.pending_uploads()[-1]
    pending.expires_at = utcnow() - timedelta(hours=2)
    db.session.commit()
    assert service.sweep_orphans(older_than=timedelta(hours=3)) == []
    _age_local(store, key, 4)
    assert service.sweep_orphans(older_than=timedelta(hours=1)) == [key]


def test_verify_reports_missing_and_tampered_objects(storage_backend, docs, org, store, pdf_bytes):
    """SECURITY.md 16: every row's object is re-read and re-hashed: a missing object, a changed
    size and same-size tampering are each reported; intact documents are not."""
    from core.documents import service

    intact, missing, resized, tampered = (
        docs.store_document(org, data=pdf_bytes(f"doc {n}"), certificateNumber=f"20191912345{n}")
        for n in range(4))
    assert service.verify_objects() == []
    store.delete(missing.object_key)
    store.put_stream(resized.object_key, io.BytesIO(pdf_bytes("doc 2") + b"appended"),
                     content_type="application/pdf")
    original = docs.object_bytes(tampered.object_key)
    forged = original.replace(b"doc 3", b"doc X")
    assert len(forged) == len(original) and forged != original
    store.put_stream(tampered.object_key, io.BytesIO(forged), content_type="application/pdf")
    problems = [(p.document_id, p.object_key, p.problem) for p in service.verify_objects()]
    assert problems == [(missing.id, missing.object_key, "missing"),
                        (resized.id, resized.object_key, "size"),
                        (tampered.id, tampered.object_key, "checksum")]
    assert intact.id not in {p[0] for p in problems}


def test_qi_storage_commands(app, docs, org, store, pdf_bytes):
    """`qi storage sweep --grace-hours N [--dry-run]` and `qi storage verify` (exit 1 on
    problems) as operators run them."""
    runner = app.test_cli_runner()
    document = docs.store_document(org, data=pdf_bytes())
    orphan = _orphan(store)

    result = runner.invoke(args=["storage", "sweep", "--grace-hours", "0", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would remove {orphan}" in result.output and orphan in docs.object_keys()
    result = runner.invoke(args=["storage", "sweep"])  # default grace: 24 hours
    assert result.exit_code == 0 and "0 orphan object(s) removed" in result.output
    result = runner.invoke(args=["storage", "sweep", "--grace-hours", "0"])
    assert result.exit_code == 0 and f"removed {orphan}" in result.output
    assert docs.object_keys() == [document.object_key]

    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 0 and "0 problem(s)" in result.output
    store.delete(document.object_key)
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1
    assert f"document {document.id}: missing ({document.object_key})" in result.output
