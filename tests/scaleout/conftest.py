"""Fixtures for the scale-out tests: they run the platform the way production does (separate
gunicorn and Celery processes, pg_dump and pg_restore) against the real PostgreSQL, S3 and Redis.

Each test gets scratch databases of its own on the PostgreSQL server (the server of
`TEST_DATABASE_URL` when that names one, else the local server at 127.0.0.1:5432), dropped at the
end; the suite's shared `test` database is never touched. Under `CI=true` a missing server is a
failure (`core.testing.need_server`).

`-m "not scaleout"` leaves these tests out (they start processes and take about two minutes).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from scaleout_support import create_database, database_url, drop_database, libpq_url

from core.testing import need_server

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scaleout: starts gunicorn, Celery, pg_dump … as separate processes (slow)")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """A URL on the PostgreSQL server the scratch databases are created on."""
    configured = os.environ.get("TEST_DATABASE_URL", "")
    url = configured if configured.startswith("postgresql") else DEFAULT_SERVER
    try:
        import psycopg

        with psycopg.connect(libpq_url(database_url(url, "postgres")), connect_timeout=5):
            pass
    except Exception as exc:
        need_server("PostgreSQL", f"{exc} (set TEST_DATABASE_URL=postgresql://…)")
    return url


@pytest.fixture
def scratch_database(pg_server_url: str) -> Iterator[Callable[[str], str]]:
    """`scratch_database("qi_backup_src")` creates a fresh database and returns its URL; every
    one made is dropped (connections closed by force) when the test ends."""
    made: list[str] = []

    def make(prefix: str) -> str:
        url = create_database(pg_server_url, prefix)
        made.append(url)
        return url

    yield make
    for url in made:
        drop_database(url)


@pytest.fixture(scope="session")
def redis_base_url() -> str:
    """The Redis server (TEST_REDIS_URL, else 127.0.0.1:6379), without a database number."""
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS).rstrip("/")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        need_server("Redis", str(exc))
    return url
