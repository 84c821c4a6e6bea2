"""Fixtures for the category plugin tests (issue 5): Foshan institutions in any category, ready
for the eligibility engine, their case evidence photos and client cases, and a logged-in
GraphQL client."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask

from core.cases import service as cases
from core.cases.models import QualificationCase
from core.demo import sample_pdf
from core.documents import service as documents
from core.documents.models import Document
from core.identity.models import Role, User
from core.institutions.models import Institution
from core.institutions.service import create_institution
from core.onboarding import agents, commitment, profile
from core.testing import TEST_PASSWORD

# Credit codes with a valid check digit, one per test institution.
USCCS = ("91440604MA51XK3R27", "91440605MA4W7G8L19", "91440606MA53QJ2N5U", "91440600MA4UTC6Q96")

INTRODUCTION = (
    "本机构扎根佛山二十余年，服务顺德、南海家电、家具、陶瓷与五金产业集群，拥有一支熟悉企业需求的"
    "专业团队，为中小企业提供高效、规范、可追溯的质量技术服务。"
)

LOGIN = """mutation($i: LoginInput!) { login(input: $i) { __typename } }"""


def png_photo(width: int = 4, height: int = 3) -> bytes:
    """A real (tiny) PNG image standing in for a case photo."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\xc8\x10\x2e" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


@dataclass
class Org:
    institution: Institution
    admin: User
    admin_phone: str

    @property
    def id(self) -> int:
        return self.institution.id


class Builder:
    """Builds institutions complete for every core eligibility condition (R-ONB-01, R-ELIG-01,
    03-06) in the categories a test names; category documents are left to the test."""

    def __init__(self, make_user: Any):
        self._make_user = make_user
        self._count = 0

    def institution(self, *categories: str, name: str = "佛山市禅城区知信知识产权代理有限公司",
                    sign: bool = True) -> Org:
        uscc = USCCS[self._count]
        self._count += 1
        phone = f"1392201{self._count:04d}"
        admin = self._make_user(Role.INSTITUTION_ADMIN, name="梁嘉欣", phone=phone)
        institution = create_institution(legal_name=name, uscc=uscc, admin=admin)
        profile.update_profile(institution, {
            "legalName": name, "uscc": uscc, "institutionType": "enterprise",
            "legalRepresentative": "梁嘉欣", "registeredAddress": "佛山市禅城区季华五路22号",
            "provinceCode": "440000", "cityCode": "440600", "districtCode": "440604",
            "contactPhone": "0757-83031234", "introduction": INTRODUCTION,
        }, actor=admin)
        items = [{"categoryCode": categories[0], "title": title, "description": None}
                 for title in ("企业质量技术服务", "一对一诊断辅导")]
        profile.set_categories(institution, categories=list(categories), advantage_items=items,
                               main_category=categories[0], actor=admin)
        _invitation, token = agents.invite_agent(institution, display_name="客服 何晓琳",
                                                 phone=f"1392202{self._count:04d}", actor=admin)
        agents.accept_invitation(token, password=TEST_PASSWORD, current_user=None)
        self.upload(Org(institution, admin, phone), kind="business_licence", certificateNumber=uscc,
                    issuer="佛山市禅城区市场监督管理局", validFrom=date(2015, 6, 1), longTerm=True)
        if sign:
            commitment.sign(institution, signer_name="梁嘉欣", signer_title="总经理",
                            version_id=commitment.current_version().id, actor=admin,
                            ip="127.0.0.1", user_agent="pytest")
        return Org(institution, admin, phone)

    def upload(self, org: Org, **meta: Any) -> Document:
        """A certificate (a sample PDF) with the metadata given, camelCase as the forms send."""
        data = documents.validate_meta(meta, org.institution)
        return documents.store_upload(org.institution, data, io.BytesIO(sample_pdf(meta["kind"])),
                                      filename=f"{meta['kind']}.pdf", actor=org.admin)

    def photo(self, org: Org, category: str | None = None) -> Document:
        """A case evidence photo (R-ELIG-07) of the institution."""
        data = documents.validate_meta({"kind": "case_evidence", "categoryCode": category},
                                       org.institution)
        return documents.store_upload(org.institution, data, io.BytesIO(png_photo()),
                                      filename="案例照片.png", actor=org.admin)

    def case(self, org: Org, category: str, *, completed_on: date, kind: str = "trademark_registration",
             reference: str | None = "38476512", client: str = "佛山市顺德区美的电器配件有限公司",
             evidence: Document | None = None) -> QualificationCase:
        evidence = evidence or self.photo(org, category)
        return cases.record_case(org.institution, category_code=category, kind=kind,
                                 client_name=client, completed_on=completed_on,
                                 reference_number=reference, evidence_document_id=evidence.id,
                                 actor=org.admin)


@pytest.fixture
def build(app: Flask, make_user: Any) -> Builder:
    return Builder(make_user)


@pytest.fixture
def login(gql: Any) -> Any:
    """Log the GraphQL client in as the user with `phone` (the test password)."""
    def log_in(phone: str) -> None:
        body = gql(LOGIN, {"i": {"identifier": phone, "password": TEST_PASSWORD}})
        assert body["data"]["login"]["__typename"] == "LoginSuccess", body

    return log_in
