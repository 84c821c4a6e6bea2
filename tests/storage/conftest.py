"""Fixtures for the storage tests: a real SeaweedFS S3 server and both backends side by side.

The same behaviour tests run against `local` and `s3`; S3 is a real server, never a mock.
Outside CI a missing `weed` skips the S3 half; with CI=true it fails (ARCHITECTURE.md).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.storage import LocalStorage, S3Storage, Storage
from core.testing_s3 import S3Server


@pytest.fixture
def bucket_name() -> str:
    """A bucket no other test uses, so tests cannot see each other's objects."""
    return f"t-{uuid.uuid4().hex[:24]}"


@pytest.fixture
def s3_storage(s3_server: S3Server, bucket_name: str) -> S3Storage:
    storage = S3Storage.from_url(s3_server.url_for(bucket_name))
    storage.ensure_bucket()
    return storage


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    storage = LocalStorage(tmp_path / "objects")
    storage.ensure_bucket()
    return storage


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each test using it runs once per backend."""
    return request.getfixturevalue(f"{request.param}_storage")
