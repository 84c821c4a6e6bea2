"""Issue 7 item 6: the backup procedure of docs/backup.md, run end to end.

The demo data (users, two institutions going through onboarding, their certificates in S3, the
audit trail and the outbox) is loaded through the real services into a scratch database and a
bucket. The database is dumped with `pg_dump -Fc`, the bucket copied object by object to a fresh
bucket, the dump restored with `pg_restore` into a fresh database. An application pointed at the
restored database and bucket then serves every document with the bytes its row describes, and
`qi storage verify` finds nothing missing or altered.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from scaleout_support import libpq_url
from sqlalchemy import func, select, text

from core import migrate
from core.app import create_app
from core.db import db, make_engine
from core.demo import DEMO_PASSWORD, load_demo
from core.documents.models import Document
from core.testing import need_server

pytestmark = [pytest.mark.scaleout, pytest.mark.postgres, pytest.mark.s3]

OPERATOR = "13800000002"  # the demo operator: platform staff, sees every institution's documents


def copy_bucket(client: Minio, source: str, target: str) -> int:
    """The pure-Python bucket copy of docs/backup.md: every object, streamed, with its content
    type; the target bucket is created. Returns the number of objects copied."""
    if not client.bucket_exists(target):
        client.make_bucket(target)
    copied = 0
    for item in client.list_objects(source, recursive=True):
        assert item.object_name is not None
        stat = client.stat_object(source, item.object_name)
        response = client.get_object(source, item.object_name)
        try:
            client.put_object(target, item.object_name, response, length=stat.size,
                              content_type=stat.content_type or "application/octet-stream")
        finally:
            response.close()
            response.release_conn()
        copied += 1
    return copied


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        need_server("PostgreSQL client tools", f"{name} not on PATH")
    assert path is not None
    return path


def app_for(database_url: str, storage_url: str, instance: Path) -> Any:
    return create_app({
        "TESTING": True, "QI_ENV": "development", "DATABASE_URL": database_url,
        "STORAGE_URL": storage_url, "SECRET_KEY": "backup-test-" + "k" * 40,
        "INSTANCE_PATH": str(instance),
        # A cheap Argon2id for the demo accounts; logging in works the same.
        "PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 1024,
    })


def table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )).scalars().all()
            return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
    finally:
        engine.dispose()


def test_dump_and_bucket_copy_restore_into_fresh_database_and_bucket(
        scratch_database: Callable[[str], str], s3_server: Any, tmp_path: Path,
        compiled_translations: list[Path]) -> None:
    pg_dump, pg_restore = tool("pg_dump"), tool("pg_restore")
    client = s3_server.client()
    suffix = os.urandom(4).hex()
    source_bucket, target_bucket = f"qi-backup-src-{suffix}", f"qi-backup-dst-{suffix}"

    # 1. A platform with data: the demo loaded through the real services.
    source_db = scratch_database("qi_backup_src")
    migrate.upgrade(source_db)
    source_app = app_for(source_db, s3_server.url_for(source_bucket), tmp_path / "src")
    with source_app.app_context():
        load_demo()
        documents = {d.id: (d.sha256, d.size, d.object_key)
                     for d in db.session.scalars(select(Document))}
        db.session.close()
        db.engine.dispose()
    assert len(documents) >= 5, "the demo should have stored certificates"

    # 2. The backup: database first, then the bucket (docs/backup.md says why).
    dump = tmp_path / "qi.dump"
    subprocess.run([pg_dump, "-Fc", "--no-owner", "-f", str(dump), "-d", libpq_url(source_db)],
                   check=True, capture_output=True, timeout=120)
    assert dump.stat().st_size > 0
    copied = copy_bucket(client, source_bucket, target_bucket)
    assert copied == len(documents)

    # 3. The restore, into a database and a bucket that have never seen the platform.
    target_db = scratch_database("qi_backup_dst")
    restored = subprocess.run(
        [pg_restore, "--no-owner", "--exit-on-error", "-d", libpq_url(target_db), str(dump)],
        capture_output=True, text=True, timeout=120)
    assert restored.returncode == 0, restored.stderr
    assert table_counts(target_db) == table_counts(source_db)
    engine = make_engine(target_db)
    try:
        with engine.connect() as conn:  # the audit trail is still append-only (SECURITY.md 15)
            assert conn.execute(text("SELECT count(*) FROM pg_trigger "
                                     "WHERE tgname = 'audit_event_append_only'")).scalar_one() == 1
    finally:
        engine.dispose()
    assert migrate.current_revision(target_db) == migrate.current_revision(source_db)

    # 4. Every document readable through the restored platform, byte for byte.
    target_app = app_for(target_db, s3_server.url_for(target_bucket), tmp_path / "dst")
    target_app.testing = True
    with target_app.app_context():
        rows = {d.id: (d.sha256, d.size, d.object_key) for d in db.session.scalars(select(Document))}
        assert rows == documents
        assert db.session.scalar(select(func.count()).select_from(Document)) == len(documents)
        db.session.close()
    browser = target_app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    response = browser.post("/login", data={"identifier": OPERATOR, "password": DEMO_PASSWORD,
                                            "csrf_token": token})
    assert response.status_code == 302, "the restored accounts and password hashes work"
    for document_id, (sha256, size, _key) in sorted(documents.items()):
        response = browser.get(f"/documents/{document_id}/download")
        assert response.status_code == 200, f"document {document_id}: {response.status_code}"
        body = response.get_data()
        assert len(body) == size
        assert hashlib.sha256(body).hexdigest() == sha256, f"document {document_id} altered"

    # 5. The operator's check after a restore, through the real command line.
    env = {**os.environ, "DATABASE_URL": target_db, "STORAGE_URL": s3_server.url_for(target_bucket),
           "SECRET_KEY": "backup-test-" + "k" * 40, "QI_INSTANCE_PATH": str(tmp_path / "cli"),
           "QI_ENV": "development"}
    verify = subprocess.run([str(Path(sys.executable).parent / "qi"), "storage", "verify"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.strip().splitlines()[-1] == "0 problem(s)"

    # …and the check is not vacuous: an object lost from the copy is reported.
    _sha, _size, lost_key = documents[min(documents)]
    client.remove_object(target_bucket, lost_key)
    verify = subprocess.run([str(Path(sys.executable).parent / "qi"), "storage", "verify"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 1
    assert f"document {min(documents)}: missing" in verify.stdout
    with target_app.app_context():
        db.engine.dispose()
