"""The demo data set loads through the real services and shows every capability."""

from __future__ import annotations

from sqlalchemy import select

from core.db import db
from core.demo import load_demo
from core.institutions.models import Institution, InstitutionStatus
from core.notifications.models import OutboxMessage


def test_the_demo_data_set_goes_through_onboarding_R_ONB_05(app, client):
    lines = load_demo()
    assert any("13800000001" in line for line in lines)
    statuses = dict(db.session.execute(select(Institution.legal_name, Institution.status)).all())
    assert statuses == {"佛山市质量计量监督检测中心": InstitutionStatus.LIVE,
                        "佛山市顺德区检测认证有限公司": InstitutionStatus.DRAFT}
    assert db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.template == "application_approved", OutboxMessage.channel == "sms"))
    scope = client.post("/graphql", json={"query": '{ testingScopeSearch(standard: "GB/T 2828.1")'
                                                    " { institutionName } }"}).get_json()
    assert scope["data"]["testingScopeSearch"][0]["institutionName"] == "佛山市质量计量监督检测中心"
    instruments = client.post("/graphql", json={
        "query": '{ equipmentSharingInstruments(keyword: "光谱") { name } }'}).get_json()
    assert instruments["data"]["equipmentSharingInstruments"][0]["name"].endswith("光谱仪")


def test_the_demo_shows_the_directory_and_a_consultation_R_OPS_03(app, client):
    from core.consultations.models import Consultation

    load_demo()
    page = client.get("/directory?keyword=计量").get_data(as_text=True)
    assert "佛山市质量计量监督检测中心" in page
    consultation = db.session.scalars(select(Consultation)).one()
    assert consultation.first_response_at is not None
