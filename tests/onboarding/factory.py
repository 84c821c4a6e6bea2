"""Builds an institution that meets every core eligibility condition, for the workflow tests."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from core.demo import sample_pdf
from core.documents import service as documents
from core.identity.models import Role
from core.institutions.models import Institution
from core.institutions.service import create_institution
from core.onboarding import agents, commitment, profile
from core.testing import TEST_PASSWORD

USCC = "91440606MA4UHF0X17"
PROFILE = {
    "legalName": "佛山市顺德区检测认证有限公司", "uscc": USCC, "institutionType": "enterprise",
    "legalRepresentative": "陈晓峰", "registeredAddress": "佛山市顺德区大良街道德和居委会新城区观绿路4号",
    "provinceCode": "440000", "cityCode": "440600", "districtCode": "440606",
    "contactPhone": "0757-22381234", "contactEmail": "service@sdjc.example.cn",
    "introduction": "佛山市顺德区检测认证有限公司成立于2019年，是经广东省市场监督管理局资质认定的第三方"
                    "检验检测机构，主要为顺德家电、家具企业提供产品安全、性能与能效检测服务。",
    "website": "https://www.sdjc.example.cn",
}


def upload(institution: Institution, admin: Any, **meta: Any) -> Any:
    data = documents.validate_meta(meta, institution)
    return documents.store_upload(institution, data, io.BytesIO(sample_pdf(meta["kind"])),
                                  filename=f"{meta['kind']}.pdf", actor=admin)


def eligible_institution(make_user: Any, *, licence_until: date = date(2030, 1, 1),
                         cma_until: date = date(2029, 12, 31), agent_count: int = 1,
                         sign: bool = True) -> tuple[Institution, Any]:
    """An institution in the testing category, complete but for what the arguments take away."""
    admin = make_user(Role.INSTITUTION_ADMIN, name="陈晓峰", phone="13922000003")
    institution = create_institution(legal_name=PROFILE["legalName"], uscc=USCC, admin=admin)
    profile.update_profile(institution, PROFILE, actor=admin)
    items = [{"categoryCode": "testing", "title": title, "description": "顺德家电企业常用检测项目"}
             for title in ("家用电器安全检测", "电器能效检测")]
    profile.set_categories(institution, categories=["testing"], advantage_items=items,
                           main_category="testing", actor=admin)
    for n in range(agent_count):
        _invitation, token = agents.invite_agent(institution, display_name=f"客服{n + 1}",
                                                 phone=f"1392200010{n}", actor=admin)
        agents.accept_invitation(token, password=TEST_PASSWORD, current_user=None)
    upload(institution, admin, kind="business_licence", certificateNumber=USCC,
           issuer="佛山市顺德区市场监督管理局", validFrom=date(2019, 4, 18), validTo=licence_until)
    upload(institution, admin, kind="cma", categoryCode="testing", certificateNumber="201919123456",
           issuer="广东省市场监督管理局", validFrom=date(2023, 1, 1), validTo=cma_until)
    if sign:
        commitment.sign(institution, signer_name="陈晓峰", signer_title="总经理",
                        version_id=commitment.current_version().id, actor=admin, ip="127.0.0.1",
                        user_agent="pytest")
    return institution, admin
