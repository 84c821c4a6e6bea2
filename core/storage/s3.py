"""S3 backend (MinIO, SeaweedFS, AWS, any S3-compatible server) through the `minio` SDK.

URL form::

    s3://ACCESS_KEY:SECRET_KEY@host:port/bucket?secure=false&region=us-east-1

- ACCESS_KEY and SECRET_KEY are percent-decoded: write `/` as `%2F`, `@` as `%40`, `:` as `%3A`
  and `%` as `%25` (AWS secrets often contain `/` and `+`; `+` may stay as it is).
- `secure` (default `true`) chooses HTTPS; `false` is for a server on the same host or network.
- `region` (optional): without it the SDK asks the server once per bucket (GetBucketLocation);
  give it to save that round trip and to sign presigned URLs without any network call.
- Any other query parameter is refused, so a typo such as `secure=flase` or `sécure` fails loudly.

Why the HTTP client is built here: the SDK's default waits 5 minutes to connect and retries five
times, so a request to an unreachable server would hang a web worker. Here connecting gives up
after a few seconds and `StorageUnavailable` reaches the caller quickly.

Uploads larger than one part go multipart in `part_size` chunks and any failure aborts the
multipart upload, so no part is left behind (SECURITY.md: "put_object with unknown length needs
part_size; it aborts the multipart upload on error"). The parts are sent here rather than by
`put_object`: two are in flight while the next one is read, so reading the client's upload and
sending to S3 overlap, yet memory stays at three parts per upload. The SDK's own parallel upload
queues parts without bound, and its one-at-a-time upload leaves S3 idle while a part is read.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlsplit

import certifi
import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import MIN_PART_SIZE

from .base import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ReadableStream,
    Storage,
    StorageError,
    StorageUnavailable,
    as_utc,
    check_expiry,
    validate_key,
    validate_prefix,
)
from .streaming import content_disposition

#: Smallest part S3 accepts (5 MiB) is also our default: documents are small, workers are many.
DEFAULT_PART_SIZE = MIN_PART_SIZE
#: Parts being sent at once while the next is read: one more would add a part of memory for
#: little gain (benchmarks/README.md, "Upload").
PARTS_IN_FLIGHT = 2

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})
_AUTH_REFUSED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed"}
)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StorageError(f"storage URL parameter {name}={raw!r} must be true or false")


def _utc_or_epoch(moment: datetime | None) -> datetime:
    # Every S3 server sends Last-Modified; the epoch only guards against one that does not.
    return as_utc(moment) if moment is not None else datetime.fromtimestamp(0, UTC)


class S3Storage(Storage):
    """Objects in one S3 bucket."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = True,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
    ) -> None:
        if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise StorageError(
                f"invalid S3 bucket name {bucket!r}: 3-63 lowercase letters, digits, '.' or '-'"
            )
        if not access_key or not secret_key:
            raise StorageError("S3 storage needs an access key and a secret key")
        if part_size < MIN_PART_SIZE:
            raise StorageError(f"S3 part_size must be at least {MIN_PART_SIZE} bytes")
        self._endpoint = endpoint
        self._bucket = bucket
        self._secure = secure
        self._region = region
        self._access_key = access_key
        self._part_size = part_size
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=3,
                connect=1,
                read=1,
                backoff_factor=0.2,
                status_forcelist=(500, 502, 503, 504),
            ),
        )
        try:
            self._client = Minio(
                endpoint,
                access_key=access_key,
                secret_key=secret_key,
                secure=secure,
                region=region,
                http_client=http,
            )
        except ValueError as exc:
            raise StorageError(f"invalid S3 endpoint {endpoint!r}: {exc}") from exc

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        """Build from an `s3://` URL (see the module docstring for its form)."""
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise StorageError("not an s3:// URL")
        try:
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise StorageError(f"invalid port in S3 storage URL: {exc}") from exc
        if not host:
            raise StorageError("S3 storage URL needs a host: s3://KEY:SECRET@host:port/bucket")
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        endpoint = f"{host}:{port}" if port else host
        bucket = parts.path.strip("/")
        if not bucket or "/" in bucket:
            raise StorageError("S3 storage URL must name exactly one bucket: .../bucket")
        params = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(params) - {"secure", "region"})
        if unknown:
            raise StorageError(
                f"unknown S3 storage URL parameter(s) {', '.join(unknown)}; allowed: secure, region"
            )
        secure = _parse_bool("secure", params["secure"][-1]) if "secure" in params else True
        region = (params["region"][-1] or None) if "region" in params else None
        return cls(
            endpoint=endpoint,
            access_key=unquote(parts.username or ""),
            secret_key=unquote(parts.password or ""),
            bucket=bucket,
            secure=secure,
            region=region,
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def client(self) -> Minio:
        """The SDK client, for operations this interface does not cover (tests, admin tools)."""
        return self._client

    def describe(self) -> str:
        secure = "true" if self._secure else "false"
        access = quote(self._access_key, safe="")
        return f"s3://{access}:***@{self._endpoint}/{self._bucket}?secure={secure}"

    @contextlib.contextmanager
    def _errors(self, operation: str, key: str | None = None) -> Iterator[None]:
        """Turn SDK and transport errors into `StorageError`s that name what failed and where."""
        what = f"{operation} {key!r}" if key else operation
        where = self.describe()
        try:
            yield
        except S3Error as exc:
            code = exc.code or ""
            status = exc.response.status if exc.response is not None else 0
            if code in _NOT_FOUND:
                raise ObjectNotFound(f"no object {key!r} in {where}") from exc
            if code == "NoSuchBucket":
                raise StorageError(
                    f"{what}: bucket {self._bucket!r} does not exist at {where}; "
                    "run ensure_bucket() first"
                ) from exc
            if code in _AUTH_REFUSED:
                raise StorageError(
                    f"{what}: S3 at {where} refused the credentials ({code}); "
                    "check the access key and secret"
                ) from exc
            error = StorageUnavailable if status >= 500 else StorageError
            raise error(f"{what} failed at {where}: {code} {exc.message}") from exc
        except ServerError as exc:
            raise StorageUnavailable(
                f"{what}: S3 at {where} answered HTTP {exc.status_code}"
            ) from exc
        except InvalidResponseError as exc:
            raise StorageError(f"{what}: {where} did not answer like S3: {exc}") from exc
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise StorageUnavailable(
                f"{what}: S3 at {where} unreachable: {type(reason).__name__}: {reason}"
            ) from exc

    def ensure_bucket(self) -> None:
        with self._errors("create bucket"):
            if self._client.bucket_exists(self._bucket):
                return
            try:
                self._client.make_bucket(self._bucket, location=self._region)
            except S3Error as exc:
                # Another worker created it between the check and the call.
                lost_race = exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists")
                if not (lost_race and self._client.bucket_exists(self._bucket)):
                    raise

    def put_stream(
        self, key: str, stream: ReadableStream, *, content_type: str, length: int | None = None
    ) -> None:
        validate_key(key)
        if length is not None and length < 0:
            raise ValueError("length must be None or >= 0")
        reader = _PartReader(stream, key, length)
        headers = {"Content-Type": content_type or "application/octet-stream"}
        with self._errors("upload", key):
            # Two parts decide: a stream that ends within the first is one plain PUT.
            parts = [reader.read_part(self._part_size)]
            if len(parts[0]) == self._part_size:
                parts.append(reader.read_part(self._part_size))
            if len(parts) == 1 or not parts[1]:
                self._client._put_object(self._bucket, key, parts[0], headers)  # type: ignore[arg-type]
            else:
                self._put_parts(key, reader, headers, parts)

    def _put_parts(
        self, key: str, reader: _PartReader, headers: dict[str, str], parts: list[bytearray]
    ) -> None:
        """Multipart upload of `parts`, then of the rest of `reader`; aborted on any error.

        At most PARTS_IN_FLIGHT parts are being sent while the next one is read, so an upload
        holds about PARTS_IN_FLIGHT + 1 parts whatever the speeds of the client and of S3.
        """
        client, bucket = self._client, self._bucket
        upload_id = client._create_multipart_upload(bucket, key, dict(headers))
        etags: list[str] = []
        in_flight: deque[Future[str]] = deque()
        try:
            with ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="s3-part") as pool:
                try:
                    number = 0
                    part = parts.pop(0)
                    while part:
                        number += 1
                        if len(in_flight) == PARTS_IN_FLIGHT:
                            etags.append(in_flight.popleft().result())
                        in_flight.append(pool.submit(
                            client._upload_part, bucket, key, part, None, upload_id, number))  # type: ignore[arg-type]
                        part = parts.pop(0) if parts else reader.read_part(self._part_size)
                    while in_flight:
                        etags.append(in_flight.popleft().result())
                except BaseException:
                    for future in in_flight:
                        future.cancel()
                    raise
            client._complete_multipart_upload(
                bucket, key, upload_id, [Part(n, etag) for n, etag in enumerate(etags, 1)])
        except BaseException:
            # The caller's error (a cut-off client, an oversize upload) matters more than a
            # failed abort; S3 lifecycle rules remove an upload left open that way.
            with contextlib.suppress(Exception):
                client._abort_multipart_upload(bucket, key, upload_id)
            raise

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with self._errors("read", key):
            response = self._client.get_object(self._bucket, key)
        return io.BufferedReader(_ResponseStream(response, self, key), buffer_size=CHUNK_SIZE)

    def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        with self._errors("stat", key):
            obj = self._client.stat_object(self._bucket, key)
        return ObjectInfo(key, obj.size or 0, _utc_or_epoch(obj.last_modified))

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            with self._errors("delete", key):
                self._client.remove_object(self._bucket, key)
        except ObjectNotFound:
            return

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        with self._errors("list", prefix or "(all)"):
            for obj in self._client.list_objects(
                self._bucket, prefix=prefix or None, recursive=True
            ):
                name = obj.object_name
                if not name or obj.is_dir or name.endswith("/"):
                    continue
                yield ObjectInfo(name, obj.size or 0, _utc_or_epoch(obj.last_modified))

    def presigned_put_url(self, key: str, expires: timedelta) -> str:
        validate_key(key)
        check_expiry(expires)
        with self._errors("presign upload", key):
            return self._client.presigned_put_object(self._bucket, key, expires=expires)

    def presigned_get_url(
        self, key: str, expires: timedelta, *, filename: str, content_type: str
    ) -> str:
        validate_key(key)
        check_expiry(expires)
        if not _CONTENT_TYPE_RE.fullmatch(content_type):
            raise ValueError(f"not a plain content type: {content_type!r}")
        headers = {
            "response-content-disposition": content_disposition(filename),
            "response-content-type": content_type,
        }
        with self._errors("presign download", key):
            return self._client.presigned_get_object(
                self._bucket, key, expires=expires, response_headers=headers
            )


class _PartReader:
    """Read the stream a whole part at a time, and hold a declared length to account.

    Each part is copied once, into a buffer of its final size that goes to the SDK as it is: no
    concatenation of small reads, no copy to `bytes`. With a declared length no byte beyond it
    is read, and a short stream becomes a `StorageError`. Exceptions from the wrapped stream
    pass through untouched.
    """

    def __init__(self, stream: ReadableStream, key: str, length: int | None) -> None:
        self._stream = stream
        self._key = key
        self._length = length
        self._count = 0

    def read_part(self, size: int) -> bytearray:
        """The next `size` bytes, fewer only at the end of the stream (empty: the end)."""
        if self._length is not None:
            size = min(size, self._length - self._count)
        part = bytearray(size)
        filled = 0
        with memoryview(part) as view:
            while filled < size:
                chunk = self._stream.read(min(size - filled, 1 << 20))
                if not chunk:
                    break
                if len(chunk) > size - filled:
                    raise StorageError(f"stream for {self._key!r} returned more than asked")
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
        self._count += filled
        if filled < size:
            del part[filled:]
            if self._length is not None:
                raise StorageError(
                    f"stream for {self._key!r} ended after {self._count} of {self._length} bytes"
                )
        return part


class _ResponseStream(io.RawIOBase):
    """A GET response as a raw stream that returns its connection to the pool on close."""

    def __init__(self, response: urllib3.BaseHTTPResponse, storage: S3Storage, key: str) -> None:
        super().__init__()
        self._response = response
        self._storage = storage
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with self._storage._errors("read", self._key):
            data = self._response.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        return size

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
                self._response.release_conn()
            finally:
                super().close()
