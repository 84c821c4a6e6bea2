"""One set of behaviour tests, run against the local folder and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import io
import random
import re
import socket
import time
import tracemalloc
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest

from core.storage import (
    InspectingReader,
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    StorageError,
    StorageUnavailable,
    UploadTooLarge,
    content_disposition,
    open_storage,
)
from core.testing_s3 import S3Server

MiB = 1024 * 1024
PART = 5 * MiB  # S3Storage's default part size


class ClientGone(Exception):
    """What a web server raises when the browser disconnects mid-upload."""


class GeneratedUpload:
    """An upload of unknown length made on the fly: no len(), no seek(), uneven chunk sizes.

    Only the chunk being handed out exists in memory, so a backend that buffers the whole upload
    shows up in `tracemalloc`. `fail_at` simulates a cut-off connection.
    """

    def __init__(self, total: int, *, fail_at: int | None = None, seed: int = 7) -> None:
        self.total = total
        self.fail_at = fail_at
        self.pulled = 0
        self._rng = random.Random(seed)
        self._digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        if self.fail_at is not None and self.pulled >= self.fail_at:
            raise ClientGone(f"connection reset after {self.pulled} bytes")
        limit = self.total - self.pulled
        if self.fail_at is not None:
            limit = min(limit, self.fail_at - self.pulled)
        if size is not None and size >= 0:
            limit = min(limit, size)
        n = min(limit, self._rng.randint(1, 256 * 1024))
        data = self._rng.randbytes(n)
        self.pulled += n
        self._digest.update(data)
        return data

    @property
    def sha256_hex(self) -> str:
        return self._digest.hexdigest()


def sha256_of(stream: io.BufferedIOBase | object, chunk: int = 100_000) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while data := stream.read(chunk):  # type: ignore[attr-defined]
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size


def http(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    """Status, headers and body of a plain HTTP request, as a browser would make it."""
    assert url.startswith("http://127.0.0.1:"), url  # only ever the test server
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def keys_of(storage: Storage, prefix: str = "") -> list[str]:
    return [info.key for info in storage.iter_objects(prefix)]


def no_pending_multipart(storage: Storage) -> bool:
    """True unless an S3 multipart upload is still open in the storage's bucket."""
    if not isinstance(storage, S3Storage):
        return True
    return not storage.client._list_multipart_uploads(storage.bucket).uploads


# --- the shared contract ------------------------------------------------------------------------


def test_round_trip_of_a_multi_megabyte_stream_of_unknown_length(storage: Storage) -> None:
    key = storage.new_key("documents")
    upload = GeneratedUpload(12 * MiB + 12_345)  # three S3 parts, the last one short
    before = datetime.now(UTC) - timedelta(seconds=5)

    storage.put_stream(key, upload, content_type="application/pdf")

    info = storage.stat(key)
    assert info.key == key
    assert info.size == upload.total
    assert info.last_modified.tzinfo is not None
    assert info.last_modified.utcoffset() == timedelta(0)
    assert before <= info.last_modified <= datetime.now(UTC) + timedelta(seconds=5)
    assert storage.exists(key)
    with storage.open(key) as stream:
        assert stream.read(0) == b""
        assert sha256_of(stream) == (upload.sha256_hex, upload.total)
    chunks = list(storage.iter_chunks(key, chunk_size=1 * MiB))
    assert max(len(chunk) for chunk in chunks) <= 1 * MiB
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == upload.sha256_hex
    assert [(o.key, o.size) for o in storage.iter_objects("documents/")] == [(key, upload.total)]

    storage.delete(key)
    assert not storage.exists(key)
    assert keys_of(storage) == []
    with pytest.raises(ObjectNotFound):
        storage.stat(key)
    with pytest.raises(ObjectNotFound):
        storage.open(key)


def test_put_with_a_known_length(storage: Storage) -> None:
    key = storage.new_key("documents")
    storage.put_stream(key, io.BytesIO(b"hello world"), content_type="text/plain", length=5)
    with storage.open(key) as stream:
        assert stream.read() == b"hello"

    storage.put_stream(key, io.BytesIO(b""), content_type="text/plain", length=0)
    assert storage.stat(key).size == 0


def test_a_stream_shorter_than_its_declared_length_stores_nothing(storage: Storage) -> None:
    key = storage.new_key("documents")
    with pytest.raises(StorageError, match="ended after 5 of 10 bytes"):
        storage.put_stream(key, io.BytesIO(b"12345"), content_type="text/plain", length=10)
    assert not storage.exists(key)
    assert keys_of(storage) == []


def test_put_replaces_an_existing_object(storage: Storage) -> None:
    key = storage.new_key("documents")
    storage.put_stream(key, io.BytesIO(b"first version"), content_type="text/plain")
    storage.put_stream(key, io.BytesIO(b"second"), content_type="text/plain")
    with storage.open(key) as stream:
        assert stream.read() == b"second"
    assert keys_of(storage) == [key]


def test_uploads_stream_instead_of_buffering_the_whole_file(storage: Storage) -> None:
    upload = GeneratedUpload(40 * MiB)
    key = storage.new_key("documents")
    tracemalloc.start()
    try:
        storage.put_stream(key, upload, content_type="application/pdf")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert storage.stat(key).size == 40 * MiB
    # Local: a 64 KiB copy buffer plus the generator's chunk. S3: one part being assembled,
    # its bytes copy and the SDK's slice of it; far below the 40 MiB of the upload either way.
    limit = 4 * PART if isinstance(storage, S3Storage) else 2 * MiB
    assert peak < limit, f"peak {peak / MiB:.1f} MiB"


def test_keys_are_generated_never_taken_from_the_user(storage: Storage) -> None:
    key = storage.new_key("documents")
    now = datetime.now(UTC)
    assert re.fullmatch(rf"documents/{now:%Y}/{now:%m}/[0-9a-f]{{32}}", key)
    assert storage.new_key("documents") != key
    fixed = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)
    assert storage.new_key("documents", now=fixed).startswith("documents/2026/11/")
    for prefix in ["", "/abs", "../up", "a/../b", "证书.pdf", "a b", "a\\b", "x\x00", ".hidden"]:
        with pytest.raises(InvalidKey):
            storage.new_key(prefix)


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "documents/../../etc/passwd",
        "/etc/passwd",
        "documents\\..\\x",
        "a\x00b",
        "",
        "a//b",
        "a/./b",
        "trailing/",
        ".hidden",
        "documents/.tmp-123",
        "证书.pdf",
        "line\nbreak",
        "x" * 600,
    ],
)
def test_malformed_keys_are_refused_before_any_io(storage: Storage, key: str) -> None:
    calls = [
        lambda: storage.put_stream(key, io.BytesIO(b"x"), content_type="text/plain"),
        lambda: storage.open(key),
        lambda: storage.stat(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.presigned_put_url(key, timedelta(minutes=1)),
    ]
    for call in calls:
        with pytest.raises(InvalidKey):
            call()
    assert keys_of(storage) == []


def test_missing_objects(storage: Storage) -> None:
    key = storage.new_key("documents")
    assert not storage.exists(key)
    with pytest.raises(ObjectNotFound):
        storage.stat(key)
    with pytest.raises(ObjectNotFound):
        storage.open(key)
    with pytest.raises(ObjectNotFound):
        next(storage.iter_chunks(key))
    assert issubclass(ObjectNotFound, StorageError)
    # A "folder" is not an object either.
    storage.put_stream("documents/2026/a", io.BytesIO(b"x"), content_type="text/plain")
    with pytest.raises(ObjectNotFound):
        storage.stat("documents/2026")


def test_delete_is_idempotent(storage: Storage) -> None:
    key = storage.new_key("documents")
    storage.delete(key)  # never existed
    storage.put_stream(key, io.BytesIO(b"data"), content_type="text/plain")
    storage.delete(key)
    storage.delete(key)  # already gone: a retried request must not fail
    assert not storage.exists(key)


def test_iter_objects_filters_by_prefix(storage: Storage) -> None:
    keys = ["a/1", "a/2", "a-c", "ab/3", "a/sub/4", "b/1"]
    for key in keys:
        storage.put_stream(key, io.BytesIO(key.encode()), content_type="text/plain")

    # Order is not part of the contract: SeaweedFS lists folder by folder ("a/1" before "a-c").
    assert sorted(keys_of(storage)) == sorted(keys)
    assert len(keys_of(storage)) == len(keys)
    assert sorted(keys_of(storage, "a/")) == ["a/1", "a/2", "a/sub/4"]
    assert sorted(keys_of(storage, "a")) == ["a-c", "a/1", "a/2", "a/sub/4", "ab/3"]
    assert keys_of(storage, "a/s") == ["a/sub/4"]
    assert keys_of(storage, "c/") == []
    assert {o.key: o.size for o in storage.iter_objects("b")} == {"b/1": 3}
    with pytest.raises(InvalidKey):
        list(storage.iter_objects("../"))


@pytest.mark.parametrize("fail_at", [100_000, 7 * MiB], ids=["single-part", "multipart"])
def test_an_upload_cut_off_half_way_leaves_no_object(storage: Storage, fail_at: int) -> None:
    key = storage.new_key("documents")
    upload = GeneratedUpload(12 * MiB, fail_at=fail_at)

    with pytest.raises(ClientGone):  # the caller's own error comes through, not a wrapper
        storage.put_stream(key, upload, content_type="application/pdf")

    assert upload.pulled == fail_at
    assert not storage.exists(key)
    assert keys_of(storage) == []
    assert no_pending_multipart(storage), "multipart upload was not aborted"
    if isinstance(storage, LocalStorage):
        assert [p for p in storage.root.rglob("*") if p.is_file()] == []


def test_an_oversize_upload_stops_at_the_limit_and_leaves_nothing(storage: Storage) -> None:
    key = storage.new_key("documents")
    upload = GeneratedUpload(30 * MiB)
    reader = InspectingReader(upload, max_bytes=6 * MiB)

    with pytest.raises(UploadTooLarge):
        storage.put_stream(key, reader, content_type="application/pdf")

    assert upload.pulled == 6 * MiB + 1  # not one byte more than needed to know
    assert not storage.exists(key)
    assert keys_of(storage) == []
    assert no_pending_multipart(storage)


def test_inspected_upload_is_stored_with_its_digest(storage: Storage) -> None:
    upload = GeneratedUpload(6 * MiB)
    reader = InspectingReader(upload, max_bytes=6 * MiB)
    key = storage.new_key("documents")
    storage.put_stream(key, reader, content_type="application/pdf")
    assert reader.finished
    assert reader.size == 6 * MiB
    assert reader.sha256_hex == upload.sha256_hex
    with storage.open(key) as stream:
        assert sha256_of(stream)[0] == upload.sha256_hex


# --- local folder -------------------------------------------------------------------------------


def test_local_writes_are_atomic(local_storage: LocalStorage) -> None:
    key = "documents/2026/11/atomic"
    target = local_storage.root / "documents/2026/11/atomic"
    seen_during_upload: list[bool] = []

    class Watching(GeneratedUpload):
        def read(self, size: int = -1) -> bytes:
            if self.pulled > 1 * MiB and not seen_during_upload:
                seen_during_upload.append(target.exists())
            return super().read(size)

    local_storage.put_stream(key, Watching(3 * MiB), content_type="application/pdf")
    assert seen_during_upload == [False]
    assert target.stat().st_size == 3 * MiB
    assert [p.name for p in target.parent.iterdir()] == ["atomic"]  # no temp file left


def test_local_has_no_presigned_urls(local_storage: LocalStorage) -> None:
    key = local_storage.new_key("documents")
    assert local_storage.presigned_put_url(key, timedelta(minutes=5)) is None
    get_url = local_storage.presigned_get_url(
        key, timedelta(minutes=5), filename="a.pdf", content_type="application/pdf"
    )
    assert get_url is None


def test_local_root_is_created_by_ensure_bucket(tmp_path: Path) -> None:
    storage = open_storage(f"file://{tmp_path}/deep/store")
    assert isinstance(storage, LocalStorage)
    assert not (tmp_path / "deep").exists()
    storage.ensure_bucket()
    storage.ensure_bucket()
    assert (tmp_path / "deep/store").is_dir()


def test_local_refuses_a_symlink_out_of_the_root(
    local_storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (local_storage.root / "documents").symlink_to(outside)
    with pytest.raises(InvalidKey):
        local_storage.put_stream("documents/x", io.BytesIO(b"x"), content_type="text/plain")
    assert list(outside.iterdir()) == []


def test_file_urls(tmp_path: Path) -> None:
    store = open_storage("file:///srv/qi%20docs/storage")
    assert isinstance(store, LocalStorage)
    assert store.root == Path("/srv/qi docs/storage")
    by_base = open_storage("file://", base_dir=tmp_path)
    assert isinstance(by_base, LocalStorage)
    assert by_base.root == tmp_path
    assert isinstance(open_storage(f"file://{tmp_path}", base_dir=tmp_path), LocalStorage)
    bad = [
        "file://instance/storage",  # a host, not a path
        "file:relative/path",
        "file://",
        "file:///srv/x?mode=1",
        "ftp://host/x",
        "/just/a/path",
    ]
    for url in bad:
        with pytest.raises(StorageError):
            open_storage(url)
    with pytest.raises(StorageError, match="different folders"):
        open_storage("file:///srv/a", base_dir=tmp_path)
    with pytest.raises(StorageError):
        LocalStorage("relative/root")


# --- S3 -----------------------------------------------------------------------------------------


@pytest.mark.s3
def test_s3_bucket_is_created_if_missing(s3_server: S3Server, bucket_name: str) -> None:
    admin = s3_server.client()
    storage = open_storage(s3_server.url_for(bucket_name))
    assert not admin.bucket_exists(bucket_name)
    with pytest.raises(StorageError, match="ensure_bucket"):
        storage.put_stream("k", io.BytesIO(b"x"), content_type="text/plain")

    storage.ensure_bucket()
    storage.ensure_bucket()  # idempotent, as every worker calls it at start-up

    assert admin.bucket_exists(bucket_name)
    storage.put_stream("k", io.BytesIO(b"x"), content_type="text/plain")
    assert storage.exists("k")


@pytest.mark.s3
def test_s3_presigned_put_then_get(s3_storage: S3Storage) -> None:
    key = s3_storage.new_key("documents")
    body = b"%PDF-1.7\n" + bytes(range(256)) * 100
    put_url = s3_storage.presigned_put_url(key, timedelta(minutes=5))
    status, _, _ = http(
        put_url, method="PUT", data=body, headers={"Content-Type": "application/pdf"}
    )
    assert status == 200
    assert s3_storage.stat(key).size == len(body)

    name = "营业执照 副本.pdf"
    get_url = s3_storage.presigned_get_url(
        key, timedelta(minutes=5), filename=name, content_type="application/pdf"
    )
    status, headers, data = http(get_url)
    assert (status, data) == (200, body)
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == content_disposition(name)

    # The signature covers the key: the same URL cannot be bent to another object.
    other = s3_storage.new_key("documents")
    s3_storage.put_stream(other, io.BytesIO(b"someone else's"), content_type="text/plain")
    assert http(get_url.replace(key, other))[0] == 403


@pytest.mark.s3
def test_s3_presigned_urls_expire(s3_storage: S3Storage) -> None:
    key = s3_storage.new_key("documents")
    s3_storage.put_stream(key, io.BytesIO(b"secret"), content_type="text/plain")
    get_url = s3_storage.presigned_get_url(
        key, timedelta(seconds=1), filename="a.txt", content_type="text/plain"
    )
    put_url = s3_storage.presigned_put_url(s3_storage.new_key("documents"), timedelta(seconds=1))
    assert http(get_url)[::2] == (200, b"secret")

    time.sleep(2.5)

    assert http(get_url)[0] == 403
    assert http(put_url, method="PUT", data=b"late")[0] == 403
    assert keys_of(s3_storage) == [key]
    with pytest.raises(ValueError, match="between 1 s and 7 days"):
        s3_storage.presigned_put_url(key, timedelta(days=8))


@pytest.mark.s3
def test_s3_refuses_a_wrong_secret_and_anonymous_requests(
    s3_server: S3Server, s3_storage: S3Storage
) -> None:
    impostor_url = s3_server.url_for(s3_storage.bucket).replace("%2F%2B", "%2F%2Bwrong", 1)
    assert impostor_url != s3_server.url_for(s3_storage.bucket)
    impostor = open_storage(impostor_url)
    for attempt in [
        impostor.ensure_bucket,
        lambda: impostor.put_stream("k", io.BytesIO(b"evil"), content_type="text/plain"),
        lambda: list(impostor.iter_objects()),
    ]:
        with pytest.raises(StorageError, match="refused the credentials") as refused:
            attempt()
        assert not isinstance(refused.value, StorageUnavailable | ObjectNotFound)
    assert keys_of(s3_storage) == []

    anonymous = f"http://{s3_server.endpoint}/{s3_storage.bucket}/k"
    assert http(anonymous, method="PUT", data=b"evil")[0] == 403
    assert keys_of(s3_storage) == []


@pytest.mark.s3
def test_s3_multipart_listing_control(s3_storage: S3Storage) -> None:
    """Proves `no_pending_multipart` can fail: an open multipart upload is seen, then aborted."""
    client = s3_storage.client
    upload_id = client._create_multipart_upload(s3_storage.bucket, "open/upload", {})
    try:
        assert not no_pending_multipart(s3_storage)
    finally:
        client._abort_multipart_upload(s3_storage.bucket, "open/upload", upload_id)
    assert no_pending_multipart(s3_storage)
    assert keys_of(s3_storage) == []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.s3
def test_s3_unreachable_fails_fast_with_storage_unavailable() -> None:
    storage = open_storage(f"s3://key:secret@127.0.0.1:{closed_port()}/bucket?secure=false")
    upload = GeneratedUpload(1 * MiB)
    calls: list[tuple[str, object]] = [
        ("ensure_bucket", storage.ensure_bucket),
        ("put", lambda: storage.put_stream("k", upload, content_type="text/plain")),
        ("stat", lambda: storage.stat("k")),
        ("open", lambda: storage.open("k")),
        ("delete", lambda: storage.delete("k")),
        ("list", lambda: list(storage.iter_objects())),
    ]
    for name, call in calls:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="unreachable") as failed:
            call()  # type: ignore[operator]
        assert time.monotonic() - started < 5, name
        assert "secret" not in str(failed.value), name


def test_s3_url_parsing() -> None:
    storage = open_storage("s3://AK%2Fx:s%2Fe%2Bc%40r%3At+@minio.internal:9000/qi-docs")
    assert isinstance(storage, S3Storage)
    assert storage.endpoint == "minio.internal:9000"
    assert storage.bucket == "qi-docs"
    assert storage.client._provider.retrieve().secret_key == "s/e+c@r:t+"  # type: ignore[union-attr]
    assert storage.client._provider.retrieve().access_key == "AK/x"  # type: ignore[union-attr]
    assert storage.client._base_url.is_https  # secure unless told otherwise
    assert "s/e" not in storage.describe() and "***" in storage.describe()

    plain = open_storage("s3://a:b@127.0.0.1:8333/bucket?secure=false&region=us-east-1")
    assert isinstance(plain, S3Storage)
    assert not plain.client._base_url.is_https
    assert plain.client._base_url.region == "us-east-1"

    for bad in [
        "s3://a:b@host/",  # no bucket
        "s3://a:b@host/bucket/extra",
        "s3://a:b@host/Bad_Bucket",
        "s3://host/bucket",  # no credentials
        "s3://a:b@host/bucket?secure=maybe",
        "s3://a:b@host/bucket?secured=false",
        "s3://a:b@host:99999/bucket",
    ]:
        with pytest.raises(StorageError) as refused:
            open_storage(bad)
        assert ":b@" not in str(refused.value)
