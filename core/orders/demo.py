"""Demo orders: one in progress with its signed contract, one waiting for the institution."""

from __future__ import annotations

import io

from sqlalchemy import select

from core.catalogue.models import ServiceItem
from core.consultations.models import Consultation
from core.db import db
from core.identity.models import User
from core.institutions.models import Institution
from core.orders import service

LAB = "佛山市质量计量监督检测中心"


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    from core.demo import sample_pdf  # the demo module runs this step

    lab = institutions[LAB]
    admin, buyer = users["13922000001"], users["13631000001"]
    item = db.session.scalar(select(ServiceItem).where(
        ServiceItem.institution_id == lab.id, ServiceItem.title.startswith("家用电器安全检测")))
    in_progress = service.place(lab, title="电磁灶 GB 4706.1/GB 4706.21 出口前安全检测（3个型号）",
                                amount="12800.00", actor=buyer,
                                service_item_id=item.id if item else None)
    service.advance(in_progress, "accept", actor=admin)
    service.advance(in_progress, "start", actor=admin)
    service.upload_attachment(in_progress, "order_contract",
                              io.BytesIO(sample_pdf("Testing contract FSJL-2026-0318")),
                              filename="检测委托合同 FSJL-2026-0318.pdf", actor=admin)
    question = db.session.scalar(select(Consultation).where(
        Consultation.institution_id == lab.id, Consultation.enterprise_user_id == buyer.id))
    waiting = service.place(lab, title="电饭锅能效与安全检测委托", actor=buyer,
                            consultation_id=question.id if question else None)
    return [f"{lab.legal_name}: order #{in_progress.id} in progress with its contract, "
            f"order #{waiting.id} waiting to be accepted (enterprise 13631000001)"]
