"""Demo case reports (R-OPS-02): the live lab reports its electromagnetic-cooker consultation
(prefilled from the thread), a completed calibration order and two cases from phone enquiries,
and withdraws one duplicate entry, so the list shows counted and withdrawn reports."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.case_reports import service
from core.consultations.models import Consultation
from core.db import db, utcnow
from core.identity.models import User
from core.institutions.models import Institution
from core.orders.models import Order, OrderStatus

LAB = "佛山市质量计量监督检测中心"

# Cases from telephone and counter enquiries, typed in by the lab (days ago, fields).
PHONE_CASES = [
    (21, {"clientName": "佛山市南海区恒达五金制品厂", "clientContact": "13631000066",
          "item": "出口欧盟不锈钢餐具检测标准咨询",
          "content": "企业首次出口德国，询问不锈钢餐具需做哪些检测、是否需要重新送样。",
          "reply": "告知需按EN 1186/EN 13130系列及德国LFGB做迁移量检测，可用同批次已做的GB 4806.9"
                   "报告数据减少重复项目，并安排一次送样完成全部项目。",
          "businessFollowed": True, "amountSaved": "4200.00"}),
    (9, {"clientName": "佛山市禅城区鸿运陶瓷有限公司",
         "clientContact": "zhang.gong@hongyun-ceramics.example.cn",
         "item": "生产线压力表集中检定咨询",
         "content": "企业有36台在用压力表分散在两个厂区，询问能否上门集中检定以减少停产时间。",
         "reply": "安排检定人员上门，两个厂区一天内完成，并按批量收费标准报价，免收上门费。",
         "businessFollowed": True, "amountSaved": "1800.00"}),
]


def demo(institutions: dict[str, Institution], users: dict[str, User]) -> list[str]:
    lab = institutions[LAB]
    admin = users["13922000001"]  # 李建国, the lab's admin (the asker's phone is shown to admins)
    now = utcnow()
    reported = []
    question = db.session.scalar(select(Consultation).where(
        Consultation.institution_id == lab.id, Consultation.subject.startswith("电磁灶"))
        .order_by(Consultation.id).limit(1))
    if question is not None:
        draft = service.draft_from(lab, admin, consultation_id=question.id)
        draft.update(businessFollowed=True, amountSaved="2600.00",
                     item="电磁灶出口安全检测咨询（GB 4706.1、GB 4706.21）")
        reported.append(service.report_case(lab, draft, actor=admin))
    order = db.session.scalar(select(Order).where(
        Order.institution_id == lab.id, Order.status == OrderStatus.COMPLETED)
        .order_by(Order.id).limit(1))
    if order is not None:
        draft = service.draft_from(lab, admin, order_id=order.id)
        draft.update(reply="上门检定并当天出具证书，按批量价格收费。", amountSaved="960.00")
        reported.append(service.report_case(lab, draft, actor=admin))
    for days, data in PHONE_CASES:
        reported.append(service.report_case(
            lab, {**data, "consultedAt": now - timedelta(days=days)}, actor=admin))
    # A case entered twice by mistake, withdrawn with its reason: kept, not counted.
    twice = service.report_case(lab, {**PHONE_CASES[1][1], "consultedAt": now - timedelta(days=9)},
                                actor=admin)
    service.withdraw(twice, reason="与本月另一条案例重复录入，撤回。", actor=admin)
    return [f"{lab.legal_name}: {len(reported)} success cases reported, 1 withdrawn "
            f"(/institutions/{lab.id}/case-reports)"]
