"""Demo complaints (Annex 2 item 2): the demo enterprise's complaint about its consultation,
verified unfounded with the operator's notes, and one filed by the operator for a Nanhai hardware
factory at the service window (R-G-08), still waiting in the queue."""

from __future__ import annotations

from sqlalchemy import select

from core.complaints import service
from core.consultations.models import Consultation
from core.db import db
from core.enterprises.service import create_enterprise
from core.identity import service as identity
from core.identity.models import Role, User
from core.institutions.models import Institution

LAB = "佛山市质量计量监督检测中心"
FACTORY_USER = ("佛山市南海区恒达五金制品厂 梁淑芬", "13631000066", "hengda@qi-demo.cn")


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    from core.demo import DEMO_PASSWORD

    lab = institutions[LAB]
    buyer, operator = users["13631000001"], users["13800000002"]
    question = db.session.scalar(select(Consultation).where(
        Consultation.institution_id == lab.id, Consultation.enterprise_user_id == buyer.id)
        .order_by(Consultation.id).limit(1))
    unfounded = service.file(
        lab, subject="咨询电磁灶检测后一直没有收到报价",
        body="我司咨询电磁灶出口前安全检测后，等了两天没有收到任何报价，耽误了出货安排。",
        actor=buyer, consultation_id=question.id if question else None)
    service.verify(unfounded, outcome="unfounded", actor=operator, notes=(
        "经调取平台咨询记录，机构客服在收到咨询当日即回复了检测周期和报价方式，并请企业提供产品型号"
        "和数量以便出具报价单；企业此后未补充信息。机构已按规定及时响应，投诉不属实。已电话向企业说明。"))
    name, phone, email = FACTORY_USER
    factory = identity.create_user(display_name=name, password=DEMO_PASSWORD,
                                   roles=[Role.ENTERPRISE], email=email, phone=phone,
                                   audit_action="user.create_demo")
    create_enterprise({"name": "佛山市南海区恒达五金制品厂", "uscc": "91440605MA4WHD8K5C",
                       "industry": "金属制日用品制造", "provinceCode": "440000",
                       "cityCode": "440600", "districtCode": "440605", "size": "small",
                       "contactName": "梁淑芬", "contactPhone": phone}, actor=factory)
    pending = service.file(
        lab, subject="上门校准人员未按约定时间到场",
        body="约定3月18日上午9点上门校准车间压力表，检定人员11点半才到，期间未提前告知，导致生产线"
             "停机等待两个多小时。",
        actor=operator, enterprise_user=factory)
    return [f"complaint #{unfounded.id} verified unfounded; complaint #{pending.id} waiting in the "
            f"operator's queue (/complaints/queue), filed for {name} ({phone})"]
