"""Fixtures for the documents tests (issue 3, "Documents and certificates in MinIO").

- `storage_backend`: a test that names it runs once on the local folder and once on a real S3
  server (SeaweedFS); every other test here runs on the local folder. On S3 each test gets a
  bucket of its own that does not exist yet: the app must create it on first use.
- `docs`: factories for Foshan institutions with their staff, logged-in web clients, uploads
  through the streamed form (a hand-built multipart body, fields in DOM order, file last) and
  through the service, and views of what was stored (rows, objects, audit rows).
- `pdf_bytes`, `png_bytes`, `jpeg_bytes`: real, minimal files generated in code.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from documents_support import (
    CMA_ISSUER,
    CMA_NUMBER,
    CSRF_INPUT_RE,
    FIELD_ORDER,
    USCC_TESTING_CO,
    VALUE_RE,
    _iso,
    jpeg_bytes,
    multipart_body,
    pdf_bytes,
    png_bytes,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.db import db
from core.documents import service
from core.documents.models import Document, PendingUpload
from core.documents.storage import get_storage
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.storage import Storage
from core.testing import TEST_PASSWORD, GraphQLClient

# ------------------------------------------------------------------ sample files


@pytest.fixture(name="pdf_bytes")
def _pdf_bytes_fixture():  # type: ignore[no-untyped-def]
    return pdf_bytes


@pytest.fixture(name="png_bytes")
def _png_bytes_fixture():  # type: ignore[no-untyped-def]
    return png_bytes


@pytest.fixture(name="jpeg_bytes")
def _jpeg_bytes_fixture():  # type: ignore[no-untyped-def]
    return jpeg_bytes


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "app_config(**overrides): config the test's app is created with "
        "(a callable value is called when the test starts)")


@pytest.fixture
def app_config(app_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The shared config (storage backend included) plus `@pytest.mark.app_config(...)`."""
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        app_config.update({name: value() if callable(value) else value
                           for name, value in marker.kwargs.items()})
    return app_config


@pytest.fixture
def store(app: Flask) -> Storage:
    """The app's own object store (its bucket is ensured on this first use)."""
    return get_storage(app)


# ------------------------------------------------------------------ the world of a test


@dataclass
class Org:
    """An institution and its administrator."""

    institution: Institution
    admin: User

    @property
    def id(self) -> int:
        return self.institution.id


class Docs:
    """Factories and probes shared by the documents tests."""

    def __init__(self, app: Flask, make_user: Any):
        self.app = app
        self._make_user = make_user

    # -- people and institutions

    def user(self, role: Role, name: str = "测试用户") -> User:
        return self._make_user(role, name=name)

    def institution(self, legal_name: str = "佛山市顺德区质检技术有限公司", *,
                    uscc: str | None = USCC_TESTING_CO,
                    status: InstitutionStatus = InstitutionStatus.DRAFT,
                    admin_name: str = "陈志强") -> Org:
        admin = self.user(Role.INSTITUTION_ADMIN, admin_name)
        institution = create_institution(legal_name=legal_name, uscc=uscc, admin=admin,
                                         status=status)
        return Org(institution, admin)

    def agent(self, org: Org, name: str = "客服 李敏") -> User:
        agent = self.user(Role.INSTITUTION_AGENT, name)
        add_staff(org.institution, agent, StaffRole.AGENT, actor=org.admin)
        return agent

    def set_status(self, org: Org, status: InstitutionStatus) -> None:
        org.institution.status = status
        db.session.commit()

    def login(self, user: User) -> FlaskClient:
        """A fresh browser logged in as `user` through the login form (with its CSRF token)."""
        client = self.app.test_client()
        response = client.post("/login", data={
            "identifier": user.email, "password": TEST_PASSWORD,
            "csrf_token": self.csrf(client, "/login")})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    def anonymous(self) -> FlaskClient:
        return self.app.test_client()

    @staticmethod
    def csrf(client: FlaskClient, path: str) -> str:
        html = client.get(path).get_data(as_text=True)
        tag = CSRF_INPUT_RE.search(html)
        assert tag is not None, f"no CSRF token on {path}"
        return VALUE_RE.search(tag.group(0)).group(1)  # type: ignore[union-attr]

    # -- uploads

    def upload(
        self, client: FlaskClient, institution_id: int, *, data: bytes, filename: str,
        kind: str = "cma", certificate_number: str = CMA_NUMBER, issuer: str = CMA_ISSUER,
        valid_from: date | str | None = date(2021, 6, 1),
        valid_to: date | str | None = date(2027, 5, 31), long_term: bool = False,
        category_code: str = "testing", scope: str = "建筑材料、环境监测 共 312 项参数",
        idempotency_key: str | None = None, csrf: bool | str = True, file_first: bool = False,
        file_content_type: str = "application/octet-stream",
        **kwargs: Any,
    ) -> Any:
        """Post the upload form as a browser does: fields in DOM order, the file last."""
        path = f"/institutions/{institution_id}/documents"
        token = (csrf if isinstance(csrf, str)
                 else self.csrf(client, "/login") if csrf else None)
        values = {
            "csrf_token": token, "idempotency_key": idempotency_key or uuid.uuid4().hex,
            "kind": kind, "category_code": category_code, "certificate_number": certificate_number,
            "issuer": issuer, "valid_from": _iso(valid_from), "valid_to": _iso(valid_to),
            "long_term": "y" if long_term else None, "scope": scope,
        }
        fields = [(name, values[name]) for name in FIELD_ORDER if values[name] is not None]
        body, content_type = multipart_body(fields, ("file", filename, data, file_content_type),
                                            file_first=file_first)
        return client.post(path, data=body, content_type=content_type, **kwargs)

    def store_document(self, org: Org, *, data: bytes, filename: str = "证书.pdf",
                       kind: str = "cma", actor: User | None = None,
                       **meta: Any) -> Document:
        """Validate and store a document through the service (no HTTP)."""
        raw = {"kind": kind, "certificateNumber": CMA_NUMBER, "issuer": CMA_ISSUER,
               "validFrom": date(2021, 6, 1), "validTo": date(2027, 5, 31), **meta}
        checked = service.validate_meta(raw, org.institution)
        return service.store_upload(org.institution, checked, io.BytesIO(data), filename=filename,
                                    actor=actor or org.admin)

    # -- what was stored

    def documents(self, institution_id: int | None = None) -> list[Document]:
        db.session.expire_all()
        query = select(Document).order_by(Document.id)
        if institution_id is not None:
            query = query.where(Document.institution_id == institution_id)
        return list(db.session.scalars(query))

    def pending_uploads(self) -> list[PendingUpload]:
        db.session.expire_all()
        return list(db.session.scalars(select(PendingUpload).order_by(PendingUpload.id)))

    def object_keys(self) -> list[str]:
        """Every object under the documents prefix, listed from the store itself."""
        return sorted(info.key for info in get_storage(self.app).iter_objects(
            service.KEY_PREFIX + "/"))

    def object_bytes(self, key: str) -> bytes:
        with get_storage(self.app).open(key) as stream:
            return stream.read()

    def audits(self, action: str | None = None, *, result: str | None = None) -> list[AuditEvent]:
        db.session.expire_all()
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if result is not None:
            query = query.where(AuditEvent.result == result)
        return list(db.session.scalars(query))


@pytest.fixture
def docs(app: Flask, make_user: Any) -> Docs:
    return Docs(app, make_user)


@pytest.fixture
def org(docs: Docs) -> Org:
    """佛山市顺德区质检技术有限公司 (DRAFT) with its administrator."""
    return docs.institution()


@pytest.fixture
def admin_client(docs: Docs, org: Org) -> FlaskClient:
    return docs.login(org.admin)


@pytest.fixture
def gql_for(docs: Docs):  # type: ignore[no-untyped-def]
    """`gql_for(user)`: a GraphQL client logged in as `user` (None: an anonymous visitor)."""
    def make(user: User | None) -> GraphQLClient:
        return GraphQLClient(docs.login(user) if user is not None else docs.anonymous())

    return make
