"""Object storage for documents: one interface, an S3 backend and a local-folder backend.

`open_storage(url)` picks the backend from the URL scheme:

- `s3://KEY:SECRET@host:port/bucket?secure=false&region=us-east-1` → `S3Storage` (see `.s3`)
- `file:///absolute/path` → `LocalStorage` (see `.local`); the app may pass `base_dir` instead

Nothing here imports Flask or the database, so services, CLI commands and Celery tasks share it.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from .base import (
    CHUNK_SIZE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ReadableStream,
    Storage,
    StorageError,
    StorageUnavailable,
    validate_key,
)
from .local import LocalStorage
from .s3 import S3Storage
from .streaming import (
    ALLOWED_CONTENT_TYPES,
    EmptyUpload,
    InspectingReader,
    UnsupportedFileType,
    UploadRejected,
    UploadTooLarge,
    content_disposition,
    require_content_type,
    safe_filename,
    sniff_content_type,
)

__all__ = [
    "ALLOWED_CONTENT_TYPES",
    "CHUNK_SIZE",
    "EmptyUpload",
    "InspectingReader",
    "InvalidKey",
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "ReadableStream",
    "S3Storage",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "UnsupportedFileType",
    "UploadRejected",
    "UploadTooLarge",
    "content_disposition",
    "open_storage",
    "require_content_type",
    "safe_filename",
    "sniff_content_type",
    "validate_key",
]


def open_storage(url: str, *, base_dir: str | os.PathLike[str] | None = None) -> Storage:
    """The backend a storage URL names. Does no I/O: call `ensure_bucket()` at start-up.

    Errors in the URL raise `StorageError` with a message that never echoes the secret.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "s3":
        return S3Storage.from_url(url)
    if scheme == "file":
        return LocalStorage.from_url(url, base_dir=base_dir)
    raise StorageError(
        f"unsupported storage URL scheme {scheme!r}: use s3://KEY:SECRET@host:port/bucket "
        "or file:///absolute/path"
    )
