"""Demo: a Shunde appliance maker posts a calibration need, the platform matches the live lab,
and the lab's agent answers with a quote (R-G-02)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.catalogue.models import ItemStatus, ServiceItem
from core.clock import local_today
from core.db import db
from core.demands import service
from core.identity.models import User
from core.institutions.models import Institution
from core.onboarding import agents


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    lab = institutions["佛山市质量计量监督检测中心"]
    buyer = users["13631000001"]
    demand = service.post(
        actor=buyer, category="metrology", title="生产线压力表、温度计年度校准",
        description="我司顺德容桂生产基地注塑车间和总装线在用一般压力表约40只、工业铂热电阻温度计约25支，"
                    "需在出口订单验厂前完成年度检定校准并出具证书，希望可上门服务。",
        budget="6000.00", deadline=local_today() + timedelta(days=20))
    item = db.session.scalar(select(ServiceItem).where(
        ServiceItem.institution_id == lab.id, ServiceItem.category_code == "metrology",
        ServiceItem.status == ItemStatus.PUBLISHED).order_by(ServiceItem.id))
    agent = agents.agents_of(lab)[0]
    service.respond(demand, lab, actor=agent, service_item_id=item.id if item else None,
                    quote="4800.00",
                    message="您好，我中心可安排两名检定员上门，压力表和温度计共65台件预计3个工作日完成，"
                            "出具CNAS校准证书；报价含上门费，共4800元。")
    return [f"demand #{demand.id} {demand.title}: {len(demand.matches)} institution(s) matched, "
            f"answered by {lab.legal_name} (quote 4800.00 yuan)"]
