"""Fixtures for the onboarding tests (issue 4): Foshan institutions with their administrator,
agents, platform staff, and views of the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from onboarding_support import CSRF_INPUT_RE, SHUNDE_CO, USCC_SHUNDE_CO, VALUE_RE
from sqlalchemy import select

from core.audit.models import AuditEvent
from core.db import db
from core.identity.models import Role, User
from core.institutions.models import Institution, InstitutionStatus, StaffRole
from core.institutions.service import add_staff, create_institution
from core.testing import TEST_PASSWORD


@dataclass
class Org:
    """An institution and its administrator."""

    institution: Institution
    admin: User

    @property
    def id(self) -> int:
        return self.institution.id


class World:
    """Factories and probes shared by the onboarding tests."""

    def __init__(self, app: Flask, make_user: Any):
        self.app = app
        self._make_user = make_user

    def user(self, *roles: Role, name: str = "测试用户", phone: str | None = None,
             email: str | None = None) -> User:
        return self._make_user(*roles, name=name, phone=phone, email=email)

    def institution(self, legal_name: str = SHUNDE_CO, *, uscc: str | None = USCC_SHUNDE_CO,
                    status: InstitutionStatus = InstitutionStatus.DRAFT,
                    admin_name: str = "陈志强") -> Org:
        admin = self.user(Role.INSTITUTION_ADMIN, name=admin_name)
        return Org(create_institution(legal_name=legal_name, uscc=uscc, admin=admin, status=status),
                   admin)

    def agent(self, org: Org, name: str = "客服 李敏") -> User:
        """An agent added directly (as the demo data or a system admin would)."""
        agent = self.user(Role.INSTITUTION_AGENT, name=name)
        add_staff(org.institution, agent, StaffRole.AGENT, actor=org.admin)
        return agent

    def set_status(self, org: Org, status: InstitutionStatus) -> None:
        org.institution.status = status
        db.session.commit()

    def regulator(self) -> User:
        return self.user(Role.REGULATOR, name="佛山市市场监督管理局 王科长")

    def operator(self) -> User:
        return self.user(Role.OPERATOR, name="运维机构 张工")

    def reload(self, org: Org) -> Institution:
        db.session.expire_all()
        institution = db.session.get(Institution, org.id)
        assert institution is not None
        return institution

    def audits(self, action: str | None = None, *, result: str | None = None) -> list[AuditEvent]:
        db.session.expire_all()
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if result is not None:
            query = query.where(AuditEvent.result == result)
        return list(db.session.scalars(query))

    def web_login(self, identifier: str, password: str = TEST_PASSWORD) -> Any:
        """Log in through the login form (with its CSRF token); returns the response."""
        client: FlaskClient = self.app.test_client()
        html = client.get("/login").get_data(as_text=True)
        tag = CSRF_INPUT_RE.search(html)
        assert tag is not None, "no CSRF token on /login"
        token = VALUE_RE.search(tag.group(0)).group(1)  # type: ignore[union-attr]
        return client.post("/login", data={"identifier": identifier, "password": password,
                                           "csrf_token": token})


@pytest.fixture
def world(app: Flask, make_user: Any) -> World:
    return World(app, make_user)


@pytest.fixture
def org(world: World) -> Org:
    """佛山市顺德区检测认证有限公司 (DRAFT) with its administrator 陈志强."""
    return world.institution()
